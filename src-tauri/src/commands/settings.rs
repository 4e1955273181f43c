//! Device settings and the sync indicator.

use super::Reply;
use crate::backend::Backend;
use kith_api::*;
use tauri::State;

/// `save_settings`
#[tauri::command]
pub async fn save_settings(backend: State<'_, Backend>, args: SaveSettings) -> Reply<SaveSettings> {
    backend.save_settings(args.settings)
}

/// `report_startup`
#[tauri::command]
pub async fn report_startup(backend: State<'_, Backend>, args: ReportStartup) -> Reply<ReportStartup> {
    let elapsed = backend.started().elapsed().as_secs_f64() * 1000.0;
    tracing::info!(stage = %args.stage, elapsed_ms = elapsed, "start-up milestone");
    if std::env::var_os("KITH_STARTUP_REPORT").is_some() {
        println!("kith-desktop: {} after {elapsed:.1} ms", args.stage);
    }
    Ok(())
}

/// `sync_status`
#[tauri::command]
pub async fn sync_status(backend: State<'_, Backend>, args: GetSyncStatus) -> Reply<GetSyncStatus> {
    let GetSyncStatus {} = args;
    Ok(backend.shared.status())
}
