//! Reading ids, roles and the server from the command line.

use anyhow::Context;
use kith_client::{AccountId, ChatId, MessageId, Profile, Role};

/// A chat id as typed.
pub(crate) fn chat_id(text: &str) -> anyhow::Result<ChatId> {
    text.parse().with_context(|| format!("invalid chat id {text:?}"))
}

/// A message id as typed.
pub(crate) fn message_id(text: &str) -> anyhow::Result<MessageId> {
    text.parse().with_context(|| format!("invalid message id {text:?}"))
}

/// An account id as typed.
pub(crate) fn account_id(text: &str) -> anyhow::Result<AccountId> {
    text.parse().with_context(|| format!("invalid account id {text:?}"))
}

/// `member`, `admin` or `owner`.
pub(crate) fn role(text: &str) -> anyhow::Result<Role> {
    text.parse().map_err(anyhow::Error::msg)
}

/// The server given, or the one this profile last synced with.
pub(crate) fn server_for(profile: &Profile, given: Option<String>) -> anyhow::Result<String> {
    match given {
        Some(server) => Ok(server),
        None => profile
            .relay()
            .last_server()?
            .context("no server given and this profile has not synced yet: pass --server URL"),
    }
}
