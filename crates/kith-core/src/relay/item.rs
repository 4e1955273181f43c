//! The plaintext of one relay envelope.

use crate::crypto::Lockbox;
use crate::signature::ChangeSignature;
use kith_proto::{ChatId, DeviceId};
use serde::{Deserialize, Serialize};

/// One item of a relay stream (postcard-encoded, then sealed in an envelope).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelayItem {
    /// One Automerge change of one document of the stream.
    Change {
        /// The document (`head:..`, `seg:..`, `acct:..`).
        doc: String,
        /// The change bytes.
        change: Vec<u8>,
    },
    /// Many changes of one document at once (a compaction snapshot): the
    /// change chunks one after the other.
    Changes {
        /// The document.
        doc: String,
        /// Concatenated Automerge change chunks.
        changes: Vec<u8>,
    },
    /// Who the sender is, on a contact channel: certificates of its devices
    /// and its display name.
    Hello {
        /// Encoded device certificates.
        certificates: Vec<Vec<u8>>,
        /// Display name.
        name: Option<String>,
        /// Profile picture (JPEG, 256 px).
        avatar: Option<Vec<u8>>,
    },
    /// A conversation's epoch key for the recipient account, sealed to each
    /// of its devices.
    ChatKey {
        /// The conversation.
        chat: ChatId,
        /// The key epoch.
        epoch: u32,
        /// One lockbox per recipient device.
        lockboxes: Vec<(DeviceId, Lockbox)>,
    },
    /// An invite was used: a [`ConnectRequest`] sealed to the inviting device.
    Connect {
        /// The sealed request.
        sealed: Lockbox,
    },
    /// A new device asks to join the account (on a pairing stream; its
    /// envelope is signed by the new device's key).
    JoinRequest {
        /// The new device's X25519 key, to seal the answer to.
        sealing_key: [u8; 32],
    },
    /// The account's answer: the account key, sealed to the new device.
    JoinAccept {
        /// The sealed 32-byte account key seed.
        sealed: Lockbox,
    },
    /// Ephemeral (never stored): the sender is typing in a conversation.
    Typing {
        /// The conversation.
        chat: ChatId,
        /// Until when to show it, ms since the Unix epoch.
        until_ms: u64,
    },
    /// The sender deleted their account.
    Goodbye,
    /// A new account stream key (after a revocation), sealed to each of the
    /// account's remaining devices; sent on the older account streams.
    AccountKey {
        /// Its epoch.
        epoch: u32,
        /// One lockbox per remaining device.
        lockboxes: Vec<(DeviceId, Lockbox)>,
    },
    /// A device of the sender's account was revoked: leave it out of key
    /// grants from now on.
    DeviceRevoked {
        /// The revoked device.
        device: DeviceId,
    },
    /// Ephemeral (never stored): the sender is online.
    Presence {
        /// Until when to consider them online, ms since the Unix epoch.
        until_ms: u64,
    },
    /// One Automerge change with the signature that vouches for it: its
    /// actor's newest signature in the sender's copy (the change itself or
    /// a later change of the same device that descends from it).
    SignedChange {
        /// The document.
        doc: String,
        /// The change bytes.
        change: Vec<u8>,
        /// The actor's signature, when the sender holds one.
        signature: Option<ChangeSignature>,
    },
    /// Many changes of one document (a compaction snapshot) with every
    /// signature the sender holds for it.
    SignedChanges {
        /// The document.
        doc: String,
        /// Concatenated Automerge change chunks.
        changes: Vec<u8>,
        /// The newest signature of each device that wrote there.
        signatures: Vec<ChangeSignature>,
    },
    /// A recovery kit (the account key and account stream keys), sealed to
    /// the account's recovery key; only on a recovery log.
    RecoveryKit {
        /// The sealed [`crate::recovery::RecoveryKit`].
        sealed: Lockbox,
    },
    /// The answer to a connect request for a link that no longer works, on
    /// the pairwise channel the request named (so only its sender reads it).
    InviteRefused {
        /// Why.
        reason: InviteRefusal,
        /// Which link ([`invite_link_tag`] of its secret): a refusal for
        /// an older link must not drop a newer request.
        link: [u8; 8],
    },
    /// A message request, in a device's request inbox: a
    /// [`MessageRequest`] sealed to that device (the envelope around it is
    /// sealed with a key anyone can derive, so only the lockbox hides it).
    Request {
        /// The sealed [`MessageRequest`].
        sealed: Lockbox,
    },
}

