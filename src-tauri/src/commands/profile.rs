//! Profile commands: start-up state, onboarding, name and picture, export,
//! account deletion, the event stream.

use super::{Reply, blocking};
use crate::backend::Backend;
use crate::convert::avatar_of;
use crate::error::IntoApi;
use kith_api::*;
use kith_client::{PairingCode, Profile};
use std::time::Duration;
use tauri::State;
use tauri::ipc::Channel;

/// How long joining waits for the other device to answer the pairing code.
const JOIN_TIMEOUT: Duration = Duration::from_secs(120);

/// What the UI shows about the person using this device.
pub fn me(profile: &Profile) -> Result<Me, ApiError> {
    let info = profile.info().api()?;
    Ok(Me {
        account_id: info.account_id.to_string(),
        device_id: info.device_id.to_string(),
        name: info.name,
        invite: info.invite,
        avatar: avatar_of(profile, None)?,
    })
}

/// `app_state`
#[tauri::command]
pub async fn app_state(backend: State<'_, Backend>, args: GetAppState) -> Reply<GetAppState> {
    let GetAppState {} = args;
    Ok(AppState {
        me: backend.try_profile().map(|p| me(&p)).transpose()?,
        settings: backend.shared.settings(),
        profile_dir: backend.profile_dir().display().to_string(),
    })
}

/// `create_profile`
#[tauri::command]
pub async fn create_profile(backend: State<'_, Backend>, args: CreateProfile) -> Reply<CreateProfile> {
    let name = args.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("Please enter a name."));
    }
    if backend.try_profile().is_some() {
        return Err(ApiError::invalid("This device already has a profile."));
    }
    let profile = Profile::init(backend.profile_dir(), name).api()?;
    let profile = backend.adopt(profile)?;
    me(&profile)
}

/// `join_account`
#[tauri::command]
pub async fn join_account(backend: State<'_, Backend>, args: JoinAccount) -> Reply<JoinAccount> {
    if backend.try_profile().is_some() {
        return Err(ApiError::invalid("This device already has a profile."));
    }
    let code: PairingCode = args
        .code
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid("That pairing code is not valid; check it on your other device."))?;
    let mut settings = backend.shared.settings();
    settings.server_url = Some(args.server_url.trim().to_owned());
    let settings = backend.save_settings(settings)?;
    let server = settings.server_url.unwrap_or_default();
    let profile = Profile::join(backend.profile_dir(), &server, &code, JOIN_TIMEOUT)
        .await
        .api()?;
    let profile = backend.adopt(profile)?;
    me(&profile)
}

/// `subscribe_events`: the channel arrives beside the arguments.
#[tauri::command]
pub async fn subscribe_events(
    backend: State<'_, Backend>,
    args: SubscribeEvents,
    on_event: Channel<AppEvent>,
) -> Reply<SubscribeEvents> {
    let SubscribeEvents {} = args;
    // A UI that (re)starts holds no staged attachments.
    backend.clear_staged();
    backend.shared.subscribe(on_event);
    if let Some(profile) = backend.try_profile() {
        crate::worker::refresh_unread(&profile, &backend.shared);
    }
    Ok(())
}

/// `set_name`
#[tauri::command]
pub async fn set_name(backend: State<'_, Backend>, args: SetName) -> Reply<SetName> {
    let profile = backend.profile()?;
    let name = args.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("Your name cannot be empty."));
    }
    profile.set_name(name).api()?;
    backend.shared.emit(AppEvent::ProfileChanged);
    me(&profile)
}

/// `set_avatar`
#[tauri::command]
pub async fn set_avatar(backend: State<'_, Backend>, args: SetAvatar) -> Reply<SetAvatar> {
    let profile = backend.profile()?;
    let picture = kith_client::prepare_avatar(&args.image)
        .map_err(|err| ApiError::invalid(format!("That picture cannot be used: {err}")))?;
    profile.set_avatar(&picture).api()?;
    backend.shared.emit(AppEvent::ProfileChanged);
    me(&profile)
}

/// `export_data`: into a dated folder beside the profile.
#[tauri::command]
pub async fn export_data(backend: State<'_, Backend>, args: ExportData) -> Reply<ExportData> {
    let ExportData {} = args;
    let profile = backend.profile()?;
    let out = backend
        .profile_dir()
        .with_file_name(format!("kith-export-{}", kith_client::system_now_ms()));
    let dir = out.clone();
    blocking(move || kith_client::export_profile(&profile, &dir).api()).await?;
    Ok(out.display().to_string())
}

/// `delete_account`
#[tauri::command]
pub async fn delete_account(backend: State<'_, Backend>, args: DeleteAccount) -> Reply<DeleteAccount> {
    let profile = backend.profile()?;
    let name = profile.info().api()?.name;
    if args.confirm.trim() != name {
        return Err(ApiError::invalid("Type your display name exactly to confirm."));
    }
    let server = backend.shared.settings().server_url;
    drop(profile);
    let profile = backend.close()?;
    match server {
        Some(server) => {
            profile.delete_account(&server).await.api()?;
        }
        None => profile.erase_local().api()?,
    }
    backend.shared.emit(AppEvent::ProfileChanged);
    Ok(())
}
