//! Profile commands: start-up state, onboarding, name and picture, export,
//! account deletion, the event stream.

use super::{Reply, blocking, on_own_runtime, on_profile};
use crate::backend::Backend;
use crate::convert::avatar_of;
use crate::error::IntoApi;
use kith_api::*;
use kith_client::{PairingCode, Profile};
use std::sync::Arc;
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
pub async fn app_state(backend: State<'_, Arc<Backend>>, args: GetAppState) -> Reply<GetAppState> {
    let GetAppState {} = args;
    let me = match backend.try_profile() {
        Some(profile) => Some(blocking(move || me(&profile)).await?),
        None => None,
    };
    Ok(AppState {
        me,
        settings: backend.shared.settings(),
        profile_dir: backend.profile_dir().display().to_string(),
    })
}

/// `create_profile`
#[tauri::command]
pub async fn create_profile(backend: State<'_, Arc<Backend>>, args: CreateProfile) -> Reply<CreateProfile> {
    let name = args.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid("Please enter a name."));
    }
    if backend.try_profile().is_some() {
        return Err(ApiError::invalid("This device already has a profile."));
    }
    let dir = backend.profile_dir().to_owned();
    let profile = blocking(move || Profile::init(&dir, &name).api()).await?;
    adopt(&backend, profile).await
}

/// `join_account`
#[tauri::command]
pub async fn join_account(backend: State<'_, Arc<Backend>>, args: JoinAccount) -> Reply<JoinAccount> {
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
    let settings = crate::commands::settings::save(&backend, settings).await?;
    let server = settings.server_url.unwrap_or_default();
    let dir = backend.profile_dir().to_owned();
    let profile =
        blocking(move || on_own_runtime(async { Profile::join(&dir, &server, &code, JOIN_TIMEOUT).await.api() }))
            .await?;
    adopt(&backend, profile).await
}

/// `recover_account`
#[tauri::command]
pub async fn recover_account(backend: State<'_, Arc<Backend>>, args: RecoverAccount) -> Reply<RecoverAccount> {
    if backend.try_profile().is_some() {
        return Err(ApiError::invalid("This device already has a profile."));
    }
    let phrase = kith_client::RecoveryPhrase::parse(&args.phrase)
        .map_err(|err| ApiError::invalid(format!("Check the words: {err}.")))?;
    let mut settings = backend.shared.settings();
    settings.server_url = Some(args.server_url.trim().to_owned());
    let settings = crate::commands::settings::save(&backend, settings).await?;
    let server = settings.server_url.unwrap_or_default();
    let dir = backend.profile_dir().to_owned();
    let profile = blocking(move || {
        on_own_runtime(async {
            Profile::recover(&dir, &server, &kith_net::ServerTrust::platform(), &phrase)
                .await
                .api()
        })
    })
    .await?;
    adopt(&backend, profile).await
}

/// `backup_to_file`: into a dated file beside the profile.
#[tauri::command]
pub async fn backup_to_file(backend: State<'_, Arc<Backend>>, args: BackupToFile) -> Reply<BackupToFile> {
    let out = backend
        .profile_dir()
        .with_file_name(format!("kith-backup-{}.kithbackup", kith_client::system_now_ms()));
    let file = out.clone();
    on_profile(&backend, move |profile| {
        profile
            .archive()
            .backup(&file, &args.passphrase, &|_| {})
            .map(|_| ())
            .api()
    })
    .await?;
    Ok(out.display().to_string())
}

/// `restore_from_backup`: the body is [`kith_api::raw_body`] framed.
#[tauri::command]
pub async fn restore_from_backup(
    backend: State<'_, Arc<Backend>>,
    request: tauri::ipc::Request<'_>,
) -> Reply<RestoreFromBackup> {
    let tauri::ipc::InvokeBody::Raw(body) = request.body() else {
        return Err(ApiError::invalid("The backup did not arrive as bytes."));
    };
    let (args, bytes) = kith_api::raw_body::split::<RestoreFromBackup>(body)?;
    if backend.try_profile().is_some() {
        return Err(ApiError::invalid("This device already has a profile."));
    }
    let dir = backend.profile_dir().to_owned();
    // Through a private temporary file: restoring reads the backup from disk.
    let bytes = bytes.to_vec();
    let profile = blocking(move || {
        let staged = tempfile::NamedTempFile::new().map_err(|e| ApiError::internal(e.to_string()))?;
        std::fs::write(staged.path(), &bytes).map_err(|e| ApiError::internal(e.to_string()))?;
        Profile::restore(&dir, staged.path(), &args.passphrase, &|_| {})
            .map(|(profile, _)| profile)
            .api()
    })
    .await?;
    adopt(&backend, profile).await
}