/// A short public tag of an invite link's secret, naming the link in a
/// refusal without revealing the secret.
pub fn invite_link_tag(secret: &[u8; 32]) -> [u8; 8] {
    let hash = blake3::derive_key("kith invite link tag v1", secret);
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&hash[..8]);
    tag
}

/// Why an invite link did not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteRefusal {
    /// Its owner revoked it.
    Revoked,
    /// A one-time link somebody already used.
    Used,
    /// Past its expiry.
    Expired,
}

impl InviteRefusal {
    /// What the person who used the link is told.
    pub fn message(self) -> &'static str {
        match self {
            InviteRefusal::Revoked => "this link was revoked",
            InviteRefusal::Used => "this one-time link was already used",
            InviteRefusal::Expired => "this link has expired",
        }
    }

    /// A short label (`revoked`, `used`, `expired`).
    pub fn label(self) -> &'static str {
        match self {
            InviteRefusal::Revoked => "revoked",
            InviteRefusal::Used => "used",
            InviteRefusal::Expired => "expired",
        }
    }

    /// The byte kept for it.
    pub fn to_byte(self) -> u8 {
        match self {
            InviteRefusal::Revoked => 1,
            InviteRefusal::Used => 2,
            InviteRefusal::Expired => 3,
        }
    }

    /// Back from [`InviteRefusal::to_byte`].
    pub fn from_byte(byte: u8) -> Option<InviteRefusal> {
        match byte {
            1 => Some(InviteRefusal::Revoked),
            2 => Some(InviteRefusal::Used),
            3 => Some(InviteRefusal::Expired),
            _ => None,
        }
    }
}

/// What someone who holds an invite sends to its issuer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// The invite's secret: proof that the sender was given the invite.
    pub invite_secret: [u8; 32],
    /// The sender's device certificate (encoded).
    pub certificate: Vec<u8>,
    /// The sender's display name.
    pub name: Option<String>,
    /// Secret of the pairwise channel the two will use from now on.
    pub channel_secret: [u8; 32],
}

/// What a message request carries, sealed to the device it asks: who is
/// asking (their certificate, name and picture), the channel they will
/// follow, and their first message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    /// The asking device's certificate.
    pub certificate: Vec<u8>,
    /// Their display name.
    pub name: Option<String>,
    /// Their profile picture (JPEG, as kept in an account document).
    pub avatar: Option<Vec<u8>>,
    /// The pairwise channel's secret, chosen by the asker.
    pub channel_secret: [u8; 32],
    /// Their first message.
    pub text: String,
    /// How they found the device: `username` or `group`.
    pub via: String,
}

impl MessageRequest {
    /// The sealed form's plaintext.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads a request's plaintext.
    pub fn decode(bytes: &[u8]) -> Result<MessageRequest, RelayItemError> {
        postcard::from_bytes(bytes).map_err(|err| RelayItemError(err.to_string()))
    }
}

/// Why bytes are not a relay item.
#[derive(Debug, thiserror::Error)]
#[error("malformed relay item: {0}")]
pub struct RelayItemError(String);

impl RelayItem {
    /// The bytes to seal.
    pub fn encode(&self) -> Vec<u8> {
        // Plain data into a Vec: cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads opened bytes.
    pub fn decode(bytes: &[u8]) -> Result<RelayItem, RelayItemError> {
        postcard::from_bytes(bytes).map_err(|err| RelayItemError(err.to_string()))
    }
}

impl ConnectRequest {
    /// The bytes to seal.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads opened bytes.
    pub fn decode(bytes: &[u8]) -> Result<ConnectRequest, RelayItemError> {
        postcard::from_bytes(bytes).map_err(|err| RelayItemError(err.to_string()))
    }
}
