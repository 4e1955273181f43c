//! What two devices say to each other on their `/kith/sync/1` stream.
//!
//! The stream starts with the authentication exchange (`kith/auth/1`):
//! each side sends [`PeerFrame::Hello`] with its device certificate; each
//! answers [`PeerFrame::Welcome`] or [`PeerFrame::Refused`] (a peer that is
//! not a contact yet may first present an invite with [`PeerFrame::Connect`]). Only after both
//! welcomes do documents flow: [`PeerFrame::Heads`] once, then Automerge sync
//! messages per document. Frames are postcard-encoded, one per length-prefixed
//! stream frame.

use serde::{Deserialize, Serialize};

/// The version of the authentication exchange (2: sync messages carry
/// change signatures).
pub const AUTH_PROTOCOL: &str = "kith/auth/2";

/// One frame on a peer stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerFrame {
    /// Who this device is.
    Hello {
        /// [`AUTH_PROTOCOL`].
        protocol: String,
        /// The device certificate (its key must be the stream's PeerId).
        certificate: Vec<u8>,
        /// The account's display name.
        name: Option<String>,
    },
    /// Sent after the other's hello when this device used the other's
    /// invite and the other has not answered yet: proof of the invite and the
    /// secret of the pairwise channel (what goes through the server otherwise).
    Connect(ConnectOffer),
    /// The other side is authorised.
    Welcome {
        /// The account's display name.
        name: Option<String>,
    },
    /// The other side is not served; the stream closes.
    Refused {
        /// Why, for the log.
        reason: String,
    },
    /// The heads of each document this side shares with the other. With
    /// `resync`, the sender has reset its sync state for this peer and the
    /// receiver must do the same.
    Heads {
        /// (document id, heads).
        docs: Vec<(String, Vec<[u8; 32]>)>,
        /// Reset the sync state first.
        resync: bool,
    },
    /// A digest of the sender's heads, sent when the stream has been quiet:
    /// a mismatch means a frame went missing and triggers a resync.
    Digest {
        /// BLAKE3 of the sender's heads.
        digest: [u8; 32],
    },
    /// An Automerge sync message for one document.
    Sync {
        /// The document id.
        doc: String,
        /// The message.
        message: Vec<u8>,
    },
    /// Typing or presence; never stored.
    Signal {
        /// What.
        signal: PeerSignal,
        /// How long it counts after it arrives.
        ttl_ms: u32,
    },
    /// Asks for chunks `first .. first + count` of an attachment's blob
    /// (sealed under its key, as on the server).
    BlobWant {
        /// BLAKE3 of the plaintext.
        hash: [u8; 32],
        /// The first chunk wanted.
        first: u32,
        /// How many (at most [`BLOB_WINDOW`]).
        count: u32,
    },
    /// One sealed chunk, in answer to [`PeerFrame::BlobWant`].
    BlobChunk {
        /// BLAKE3 of the plaintext.
        hash: [u8; 32],
        /// Which chunk.
        index: u32,
        /// The sealed bytes.
        bytes: Vec<u8>,
    },
    /// The sender does not have the blob, or may not give it to us.
    BlobMissing {
        /// BLAKE3 of the plaintext.
        hash: [u8; 32],
    },
}

/// Most chunks asked for at once (2 MiB in flight per blob and peer).
pub const BLOB_WINDOW: u32 = 8;

/// Proof of an invite, presented on a direct connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectOffer {
    /// The invite's secret.
    pub invite_secret: [u8; 32],
    /// The pairwise channel's secret, chosen by the one who used the invite.
    pub channel_secret: [u8; 32],
}

/// An ephemeral signal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerSignal {
    /// The sender is typing in this chat.
    Typing {
        /// The chat id.
        chat: String,
    },
    /// The sender is online.
    Presence,
}

impl PeerFrame {
    /// The frame's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerFrame::Hello { .. } => "hello",
            PeerFrame::Connect(_) => "connect",
            PeerFrame::Welcome { .. } => "welcome",
            PeerFrame::Refused { .. } => "refused",
            PeerFrame::Heads { .. } => "heads",
            PeerFrame::Digest { .. } => "digest",
            PeerFrame::Sync { .. } => "sync",
            PeerFrame::Signal { .. } => "signal",
            PeerFrame::BlobWant { .. } => "blob-want",
            PeerFrame::BlobChunk { .. } => "blob-chunk",
            PeerFrame::BlobMissing { .. } => "blob-missing",
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Parses a frame; malformed bytes are an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<PeerFrame, String> {
        postcard::from_bytes(bytes).map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_is_an_error() {
        let frame = PeerFrame::Sync {
            doc: "head:x".into(),
            message: vec![1, 2, 3],
        };
        assert_eq!(PeerFrame::decode(&frame.encode()).unwrap(), frame);
        assert!(PeerFrame::decode(&[0xff, 0xff, 0xff]).is_err());
        assert!(PeerFrame::decode(&[]).is_err());
    }
}
