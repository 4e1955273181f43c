//! Read-model rows: what the store keeps so the UI and CLI never walk documents.
//!
//! Every row is a pure function of document state, so replicas holding the same
//! documents hold the same rows. The engine emits [`ReadModelUpdate`]s after each
//! change, and the store writes them in the same transaction as the change bytes.

use crate::identity::DeviceCertificate;
use crate::schema::{ChatKind, Role};
use kith_proto::{AccountId, ChatId, DeviceId, Hlc, MessageId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One message as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRow {
    /// The conversation.
    pub chat: ChatId,
    /// The message id (sorts by send time).
    pub id: MessageId,
    /// Who wrote it.
    pub author: AccountId,
    /// The device it was sent from.
    pub device: DeviceId,
    /// When it was sent (HLC).
    pub ts: Hlc,
    /// Current text; `None` once deleted for everyone.
    pub text: Option<String>,
    /// The message this one answers.
    pub reply_to: Option<MessageId>,
    /// When it was last edited.
    pub edited: Option<Hlc>,
    /// Deleted for everyone.
    pub deleted: bool,
    /// Reactions: emoji -> accounts, each ordered.
    pub reactions: BTreeMap<String, BTreeSet<AccountId>>,
    /// Files it carries (none once deleted).
    pub attachments: Vec<crate::attachment::Attachment>,
}

/// A conversation's head as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRow {
    /// The conversation.
    pub chat: ChatId,
    /// Direct or group.
    pub kind: ChatKind,
    /// Display name (may be empty for direct chats).
    pub name: String,
    /// Description.
    pub description: String,
    /// Current members and roles.
    pub members: BTreeMap<AccountId, Role>,
}

/// Per-conversation settings of this account (from the account document).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSettingsRow {
    /// Pinned to the top.
    pub pinned: bool,
    /// No notifications.
    pub muted: bool,
    /// Hidden from the main list.
    pub archived: bool,
    /// Unsent draft.
    pub draft: String,
}

/// A change to the read model, produced by the engine for the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadModelUpdate {
    /// Insert or replace a message row.
    Message(MessageRow),
    /// An account's read position in a conversation moved (monotone: the store keeps the max).
    ReadPosition {
        /// The conversation.
        chat: ChatId,
        /// Whose position.
        account: AccountId,
        /// Everything up to and including this timestamp is read.
        ts: Hlc,
    },
    /// An account's delivered position moved (monotone: the store keeps the max).
    DeliveredPosition {
        /// The conversation.
        chat: ChatId,
        /// Whose position.
        account: AccountId,
        /// The newest message timestamp its devices hold.
        ts: Hlc,
    },
    /// Insert or replace a conversation's head.
    Chat(ChatRow),
    /// Whether a conversation has a picture (a group's, see
    /// `docs::head::avatar`). Emitted after every [`ReadModelUpdate::Chat`]
    /// row; the store keeps only this flag, so the chat list stays cheap,
    /// and the bytes are read from the head document when shown. A separate
    /// update rather than a [`ChatRow`] field so that code building chat rows
    /// by hand keeps compiling; a store ignores it for a chat it has no row for.
    ChatAvatar {
        /// The conversation.
        chat: ChatId,
        /// It has a picture.
        has_avatar: bool,
    },
    /// This account's settings for a conversation.
    ChatSettings {
        /// The conversation.
        chat: ChatId,
        /// The settings.
        settings: ChatSettingsRow,
    },
    /// A person's display name.
    Profile {
        /// Whose.
        account: AccountId,
        /// The name.
        name: String,
    },
    /// A verified device certificate (own devices and other members').
    Device(DeviceCertificate),
    /// `account` was made a member of `chat` by an accepted head change; the
    /// store keeps this set (it only grows) to authorise segment writes.
    MemberEver {
        /// The conversation.
        chat: ChatId,
        /// The account.
        account: AccountId,
    },
    /// One of this account's devices was revoked.
    DeviceRevoked {
        /// The device.
        device: DeviceId,
        /// When.
        at_ms: i64,
    },
}
