//! Document schema v1: the keys of every document (see docs/schema.md).
//!
//! Every document is a flat root map whose keys name what they hold. The only
//! nested objects are message maps in segments, one per message, under a key
//! that embeds the sending device. Flat keys mean two devices that write
//! concurrently never create the same object twice (in Automerge the loser of
//! such a race silently hides its whole subtree), and they make authority a
//! question about keys, which `authority` can answer from a change alone.

use kith_proto::{AccountId, ChatId, DeviceId, MessageId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The schema version written into every document under [`SCHEMA_KEY`].
pub const SCHEMA_VERSION: i64 = 1;
/// Root key holding the schema version.
pub const SCHEMA_KEY: &str = "schema";

/// Head doc: conversation kind (`direct` or `group`).
pub const HEAD_KIND: &str = "kind";
/// Head doc: display name.
pub const HEAD_NAME: &str = "name";
/// Head doc: description.
pub const HEAD_DESCRIPTION: &str = "description";
/// Head doc: a group's picture (JPEG bytes, at most [`MAX_AVATAR_BYTES`]).
pub const HEAD_AVATAR: &str = "avatar";
/// Head doc: the creating account.
pub const HEAD_CREATOR: &str = "genesis/creator";
/// Head doc: the nonce that, hashed with the creator, gives the chat id.
pub const HEAD_NONCE: &str = "genesis/nonce";
/// Head doc and account doc: prefix of `member/ACCOUNT` = role.
pub const MEMBER_PREFIX: &str = "member/";
/// Head doc and account doc: prefix of `device/DEVICE` = certificate bytes.
pub const DEVICE_PREFIX: &str = "device/";
/// Account doc: prefix of `revoked/DEVICE` = revocation time.
pub const REVOKED_PREFIX: &str = "revoked/";

/// Account doc: the display name.
pub const PROFILE_NAME: &str = "profile/name";
/// Account doc: a short status line.
pub const PROFILE_STATUS: &str = "profile/status";
/// Account doc: prefix of `chat/CHAT/FIELD` per-conversation settings.
pub const CHAT_SETTING_PREFIX: &str = "chat/";
/// Account doc: the profile picture (JPEG bytes).
pub const PROFILE_AVATAR: &str = "profile/avatar";
/// Account doc: the public X25519 key of the recovery phrase (32 bytes).
pub const RECOVERY_KEY: &str = "recovery/key";
/// Account doc: the username this account claimed on its server (as typed).
pub const USERNAME: &str = "profile/username";
/// Account doc: the secret whose hash manages the username (any device of
/// the account may change or release it).
pub const USERNAME_KEY: &str = "profile/username_key";
/// Account doc: `avatar/ACCOUNT` -> a contact's profile picture (JPEG bytes).
pub const CONTACT_AVATAR_PREFIX: &str = "avatar/";
/// Largest stored profile or group picture.
pub const MAX_AVATAR_BYTES: usize = 128 * 1024;
/// Account doc: `contact/ACCOUNT` -> a postcard-encoded contact record.
pub const CONTACT_PREFIX: &str = "contact/";
/// Account doc: `request/ACCOUNT` -> a message request's first message
/// (postcard `RequestRecord`), until it is answered.
pub const REQUEST_PREFIX: &str = "request/";
/// Account doc: `chatkey/CHAT/EPOCH/KEYID` -> a conversation's 32-byte epoch key.
pub const CHAT_KEY_PREFIX: &str = "chatkey/";
/// Head doc: `epoch/N` -> the id of the key members write with from epoch N
/// (written by admins: only a committed key is ever written to).
pub const EPOCH_PREFIX: &str = "epoch/";

/// Segment doc: prefix of `m/MESSAGE` = message map.
pub const MESSAGE_PREFIX: &str = "m/";
/// Segment doc: prefix of `r/MESSAGE/ACCOUNT/EMOJI` = reaction time.
pub const REACTION_PREFIX: &str = "r/";
/// Segment doc: prefix of `read/ACCOUNT` = read position (packed HLC).
pub const READ_PREFIX: &str = "read/";
/// Segment doc: `dlv/ACCOUNT` -> the newest message timestamp the account's devices hold.
pub const DELIVERED_PREFIX: &str = "dlv/";

/// Message map: author account id.
pub const MSG_AUTHOR: &str = "author";
/// Message map: sending device id.
pub const MSG_DEVICE: &str = "device";
/// Message map: text (absent once deleted).
pub const MSG_TEXT: &str = "text";
/// Message map: id of the message this one replies to.
pub const MSG_REPLY_TO: &str = "reply_to";
/// Message map: HLC of the last edit.
pub const MSG_EDITED: &str = "edited";
/// Message map: HLC of deletion for everyone.
pub const MSG_DELETED: &str = "deleted";
/// Message map: the attachments (postcard bytes, see `attachment.rs`);
/// written with the message, removed with its text on deletion.
pub const MSG_ATTACHMENTS: &str = "attachments";

/// Largest message text accepted, in bytes (local refusal and authority check).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Largest emoji/reaction key accepted, in bytes.
pub const MAX_REACTION_BYTES: usize = 64;
/// Largest chat name, description or profile name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// A member's role in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Writes messages.
    Member,
    /// Also renames, changes members and their roles (not owners').
    Admin,
    /// Everything, including owners.
    Owner,
}

