//! This account's devices: list, link a new one, revoke.

use super::{Reply, on_profile};
use crate::backend::Backend;
use crate::convert;
use crate::error::IntoApi;
use kith_api::*;
use kith_client::PairingCode;
use std::sync::Arc;
use std::time::Duration;
use tauri::State;

/// How long a pairing code stays valid.
const LINK_TIMEOUT: Duration = Duration::from_secs(600);

/// `devices`
#[tauri::command]
pub async fn devices(backend: State<'_, Arc<Backend>>, args: ListDevices) -> Reply<ListDevices> {
    let ListDevices {} = args;
    on_profile(&backend, |profile| {
        Ok(profile
            .devices()
            .list()
            .api()?
            .into_iter()
            .map(convert::device)
            .collect())
    })
    .await
}

/// `link_device`: returns the code at once; the wait for the new device runs
/// on its own thread and ends with [`AppEvent::DeviceLinked`].
#[tauri::command]
pub async fn link_device(backend: State<'_, Arc<Backend>>, args: LinkDevice) -> Reply<LinkDevice> {
    let LinkDevice {} = args;
    let profile = backend.profile()?;
    let server =
        backend.shared.settings().server_url.ok_or_else(|| {
            ApiError::invalid("Linking a device goes through a sync server: set one in Settings first.")
        })?;
    let code = PairingCode::generate().api()?;
    let text = code.to_string();
    let shared = std::sync::Arc::clone(&backend.shared);
    let spawned = std::thread::Builder::new().name("kith-link".into()).spawn(move || {
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())
            .and_then(|runtime| {
                runtime
                    .block_on(profile.devices().link(&server, &code, LINK_TIMEOUT))
                    .map_err(|err| err.to_string())
            });
        shared.emit(AppEvent::DeviceLinked { error: result.err() });
    });
    spawned.map_err(|err| ApiError::internal(format!("could not wait for the new device: {err}")))?;
    Ok(text)
}

/// `revoke_device`
#[tauri::command]
pub async fn revoke_device(backend: State<'_, Arc<Backend>>, args: RevokeDevice) -> Reply<RevokeDevice> {
    let device = args
        .device_id
        .parse()
        .map_err(|_| ApiError::invalid(format!("not a device id: {}", args.device_id)))?;
    on_profile(&backend, move |profile| profile.devices().revoke(&device).api()).await
}
