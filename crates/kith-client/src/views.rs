//! What the CLI and the UI read: plain data built from the read model (no
//! behaviour beyond judging receipts), so every concept module may use it.

use crate::secrets::SecretStorage;
use kith_core::{Attachment, AttachmentKind, ChatKind, Role};
use kith_proto::{AccountId, ChatId, Hlc, MessageId};
use serde::Serialize;
use std::collections::BTreeMap;

/// What `whoami` shows.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileInfo {
    /// The account id.
    pub account_id: AccountId,
    /// This device's id.
    pub device_id: kith_proto::DeviceId,
    /// Display name.
    pub name: String,
    /// An invite link others can use to add this account.
    pub invite: String,
    /// Where the secret keys are kept.
    pub secret_storage: SecretStorage,
    /// This device's libp2p PeerId (its Ed25519 device key).
    pub peer_id: String,
}

/// A message as the CLI and UI show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageView {
    /// Message id.
    pub id: MessageId,
    /// Conversation id.
    pub chat_id: ChatId,
    /// Author's account.
    pub author: AccountId,
    /// Author's display name, when known.
    pub author_name: Option<String>,
    /// Text; `null` once deleted for everyone.
    pub text: Option<String>,
    /// Send time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The message it replies to.
    pub reply_to: Option<MessageId>,
    /// Whether it was edited.
    pub edited: bool,
    /// Whether it was deleted for everyone.
    pub deleted: bool,
    /// Reactions: emoji -> accounts.
    pub reactions: BTreeMap<String, Vec<AccountId>>,
    /// For your own messages: sent, uploaded, delivered or read.
    pub status: Option<MessageStatus>,
    /// For your own messages: each recipient's receipt.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<Receipt>,
    /// How the message first reached this device (`lan`, `direct`,
    /// `relayed`, `server`); `null` for messages written here.
    pub route: Option<String>,
    /// Files it carries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
}

/// The preview of a chat's newest message in the chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastMessagePreview {
    /// Message id.
    pub id: MessageId,
    /// Author's display name or account id.
    pub author_name: String,
    /// Text (`null` once deleted).
    pub text: Option<String>,
    /// Send time, ms since the epoch.
    pub ts: u64,
}

/// One row of the chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatSummary {
    /// Conversation id.
    pub chat_id: ChatId,
    /// Display name.
    pub name: String,
    /// Direct or group.
    pub kind: ChatKind,
    /// Newest message.
    pub last_message: Option<LastMessagePreview>,
    /// Unread messages from others.
    pub unread: u64,
    /// Pinned.
    pub pinned: bool,
    /// Muted.
    pub muted: bool,
    /// Archived.
    pub archived: bool,
    /// Members and roles.
    pub members: BTreeMap<AccountId, Role>,
    /// Group description.
    pub description: String,
    /// Unsent draft.
    pub draft: String,
    /// Whether it has a picture (groups only; [`Chats::avatar`]).
    pub has_avatar: bool,
}

/// An attachment as `kith attachments --json` and the app show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    /// The message carrying it.
    pub message_id: MessageId,
    /// Its place among the message's attachments.
    pub index: usize,
    /// The name it was sent with.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// `file`, `image` or `voice`.
    pub kind: &'static str,
    /// Image width.
    pub width: Option<u32>,
    /// Image height.
    pub height: Option<u32>,
    /// Voice note length.
    pub duration_ms: Option<u32>,
    /// Voice note loudness over time (0-255 per bar).
    pub waveform: Option<Vec<u8>>,
    /// BLAKE3 of the content, hex.
    pub hash: String,
    /// Whether the bytes are on this device.
    pub downloaded: bool,
    /// Whether a preview travels with the message.
    pub has_thumbnail: bool,
}

impl AttachmentView {
    pub(crate) fn of(message_id: MessageId, index: usize, attachment: &Attachment, downloaded: bool) -> AttachmentView {
        let (kind, width, height, duration_ms, waveform) = match &attachment.kind {
            AttachmentKind::File => ("file", None, None, None, None),
            AttachmentKind::Image { width, height } => ("image", Some(*width), Some(*height), None, None),
            AttachmentKind::Voice { duration_ms, waveform } => {
                ("voice", None, None, Some(*duration_ms), Some(waveform.clone()))
            }
            AttachmentKind::Video {
                width,
                height,
                duration_ms,
            } => ("video", Some(*width), Some(*height), Some(*duration_ms), None),
        };
        AttachmentView {
            message_id,
            index,
            name: attachment.name.clone(),
            mime: attachment.mime.clone(),
            size: attachment.size,
            kind,
            width,
            height,
            duration_ms,
            waveform,
            hash: attachment.hash_hex(),
            downloaded,
            has_thumbnail: attachment.thumbnail.is_some(),
        }
    }
}

/// A contact as `kith --json contacts` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactView {
    /// Their account id.
    pub account_id: AccountId,
    /// Their display name, when known.
    pub name: Option<String>,
    /// `pending`, `accepted`, `blocked`, `deleted`, or `refused` (their
    /// link no longer worked).
    pub state: String,
    /// Whether they have a profile picture (`kith avatar get --account`).
    pub has_avatar: bool,
    /// What their device answered when their link no longer worked.
    pub refusal: Option<String>,
}

/// A device as `kith --json device list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceView {
    /// The device id.
    pub device_id: kith_proto::DeviceId,
    /// When its certificate was issued (ms since the Unix epoch).
    pub issued_ms: u64,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Whether it is the device running this command.
    pub this_device: bool,
}

/// Where one of your messages stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Durable on this device.
    Sent,
    /// Stored on the sync server.
    Uploaded,
    /// Some recipient's devices hold it.
    Delivered,
    /// Some recipient read it.
    Read,
}

/// One recipient's receipt for one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The recipient.
    pub account: AccountId,
    /// Their devices hold the message.
    pub delivered: bool,
    /// They read it.
    pub read: bool,
}

/// What is known about the other members of a chat, to judge own messages.
#[derive(Debug, Default)]
pub(crate) struct ChatReceipts {
    pub(crate) uploaded_through: Option<Hlc>,
    /// (member, delivered position, read position).
    pub(crate) others: Vec<(AccountId, Option<Hlc>, Option<Hlc>)>,
}

impl ChatReceipts {
    /// The status of an own message sent at `ts`, and each recipient's receipt.
    pub(crate) fn judge(&self, ts: Hlc) -> (MessageStatus, Vec<Receipt>) {
        let receipts: Vec<Receipt> = self
            .others
            .iter()
            .map(|(account, delivered, read)| {
                let read = read.is_some_and(|r| r >= ts);
                Receipt {
                    account: *account,
                    read,
                    delivered: read || delivered.is_some_and(|d| d >= ts),
                }
            })
            .collect();
        let status = if receipts.iter().any(|r| r.read) {
            MessageStatus::Read
        } else if receipts.iter().any(|r| r.delivered) {
            MessageStatus::Delivered
        } else if self.uploaded_through.is_some_and(|u| u >= ts) {
            MessageStatus::Uploaded
        } else {
            MessageStatus::Sent
        };
        (status, receipts)
    }
}
