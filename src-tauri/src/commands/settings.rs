//! Device settings and the sync indicator.

use super::Reply;
use crate::backend::Backend;
use kith_api::*;
use std::sync::Arc;
use tauri::State;

/// `save_settings`
#[tauri::command]
pub async fn save_settings(backend: State<'_, Arc<Backend>>, args: SaveSettings) -> Reply<SaveSettings> {
    save(&backend, args.settings).await
}

/// Saves and applies settings off the async runtime: a new server restarts
/// the sync worker, which waits for the old one to stop.
pub async fn save(backend: &Arc<Backend>, settings: Settings) -> Result<Settings, ApiError> {
    let backend = Arc::clone(backend);
    super::blocking(move || backend.save_settings(settings)).await
}

/// `report_startup`
#[tauri::command]
pub async fn report_startup(backend: State<'_, Arc<Backend>>, args: ReportStartup) -> Reply<ReportStartup> {
    let elapsed = backend.started().elapsed().as_secs_f64() * 1000.0;
    tracing::info!(stage = %args.stage, elapsed_ms = elapsed, "start-up milestone");
    if std::env::var_os("KITH_STARTUP_REPORT").is_some() {
        println!("kith-desktop: {} after {elapsed:.1} ms", args.stage);
    }
    Ok(())
}

/// `sync_status`
#[tauri::command]
pub async fn sync_status(backend: State<'_, Arc<Backend>>, args: GetSyncStatus) -> Reply<GetSyncStatus> {
    let GetSyncStatus {} = args;
    Ok(backend.shared.status())
}
