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

/// `sync_status`
#[tauri::command]
pub async fn sync_status(backend: State<'_, Backend>, args: GetSyncStatus) -> Reply<GetSyncStatus> {
    let GetSyncStatus {} = args;
    Ok(backend.shared.status())
}
