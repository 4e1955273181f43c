//! Kith identifiers, hybrid logical clock timestamps and the document id scheme.
//!
//! This crate does no I/O and builds for `wasm32-unknown-unknown`: the UI, the
//! server and the engine all share these types.

mod auth;
mod encoding;
mod envelope;
mod hlc;
mod ids;
mod username;
mod wire;

pub use auth::{AUTH_DOMAIN, AUTH_MAX_SKEW_MS, auth_message};
pub use encoding::{decode_id, encode_id};
pub use envelope::{BlobId, Capability, Envelope, EnvelopeId, LogId, ManageKey};
pub use hlc::{Hlc, HlcClock};
pub use ids::{AccountId, ChatId, DeviceId, DocId, IdError, MessageId, Month};
pub use username::{MAX_NAME_RECORD_BYTES, MAX_USERNAME_CHARS, MIN_USERNAME_CHARS, Username, UsernameError};
pub use wire::{
    BLOB_CHUNK_BYTES, BLOB_CHUNK_OVERHEAD, ClientFrame, ErrorCode, MAX_BLOB_BYTES, MAX_ENVELOPE_BYTES,
    MAX_ENVELOPES_PER_PUSH, MAX_FRAME_BYTES, MAX_NUDGE_LOGS, MAX_PULL, MAX_REPORT_REASON_BYTES, MAX_SIGNAL_BYTES,
    PROTOCOL_VERSION, ServerFrame, WireError, blob_chunk_count, blob_chunk_len,
};
