//! What the command handlers and the sync worker share: the event channel to
//! the UI, the window, which chat is on screen, the sync status, settings.

use kith_api::{AppEvent, Settings, SyncStatus};
use std::sync::Mutex;
use tauri::ipc::Channel;

/// What the shell may do to its window (absent in tests and before setup).
pub trait WindowHooks: Send + Sync {
    /// Shows the unread count (in the title; the taskbar badge where supported).
    fn set_unread(&self, unread: u64);
    /// Whether the window has the keyboard focus.
    fn is_focused(&self) -> bool;
    /// Shows, unminimises and focuses the window.
    fn bring_to_front(&self);
}

/// State shared between commands and the sync worker.
#[derive(Default)]
pub struct Shared {
    channel: Mutex<Option<Channel<AppEvent>>>,
    window: Mutex<Option<Box<dyn WindowHooks>>>,
    focused_chat: Mutex<Option<String>>,
    status: Mutex<SyncStatus>,
    settings: Mutex<Settings>,
    /// Events that came before the UI subscribed (a deep link at start).
    pending: Mutex<Vec<AppEvent>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not take the UI's event stream down with it.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Shared state with these settings.
    pub fn new(settings: Settings) -> Shared {
        Shared {
            settings: Mutex::new(settings),
            ..Shared::default()
        }
    }

    /// Sends an event to the UI. Kept for later when no UI listens yet only
    /// for events the UI must not miss (a deep link, a chat to open).
    pub fn emit(&self, event: AppEvent) {
        if let AppEvent::Sync(status) = &event {
            *lock(&self.status) = status.clone();
        }
        let channel = lock(&self.channel).clone();
        match channel {
            Some(channel) => {
                if let Err(err) = channel.send(event) {
                    tracing::debug!(%err, "the UI's event channel is gone");
                }
            }
            None => {
                if matches!(event, AppEvent::InviteLink { .. } | AppEvent::OpenChat { .. }) {
                    lock(&self.pending).push(event);
                }
            }
        }
    }

    /// Connects the UI's event channel, delivering what waited for it.
    pub fn subscribe(&self, channel: Channel<AppEvent>) {
        let pending = std::mem::take(&mut *lock(&self.pending));
        for event in pending {
            if let Err(err) = channel.send(event) {
                tracing::debug!(%err, "could not deliver a pending event");
            }
        }
        *lock(&self.channel) = Some(channel);
    }

    /// Installs the window hooks (at setup).
    pub fn set_window(&self, hooks: Box<dyn WindowHooks>) {
        *lock(&self.window) = Some(hooks);
    }

    /// Runs `f` with the window hooks, if installed.
    pub fn with_window<T>(&self, f: impl FnOnce(&dyn WindowHooks) -> T) -> Option<T> {
        lock(&self.window).as_deref().map(f)
    }

    /// The chat on screen.
    pub fn focused_chat(&self) -> Option<String> {
        lock(&self.focused_chat).clone()
    }

    /// Sets the chat on screen.
    pub fn set_focused_chat(&self, chat: Option<String>) {
        *lock(&self.focused_chat) = chat;
    }

    /// The last sync status.
    pub fn status(&self) -> SyncStatus {
        lock(&self.status).clone()
    }

    /// Current settings.
    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Replaces the settings.
    pub fn set_settings(&self, settings: Settings) {
        *lock(&self.settings) = settings;
    }
}
