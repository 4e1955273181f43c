//! The sync worker: runs kith-client's [`Client`] runtime for the profile
//! and turns its events into UI events, the unread count and
//! notifications. The runtime runs peer-to-peer sync (LAN discovery,
//! direct connections, and the server's rendezvous and relay when one is
//! set), either the server loop or, with no server, a watch of the local
//! store, and compaction. The server loop (or the local watch) reports
//! every change that lands in the store, whichever path brought it, so
//! messages are announced once; peer events only move the indicator and
//! bring typing and presence.

use crate::indicator::SyncIndicator;
use crate::shared::Shared;
use kith_api::{AppEvent, SyncRoute, SyncStatus};
use kith_client::p2p::{P2pEvent, P2pOptions};
use kith_client::{
    ChatId, Client, ClientEvent, ClientEvents, ClientOptions, CompactionSchedule, ConnectionState, Ephemeral,
    MessageChange, Profile, WatchEvent,
};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running sync worker; stopping it (or dropping it) ends its work.
pub struct SyncWorker {
    client: Option<Client>,
    events: Option<JoinHandle<()>>,
}

impl SyncWorker {
    /// Starts syncing `profile` as `shared`'s settings say.
    pub fn start(profile: Arc<Profile>, shared: Arc<Shared>) -> std::io::Result<SyncWorker> {
        let server = shared.settings().server_url;
        let p2p = if std::env::var_os("KITH_NO_P2P").is_some() {
            tracing::info!("peer-to-peer sync is off (KITH_NO_P2P)");
            None
        } else {
            Some(P2pOptions {
                server: server.clone(),
                ..P2pOptions::default()
            })
        };
        let indicator = SyncIndicator::new(server.is_some());
        let options = ClientOptions {
            server,
            p2p,
            compaction: Some(CompactionSchedule::APP),
            ..ClientOptions::default()
        };
        let (client, events) = Client::start(Arc::clone(&profile), options)?;
        // Store reads for the events (counts, names, notifications) happen
        // on this thread, never on the window's or the sync runtime's.
        let events = std::thread::Builder::new()
            .name("kith-events".into())
            .spawn(move || show_events(&profile, &shared, indicator, events))?;
        Ok(SyncWorker {
            client: Some(client),
            events: Some(events),
        })
    }

    /// Tells the chat's members this account is typing (dropped when offline).
    pub fn send_typing(&self, chat: ChatId) {
        if let Some(client) = &self.client {
            client.send_typing(chat);
        }
    }

    /// Stops the worker and waits for it.
    pub fn stop(mut self) {
        if let Some(client) = self.client.take() {
            client.stop();
        }
        // The events end with the client's tasks.
        if let Some(events) = self.events.take()
            && events.join().is_err()
        {
            tracing::error!("the sync events thread panicked");
        }
    }
}

/// Turns the client's events into UI events, the unread count and
/// notifications, until the client has stopped.
fn show_events(profile: &Profile, shared: &Arc<Shared>, mut indicator: SyncIndicator, mut events: ClientEvents) {
    refresh_unread(profile, shared);
    shared.emit(AppEvent::Sync(indicator.current()));
    while let Some(event) = events.blocking_next() {
        match event {
            ClientEvent::Server(event) => handle(profile, shared, &mut indicator, event),
            ClientEvent::Peer(event) => handle_p2p(profile, shared, &mut indicator, event),
            ClientEvent::LocalCommit(changes) => {
                for event in changes {
                    handle(profile, shared, &mut indicator, event);
                }
                shared.emit(AppEvent::ChatsChanged);
                refresh_unread(profile, shared);
            }
            ClientEvent::Ended { task, error } => {
                tracing::error!(%error, "{task} stopped");
                shared.emit(AppEvent::Sync(SyncStatus {
                    route: SyncRoute::Offline,
                    detail: format!("Sync stopped: {error}"),
                    busy: false,
                }));
            }
            // The other loop goes on: the server, or the local watch.
            ClientEvent::PeersEnded(Ok(report)) => tracing::info!(?report, "peer-to-peer sync ended"),
            ClientEvent::PeersEnded(Err(err)) => tracing::warn!(%err, "peer-to-peer sync stopped"),
        }
    }
}

/// What the peer-to-peer loop reports: routes for the indicator, and typing
/// and presence (which only it knows). Messages it stores are announced by
/// the other loop.
fn handle_p2p(profile: &Profile, shared: &Shared, indicator: &mut SyncIndicator, event: P2pEvent) {
    match event {
        P2pEvent::Peer { peer_id, route, .. } | P2pEvent::Route { peer_id, route } => {
            let status = indicator.peer_route(&peer_id, route);
            shared.emit(AppEvent::Sync(status));
            // A contact may have been made over the connection.
            shared.emit(AppEvent::ContactsChanged);
        }
        P2pEvent::Listening(addresses) => tracing::info!(?addresses, "peer-to-peer listening"),
        P2pEvent::Refused { peer_id, reason } => tracing::info!(peer_id, reason, "peer refused"),
        P2pEvent::Discovered { peer_id, via } => tracing::debug!(peer_id, via, "peer discovered"),
        P2pEvent::Watch(WatchEvent::Ephemeral(ephemeral)) => handle_ephemeral(profile, shared, ephemeral),
        P2pEvent::Watch(_) => {}
    }
}

