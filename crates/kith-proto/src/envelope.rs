//! Relay-log identifiers and the opaque envelope the sync server stores.

use serde::{Deserialize, Serialize};

/// A relay log on the sync server: 32 opaque bytes chosen by clients (derived
/// from the conversation key), so the server learns nothing from it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct LogId(pub [u8; 32]);

/// A capability for one relay log: 32 secret bytes derived from the
/// conversation key. The server stores only `BLAKE3(capability)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capability(pub [u8; 32]);

impl std::fmt::Debug for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capability(..)")
    }
}

/// The right to delete or compact one relay log: 32 secret bytes only the
/// log's manager holds (the client derives it from its account key). The
/// log's [`ClientFrame::Register`](crate::ClientFrame::Register) gives the
/// server its hash, `BLAKE3(key)`; the capability alone reads and appends
/// but never deletes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ManageKey(pub [u8; 32]);

impl std::fmt::Debug for ManageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManageKey(..)")
    }
}

/// The id of one envelope, chosen by the client that made it (random 16 bytes).
/// Appends are idempotent on it within a log.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct EnvelopeId(pub [u8; 16]);

/// An encrypted unit of sync data. The server never looks inside `ciphertext`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// Client-chosen id; re-pushing the same id is a no-op.
    pub id: EnvelopeId,
    /// Key epoch of the conversation this envelope is encrypted under.
    pub epoch: u32,
    /// Opaque ciphertext, at most [`crate::MAX_ENVELOPE_BYTES`] bytes.
    pub ciphertext: Vec<u8>,
}

/// A blob on the sync server: 32 opaque bytes derived from the blob's own
/// key, so the server cannot link it to the content (or to another copy of
/// the same file sent elsewhere).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct BlobId(pub [u8; 32]);
