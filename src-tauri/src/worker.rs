//! The sync worker: a thread with its own single-threaded runtime that keeps
//! the profile in sync (with the server when one is set, else it watches the
//! local store for other processes' commits) and turns what it sees into UI
//! events, the unread count and notifications.

use crate::shared::Shared;
use kith_api::{AppEvent, SyncRoute, SyncStatus};
use kith_client::{
    ChatId, ClientError, ConnectionState, ConsumerFailed, Ephemeral, LOCAL_POLL, MessageChange, Profile,
    RecentMessages, RelayOptions, TypingReceiver, WatchEvent, watch_relay,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A running sync worker; stopping it (or dropping it) ends its thread.
pub struct SyncWorker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    typing: tokio::sync::mpsc::UnboundedSender<ChatId>,
}

impl SyncWorker {
    /// Starts syncing `profile` as `shared`'s settings say.
    pub fn start(profile: Arc<Profile>, shared: Arc<Shared>) -> std::io::Result<SyncWorker> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let (typing, mut typing_receiver) = tokio::sync::mpsc::unbounded_channel();
        let thread = std::thread::Builder::new().name("kith-sync".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!(%err, "no runtime for the sync worker");
                    return;
                }
            };
            let stopped = || stop_flag.load(Ordering::Relaxed);
            let result = runtime.block_on(run(&profile, &shared, &stopped, &mut typing_receiver));
            if let Err(err) = result {
                tracing::error!(%err, "the sync worker stopped");
                shared.emit(AppEvent::Sync(SyncStatus {
                    route: SyncRoute::Offline,
                    detail: format!("Sync stopped: {err}"),
                    busy: false,
                }));
            }
        })?;
        Ok(SyncWorker {
            stop,
            thread: Some(thread),
            typing,
        })
    }

    /// Tells the chat's members this account is typing (dropped when offline).
    pub fn send_typing(&self, chat: ChatId) {
        // The worker is gone only while it restarts; a lost notice is harmless.
        let _ = self.typing.send(chat);
    }

    /// Stops the worker and waits for its thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the sync worker panicked");
        }
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn run(
    profile: &Profile,
    shared: &Arc<Shared>,
    stopped: &(dyn Fn() -> bool + Sync),
    typing: &mut TypingReceiver,
) -> Result<(), ClientError> {
    refresh_unread(profile, shared);
    let mut on_event = |event: WatchEvent| {
        handle(profile, shared, event);
        Ok(())
    };
    match shared.settings().server_url {
        Some(server) => {
            watch_relay(
                profile,
                &server,
                RelayOptions::default(),
                stopped,
                Some(typing),
                &mut on_event,
            )
            .await
        }
        None => watch_local(profile, shared, stopped, &mut on_event).await,
    }
}

/// With no server: notice commits of other processes of this profile.
async fn watch_local(
    profile: &Profile,
    shared: &Shared,
    stopped: &(dyn Fn() -> bool + Sync),
    on_event: &mut (dyn FnMut(WatchEvent) -> Result<(), ConsumerFailed> + Send),
) -> Result<(), ClientError> {
    shared.emit(AppEvent::Sync(SyncStatus {
        route: SyncRoute::Offline,
        detail: "No sync server set: messages stay on this device".to_owned(),
        busy: false,
    }));
    let mut recent = RecentMessages::snapshot(profile)?;
    let mut marker = profile.store().change_marker()?;
    while !stopped() {
        tokio::time::sleep(LOCAL_POLL).await;
        let now = profile.store().change_marker()?;
        if now != marker {
            marker = now;
            for event in recent.changes(profile)? {
                on_event(event).map_err(ClientError::from)?;
            }
            shared.emit(AppEvent::ChatsChanged);
            refresh_unread(profile, shared);
        }
    }
    Ok(())
}

