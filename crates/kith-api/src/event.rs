//! The one event stream from the shell to the UI. Events are coarse: they
//! say what changed, and the UI queries again what it shows.

use serde::{Deserialize, Serialize};

/// How this device currently reaches others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRoute {
    /// Nothing reachable; everything stays local until it is.
    #[default]
    Offline,
    /// Peers on the local network.
    Lan,
    /// Direct peer-to-peer connections.
    Direct,
    /// Through the sync server.
    Server,
}

/// Something changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AppEvent {
    /// The chat list may look different (new chat, message, unread count).
    ChatsChanged,
    /// Messages of this chat changed (new, edited, reactions, ticks).
    MessagesChanged {
        /// The chat.
        chat_id: String,
    },
    /// Contacts changed.
    ContactsChanged,
    /// The profile was created, renamed or deleted.
    ProfileChanged,
    /// Someone is typing.
    Typing {
        /// The chat.
        chat_id: String,
        /// Who.
        name: String,
        /// Until when to show it (ms since the epoch).
        until_ms: u64,
    },
    /// A contact is online.
    Presence {
        /// The contact.
        account_id: String,
        /// When they were last seen (ms since the epoch).
        seen_ms: u64,
    },
    /// The sync indicator changed.
    Sync(crate::SyncStatus),
    /// The shell asks the UI to open a chat (a notification was clicked).
    OpenChat {
        /// The chat.
        chat_id: String,
    },
    /// An invite link arrived (deep link or second instance).
    InviteLink {
        /// The link.
        link: String,
    },
    /// An attachment is moving (to or from the server or a peer); `done`
    /// equal to `total` means it is complete and in place.
    Transfer {
        /// The blob, as [`crate::AttachmentDto::hash`].
        hash: String,
        /// Upload (true) or download.
        upload: bool,
        /// Bytes done.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// Linking a new device finished.
    DeviceLinked {
        /// `None` on success, else what went wrong.
        error: Option<String>,
    },
}
