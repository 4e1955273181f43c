//! The one error type every command returns.

use serde::{Deserialize, Serialize};

/// What kind of failure a command hit; the UI picks its wording from this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorKind {
    /// No profile exists yet (onboarding first).
    NoProfile,
    /// The input was refused (empty name, malformed link, text too long...).
    Invalid,
    /// The chat, message, contact or device does not exist.
    NotFound,
    /// The account's role does not allow it.
    Forbidden,
    /// The server or a peer could not be reached.
    Network,
    /// Anything else; the message says what.
    Internal,
}

/// A failed command: a kind for the UI's logic and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The kind of failure.
    pub kind: ApiErrorKind,
    /// What went wrong, in words a person understands.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ApiErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// Refused input.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiErrorKind::Invalid, message)
    }

    /// Any other failure.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiErrorKind::Internal, message)
    }
}