impl Role {
    /// The text stored in the head document.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Whether this role may change the conversation's name and members.
    pub fn is_admin(self) -> bool {
        self >= Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            other => Err(format!("unknown role {other:?}: expected member, admin or owner")),
        }
    }
}

/// Whether a conversation is between two people or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// Two people.
    Direct,
    /// Any number of people with roles.
    Group,
}

impl ChatKind {
    /// The text stored in the head document.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Direct => "direct",
            ChatKind::Group => "group",
        }
    }

    /// Reads the stored text.
    pub fn parse(text: &str) -> Option<ChatKind> {
        match text {
            "direct" => Some(ChatKind::Direct),
            "group" => Some(ChatKind::Group),
            _ => None,
        }
    }
}

/// The chat id a creator and nonce produce: only the creator can write a
/// valid first change for it.
pub fn chat_id_for(creator: &AccountId, nonce: &[u8]) -> ChatId {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"kith/chat-id/v1");
    hasher.update(creator.as_bytes());
    hasher.update(nonce);
    let hash = hasher.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash.as_bytes()[..16]);
    ChatId::from_bytes(id)
}

/// `member/ACCOUNT`.
pub fn member_key(account: &AccountId) -> String {
    format!("{MEMBER_PREFIX}{account}")
}

/// `device/DEVICE`.
pub fn device_key(device: &DeviceId) -> String {
    format!("{DEVICE_PREFIX}{device}")
}

/// `revoked/DEVICE`.
pub fn revoked_key(device: &DeviceId) -> String {
    format!("{REVOKED_PREFIX}{device}")
}

/// `m/MESSAGE`.
pub fn message_key(id: &MessageId) -> String {
    format!("{MESSAGE_PREFIX}{id}")
}

/// `r/MESSAGE/ACCOUNT/EMOJI`.
pub fn reaction_key(id: &MessageId, account: &AccountId, emoji: &str) -> String {
    format!("{REACTION_PREFIX}{id}/{account}/{emoji}")
}

/// The prefix of all reactions to one message.
pub fn reaction_prefix(id: &MessageId) -> String {
    format!("{REACTION_PREFIX}{id}/")
}

/// `read/ACCOUNT`.
pub fn read_key(account: &AccountId) -> String {
    format!("{READ_PREFIX}{account}")
}

/// `dlv/ACCOUNT`.
pub fn delivered_key(account: &AccountId) -> String {
    format!("{DELIVERED_PREFIX}{account}")
}

/// `chat/CHAT/FIELD`.
pub fn chat_setting_key(chat: &ChatId, field: ChatSetting) -> String {
    format!("{CHAT_SETTING_PREFIX}{chat}/{}", field.as_str())
}

