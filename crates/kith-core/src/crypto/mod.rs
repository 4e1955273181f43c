//! End-to-end encryption for the relay path (DESIGN.md §3), sans-IO:
//! conversation epoch keys, the relay log ids and capabilities derived from
//! them, sealed and signed envelopes, and lockboxes that carry an epoch key to
//! one member device. Randomness (keys, nonces) is an input.

mod backup;
mod blob;
mod envelope;
mod epoch;
mod lockbox;
mod manage;
mod name_record;
mod stream;

pub use backup::{BACKUP_HEADER_LEN, BackupHeader, BackupKey, MAX_FRAME_PLAINTEXT};
pub use blob::{blob_locator, open_chunk, plaintext_chunks, seal_chunk, sealed_size};
pub use envelope::{OpenedEnvelope, open_envelope, seal_envelope};
pub use epoch::EpochKey;
pub use lockbox::{Lockbox, open_lockbox, open_sealed, seal_lockbox, seal_to_device};
pub use manage::{manage_key, manage_key_hash};
pub use name_record::NameRecord;
pub use stream::Stream;

/// Why a sealed thing could not be opened or made.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The bytes are too short or not of the expected layout.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The sender's signature does not verify.
    #[error("envelope signature does not verify")]
    BadSignature,
    /// Authenticated decryption failed: wrong key, wrong context or tampering.
    #[error("cannot decrypt {0}: wrong key or tampered")]
    Decrypt(&'static str),
}
