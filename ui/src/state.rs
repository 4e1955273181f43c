//! The UI's shared state: signals every screen reads, updated by events.

use dioxus::prelude::*;
use kith_api::{AppEvent, AttachmentDto, Me, Settings, SyncStatus};
use std::collections::BTreeMap;

/// The screen in the main area's left column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Screen {
    /// Chat list and conversation.
    Chats,
    /// Contacts and invites.
    Contacts,
    /// This account's devices.
    Devices,
    /// Settings.
    Settings,
}

/// Everything shared between components (all `Copy` signals).
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    pub(crate) me: Signal<Option<Me>>,
    pub(crate) settings: Signal<Settings>,
    pub(crate) screen: Signal<Screen>,
    pub(crate) open_chat: Signal<Option<String>>,
    pub(crate) show_archived: Signal<bool>,
    pub(crate) group_panel: Signal<bool>,
    pub(crate) new_group: Signal<bool>,
    pub(crate) palette: Signal<bool>,
    /// Bumped when the chat list may have changed.
    pub(crate) chats_version: Signal<u64>,
    /// Bumped per chat when its messages may have changed.
    pub(crate) messages_version: Signal<BTreeMap<String, u64>>,
    pub(crate) contacts_version: Signal<u64>,
    /// chat -> (name, until ms)
    pub(crate) typing: Signal<BTreeMap<String, (String, u64)>>,
    /// account -> last seen ms
    pub(crate) presence: Signal<BTreeMap<String, u64>>,
    pub(crate) sync: Signal<SyncStatus>,
    pub(crate) toast: Signal<Option<String>>,
    /// An invite link that arrived by deep link, waiting to be confirmed.
    pub(crate) pending_invite: Signal<Option<String>>,
    pub(crate) linked_device: Signal<Option<Option<String>>>,
    /// A message to scroll to (from search).
    pub(crate) focus_message: Signal<Option<String>>,
    /// Attachments moving, by hash: (done, total, upload).
    pub(crate) transfers: Signal<BTreeMap<String, Transfer>>,
    /// The picture viewer, when open.
    pub(crate) lightbox: Signal<Option<Lightbox>>,
}

/// How far one attachment's transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// Bytes done.
    pub(crate) done: u64,
    /// Bytes in all.
    pub(crate) total: u64,
    /// Upload (or download).
    pub(crate) upload: bool,
}

/// The pictures of one message, shown large, one at a time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Lightbox {
    /// Their chat.
    pub(crate) chat_id: String,
    /// Their message.
    pub(crate) message_id: String,
    /// The pictures.
    pub(crate) images: Vec<AttachmentDto>,
    /// The one shown.
    pub(crate) index: usize,
}

impl Ctx {
    /// Fresh state.
    pub(crate) fn new() -> Ctx {
        Ctx {
            me: Signal::new(None),
            settings: Signal::new(Settings::default()),
            screen: Signal::new(Screen::Chats),
            open_chat: Signal::new(None),
            show_archived: Signal::new(false),
            group_panel: Signal::new(false),
            new_group: Signal::new(false),
            palette: Signal::new(false),
            chats_version: Signal::new(0),
            messages_version: Signal::new(BTreeMap::new()),
            contacts_version: Signal::new(0),
            typing: Signal::new(BTreeMap::new()),
            presence: Signal::new(BTreeMap::new()),
            sync: Signal::new(SyncStatus::default()),
            toast: Signal::new(None),
            pending_invite: Signal::new(None),
            linked_device: Signal::new(None),
            focus_message: Signal::new(None),
            transfers: Signal::new(BTreeMap::new()),
            lightbox: Signal::new(None),
        }
    }

    /// Applies one event from the shell.
    pub(crate) fn apply(mut self, event: AppEvent) {
        match event {
            AppEvent::ChatsChanged => *self.chats_version.write() += 1,
            AppEvent::MessagesChanged { chat_id } => {
                *self.messages_version.write().entry(chat_id).or_default() += 1;
            }
            AppEvent::ContactsChanged => *self.contacts_version.write() += 1,
            AppEvent::ProfileChanged => {
                *self.chats_version.write() += 1;
                *self.contacts_version.write() += 1;
                spawn(async move { crate::app::reload_me(self).await });
            }
            AppEvent::Typing {
                chat_id,
                name,
                until_ms,
            } => {
                self.typing.write().insert(chat_id, (name, until_ms));
            }
            AppEvent::Presence { account_id, seen_ms } => {
                self.presence.write().insert(account_id, seen_ms);
            }
            AppEvent::Sync(status) => self.sync.set(status),
            AppEvent::OpenChat { chat_id } => self.open(chat_id),
            AppEvent::InviteLink { link } => {
                self.screen.set(Screen::Contacts);
                self.pending_invite.set(Some(link));
            }
            AppEvent::DeviceLinked { error } => self.linked_device.set(Some(error)),
            AppEvent::Transfer {
                hash,
                upload,
                done,
                total,
            } => {
                let mut transfers = self.transfers.write();
                if done >= total {
                    transfers.remove(&hash);
                } else {
                    transfers.insert(hash, Transfer { done, total, upload });
                }
            }
        }
    }

    /// Opens a chat.
    pub(crate) fn open(mut self, chat_id: String) {
        self.screen.set(Screen::Chats);
        self.new_group.set(false);
        self.open_chat.set(Some(chat_id));
    }

    /// Shows a short message at the bottom of the window (the root hides it
    /// again after a few seconds).
    pub(crate) fn say(mut self, text: impl Into<String>) {
        self.toast.set(Some(text.into()));
    }
}
