//! The sync worker: a thread with its own single-threaded runtime that keeps
//! the profile in sync and turns what it sees into UI events, the unread
//! count and notifications. Two loops run side by side: peer-to-peer (LAN
//! discovery, direct connections, and the server's rendezvous and relay when
//! one is set) and either the server loop or, with no server, a watch of the
//! local store. The second loop reports every change that lands in the
//! store, whichever path brought it, so messages are announced once.

use crate::indicator::SyncIndicator;
use crate::shared::Shared;
use kith_api::{AppEvent, SyncRoute, SyncStatus};
use kith_client::p2p::{P2pEvent, P2pOptions, run_p2p};
use kith_client::{
    ChatId, ClientError, ConnectionState, ConsumerFailed, Ephemeral, LOCAL_POLL, MessageChange, Profile,
    RecentMessages, RelayOptions, TypingReceiver, WatchEvent, watch_relay,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the app compacts documents its own writes piled up in (the
/// sync loops compact after what they receive).
const COMPACT_EVERY: Duration = Duration::from_secs(10 * 60);
/// The first compaction, a while after the start (not while it loads).
const FIRST_COMPACTION: Duration = Duration::from_secs(60);

/// A running sync worker; stopping it (or dropping it) ends its threads.
pub struct SyncWorker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    compactor: Option<JoinHandle<()>>,
    typing: tokio::sync::mpsc::UnboundedSender<ChatId>,
    /// The same notices for the peer-to-peer loop.
    typing_to_peers: tokio::sync::broadcast::Sender<ChatId>,
}

impl SyncWorker {
    /// Starts syncing `profile` as `shared`'s settings say.
    pub fn start(profile: Arc<Profile>, shared: Arc<Shared>) -> std::io::Result<SyncWorker> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let (typing, mut typing_receiver) = tokio::sync::mpsc::unbounded_channel();
        // Typing notices are a few a second at most; older ones are stale.
        let (typing_to_peers, _) = tokio::sync::broadcast::channel(16);
        let peers_typing = typing_to_peers.clone();
        let compact_profile = Arc::clone(&profile);
        let thread = std::thread::Builder::new().name("kith-sync".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!(%err, "no runtime for the sync worker");
                    return;
                }
            };
            let stopped = || stop_flag.load(Ordering::Relaxed);
            let result = runtime.block_on(run(&profile, &shared, &stopped, &mut typing_receiver, peers_typing));
            if let Err(err) = result {
                tracing::error!(%err, "the sync worker stopped");
                shared.emit(AppEvent::Sync(SyncStatus {
                    route: SyncRoute::Offline,
                    detail: format!("Sync stopped: {err}"),
                    busy: false,
                }));
            }
        })?;
        // Started after the sync thread, so a failed start leaves no thread
        // behind; without it the sync loops still compact what they receive.
        let compactor = match spawn_compactor(compact_profile, Arc::clone(&stop)) {
            Ok(compactor) => Some(compactor),
            Err(err) => {
                tracing::warn!(%err, "no compaction thread");
                None
            }
        };
        Ok(SyncWorker {
            stop,
            thread: Some(thread),
            compactor,
            typing,
            typing_to_peers,
        })
    }

    /// Tells the chat's members this account is typing (dropped when offline).
    pub fn send_typing(&self, chat: ChatId) {
        // The worker is gone only while it restarts (and with no peer-to-peer
        // loop nobody listens); a lost notice is harmless.
        let _ = self.typing.send(chat);
        let _ = self.typing_to_peers.send(chat);
    }

    /// Stops the worker and waits for its threads.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in [self.thread.take(), self.compactor.take()].into_iter().flatten() {
            if thread.join().is_err() {
                tracing::error!("a sync worker thread panicked");
            }
        }
    }
}

/// A thread that compacts the profile's documents now and then, off the
/// threads that serve the window and sync.
fn spawn_compactor(profile: Arc<Profile>, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("kith-compact".into()).spawn(move || {
        let mut due = Instant::now() + FIRST_COMPACTION;
        while !stop.load(Ordering::Relaxed) {
            // Short sleeps, so stopping never waits long.
            std::thread::sleep(Duration::from_millis(250));
            if Instant::now() >= due {
                profile.compact_when_due();
                due = Instant::now() + COMPACT_EVERY;
            }
        }
    })
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
    typing_to_peers: tokio::sync::broadcast::Sender<ChatId>,
) -> Result<(), ClientError> {
    refresh_unread(profile, shared);
    let server = shared.settings().server_url;
    let indicator = Mutex::new(SyncIndicator::new(server.is_some()));
    shared.emit(AppEvent::Sync(lock(&indicator).current()));
    let p2p_options = P2pOptions {
        server: server.clone(),
        typing: Some(typing_to_peers),
        ..P2pOptions::default()
    };
    let mut on_p2p = |event: P2pEvent| {
        handle_p2p(profile, shared, &indicator, event);
        Ok(())
    };
    let p2p = async {
        if std::env::var_os("KITH_NO_P2P").is_some() {
            tracing::info!("peer-to-peer sync is off (KITH_NO_P2P)");
            return;
        }
        match run_p2p(profile, p2p_options, stopped, &mut on_p2p).await {
            Ok(report) => tracing::info!(?report, "peer-to-peer sync ended"),
            // The other loop goes on: the server, or the local watch.
            Err(err) => tracing::warn!(%err, "peer-to-peer sync stopped"),
        }
    };
    let mut on_event = |event: WatchEvent| {
        handle(profile, shared, &indicator, event);
        Ok(())
    };
    let other = async {
        match &server {
            Some(server) => {
                watch_relay(
                    profile,
                    server,
                    RelayOptions::default(),
                    stopped,
                    Some(typing),
                    &mut on_event,
                )
                .await
            }
            None => {
                // Typing goes to peers only; the server's queue is drained
                // so it does not grow.
                let local = watch_local(profile, shared, stopped, &mut on_event);
                tokio::pin!(local);
                let mut open = true;
                loop {
                    tokio::select! {
                        result = &mut local => break result,
                        notice = typing.recv(), if open => open = notice.is_some(),
                    }
                }
            }
        }
    };
    // The server loop (or local watch) ending ends the worker, and its error
    // is shown; the peer-to-peer loop ending (it could not listen, say)
    // leaves the other one running.
    tokio::pin!(p2p, other);
    tokio::select! {
        result = &mut other => result,
        () = &mut p2p => other.await,
    }
}

fn lock(indicator: &Mutex<SyncIndicator>) -> std::sync::MutexGuard<'_, SyncIndicator> {
    indicator.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// With no server: notice commits of other processes of this profile (and
/// of the peer-to-peer loop).
async fn watch_local(
    profile: &Profile,
    shared: &Shared,
    stopped: &(dyn Fn() -> bool + Sync),
    on_event: &mut (dyn FnMut(WatchEvent) -> Result<(), ConsumerFailed> + Send),
) -> Result<(), ClientError> {
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

/// What the peer-to-peer loop reports: routes for the indicator, and typing
/// and presence (which only it knows). Messages it stores are announced by
/// the other loop.
fn handle_p2p(profile: &Profile, shared: &Shared, indicator: &Mutex<SyncIndicator>, event: P2pEvent) {
    match event {
        P2pEvent::Peer { peer_id, route, .. } | P2pEvent::Route { peer_id, route } => {
            let status = lock(indicator).peer_route(&peer_id, route);
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

fn handle(profile: &Profile, shared: &Arc<Shared>, indicator: &Mutex<SyncIndicator>, event: WatchEvent) {
    let server_status = |status: SyncStatus| {
        let shown = lock(indicator).server_status(status);
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
