//! The background runtime: one [`Client`] owns everything that keeps a
//! profile in sync while an app runs (the server loop, the peer-to-peer
//! loop, the local watch when there is no server, scheduled compaction and
//! the typing fan-out) and hands out one stream of [`ClientEvent`]s. The
//! desktop app and `kith sync --watch` both run it; each only turns events
//! into its own output.
//!
//! Structured concurrency: the tasks live in one `JoinSet` on the client's
//! own thread and runtime, and one cancellation token stops them all.
//! Stopping drops the loops at an await point, which is safe because every
//! store write is one synchronous transaction; the peer-to-peer loop is told
//! through the token instead, so it compacts what is due and reports its
//! totals before it ends.

use crate::error::ClientError;
use crate::p2p::{P2pEvent, P2pOptions, P2pReport, run_p2p};
use crate::profile::Profile;
use crate::relay::RelayOptions;
use crate::watch::{ConsumerFailed, TypingReceiver, WatchEvent, watch_local, watch_relay};
use kith_proto::ChatId;
use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// When the runtime compacts the documents its own writes piled up in (the
/// sync loops compact after what they receive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionSchedule {
    /// The first compaction, a while after the start (not while it loads).
    pub first_after: Duration,
    /// Then again this often.
    pub every: Duration,
}

impl CompactionSchedule {
    /// What the desktop app uses: a minute after the start, then every ten.
    pub const APP: CompactionSchedule = CompactionSchedule {
        first_after: Duration::from_secs(60),
        every: Duration::from_secs(10 * 60),
    };
}

/// What the runtime runs.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// The sync server. Without one, a local watch reports commits of other
    /// processes (and of the peer-to-peer loop) instead of the server loop.
    pub server: Option<String>,
    /// How the server loop syncs.
    pub relay: RelayOptions,
    /// Peer-to-peer sync; `None` leaves it off. Its `typing` and `cancel`
    /// are set by the runtime, and `once` is ignored (the runtime runs
    /// until stopped).
    pub p2p: Option<P2pOptions>,
    /// Scheduled compaction; `None` leaves it to the sync loops.
    pub compaction: Option<CompactionSchedule>,
}

/// One of the runtime's background tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientTask {
    /// The server loop.
    Server,
    /// The peer-to-peer loop.
    Peers,
    /// The local watch (no server).
    LocalWatch,
}

impl std::fmt::Display for ClientTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientTask::Server => "the server loop",
            ClientTask::Peers => "peer-to-peer sync",
            ClientTask::LocalWatch => "the local watch",
        })
    }
}

/// Something the runtime saw.
#[derive(Debug)]
pub enum ClientEvent {
    /// From the server loop.
    Server(WatchEvent),
    /// From the peer-to-peer loop.
    Peer(P2pEvent),
    /// With no server: the store changed (another process or the
    /// peer-to-peer loop committed); these recent messages changed with it.
    LocalCommit(Vec<WatchEvent>),
    /// The server loop or the local watch ended on its own (the store
    /// failed, say); the other tasks go on.
    Ended {
        /// Which.
        task: ClientTask,
        /// Why.
        error: ClientError,
    },
    /// The peer-to-peer loop ended: stopped (with its totals) or failed (it
    /// could not listen, say); the other tasks go on.
    PeersEnded(Result<P2pReport, ClientError>),
}

/// The events of one runtime, in order; `next` returns `None` once every
/// task has ended.
#[derive(Debug)]
pub struct ClientEvents {
    receiver: mpsc::UnboundedReceiver<ClientEvent>,
}

impl ClientEvents {
    /// The next event.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.receiver.recv().await
    }

    /// The next event, waiting on this thread (not inside an async runtime).
    pub fn blocking_next(&mut self) -> Option<ClientEvent> {
        self.receiver.blocking_recv()
    }
}

/// The running background work of one profile. Stopping it (or dropping it)
/// ends every task.
#[derive(Debug)]
pub struct Client {
    cancel: CancellationToken,
    thread: Option<JoinHandle<()>>,
    /// Typing notices for the server loop (none without a server).
    typing_to_server: Option<mpsc::UnboundedSender<ChatId>>,
    /// The same notices for the peer-to-peer loop.
    typing_to_peers: broadcast::Sender<ChatId>,
}

/// Where a task reports; a send fails only once the events are dropped.
#[derive(Clone)]
struct Reporter(mpsc::UnboundedSender<ClientEvent>);

impl Reporter {
    fn send(&self, event: ClientEvent) -> Result<(), ConsumerFailed> {
        self.0
            .send(event)
            .map_err(|_| ConsumerFailed("nobody reads the client's events".to_owned()))
    }
}

