//! The server's error types: why it stopped ([`ServerError`]) and how a
//! refused request is reported on the wire ([`Refusal`]).

use crate::store::StoreError;
use kith_proto::ErrorCode;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Binding or serving failed.
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// The libp2p side (rendezvous, relay) could not start.
    #[error("peer-to-peer: {0}")]
    P2p(String),
    /// NATS could not be used.
    #[error(transparent)]
    Nats(#[from] crate::nats::NatsError),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The connection ended: the socket failed or the peer went away.
#[derive(Debug)]
pub(crate) struct Closed;

/// A request the server refuses, sent back as an `Error` frame.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The error code on the wire.
    pub(crate) code: ErrorCode,
    /// A human-readable reason.
    pub(crate) message: String,
    /// Whether asking again later may succeed.
    pub(crate) retryable: bool,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code,
            message: message.into(),
            retryable,
        }
    }

    /// A storage failure the client may retry; the details stay in the log.
    pub(crate) fn internal() -> Self {
        Self::new(ErrorCode::Internal, "storage failure", true)
    }

    /// How a store error is reported to the client.
    pub(crate) fn from_store(error: &StoreError) -> Self {
        match error {
            StoreError::Forbidden
            | StoreError::BlobInOtherLog
            | StoreError::Deleted
            | StoreError::Unmanaged
            | StoreError::NotManager
            | StoreError::ManagedByAnother => Self::new(ErrorCode::Forbidden, error.to_string(), false),
            StoreError::Taken => Self::new(ErrorCode::Taken, error.to_string(), false),
            StoreError::Suspended => Self::new(ErrorCode::Suspended, error.to_string(), false),
            StoreError::InvalidRequest(_) => Self::new(ErrorCode::Malformed, error.to_string(), false),
            StoreError::NotFound | StoreError::BlobNotFound => Self::new(ErrorCode::NotFound, error.to_string(), false),
            // The upload is under way: asking again later may succeed.
            StoreError::BlobIncomplete { .. } => Self::new(ErrorCode::NotFound, error.to_string(), true),
            StoreError::BlobTooLarge { .. } => Self::new(ErrorCode::TooLarge, error.to_string(), false),
            StoreError::QuotaExceeded { .. } | StoreError::DeviceQuotaExceeded { .. } => {
                Self::new(ErrorCode::QuotaExceeded, error.to_string(), false)
            }
            other => {
                tracing::error!(error = %other, "store failed");
                Self::internal()
            }
        }
    }
}