/// `avatar/ACCOUNT`.
pub fn contact_avatar_key(account: &AccountId) -> String {
    format!("{CONTACT_AVATAR_PREFIX}{account}")
}

/// `contact/ACCOUNT`.
pub fn contact_key(account: &AccountId) -> String {
    format!("{CONTACT_PREFIX}{account}")
}

/// `request/ACCOUNT`.
pub fn request_key(account: &AccountId) -> String {
    format!("{REQUEST_PREFIX}{account}")
}

/// `chatkey/CHAT/EPOCH/KEYID`.
pub fn chat_key_key(chat: &ChatId, epoch: u32, key_id: &str) -> String {
    format!("{CHAT_KEY_PREFIX}{chat}/{epoch}/{key_id}")
}

/// `epoch/N`.
pub fn epoch_key(epoch: u32) -> String {
    format!("{EPOCH_PREFIX}{epoch}")
}

/// A per-conversation setting kept in the account document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatSetting {
    /// Pinned to the top of the chat list (bool).
    Pinned,
    /// No notifications (bool).
    Muted,
    /// Hidden from the main list (bool).
    Archived,
    /// Unsent draft text (string).
    Draft,
}

impl ChatSetting {
    /// All settings.
    pub const ALL: [ChatSetting; 4] = [
        ChatSetting::Pinned,
        ChatSetting::Muted,
        ChatSetting::Archived,
        ChatSetting::Draft,
    ];

    /// The field name in the key.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatSetting::Pinned => "pinned",
            ChatSetting::Muted => "muted",
            ChatSetting::Archived => "archived",
            ChatSetting::Draft => "draft",
        }
    }

    /// Reads the field name.
    pub fn parse(text: &str) -> Option<ChatSetting> {
        ChatSetting::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What a root key of a segment document names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentKey {
    /// The schema version.
    Schema,
    /// A message map.
    Message(MessageId),
    /// One reaction of one account to one message.
    Reaction {
        /// The message reacted to.
        message: MessageId,
        /// Who reacted.
        account: AccountId,
        /// The emoji.
        emoji: String,
    },
    /// An account's read position.
    Read(AccountId),
    /// An account's delivered position.
    Delivered(AccountId),
}

impl SegmentKey {
    /// Parses a segment root key; `None` for keys schema v1 does not define.
    pub fn parse(key: &str) -> Option<SegmentKey> {
        if key == SCHEMA_KEY {
            return Some(SegmentKey::Schema);
        }
        if let Some(rest) = key.strip_prefix(MESSAGE_PREFIX) {
            return rest.parse().ok().map(SegmentKey::Message);
        }
        if let Some(rest) = key.strip_prefix(READ_PREFIX) {
            return rest.parse().ok().map(SegmentKey::Read);
        }
        if let Some(rest) = key.strip_prefix(DELIVERED_PREFIX) {
            return rest.parse().ok().map(SegmentKey::Delivered);
        }
        if let Some(rest) = key.strip_prefix(REACTION_PREFIX) {
            let mut parts = rest.splitn(3, '/');
            let message = parts.next()?.parse().ok()?;
            let account = parts.next()?.parse().ok()?;
            let emoji = parts.next()?;
            if emoji.is_empty() || emoji.len() > MAX_REACTION_BYTES {
                return None;
            }
            return Some(SegmentKey::Reaction {
                message,
                account,
                emoji: emoji.to_owned(),
            });
        }
        None
    }

    /// The message this key is about, if any.
    pub fn message(&self) -> Option<MessageId> {
        match self {
            SegmentKey::Message(id) | SegmentKey::Reaction { message: id, .. } => Some(*id),
            SegmentKey::Schema | SegmentKey::Read(_) | SegmentKey::Delivered(_) => None,
        }
    }
}

/// What a root key of a head or account document names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKey {
    /// The schema version.
    Schema,
    /// A plain field (`name`, `kind`, `avatar`, `profile/name`, ...).
    Field(String),
    /// `member/ACCOUNT`.
    Member(AccountId),
    /// `device/DEVICE`.
    Device(DeviceId),
    /// `revoked/DEVICE`.
    Revoked(DeviceId),
    /// `chat/CHAT/FIELD` (account doc).
    ChatSetting(ChatId, ChatSetting),
    /// `contact/ACCOUNT` (account doc).
    Contact(AccountId),
    /// `avatar/ACCOUNT` (account doc).
    ContactAvatar(AccountId),
    /// `request/ACCOUNT` (account doc).
    Request(AccountId),
    /// `chatkey/CHAT/EPOCH/KEYID` (account doc).
    ChatKey(ChatId, u32, String),
    /// `epoch/N` (head doc).
    Epoch(u32),
    /// A key that schema v1 does not define.
    Unknown(String),
}

