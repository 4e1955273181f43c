//! Data transfer objects: what the UI shows, shaped for showing it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The person using the app on this device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// Account id.
    pub account_id: String,
    /// This device's id.
    pub device_id: String,
    /// Display name.
    pub name: String,
    /// The invite link others use to add this account.
    pub invite: String,
    /// The profile picture as a `data:` URL.
    pub avatar: Option<String>,
}

/// Light, dark or whatever the system says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Follow the operating system.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// Settings of this device (not synced: each device chooses its own).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The sync server, e.g. `ws://host:port`; `None`: peer-to-peer and local only.
    pub server_url: Option<String>,
    /// Desktop notifications for new messages.
    pub notifications: bool,
    /// Desktop notifications for new message requests (their own setting:
    /// strangers should not be able to make the desktop ping by default
    /// any more than contacts can).
    #[serde(default = "notify_requests_default")]
    pub request_notifications: bool,
    /// Colour theme.
    pub theme: Theme,
}

/// Settings files from before request notifications had their own switch.
fn notify_requests_default() -> bool {
    true
}

/// What the UI needs at start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    /// The profile, once one exists (otherwise: onboarding).
    pub me: Option<Me>,
    /// Device settings.
    pub settings: Settings,
    /// Where the profile lives on disk.
    pub profile_dir: String,
}

/// Direct (two people) or group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// Two people.
    Direct,
    /// Several people with roles.
    Group,
}

/// A member's role in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Writes messages.
    Member,
    /// Also renames and manages members.
    Admin,
    /// Everything.
    Owner,
}

/// One row of the chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRow {
    /// Chat id.
    pub chat_id: String,
    /// Display name (for a direct chat: the other person).
    pub name: String,
    /// Direct or group.
    pub kind: ChatKind,
    /// `Author: text` of the newest message, or `None` when empty.
    pub preview: Option<String>,
    /// Time of the newest message (ms since the epoch).
    pub last_ts: Option<u64>,
    /// Unread messages.
    pub unread: u64,
    /// Pinned to the top.
    pub pinned: bool,
    /// No notifications.
    pub muted: bool,
    /// Hidden from the main list.
    pub archived: bool,
    /// Number of members.
    pub member_count: usize,
    /// Picture for the row (a person's avatar for a direct chat) as a `data:` URL.
    pub avatar: Option<String>,
}

/// Where one of your messages stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tick {
    /// Durable on this device.
    Sent,
    /// On the sync server.
    Uploaded,
    /// On a recipient's device.
    Delivered,
    /// Read by a recipient.
    Read,
}

/// The message a reply quotes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// Quoted message id.
    pub message_id: String,
    /// Its author's name.
    pub author_name: String,
    /// Its text (`None` when deleted or not on this device).
    pub text: Option<String>,
}

/// One message as the conversation shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDto {
    /// Message id.
    pub id: String,
    /// Author's account id.
    pub author: String,
    /// Author's display name.
    pub author_name: String,
    /// Whether this account wrote it.
    pub mine: bool,
    /// Text; `None` once deleted for everyone.
    pub text: Option<String>,
    /// Send time (ms since the epoch).
    pub ts: u64,
    /// Edited after sending.
    pub edited: bool,
    /// Deleted for everyone.
    pub deleted: bool,
    /// The message it replies to.
    pub reply_to: Option<Quote>,
    /// Emoji -> names of the people who reacted (sorted).
    pub reactions: BTreeMap<String, Vec<String>>,
    /// Emojis this account reacted with.
    pub my_reactions: Vec<String>,
    /// For own messages: sent, uploaded, delivered or read.
    pub tick: Option<Tick>,
    /// Pictures, files and voice notes, in the order sent.
    pub attachments: Vec<AttachmentDto>,
}

/// What an attachment is, with what showing it needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttachmentKindDto {
    /// Any file: a card with its name and size.
    File,
    /// A picture (JPEG, PNG, GIF or WebP).
    Image {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A recorded voice note.
    Voice {
        /// Length.
        duration_ms: u32,
        /// Loudness over time, 0-255 per bar.
        waveform: Vec<u8>,
    },
    /// A video; the thumbnail is its poster frame.
    Video {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Length.
        duration_ms: u32,
    },
}

/// One attachment of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentDto {
    /// Its place among the message's attachments.
    pub index: u32,
    /// BLAKE3 of the content, hex: progress events name it, and the
    /// `kith-media` protocol serves pictures and voice notes by it.
    pub hash: String,
    /// The name it was sent with.
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: u64,
    /// File, picture or voice note.
    pub kind: AttachmentKindDto,
    /// A small preview as a `data:` URL, shown before the bytes arrive.
    pub thumbnail: Option<String>,
    /// Whether the bytes are on this device.
    pub available: bool,
}

