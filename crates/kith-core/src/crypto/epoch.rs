//! A conversation's symmetric key for one epoch, and what derives from it.

use super::Stream;
use kith_proto::{Capability, EnvelopeId, LogId};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A conversation epoch key: 32 random bytes, replaced (new epoch) whenever a
/// member or a device is removed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EpochKey([u8; 32]);

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochKey(..)")
    }
}

impl EpochKey {
    /// Wraps 32 random bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> EpochKey {
        EpochKey(bytes)
    }

    /// A key derived from another secret (an invite's, a contact channel's,
    /// the account's) for one purpose named by `context`.
    pub fn derive(context: &str, secret: &[u8]) -> EpochKey {
        EpochKey(blake3::derive_key(context, secret))
    }

    /// A public name for this key (a hash): the head document commits to the
    /// key of each epoch by this id, so members can check a key they were
    /// given is the one the admins chose.
    pub fn key_id(&self) -> String {
        let full = self.subkey("kith 2026 epoch key id v1");
        kith_proto::encode_id(&full[..16])
    }

    /// The raw key (for lockboxes).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn subkey(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.0)
    }

    fn keyed(&self, context: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.subkey(context));
        for part in parts {
            hasher.update(&(part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        *hasher.finalize().as_bytes()
    }

    /// The relay log of one stream: unlinkable to the stream without the key.
    pub fn log_id(&self, stream: &Stream) -> LogId {
        LogId(self.keyed("kith 2026 relay log id v1", &[stream.label().as_bytes()]))
    }

    /// The capability that grants access to that log. The server keeps only
    /// its hash, and it cannot be computed from the log id.
    pub fn capability(&self, stream: &Stream) -> Capability {
        Capability(self.keyed("kith 2026 relay capability v1", &[stream.label().as_bytes()]))
    }

    /// The envelope id of one item (an Automerge change hash, or random bytes
    /// for mail): the same change uploaded by several devices gets the same
    /// id, so the server stores it once.
    pub fn envelope_id(&self, stream: &Stream, item: &[u8]) -> EnvelopeId {
        let full = self.keyed("kith 2026 envelope id v1", &[stream.label().as_bytes(), item]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&full[..16]);
        EnvelopeId(id)
    }

    /// The AEAD key for envelopes of this epoch.
    pub(crate) fn envelope_key(&self) -> [u8; 32] {
        self.subkey("kith 2026 envelope aead key v1")
    }
}