impl RootKey {
    /// Parses a root key of a head or account document.
    pub fn parse(key: &str) -> RootKey {
        if key == SCHEMA_KEY {
            return RootKey::Schema;
        }
        if let Some(rest) = key.strip_prefix(MEMBER_PREFIX) {
            return rest
                .parse()
                .map(RootKey::Member)
                .unwrap_or_else(|_| RootKey::Unknown(key.to_owned()));
        }
        if let Some(rest) = key.strip_prefix(DEVICE_PREFIX) {
            return rest
                .parse()
                .map(RootKey::Device)
                .unwrap_or_else(|_| RootKey::Unknown(key.to_owned()));
        }
        if let Some(rest) = key.strip_prefix(REVOKED_PREFIX) {
            return rest
                .parse()
                .map(RootKey::Revoked)
                .unwrap_or_else(|_| RootKey::Unknown(key.to_owned()));
        }
        if let Some(rest) = key.strip_prefix(CONTACT_AVATAR_PREFIX) {
            return rest
                .parse()
                .map(RootKey::ContactAvatar)
                .unwrap_or_else(|_| RootKey::Unknown(key.to_owned()));
        }
        if let Some(rest) = key.strip_prefix(REQUEST_PREFIX) {
            return rest
                .parse()
                .map(RootKey::Request)
                .unwrap_or_else(|_| RootKey::Unknown(key.to_owned()));
        }
        if let Some(rest) = key.strip_prefix(CONTACT_PREFIX) {
            return rest
                .parse()
                .map(RootKey::Contact)
                .unwrap_or_else(|_| RootKey::Unknown(key.to_owned()));
        }
        if let Some(rest) = key.strip_prefix(CHAT_KEY_PREFIX) {
            let mut parts = rest.splitn(3, '/');
            let chat = parts.next().and_then(|c| c.parse().ok());
            let epoch = parts.next().and_then(|e| e.parse().ok());
            let id = parts.next().filter(|id| !id.is_empty() && id.len() <= 64);
            return match (chat, epoch, id) {
                (Some(chat), Some(epoch), Some(id)) => RootKey::ChatKey(chat, epoch, id.to_owned()),
                _ => RootKey::Unknown(key.to_owned()),
            };
        }
        if let Some(rest) = key.strip_prefix(EPOCH_PREFIX) {
            return rest
                .parse()
                .map(RootKey::Epoch)
                .unwrap_or_else(|_| RootKey::Unknown(key.to_owned()));
        }
        if let Some(rest) = key.strip_prefix(CHAT_SETTING_PREFIX) {
            let mut parts = rest.splitn(2, '/');
            let chat = parts.next().and_then(|c| c.parse().ok());
            let field = parts.next().and_then(ChatSetting::parse);
            return match (chat, field) {
                (Some(chat), Some(field)) => RootKey::ChatSetting(chat, field),
                _ => RootKey::Unknown(key.to_owned()),
            };
        }
        match key {
            HEAD_KIND | HEAD_NAME | HEAD_DESCRIPTION | HEAD_AVATAR | HEAD_CREATOR | HEAD_NONCE | PROFILE_NAME
            | PROFILE_STATUS | PROFILE_AVATAR | RECOVERY_KEY | USERNAME | USERNAME_KEY => {
                RootKey::Field(key.to_owned())
            }
            _ => RootKey::Unknown(key.to_owned()),
        }
    }
}
