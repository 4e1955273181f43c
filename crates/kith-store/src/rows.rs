//! Rows the store returns that combine several read models.

use kith_core::{ChatRow, ChatSettingsRow, DeviceCertificate, MessageRow};
use kith_proto::Hlc;
use kith_proto::{ChatId, MessageId};
use serde::Serialize;

/// One stored chunk of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChunk {
    /// Store-wide sequence number (increases with every append).
    pub seq: i64,
    /// Automerge bytes (changes or a snapshot).
    pub bytes: Vec<u8>,
}

/// One row of the chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatListEntry {
    /// The conversation's head.
    pub chat: ChatRow,
    /// Whether it has a picture (groups only; the bytes are in the head document).
    pub has_avatar: bool,
    /// This account's settings for it.
    pub settings: ChatSettingsRow,
    /// The newest message, if any.
    pub last_message: Option<MessageRow>,
    /// Messages by others after this account's read position.
    pub unread: u64,
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// The conversation.
    pub chat: ChatId,
    /// The message.
    pub message: MessageId,
    /// Its full current text.
    pub text: String,
    /// The matching part with the terms in `[brackets]`.
    pub snippet: String,
}

/// A message by someone else that shares words with a query, and what
/// `me` wrote next in that chat (the reply it got).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyCandidate {
    /// The conversation.
    pub chat: ChatId,
    /// The other person's message.
    pub prompt: String,
    /// The next message in the chat, written by `me`.
    pub reply: String,
    /// How well the prompt matches the query (higher is better).
    pub score: f64,
}

/// A known device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEntry {
    /// Its certificate.
    pub cert: DeviceCertificate,
    /// When it was revoked (ms), if it was.
    pub revoked_at: Option<i64>,
}

/// How a peer was connected, as the sync process last recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRouteRow {
    /// The peer (libp2p PeerId, base58).
    pub peer_id: String,
    /// `lan`, `direct`, `relayed` or `offline`.
    pub route: String,
    /// The remote address of the connection.
    pub address: Option<String>,
    /// When this was written (ms since the Unix epoch).
    pub updated_ms: i64,
}

/// This device's state of one relay log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayLogRow {
    /// The sequence number pulled through (`None`: never pulled).
    pub pulled: Option<u64>,
    /// The sequence number at which this device last compacted the log.
    pub compacted: u64,
}

/// The chat-list order every store returns: pinned first, then by the newest
/// message (newest first), then by chat id so ties are deterministic.
pub(crate) fn sort_chat_list(entries: &mut [ChatListEntry]) {
    let newest = |e: &ChatListEntry| e.last_message.as_ref().map(|m| m.ts).unwrap_or(Hlc::ZERO);
    entries.sort_by(|a, b| {
        b.settings
            .pinned
            .cmp(&a.settings.pinned)
            .then_with(|| newest(b).cmp(&newest(a)))
            .then_with(|| a.chat.chat.cmp(&b.chat.chat))
    });
}

/// A blob this profile holds (or is fetching).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlobRow {
    /// BLAKE3 of the plaintext.
    pub hash: [u8; 32],
    /// Plaintext size.
    pub size: u64,
    /// The file is whole and its hash was checked.
    pub complete: bool,
    /// Every chunk is on the sync server.
    pub on_server: bool,
    /// When it was first recorded (ms since the Unix epoch).
    pub added_ms: i64,
}