/// An attachment prepared in the composer, waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftAttachment {
    /// What [`crate::SendMessage::attachments`] names it by.
    pub token: String,
    /// The name it will be sent with.
    pub name: String,
    /// MIME type (after pictures were re-encoded).
    pub mime: String,
    /// Size in bytes (after pictures were scaled).
    pub size: u64,
    /// File, picture or voice note.
    pub kind: AttachmentKindDto,
    /// A small preview as a `data:` URL.
    pub thumbnail: Option<String>,
}

/// A page of messages, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    /// The messages, oldest first.
    pub messages: Vec<MessageDto>,
    /// Whether older messages exist before the first one.
    pub has_more: bool,
}

/// A member of a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDto {
    /// Account id.
    pub account_id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether it is this account.
    pub is_me: bool,
    /// Profile picture as a `data:` URL.
    pub avatar: Option<String>,
}

/// Everything the conversation header and group settings show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatDetails {
    /// Chat id.
    pub chat_id: String,
    /// Name.
    pub name: String,
    /// Description (groups).
    pub description: String,
    /// Direct or group.
    pub kind: ChatKind,
    /// Members, owners first.
    pub members: Vec<MemberDto>,
    /// This account's role, `None` after leaving or removal.
    pub my_role: Option<Role>,
    /// Saved draft.
    pub draft: String,
    /// Pinned.
    pub pinned: bool,
    /// Muted.
    pub muted: bool,
    /// Archived.
    pub archived: bool,
    /// The picture: a group's own, or the other person's in a direct chat
    /// (a `data:` URL).
    pub avatar: Option<String>,
}

/// A message search result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHitDto {
    /// Chat id.
    pub chat_id: String,
    /// Chat name.
    pub chat_name: String,
    /// Message id.
    pub message_id: String,
    /// The matching part, terms in `[brackets]`.
    pub snippet: String,
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDto {
    /// Account id.
    pub account_id: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// `pending`, `accepted`, `blocked`, `deleted` or `refused`.
    pub state: String,
    /// Profile picture as a `data:` URL.
    pub avatar: Option<String>,
    /// Why their link did not work (state `refused`).
    pub refusal: Option<String>,
}

/// One of this device's invite links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLinkDto {
    /// Short id.
    pub id: String,
    /// `personal` or `one-time`.
    pub kind: String,
    /// `live`, `revoked`, `used` or `expired`.
    pub state: String,
    /// The link, while it works.
    pub link: Option<String>,
    /// People who became contacts through it.
    pub uses: u32,
    /// People who tried it after it stopped working.
    pub refused_attempts: u32,
}

/// Someone in this account's groups who is not a contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSuggestionDto {
    /// Account id.
    pub account_id: String,
    /// Display name, when known.
    pub name: Option<String>,
    /// The groups both are in.
    pub shared_groups: Vec<String>,
}

/// Someone a username reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundPersonDto {
    /// The name as its owner typed it.
    pub username: String,
    /// Their account id.
    pub account_id: String,
    /// `none`, `you`, or their contact state.
    pub relation: String,
}

/// A message request waiting for an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestDto {
    /// Who asked.
    pub account_id: String,
    /// The name they gave.
    pub name: Option<String>,
    /// Their picture as a `data:` URL.
    pub avatar: Option<String>,
    /// Their first message.
    pub text: String,
    /// When it arrived, ms since the Unix epoch.
    pub received_ms: u64,
    /// `username` or `group`.
    pub via: String,
    /// Groups in common.
    pub shared_groups: usize,
    /// This device's spam score, 0 to 1.
    pub spam_score: f64,
    /// Why the score is what it is.
    pub spam_reasons: Vec<String>,
}

/// One of this account's devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDto {
    /// Device id.
    pub device_id: String,
    /// When it joined (ms since the epoch).
    pub issued_ms: u64,
    /// Revoked.
    pub revoked: bool,
    /// The device running the app.
    pub this_device: bool,
}

/// A chat flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatFlag {
    /// Pinned.
    Pinned,
    /// Muted.
    Muted,
    /// Archived.
    Archived,
}

/// The sync indicator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// How this device is connected now.
    pub route: crate::SyncRoute,
    /// A line for people ("up to date", "syncing 1 200 changes", the error).
    pub detail: String,
    /// Set while a sync is in progress.
    pub busy: bool,
}