fn handle(profile: &Profile, shared: &Arc<Shared>, event: WatchEvent) {
    match event {
        WatchEvent::State(state) => {
            // Each sync pass ends Idle: count unread once per pass, not per message.
            if state == ConnectionState::Idle {
                refresh_unread(profile, shared);
            }
            shared.emit(AppEvent::Sync(match state {
                ConnectionState::Connected => SyncStatus {
                    route: SyncRoute::Server,
                    detail: "Connected, syncing".to_owned(),
                    busy: true,
                },
                ConnectionState::Idle => SyncStatus {
                    route: SyncRoute::Server,
                    detail: "Up to date".to_owned(),
                    busy: false,
                },
                ConnectionState::Offline { error, retry_ms } => SyncStatus {
                    route: SyncRoute::Offline,
                    detail: format!("Offline ({error}); retrying in {} s", retry_ms.div_ceil(1000)),
                    busy: false,
                },
            }));
        }
        WatchEvent::Synced(report) => {
            // Progress while a long history arrives: each pass reports what it moved.
            shared.emit(AppEvent::Sync(SyncStatus {
                route: SyncRoute::Server,
                detail: format!("Syncing: {} changes received, {} sent", report.applied, report.uploaded),
                busy: true,
            }));
            shared.emit(AppEvent::ChatsChanged);
            // An upload turns own messages' ticks to "on the server"; other
            // message changes arrive as their own events.
            if report.uploaded > 0
                && let Ok(chats) = profile.chats()
            {
                for chat in chats {
                    shared.emit(AppEvent::MessagesChanged {
                        chat_id: chat.chat_id.to_string(),
                    });
                }
            }
            if report.contacts > 0 {
                shared.emit(AppEvent::ContactsChanged);
            }
        }
        WatchEvent::Message { change, message } => {
            let chat_id = message.chat_id.to_string();
            // The chat list and unread count follow once per pass (Synced, Idle).
            shared.emit(AppEvent::MessagesChanged {
                chat_id: chat_id.clone(),
            });
            if change == MessageChange::Message {
                notify_new_message(profile, shared, &chat_id, &message);
            }
        }
        WatchEvent::Ephemeral(Ephemeral::Typing {
            chat_id,
            account,
            until_ms,
        }) => {
            let name = profile
                .contact(&account)
                .ok()
                .flatten()
                .and_then(|c| c.name)
                .unwrap_or_else(|| "Someone".to_owned());
            shared.emit(AppEvent::Typing {
                chat_id: chat_id.to_string(),
                name,
                until_ms,
            });
        }
        WatchEvent::Ephemeral(Ephemeral::Presence { account, .. }) => shared.emit(AppEvent::Presence {
            account_id: account.to_string(),
            seen_ms: kith_client::system_now_ms(),
        }),
    }
}

/// Total unread messages of chats that are not muted, shown by the window.
pub fn refresh_unread(profile: &Profile, shared: &Shared) {
    match profile.chats() {
        Ok(chats) => {
            let unread = chats.iter().filter(|c| !c.muted).map(|c| c.unread).sum();
            shared.with_window(|window| window.set_unread(unread));
        }
        Err(err) => tracing::warn!(%err, "could not count unread messages"),
    }
}

fn notify_new_message(profile: &Profile, shared: &Arc<Shared>, chat_id: &str, message: &kith_client::MessageView) {
    if !shared.settings().notifications {
        return;
    }
    // Someone looking at the window sees the message arrive.
    if shared.with_window(|w| w.is_focused()).unwrap_or(false) {
        return;
    }
    let Ok(chat) = profile.chat_summary(&message.chat_id) else {
        return;
    };
    if chat.muted {
        return;
    }
    let author = message.author_name.clone().unwrap_or_else(|| "Someone".to_owned());
    let title = match chat.kind {
        kith_client::ChatKind::Direct => author.clone(),
        kith_client::ChatKind::Group => format!("{author} in {}", chat.name),
    };
    let body = message.text.clone().unwrap_or_default();
    let chat_id = chat_id.to_owned();
    let shared_for_click = Arc::clone(shared);
    crate::notify::show(&title, &body, move || {
        shared_for_click.with_window(|w| w.bring_to_front());
        shared_for_click.emit(AppEvent::OpenChat { chat_id });
    });
}