impl Client {
    /// Starts the background work for `profile` on a thread of its own.
    pub fn start(profile: Arc<Profile>, options: ClientOptions) -> std::io::Result<(Client, ClientEvents)> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let cancel = CancellationToken::new();
        let (sender, receiver) = mpsc::unbounded_channel();
        // Typing notices are a few a second at most; older ones are stale.
        let (typing_to_peers, _) = broadcast::channel(16);
        let (typing_to_server, typing_from_app) = match options.server {
            Some(_) => {
                let (to, from) = mpsc::unbounded_channel();
                (Some(to), Some(from))
            }
            None => (None, None),
        };
        let tasks = Tasks {
            profile,
            options,
            reporter: Reporter(sender),
            cancel: cancel.clone(),
            typing_to_peers: typing_to_peers.clone(),
            typing_from_app,
        };
        let thread = std::thread::Builder::new()
            .name("kith-client".into())
            .spawn(move || runtime.block_on(tasks.run()))?;
        let client = Client {
            cancel,
            thread: Some(thread),
            typing_to_server,
            typing_to_peers,
        };
        Ok((client, ClientEvents { receiver }))
    }

    /// Tells the chat's members this account is typing (dropped when offline).
    pub fn send_typing(&self, chat: ChatId) {
        // With no server loop or nobody connected, a lost notice is harmless.
        if let Some(server) = &self.typing_to_server {
            let _ = server.send(chat);
        }
        let _ = self.typing_to_peers.send(chat);
    }

    /// Stops every task and waits until they have ended.
    pub fn stop(mut self) {
        self.cancel.cancel();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the client's runtime panicked");
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// What the runtime's thread runs.
struct Tasks {
    profile: Arc<Profile>,
    options: ClientOptions,
    reporter: Reporter,
    cancel: CancellationToken,
    typing_to_peers: broadcast::Sender<ChatId>,
    typing_from_app: Option<TypingReceiver>,
}

impl Tasks {
    async fn run(self) {
        let Tasks {
            profile,
            options,
            reporter,
            cancel,
            typing_to_peers,
            typing_from_app,
        } = self;
        let mut tasks = JoinSet::new();
        if let Some(mut p2p) = options.p2p {
            p2p.typing = Some(typing_to_peers);
            p2p.cancel = Some(cancel.clone());
            p2p.once = false;
            tasks.spawn(peers(Arc::clone(&profile), p2p, reporter.clone()));
        }
        match options.server {
            Some(server) => {
                let task = server_loop(
                    Arc::clone(&profile),
                    server,
                    options.relay,
                    typing_from_app,
                    reporter.clone(),
                );
                tasks.spawn(until_cancelled(cancel.clone(), task));
            }
            None => {
                let task = local_watch(Arc::clone(&profile), reporter.clone());
                tasks.spawn(until_cancelled(cancel.clone(), task));
            }
        }
        if let Some(schedule) = options.compaction {
            tasks.spawn(until_cancelled(cancel.clone(), compaction(profile, schedule)));
        }
        // The tasks hold the only senders now: the events end with them.
        drop(reporter);
        while let Some(joined) = tasks.join_next().await {
            if let Err(err) = joined {
                tracing::error!(%err, "a client task panicked");
            }
        }
    }
}

/// Runs `task` until it ends or `cancel` fires (then drops it).
async fn until_cancelled(cancel: CancellationToken, task: impl Future<Output = ()>) {
    tokio::select! {
        () = cancel.cancelled() => {}
        () = task => {}
    }
}

async fn peers(profile: Arc<Profile>, options: P2pOptions, reporter: Reporter) {
    let mut on_event = |event: P2pEvent| reporter.send(ClientEvent::Peer(event));
    let result = run_p2p(&profile, options, &|| false, &mut on_event).await;
    // Nobody reading means nobody to tell.
    let _ = reporter.send(ClientEvent::PeersEnded(result));
}

async fn server_loop(
    profile: Arc<Profile>,
    server: String,
    options: RelayOptions,
    mut typing: Option<TypingReceiver>,
    reporter: Reporter,
) {
    let mut on_event = |event: WatchEvent| reporter.send(ClientEvent::Server(event));
    if let Err(error) = watch_relay(&profile, &server, options, typing.as_mut(), &mut on_event).await {
        let _ = reporter.send(ClientEvent::Ended {
            task: ClientTask::Server,
            error,
        });
    }
}

async fn local_watch(profile: Arc<Profile>, reporter: Reporter) {
    let mut on_commit = |changes: Vec<WatchEvent>| reporter.send(ClientEvent::LocalCommit(changes));
    if let Err(error) = watch_local(&profile, &mut on_commit).await {
        let _ = reporter.send(ClientEvent::Ended {
            task: ClientTask::LocalWatch,
            error,
        });
    }
}

/// Compacts now and then, on the blocking pool (it reads and rewrites whole
/// documents).
async fn compaction(profile: Arc<Profile>, schedule: CompactionSchedule) {
    tokio::time::sleep(schedule.first_after).await;
    loop {
        let profile = Arc::clone(&profile);
        if let Err(err) = tokio::task::spawn_blocking(move || profile.compact_when_due()).await {
            tracing::error!(%err, "compaction panicked");
        }
        tokio::time::sleep(schedule.every).await;
    }
}
