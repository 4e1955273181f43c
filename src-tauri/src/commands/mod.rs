//! The Tauri commands: a few lines each over `kith-client`. Each takes its
//! `kith_api` argument struct as `args` and returns that command's
//! `Output`, so the UI and the shell cannot disagree on a type.

pub mod attachments;
pub mod chats;
pub mod contacts;
pub mod devices;
pub mod messages;
pub mod people;
pub mod profile;
pub mod settings;

use crate::backend::Backend;
use kith_api::ApiError;
use kith_client::{AccountId, ChatId, MessageId, Profile};

/// The result of the command `C`.
pub type Reply<C> = Result<<C as kith_api::Command>::Output, ApiError>;

/// Parses a chat id from the UI.
pub fn chat_id(text: &str) -> Result<ChatId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("not a chat id: {text}")))
}

/// Parses a message id from the UI.
pub fn message_id(text: &str) -> Result<MessageId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("not a message id: {text}")))
}

/// Parses an account id from the UI.
pub fn account_id(text: &str) -> Result<AccountId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("not an account id: {text}")))
}

/// Blocking profile work (SQLite, Automerge) off the async runtime's threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::internal(format!("the task failed: {err}")))?
}

/// Runs `work` on the open profile off the async runtime's threads: every
/// command that reads or writes the store goes through here (or
/// [`blocking`]), so a commit's fsync never holds up the shell.
pub async fn on_profile<T: Send + 'static>(
    backend: &Backend,
    work: impl FnOnce(&Profile) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let profile = backend.profile()?;
    blocking(move || work(&profile)).await
}

/// Runs async profile work (network plus store) to its end on a runtime of
/// its own; called inside [`blocking`], so neither the shell's runtime nor
/// its threads wait on the store. (The profile's futures are not `Send`.)
pub fn on_own_runtime<T>(work: impl std::future::Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ApiError::internal(format!("no runtime for the work: {err}")))?
        .block_on(work)
}
