//! Turning client errors into the UI's [`ApiError`].

use kith_api::{ApiError, ApiErrorKind};
use kith_client::ClientError;

/// The API error for a client error, with a sentence a person understands.
pub fn api_error(err: ClientError) -> ApiError {
    let kind = match &err {
        ClientError::NoProfile(_) => ApiErrorKind::NoProfile,
        ClientError::NoSuchChat(_)
        | ClientError::NoSuchMessage(_)
        | ClientError::NoSuchContact(_)
        | ClientError::NoSuchDevice(_)
        | ClientError::NoSuchUsername(_) => ApiErrorKind::NotFound,
        ClientError::BadInvite(_)
        | ClientError::DeadInvite(_)
        | ClientError::Avatar(_)
        | ClientError::Media(_)
        | ClientError::Id(_)
        | ClientError::AlreadyInitialised(_)
        | ClientError::Username(_)
        | ClientError::UsernameTaken(_)
        | ClientError::BadRequest(_)
        | ClientError::RevokeSelf => ApiErrorKind::Invalid,
        ClientError::Doc(kith_client::DocError::NotAllowed(_)) => ApiErrorKind::Forbidden,
        ClientError::Doc(kith_client::DocError::Invalid(_) | kith_client::DocError::NoSuchMessage(_)) => {
            ApiErrorKind::Invalid
        }
        ClientError::Relay(_)
        | ClientError::PairingTimedOut
        | ClientError::P2pStopped
        | ClientError::NoPeerReachable
        | ClientError::ListenFailed { .. } => ApiErrorKind::Network,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_a_person_can_fix_are_not_internal() {
        let device = kith_client::DeviceId::from_bytes([4; 32]);
        assert_eq!(api_error(ClientError::RevokeSelf).kind, ApiErrorKind::Invalid);
        assert_eq!(
            api_error(ClientError::NoSuchDevice(device)).kind,
            ApiErrorKind::NotFound
        );
        assert_eq!(api_error(ClientError::NoPeerReachable).kind, ApiErrorKind::Network);
        let stopped = api_error(ClientError::P2pStopped);
        assert!(stopped.message.contains("stopped"), "{}", stopped.message);
    }
}
