//! Turning client errors into the UI's [`ApiError`].

use kith_api::{ApiError, ApiErrorKind};
use kith_client::ClientError;

/// The API error for a client error, with a sentence a person understands.
pub fn api_error(err: ClientError) -> ApiError {
    let kind = match &err {
        ClientError::NoProfile(_) => ApiErrorKind::NoProfile,
        ClientError::NoSuchChat(_) | ClientError::NoSuchMessage(_) | ClientError::NoSuchContact(_) => {
            ApiErrorKind::NotFound
        }
        ClientError::BadInvite(_)
        | ClientError::Avatar(_)
        | ClientError::Media(_)
        | ClientError::Id(_)
        | ClientError::AlreadyInitialised(_) => ApiErrorKind::Invalid,
        ClientError::Doc(kith_client::DocError::NotAllowed(_)) => ApiErrorKind::Forbidden,
        ClientError::Doc(kith_client::DocError::Invalid(_) | kith_client::DocError::NoSuchMessage(_)) => {
            ApiErrorKind::Invalid
        }
        ClientError::Relay(_) | ClientError::PairingTimedOut => ApiErrorKind::Network,
        _ => ApiErrorKind::Internal,
    };
    ApiError::new(kind, err.to_string())
}

/// Shorthand for command bodies: `client_call()?` maps the error.
pub trait IntoApi<T> {
    /// Maps the error to an [`ApiError`].
    fn api(self) -> Result<T, ApiError>;
}

impl<T> IntoApi<T> for Result<T, ClientError> {
    fn api(self) -> Result<T, ApiError> {
        self.map_err(api_error)
    }
}
