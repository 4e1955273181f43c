//! The shell's state: the profile (once one exists), settings and the sync
//! worker. Commands reach it through `tauri::State<Arc<Backend>>` (an `Arc`, so work
//! moved off the async runtime can take it along).

use crate::shared::Shared;
use crate::worker::SyncWorker;
use kith_api::{ApiError, ApiErrorKind, Settings};
use kith_client::{Attachment, Profile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The running app's state.
pub struct Backend {
    profile_dir: PathBuf,
    profile: Mutex<Option<Arc<Profile>>>,
    worker: Mutex<Option<SyncWorker>>,
    /// Attachments prepared in composers, by token, until sent or dropped.
    staged: Mutex<BTreeMap<String, Attachment>>,
    /// Shared with the sync worker.
    pub shared: Arc<Shared>,
    started: std::time::Instant,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Backend {
    /// The app's state for the profile in `profile_dir` (opened if it exists).
    pub fn new(profile_dir: PathBuf) -> Backend {
        let shared = Arc::new(Shared::new(crate::settings::load(&profile_dir)));
        // Copies of attachments handed to other apps in an earlier run (see
        // `open_attachment`) are not kept: the message may be gone by now.
        let opened = profile_dir.join(crate::commands::attachments::OPENED_DIR);
        if let Err(err) = std::fs::remove_dir_all(&opened)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%err, dir = %opened.display(), "could not clear opened attachments");
        }
        let profile = match Profile::open(&profile_dir) {
            Ok(profile) => Some(Arc::new(profile)),
            Err(kith_client::ClientError::NoProfile(_)) => None,
            Err(err) => {
                tracing::error!(%err, dir = %profile_dir.display(), "could not open the profile");
                None
            }
        };
        Backend {
            profile_dir,
            profile: Mutex::new(profile),
            worker: Mutex::new(None),
            staged: Mutex::new(BTreeMap::new()),
            shared,
            started: std::time::Instant::now(),
        }
    }

    /// When the app started (for start-up milestones).
    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    /// Where the profile lives.
    pub fn profile_dir(&self) -> &Path {
        &self.profile_dir
    }

    /// The open profile, or a `NoProfile` error for the onboarding screen.
    pub fn profile(&self) -> Result<Arc<Profile>, ApiError> {
        lock(&self.profile)
            .clone()
            .ok_or_else(|| ApiError::new(ApiErrorKind::NoProfile, "Create a profile or link this device first."))
    }

    /// The open profile, if any.
    pub fn try_profile(&self) -> Option<Arc<Profile>> {
        lock(&self.profile).clone()
    }

    /// Adopts a newly created or joined profile and starts syncing it.
    pub fn adopt(&self, profile: Profile) -> Result<Arc<Profile>, ApiError> {
        let profile = Arc::new(profile);
        *lock(&self.profile) = Some(Arc::clone(&profile));
        self.restart_sync()?;
        Ok(profile)
    }

    /// (Re)starts the sync worker with the current settings.
    pub fn restart_sync(&self) -> Result<(), ApiError> {
        let mut worker = lock(&self.worker);
        if let Some(old) = worker.take() {
            old.stop();
        }
        if let Some(profile) = self.try_profile() {
            crate::worker::watch_transfers(&profile, &self.shared);
            let started = SyncWorker::start(profile, Arc::clone(&self.shared))
                .map_err(|err| ApiError::internal(format!("could not start syncing: {err}")))?;
            *worker = Some(started);
        }
        Ok(())
    }

    /// Keeps a prepared attachment for the composer; returns its token.
    pub fn stage(&self, attachment: Attachment) -> Result<String, ApiError> {
        let mut staged = lock(&self.staged);
        if staged.len() >= MAX_STAGED {
            return Err(ApiError::invalid(format!(
                "At most {MAX_STAGED} attachments can wait to be sent; send or remove some first."
            )));
        }
        let token = staged_token(&attachment);
        staged.insert(token.clone(), attachment);
        Ok(token)
    }

    /// Forgets every staged attachment.
    pub fn clear_staged(&self) {
        lock(&self.staged).clear();
    }

    /// Forgets a staged attachment.
    pub fn unstage(&self, token: &str) {
        lock(&self.staged).remove(token);
    }

    /// The staged attachments named by `tokens`, in that order (kept staged:
    /// they are let go once the message is sent).
    pub fn staged(&self, tokens: &[String]) -> Result<Vec<Attachment>, ApiError> {
        let staged = lock(&self.staged);
        tokens
            .iter()
            .map(|token| {
                staged
                    .get(token)
                    .cloned()
                    .ok_or_else(|| ApiError::invalid("An attachment is no longer ready to send; attach it again."))
            })
            .collect()
    }

    /// Sends a typing notice through the sync worker.
    pub fn send_typing(&self, chat: kith_client::ChatId) {
        if let Some(worker) = lock(&self.worker).as_ref() {
            worker.send_typing(chat);
        }
    }

    /// Saves and applies new settings.
    pub fn save_settings(&self, settings: Settings) -> Result<Settings, ApiError> {
        let settings = normalise(settings)?;
        crate::settings::save(&self.profile_dir, &settings)
            .map_err(|err| ApiError::internal(format!("could not save settings: {err}")))?;
        let server_changed = self.shared.settings().server_url != settings.server_url;
        self.shared.set_settings(settings.clone());
        if server_changed {
            self.restart_sync()?;
        }
        Ok(settings)
    }

    /// Stops syncing and closes the profile, returning it (to delete it).
    pub fn close(&self) -> Result<Profile, ApiError> {
        if let Some(worker) = lock(&self.worker).take() {
            worker.stop();
        }
        let profile = lock(&self.profile)
            .take()
            .ok_or_else(|| ApiError::new(ApiErrorKind::NoProfile, "No profile is open."))?;
        Arc::try_unwrap(profile).map_err(|still_shared| {
            *lock(&self.profile) = Some(still_shared);
            ApiError::internal("The profile is busy; try again in a moment.")
        })
    }
}

/// Most attachments waiting in composers at once.
const MAX_STAGED: usize = 100;

/// A token naming a staged attachment: its hash's first bytes and a
/// sequence number (the same file attached twice gets two tokens; no key
/// material goes to the UI).
fn staged_token(attachment: &Attachment) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let sequence = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = data_encoding::HEXLOWER.encode(&attachment.hash[..8]);
    format!("{prefix}-{sequence}")
}

/// Trims the server URL and checks it is a WebSocket URL.
fn normalise(mut settings: Settings) -> Result<Settings, ApiError> {
    settings.server_url = settings
        .server_url
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty());
    if let Some(url) = &settings.server_url {
        kith_net::ws_url(url).map_err(|_| {
            ApiError::invalid(
                "The server address must start with ws:// or wss:// (for example ws://192.168.1.10:7700).",
            )
        })?;
    }
    Ok(settings)
}