/// `new_recovery_phrase`
#[tauri::command]
pub async fn new_recovery_phrase(
    backend: State<'_, Arc<Backend>>,
    args: NewRecoveryPhrase,
) -> Reply<NewRecoveryPhrase> {
    let NewRecoveryPhrase {} = args;
    on_profile(&backend, |profile| {
        let phrase = profile.recovery().new_phrase().api()?;
        let words = phrase.words().map_err(|err| ApiError::invalid(err.to_string()))?;
        Ok(words.split(' ').map(str::to_owned).collect())
    })
    .await
}

/// `subscribe_events`: the channel arrives beside the arguments.
#[tauri::command]
pub async fn subscribe_events(
    backend: State<'_, Arc<Backend>>,
    args: SubscribeEvents,
    on_event: Channel<AppEvent>,
) -> Reply<SubscribeEvents> {
    let SubscribeEvents {} = args;
    // A UI that (re)starts holds no staged attachments.
    backend.clear_staged();
    backend.shared.subscribe(on_event);
    if let Some(profile) = backend.try_profile() {
        let shared = Arc::clone(&backend.shared);
        blocking(move || {
            crate::worker::refresh_unread(&profile, &shared);
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// `set_name`
#[tauri::command]
pub async fn set_name(backend: State<'_, Arc<Backend>>, args: SetName) -> Reply<SetName> {
    let name = args.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid("Your name cannot be empty."));
    }
    let me = on_profile(&backend, move |profile| {
        profile.set_name(&name).api()?;
        me(profile)
    })
    .await?;
    backend.shared.emit(AppEvent::ProfileChanged);
    Ok(me)
}

/// `set_avatar`
#[tauri::command]
pub async fn set_avatar(backend: State<'_, Arc<Backend>>, args: SetAvatar) -> Reply<SetAvatar> {
    let me = on_profile(&backend, move |profile| {
        // Decoding and scaling the picture is work for this thread too.
        let picture = kith_client::prepare_avatar(&args.image)
            .map_err(|err| ApiError::invalid(format!("That picture cannot be used: {err}")))?;
        profile.set_avatar(&picture).api()?;
        me(profile)
    })
    .await?;
    backend.shared.emit(AppEvent::ProfileChanged);
    Ok(me)
}

/// `export_data`: into a dated folder beside the profile.
#[tauri::command]
pub async fn export_data(backend: State<'_, Arc<Backend>>, args: ExportData) -> Reply<ExportData> {
    let ExportData {} = args;
    let out = backend
        .profile_dir()
        .with_file_name(format!("kith-export-{}", kith_client::system_now_ms()));
    let dir = out.clone();
    on_profile(&backend, move |profile| {
        kith_client::export_profile(profile, &dir).api()
    })
    .await?;
    Ok(out.display().to_string())
}

/// `delete_account`
#[tauri::command]
pub async fn delete_account(backend: State<'_, Arc<Backend>>, args: DeleteAccount) -> Reply<DeleteAccount> {
    let name = on_profile(&backend, |profile| Ok(profile.info().api()?.name)).await?;
    if args.confirm.trim() != name {
        return Err(ApiError::invalid("Type your display name exactly to confirm."));
    }
    let server = backend.shared.settings().server_url;
    let closing = Arc::clone(&backend);
    blocking(move || {
        let profile = closing.close()?;
        match server {
            Some(server) => on_own_runtime(async { profile.delete_account(&server).await.api() }).map(drop),
            None => profile.erase_local().api(),
        }
    })
    .await?;
    backend.shared.emit(AppEvent::ProfileChanged);
    Ok(())
}

/// Adopts a new profile off the async runtime (starting its sync worker
/// may first stop an old one and wait for it) and says who it is.
async fn adopt(backend: &Arc<Backend>, profile: Profile) -> Result<Me, ApiError> {
    let backend = Arc::clone(backend);
    blocking(move || {
        let profile = backend.adopt(profile)?;
        me(&profile)
    })
    .await
}