fn handle(profile: &Profile, shared: &Arc<Shared>, indicator: &mut SyncIndicator, event: WatchEvent) {
    let mut server_status = |status: SyncStatus| {
        let shown = indicator.server_status(status);
        shared.emit(AppEvent::Sync(shown));
    };
    match event {
        WatchEvent::State(state) => {
            // Each sync pass ends Idle: count unread once per pass, not per message.
            if state == ConnectionState::Idle {
                refresh_unread(profile, shared);
            }
            server_status(match state {
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
            });
        }
        WatchEvent::Synced(report) => {
            // Progress while a long history arrives: each pass reports what it moved.
            server_status(SyncStatus {
                route: SyncRoute::Server,
                detail: format!("Syncing: {} changes received, {} sent", report.applied, report.uploaded),
                busy: true,
            });
            shared.emit(AppEvent::ChatsChanged);
            // An upload turns own messages' ticks to "on the server"; other
            // message changes arrive as their own events.
            if report.uploaded > 0
                && let Ok(chats) = profile.chats().list()
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
            if report.requests > 0 {
                notify_new_requests(shared, report.requests);
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
        WatchEvent::Ephemeral(ephemeral) => handle_ephemeral(profile, shared, ephemeral),
    }
}

fn handle_ephemeral(profile: &Profile, shared: &Shared, ephemeral: Ephemeral) {
    match ephemeral {
        Ephemeral::Typing {
            chat_id,
            account,
            until_ms,
        } => {
            let name = profile
                .contacts()
                .get(&account)
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
        Ephemeral::Presence { account, .. } => shared.emit(AppEvent::Presence {
            account_id: account.to_string(),
            seen_ms: kith_client::system_now_ms(),
        }),
    }
}

/// Turns the profile's attachment transfers into progress events; a
/// finished download also tells the chats showing it to look again.
pub fn watch_transfers(profile: &Arc<Profile>, shared: &Arc<Shared>) {
    let weak_profile = Arc::downgrade(profile);
    let shared = Arc::clone(shared);
    profile.watch_transfers(move |progress| {
        shared.emit(AppEvent::Transfer {
            hash: data_encoding::HEXLOWER.encode(&progress.hash),
            upload: progress.upload,
            done: progress.done,
            total: progress.total,
        });
        if progress.upload || progress.done < progress.total {
            return;
        }
        let Some(profile) = weak_profile.upgrade() else { return };
        match profile.blobs().find_attachment(&progress.hash) {
            Ok(Some((chat, _, _))) => shared.emit(AppEvent::MessagesChanged {
                chat_id: chat.to_string(),
            }),
            Ok(None) => {}
            Err(err) => tracing::debug!(%err, "a finished download's chat is unknown"),
        }
    });
}

/// Total unread messages of chats that are not muted, shown by the window.
pub fn refresh_unread(profile: &Profile, shared: &Shared) {
    match profile.chats().list() {
        Ok(chats) => {
            let unread = chats.iter().filter(|c| !c.muted).map(|c| c.unread).sum();
            shared.with_window(|window| window.set_unread(unread));
        }
        Err(err) => tracing::warn!(%err, "could not count unread messages"),
    }
}

/// A desktop notification for new message requests (no name or text: a
/// stranger's words do not pop up on the desktop before they are looked at).
fn notify_new_requests(shared: &Arc<Shared>, count: usize) {
    if !shared.settings().request_notifications || shared.with_window(|w| w.is_focused()).unwrap_or(false) {
        return;
    }
    let body = if count == 1 {
        "Someone who is not a contact wants to talk to you.".to_owned()
    } else {
        format!("{count} people who are not contacts want to talk to you.")
    };
    let shared_for_click = Arc::clone(shared);
    crate::notify::show("New message request", &body, move || {
        shared_for_click.with_window(|w| w.bring_to_front());
    });
}

fn notify_new_message(profile: &Profile, shared: &Arc<Shared>, chat_id: &str, message: &kith_client::MessageView) {
    if !shared.settings().notifications {
        return;
    }
    // Someone looking at the window sees the message arrive.
    if shared.with_window(|w| w.is_focused()).unwrap_or(false) {
        return;
    }
    let Ok(chat) = profile.chats().summary(&message.chat_id) else {
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
