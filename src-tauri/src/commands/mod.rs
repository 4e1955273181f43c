//! The Tauri commands: a few lines each over `kith-client`. Each takes its
//! `kith_api` argument struct as `args` and returns that command's
//! `Output`, so the UI and the shell cannot disagree on a type.

pub mod attachments;
pub mod chats;
pub mod contacts;
pub mod devices;
pub mod messages;
pub mod profile;
pub mod settings;

use kith_api::ApiError;
use kith_client::{AccountId, ChatId, MessageId};

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
