//! Runs peer-to-peer sync: the libp2p node from `kith-net`, one
//! [`PeerSession`] per peer stream, local changes offered to every peer and
//! changes learned from one peer offered to the others.

use super::blobs::BlobFetches;
use super::frame::{PeerFrame, PeerSignal};
use super::identity::PeerIdentity;
use super::namespaces::rendezvous_namespaces;
use super::session::{PeerSession, Step};
use crate::ephemeral::Ephemeral;
use crate::error::ClientError;
use crate::profile::Profile;
use crate::watch::{ConsumerFailed, RecentMessages, WatchEvent};
use kith_net::p2p::{
    FrameReceiver, FrameSender, Multiaddr, NodeCommand, NodeConfig, NodeEvent, P2pNode, PeerId, Route, keypair_of,
    peer_id_of_device, peer_of, server_p2p_info, spawn_framed,
};
use kith_proto::{AccountId, ChatId, DeviceId};
use kith_store::PeerRouteRow;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// How long a peer may take to authenticate before its stream is dropped
/// (an invite, if any, follows the hello at once).
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the current routes are written for `kith peers`.
const ROUTE_HEARTBEAT: Duration = Duration::from_secs(5);
/// A route older than this was written by a process that is gone.
pub const ROUTE_FRESH_MS: i64 = 15_000;

/// A signal heard again is shown again only when it holds this much longer
/// than the one before (typing is refreshed every few seconds; the same
/// signal over a second stream differs by a few milliseconds).
const SIGNAL_NEWS_MS: u64 = 1_000;
/// How often peers given by address are looked at; each is dialed again
/// after a wait that starts here and doubles while it stays unreachable.
const REDIAL_EVERY: Duration = Duration::from_secs(2);
/// The longest wait between dials of an unreachable given address.
const MAX_REDIAL_WAIT: Duration = Duration::from_secs(60);
/// How often one run opens a new stream to a peer whose stream ended.
const MAX_REOPENS: u32 = 5;
/// How often presence is told to connected peers.
const PRESENCE_EVERY: Duration = Duration::from_secs(30);
/// How long a presence signal counts (outlives one `PRESENCE_EVERY`).
const PRESENCE_TTL: Duration = Duration::from_secs(60);
/// How long a typing signal counts.
const TYPING_TTL: Duration = Duration::from_millis(crate::TYPING_TTL_MS);
/// How long after the last changes arrived their documents are compacted (a
/// burst of frames is compacted once, after it; `finish` compacts what is due).
const COMPACT_DELAY: Duration = Duration::from_secs(30);

/// Faults injected into outgoing frames, for tests of recovery.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Outgoing sync frames (1-based, per stream) silently dropped.
    pub drop_sync_frames: BTreeSet<usize>,
    /// Delay before every outgoing frame.
    pub delay: Duration,
}

/// How `run_p2p` runs.
#[derive(Clone, Debug)]
pub struct P2pOptions {
    /// Addresses to listen on (empty: every interface, TCP and QUIC, port 0).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial (with or without `/p2p/PEER_ID`).
    pub peers: Vec<Multiaddr>,
    /// LAN discovery.
    pub mdns: bool,
    /// A `kith-server`: rendezvous and relay for peers, and the sync server
    /// for everything learned peer-to-peer.
    pub server: Option<String>,
    /// Stop once every dialed peer is in sync (or refused us).
    pub once: bool,
    /// With `once`: give up after this long.
    pub once_timeout: Duration,
    /// After this long without frames, peers compare digests of their heads.
    pub quiet_after: Duration,
    /// Chats this device starts typing in, as it happens (the app's
    /// composer); each is told to the chat's members that are connected.
    pub typing: Option<broadcast::Sender<ChatId>>,
    /// Chats this device is typing in when the run starts (`kith typing
    /// --p2p`): told to each member peer as it authenticates, while fresh.
    pub typing_now: Vec<ChatId>,
    /// Ends the run (after it compacts what is due and returns its report)
    /// when cancelled; the [`Client`](crate::Client) runtime stops it so.
    pub cancel: Option<CancellationToken>,
    /// Test faults.
    pub faults: Faults,
}

impl Default for P2pOptions {
    fn default() -> Self {
        P2pOptions {
            listen: Vec::new(),
            peers: Vec::new(),
            mdns: true,
            server: None,
            once: false,
            once_timeout: Duration::from_secs(30),
            quiet_after: Duration::from_secs(2),
            typing: None,
            typing_now: Vec::new(),
            cancel: None,
            faults: Faults::default(),
        }
    }
}

/// What happened, for the CLI and the app.
#[derive(Debug)]
pub enum P2pEvent {
    /// The node listens here (always the first event).
    Listening(Vec<String>),
    /// A peer authenticated.
    Peer {
        /// Its PeerId.
        peer_id: String,
        /// Its account.
        account: AccountId,
        /// Its device.
        device: DeviceId,
        /// One of this account's devices.
        own: bool,
        /// How it is connected.
        route: Route,
    },
    /// A peer's route changed (`offline` when it left).
    Route {
        /// Its PeerId.
        peer_id: String,
        /// The route now.
        route: Route,
    },
    /// A peer refused us or we refused it.
    Refused {
        /// Its PeerId.
        peer_id: String,
        /// Why.
        reason: String,
    },
    /// A peer was found by mDNS or rendezvous.
    Discovered {
        /// Its PeerId.
        peer_id: String,
        /// `mdns` or `rendezvous`.
        via: &'static str,
    },
    /// Messages, receipts, typing, presence, relay passes.
    Watch(WatchEvent),
}

/// Totals of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct P2pReport {
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames received.
    pub frames_received: u64,
    /// Bytes sent (frame payloads).
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Changes accepted from peers.
    pub applied: usize,
    /// Frames refused (unauthorised, or documents the peer may not write).
    pub refused: usize,
    /// Peers (devices) that authenticated.
    pub peers: usize,
    /// Attachments fetched from peers.
    pub blobs_fetched: usize,
}

type Consumer<'a> = dyn FnMut(P2pEvent) -> Result<(), ConsumerFailed> + Send + 'a;

/// One live stream.
struct Link {
    session: PeerSession,
    writer: mpsc::UnboundedSender<(Vec<u8>, bool)>,
    generation: u64,
    opened: Instant,
    last_frame: Instant,
    quiet_told: bool,
}

/// Syncs with peers until `stop` (or, with `once`, until in sync).
pub async fn run_p2p(
    profile: &Profile,
    options: P2pOptions,
    stop: &(dyn Fn() -> bool + Sync),
    on_event: &mut Consumer<'_>,
) -> Result<P2pReport, ClientError> {
    let (node, mut node_events, expected_listeners) = start_node(profile, &options).await?;
    let (inbound_tx, mut inbound_rx) = mpsc::unbounded_channel();
    let mut driver = Driver {
        profile,
        node,
        links: HashMap::new(),
        routes: HashMap::new(),
        report: P2pReport::default(),
        faults: options.faults.clone(),
        inbound: inbound_tx,
        next_generation: 0,
        resolved: BTreeSet::new(),
        recent: RecentMessages::snapshot(profile)?,
        last_activity: Instant::now(),
        known: HashMap::new(),
        reopened: HashMap::new(),
        redial_at: HashMap::new(),
        typing_until: HashMap::new(),
        heard_until: HashMap::new(),
        blob_fetches: BlobFetches::default(),
        blob_plan_due: Instant::now(),
        compact_due: None,
    };
    for chat in &options.typing_now {
        driver.start_typing(*chat)?;
    }
    let typing = options.typing.as_ref().map(broadcast::Sender::subscribe);
    let (listening, held) =
        wait_for_listeners(&mut driver, &mut node_events, &mut inbound_rx, expected_listeners).await?;
    on_event(P2pEvent::Listening(listening))?;
    for event in held {
        on_event(event)?;
    }
    let result = serve_peers(
        &mut driver,
        &options,
        &mut node_events,
        &mut inbound_rx,
        typing,
        stop,
        on_event,
    )
    .await;
    driver.finish();
    result.map(|()| driver.report)
}

/// Starts the libp2p node as `options` say: its listeners, rendezvous at
/// the server, dials to the given and the remembered peers. Returns the
/// node, its events and how many listeners to wait for.
async fn start_node(
    profile: &Profile,
    options: &P2pOptions,
) -> Result<(P2pNode, mpsc::UnboundedReceiver<NodeEvent>, usize), ClientError> {
    let keypair = keypair_of(profile.identity().device_keys()).map_err(net)?;
    let mut config = NodeConfig {
        mdns: options.mdns,
        discover_every: Duration::from_secs(2),
        ..NodeConfig::default()
    };
    if !options.listen.is_empty() {
        config.listen = options.listen.clone();
    }
    let expected_listeners = config.listen.len();
    let (node, node_events) = P2pNode::start(keypair, config).map_err(net)?;
    if let Some(server) = &options.server {
        match server_p2p_info(server, &profile.relay().server_trust()?).await {
            // Each gateway of the service keeps its own registrations:
            // register (and look up) at every one, so contacts on another
            // gateway are found too.
            Ok(gateways) => {
                let namespaces = rendezvous_namespaces(profile)?;
                for (_, addresses) in gateways {
                    if let Some(address) = addresses.into_iter().next() {
                        node.command(NodeCommand::Rendezvous {
                            address,
                            namespaces: namespaces.clone(),
                        })
                        .map_err(net)?;
                    }
                }
            }
            Err(err) => tracing::warn!("no rendezvous: {err}"),
        }
    }
    for address in &options.peers {
        node.command(NodeCommand::Dial(address.clone())).map_err(net)?;
    }
    for address in cached_addresses(profile)? {
        node.command(NodeCommand::Dial(address)).map_err(net)?;
    }
    Ok((node, node_events, expected_listeners))
}

/// Waits (at most 5 s) for the node's listening addresses, serving peers
/// meanwhile; what they cause is held back and returned after the
/// addresses, which the CLI promises to print first.
async fn wait_for_listeners(
    driver: &mut Driver<'_>,
    node_events: &mut mpsc::UnboundedReceiver<NodeEvent>,
    inbound_rx: &mut mpsc::UnboundedReceiver<(PeerId, u64, Option<Vec<u8>>)>,
    expected_listeners: usize,
) -> Result<(Vec<String>, Vec<P2pEvent>), ClientError> {
    let mut held: Vec<P2pEvent> = Vec::new();
    let mut listening = Vec::new();
    {
        let mut hold = |event: P2pEvent| -> Result<(), ConsumerFailed> {
            held.push(event);
            Ok(())
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut settle: Option<tokio::time::Instant> = None;
        loop {
            let until = match settle {
                Some(settle) if listening.len() >= expected_listeners => settle.min(deadline),
                _ => deadline,
            };
            tokio::select! {
                event = tokio::time::timeout_at(until, node_events.recv()) => match event {
                    Ok(Some(NodeEvent::Listening(address))) => {
                        listening.push(address.to_string());
                        // More addresses of a wildcard listener arrive together.
                        settle = Some(tokio::time::Instant::now() + Duration::from_millis(50));
                    }
                    Ok(Some(NodeEvent::ListenFailed { address, error })) => {
                        return Err(ClientError::ListenFailed {
                            address: address.map(|a| a.to_string()).unwrap_or_default(),
                            reason: error,
                        });
                    }
                    Ok(Some(other)) => driver.on_node_event(other, &mut hold)?,
                    Ok(None) => return Err(ClientError::P2pStopped),
                    Err(_) => break,
                },
                Some((peer, generation, frame)) = inbound_rx.recv() => {
                    driver.on_inbound(peer, generation, frame, &mut hold)?;
                }
            }
        }
    }
    Ok((listening, held))
}

/// The driver's loop until `stop` says so (or, with `options.once`, until
/// the peers are served or none could be reached).
async fn serve_peers(
    driver: &mut Driver<'_>,
    options: &P2pOptions,
    node_events: &mut mpsc::UnboundedReceiver<NodeEvent>,
    inbound_rx: &mut mpsc::UnboundedReceiver<(PeerId, u64, Option<Vec<u8>>)>,
    mut typing: Option<broadcast::Receiver<ChatId>>,
    stop: &(dyn Fn() -> bool + Sync),
    on_event: &mut Consumer<'_>,
) -> Result<(), ClientError> {
    let profile = driver.profile;
    let started = Instant::now();
    let wanted = options.peers.len().max(1);
    let mut marker = profile.store().change_marker()?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut heartbeat_due = Instant::now();
    let mut redial_due = Instant::now() + REDIAL_EVERY;
    let mut presence_due = Instant::now();
    let cancelled = async {
        match &options.cancel {
            Some(cancel) => cancel.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(cancelled);
    loop {
        let outcome: Result<(), ClientError> = tokio::select! {
            () = &mut cancelled => break Ok(()),
            event = node_events.recv() => match event {
                Some(event) => driver.on_node_event(event, on_event),
                None => Err(ClientError::P2pStopped),
            },
            Some((peer, generation, frame)) = inbound_rx.recv() => driver.on_inbound(peer, generation, frame, on_event),
            () = profile.local_write() => {
                marker = profile.store().change_marker()?;
                driver.offer_all(None, on_event)
            }
            _ = tick.tick() => {
                let now = profile.store().change_marker()?;
                let mut outcome = Ok(());
                if now != marker {
                    marker = now;
                    outcome = driver.offer_all(None, on_event);
                }
                if outcome.is_ok() {
                    outcome = driver.on_tick(options.quiet_after, on_event);
                }
                if outcome.is_ok() && Instant::now() >= redial_due {
                    redial_due = Instant::now() + REDIAL_EVERY;
                    outcome = driver.redial(&options.peers);
                }
                if outcome.is_ok() && Instant::now() >= heartbeat_due {
                    heartbeat_due = Instant::now() + ROUTE_HEARTBEAT;
                    outcome = driver.write_routes();
                }
                if outcome.is_ok() && Instant::now() >= presence_due {
                    presence_due = Instant::now() + PRESENCE_EVERY;
                    driver.broadcast(PeerSignal::Presence, PRESENCE_TTL, None);
                }
                outcome
            }
            chat = next_typing(&mut typing) => match chat {
                Some(chat) => driver.start_typing(chat),
                // The app is going away: nothing more to type.
                None => {
                    typing = None;
                    Ok(())
                }
            },
        };
        if let Err(err) = outcome {
            break Err(err);
        }
        if stop() {
            break Ok(());
        }
        if options.once {
            let settled = driver.last_activity.elapsed() >= Duration::from_millis(600)
                && driver.blob_fetches.is_idle()
                && driver.links.values().all(|l| l.session.authorised());
            if settled && driver.resolved.len() >= wanted {
                break Ok(());
            }
            if started.elapsed() >= options.once_timeout {
                break if driver.report.peers == 0 {
                    Err(ClientError::NoPeerReachable)
                } else {
                    Ok(())
                };
            }
        }
    }
}

/// The addresses peers of this account were last reached at.
fn cached_addresses(profile: &Profile) -> Result<Vec<Multiaddr>, ClientError> {
    let me = profile.identity().account_id();
    let mut accounts = vec![me];
    accounts.extend(
        profile
            .contacts()
            .records()?
            .into_iter()
            .filter(|(_, r)| r.is_connected())
            .map(|(a, _)| a),
    );
    let mut out = Vec::new();
    for account in accounts {
        for device in profile.store().devices(&account)? {
            if device.revoked_at.is_some() || device.cert.device == profile.identity().device_id() {
                continue;
            }
            let Ok(peer) = peer_id_of_device(&device.cert.device) else {
                continue;
            };
            for address in profile.store().peer_addresses(&peer.to_string())? {
                if let Ok(mut address) = address.parse::<Multiaddr>() {
                    if peer_of(&address).is_none() {
                        address.push(libp2p_p2p(peer));
                    }
                    out.push(address);
                }
            }
        }
    }
    Ok(out)
}

fn libp2p_p2p(peer: PeerId) -> kith_net::p2p::Protocol<'static> {
    kith_net::p2p::Protocol::P2p(peer)
}

fn net(err: kith_net::p2p::P2pError) -> ClientError {
    ClientError::P2p(err)
}

struct Driver<'p> {
    profile: &'p Profile,
    node: P2pNode,
    links: HashMap<PeerId, Link>,
    routes: HashMap<PeerId, (Route, Option<Multiaddr>)>,
    report: P2pReport,
    faults: Faults,
    inbound: mpsc::UnboundedSender<(PeerId, u64, Option<Vec<u8>>)>,
    next_generation: u64,
    /// Peers that authenticated or were refused (for `once`).
    resolved: BTreeSet<PeerId>,
    recent: RecentMessages,
    last_activity: Instant,
    /// Peers that authenticated in this run (their routes are recorded).
    known: HashMap<PeerId, PeerIdentity>,
    /// Streams opened again per peer.
    reopened: HashMap<PeerId, u32>,
    /// Given addresses not synced with: when to dial next and the wait
    /// after that (doubling up to `MAX_REDIAL_WAIT`).
    redial_at: HashMap<Multiaddr, (Instant, Duration)>,
    /// Chats this device is typing in, until when (told to peers that
    /// authenticate meanwhile).
    typing_until: HashMap<ChatId, Instant>,
    /// Until when each signal heard from peers holds, by who and chat: the
    /// same signal arrives once per stream (both sides may dial, and a peer
    /// that authenticates is told what is current), and is news only when it
    /// holds for noticeably longer.
    heard_until: HashMap<(AccountId, Option<ChatId>), u64>,
    /// Attachments being fetched from peers.
    blob_fetches: BlobFetches,
    /// When to look for wanted attachments again.
    blob_plan_due: Instant,
    /// When to compact the documents received changes piled up in: a while
    /// after the last of them, so a burst is compacted once, after it.
    compact_due: Option<Instant>,
}

fn signal_frame(signal: PeerSignal, ttl: Duration) -> PeerFrame {
    PeerFrame::Signal {
        signal,
        ttl_ms: u32::try_from(ttl.as_millis()).unwrap_or(u32::MAX),
    }
}

/// The next chat typed in, or `None` once the source is gone; never ready
/// without a source.
async fn next_typing(source: &mut Option<broadcast::Receiver<ChatId>>) -> Option<ChatId> {
    let Some(receiver) = source else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(chat) => return Some(chat),
            // Missed notices are stale by now; the next one counts.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

impl Driver<'_> {
    fn on_node_event(&mut self, event: NodeEvent, on_event: &mut Consumer<'_>) -> Result<(), ClientError> {
        match event {
            NodeEvent::Stream { peer, stream } => {
                let route = self.routes.get(&peer).map(|r| r.0).unwrap_or(Route::Direct);
                let session = PeerSession::new(self.profile, peer, route);
                let hello = session.hello(self.profile)?;
                let (writer, reader) = spawn_framed(stream);
                self.next_generation += 1;
                let generation = self.next_generation;
                tracing::debug!(%peer, generation, "new sync stream");
                spawn_reader(reader, peer, generation, self.inbound.clone());
                let writer = spawn_writer(writer, self.faults.clone());
                // A new stream replaces the old one (its tasks end with it).
                self.links.insert(
                    peer,
                    Link {
                        session,
                        writer,
                        generation,
                        opened: Instant::now(),
                        last_frame: Instant::now(),
                        quiet_told: false,
                    },
                );
                self.send(peer, &[hello]);
            }
            NodeEvent::Route { peer, route, address } => {
                self.routes.insert(peer, (route, address.clone()));
                if let Some(link) = self.links.get_mut(&peer) {
                    link.session.set_route(route);
                }
                if route == Route::Offline {
                    self.links.remove(&peer);
                }
                if let Some(identity) = self.known.get(&peer).copied() {
                    self.store_route(peer, route, address.as_ref(), Some(identity))?;
                    on_event(P2pEvent::Route {
                        peer_id: peer.to_string(),
                        route,
                    })?;
                }
            }
            NodeEvent::Discovered { peer, via, .. } => on_event(P2pEvent::Discovered {
                peer_id: peer.to_string(),
                via,
            })?,
            NodeEvent::DialFailed { peer, error } => {
                tracing::info!(?peer, "dial failed: {error}");
            }
            NodeEvent::Listening(address) => tracing::info!(%address, "listening"),
            NodeEvent::ListenFailed { address, error } => tracing::warn!(?address, "listener failed: {error}"),
            NodeEvent::Registered { namespace } => tracing::debug!(namespace, "registered at rendezvous"),
        }
        Ok(())
    }

    fn on_inbound(
        &mut self,
        peer: PeerId,
        generation: u64,
        frame: Option<Vec<u8>>,
        on_event: &mut Consumer<'_>,
    ) -> Result<(), ClientError> {
        let Some(link) = self.links.get_mut(&peer).filter(|l| l.generation == generation) else {
            tracing::debug!(%peer, generation, "frame of a replaced stream");
            return Ok(());
        };
        let Some(bytes) = frame else {
            // The stream ended. Whoever opens streams opens a new one if the
            // connection is still there; sync state restarts clean.
            let was_authorised = link.session.authorised();
            self.links.remove(&peer);
            if was_authorised {
                // Not synced with until a new stream is up.
                self.store_route(peer, Route::Offline, None, None)?;
                on_event(P2pEvent::Route {
                    peer_id: peer.to_string(),
                    route: Route::Offline,
                })?;
            }
            // The stream went away without a refusal (a duplicate connection
            // closed under it, a network blip): open a new one, a few times.
            let reopened = self.reopened.entry(peer).or_default();
            if *reopened < MAX_REOPENS {
                *reopened += 1;
                self.node.command(NodeCommand::Reopen(peer)).map_err(net)?;
            }
            return Ok(());
        };
        self.report.frames_received += 1;
        self.report.bytes_received += bytes.len() as u64;
        self.last_activity = Instant::now();
        link.last_frame = Instant::now();
        link.quiet_told = false;
        let handled = match link.session.on_frame(self.profile, &bytes) {
            Ok(step) => self.handle_step(peer, step, on_event),
            Err(err) => Err(err),
        };
        match handled {
            Err(err) if fails_only_the_link(&err) => {
                // What one peer sent cannot end the sync with every other.
                tracing::warn!(%peer, %err, "closing the link of a peer whose frame could not be handled");
                self.send(
                    peer,
                    &[PeerFrame::Refused {
                        reason: "a frame could not be handled".into(),
                    }],
                );
                self.drop_link(peer, err.to_string(), on_event)
            }
            other => other,
        }
    }

    fn handle_step(&mut self, peer: PeerId, step: Step, on_event: &mut Consumer<'_>) -> Result<(), ClientError> {
        self.send(peer, &step.send);
        self.report.refused += step.refused;
        if let Some(identity) = step.authorised {
            // A peer whose stream was reopened counts once.
            if self.known.insert(peer, identity).is_none() {
                self.report.peers += 1;
            }
            self.resolved.insert(peer);
            let (route, address) = self.routes.get(&peer).cloned().unwrap_or((Route::Direct, None));
            self.store_route(peer, route, address.as_ref(), Some(identity))?;
            on_event(P2pEvent::Peer {
                peer_id: peer.to_string(),
                account: identity.account,
                device: identity.device,
                own: identity.own,
                route,
            })?;
            self.tell_current_signals(peer);
        }
        for signal in step.signals {
            if self.is_news(&signal) {
                on_event(P2pEvent::Watch(WatchEvent::Ephemeral(signal)))?;
            }
        }
        if let Some(reason) = step.close {
            self.drop_link(peer, reason, on_event)?;
        }
        for (hash, index, bytes) in step.blob_chunks {
            if let Some(next) = self.blob_fetches.on_chunk(self.profile, peer, hash, index, &bytes)? {
                self.send(peer, &[next]);
            }
        }
        for hash in step.blob_missing {
            self.blob_fetches.on_missing(peer, hash);
        }
        let new_peer = step.authorised.is_some();
        if step.applied > 0 {
            self.report.applied += step.applied;
            self.compact_due = Some(Instant::now() + COMPACT_DELAY);
            // What one peer taught us goes on to the others at once.
            self.offer_all(Some(peer), on_event)?;
        }
        if step.applied > 0 || new_peer {
            // New messages may carry attachments; a new peer may have them.
            self.plan_blob_fetches()?;
        }
        self.report.blobs_fetched = self.blob_fetches.completed;
        Ok(())
    }

    /// Asks directly connected peers for wanted attachments (a relayed
    /// circuit is kept for sync; the server serves those peers' blobs).
    fn plan_blob_fetches(&mut self) -> Result<(), ClientError> {
        self.blob_plan_due = Instant::now() + Duration::from_secs(2);
        let peers: Vec<(PeerId, PeerIdentity)> = self
            .links
            .iter()
            .filter(|(p, _)| self.routes.get(p).is_none_or(|(route, _)| *route != Route::Relayed))
            .filter_map(|(p, l)| l.session.identity().filter(|_| l.session.authorised()).map(|i| (*p, i)))
            .collect();
        for (peer, frame) in self.blob_fetches.plan(self.profile, &peers)? {
            self.send(peer, &[frame]);
        }
        Ok(())
    }

    /// Dials again the peers given by address that are not synced with (a
    /// dial can fail or a duplicate connection close under a stream), less
    /// and less often while one stays unreachable.
    fn redial(&mut self, peers: &[Multiaddr]) -> Result<(), ClientError> {
        let now = Instant::now();
        for address in peers {
            let Some(peer) = peer_of(address) else { continue };
            let linked = self.links.get(&peer).is_some_and(|l| l.session.authorised());
            if linked || self.resolved.contains(&peer) {
                self.redial_at.remove(address);
                continue;
            }
            let (due, wait) = self.redial_at.get(address).copied().unwrap_or((now, REDIAL_EVERY));
            if now < due {
                continue;
            }
            self.redial_at
                .insert(address.clone(), (now + wait, (wait * 2).min(MAX_REDIAL_WAIT)));
            self.node.command(NodeCommand::Dial(address.clone())).map_err(net)?;
        }
        Ok(())
    }

    /// Ends a stream: dropping the writer closes it after what is queued.
    fn drop_link(&mut self, peer: PeerId, reason: String, on_event: &mut Consumer<'_>) -> Result<(), ClientError> {
        self.links.remove(&peer);
        self.resolved.insert(peer);
        on_event(P2pEvent::Refused {
            peer_id: peer.to_string(),
            reason,
        })?;
        Ok(())
    }

    /// Offers local state to every authenticated peer (but `except`), then
    /// reports new messages.
    fn offer_all(&mut self, except: Option<PeerId>, on_event: &mut Consumer<'_>) -> Result<(), ClientError> {
        let peers: Vec<PeerId> = self.links.keys().copied().filter(|p| Some(*p) != except).collect();
        for peer in peers {
            let step = match self.links.get_mut(&peer) {
                Some(link) if link.session.authorised() => link.session.on_local_change(self.profile)?,
                _ => continue,
            };
            self.handle_step(peer, step, on_event)?;
        }
        for event in self.recent.changes(self.profile)? {
            on_event(P2pEvent::Watch(event))?;
        }
        Ok(())
    }

    fn on_tick(&mut self, quiet_after: Duration, on_event: &mut Consumer<'_>) -> Result<(), ClientError> {
        if Instant::now() >= self.blob_plan_due {
            self.plan_blob_fetches()?;
        }
        if self.compact_due.is_some_and(|due| Instant::now() >= due) {
            self.compact_due = None;
            self.profile.compact_when_due();
        }
        let peers: Vec<PeerId> = self.links.keys().copied().collect();
        for peer in peers {
            let Some(link) = self.links.get_mut(&peer) else {
                continue;
            };
            if !link.session.authorised() {
                if link.opened.elapsed() > AUTH_TIMEOUT {
                    let reason = "not authenticated in time (not a contact?)".to_owned();
                    self.send(peer, &[PeerFrame::Refused { reason: reason.clone() }]);
                    self.drop_link(peer, reason, on_event)?;
                }
                continue;
            }
            if link.quiet_told || link.last_frame.elapsed() < quiet_after {
                continue;
            }
            link.quiet_told = true;
            let step = link.session.on_quiet(self.profile)?;
            self.send(peer, &step.send);
        }
        Ok(())
    }

    /// Notes that this device types in `chat` and tells the chat's
    /// connected members (and own devices).
    fn start_typing(&mut self, chat: ChatId) -> Result<(), ClientError> {
        self.profile.require_member(&chat)?;
        self.typing_until.insert(chat, Instant::now() + TYPING_TTL);
        self.broadcast(PeerSignal::Typing { chat: chat.to_string() }, TYPING_TTL, Some(chat));
        Ok(())
    }

    /// Whether a signal from a peer says more than what was already heard:
    /// it holds at least [`SIGNAL_NEWS_MS`] longer (a refresh) than the
    /// last one of the same kind from the same account about the same chat.
    fn is_news(&mut self, signal: &Ephemeral) -> bool {
        let (key, until_ms) = match signal {
            Ephemeral::Typing {
                chat_id,
                account,
                until_ms,
            } => ((*account, Some(*chat_id)), *until_ms),
            Ephemeral::Presence { account, until_ms } => ((*account, None), *until_ms),
        };
        match self.heard_until.get(&key) {
            Some(heard) if until_ms < heard.saturating_add(SIGNAL_NEWS_MS) => false,
            _ => {
                self.heard_until.insert(key, until_ms);
                true
            }
        }
    }

    /// A peer that just authenticated learns what the others already know:
    /// that we are online, and where we are typing (for what is left of it).
    fn tell_current_signals(&mut self, peer: PeerId) {
        let now = Instant::now();
        self.typing_until.retain(|_, until| *until > now);
        let mut frames = vec![signal_frame(PeerSignal::Presence, PRESENCE_TTL)];
        let typing: Vec<(ChatId, Duration)> = self.typing_until.iter().map(|(c, u)| (*c, *u - now)).collect();
        for (chat, left) in typing {
            if self.may_hear_about(peer, Some(chat)) {
                frames.push(signal_frame(PeerSignal::Typing { chat: chat.to_string() }, left));
            }
        }
        self.send(peer, &frames);
    }

    /// Whether `peer` is authenticated and may learn of signals about `chat`
    /// (its members and own devices; everyone for signals about no chat).
    fn may_hear_about(&self, peer: PeerId, chat: Option<ChatId>) -> bool {
        let Some(identity) = self.links.get(&peer).and_then(|l| l.session.identity()) else {
            return false;
        };
        match chat {
            Some(chat) => {
                identity.own
                    || self
                        .profile
                        .store()
                        .was_member(&chat, &identity.account)
                        .unwrap_or(false)
            }
            None => true,
        }
    }

    /// Sends a signal to every authenticated peer (members of `chat` only,
    /// for typing).
    fn broadcast(&mut self, signal: PeerSignal, ttl: Duration, chat: Option<ChatId>) {
        let peers: Vec<PeerId> = self
            .links
            .keys()
            .copied()
            .filter(|p| self.may_hear_about(*p, chat))
            .collect();
        for peer in peers {
            self.send(peer, &[signal_frame(signal.clone(), ttl)]);
        }
    }

    fn send(&mut self, peer: PeerId, frames: &[PeerFrame]) {
        let Some(link) = self.links.get_mut(&peer) else { return };
        for frame in frames {
            let bytes = frame.encode();
            tracing::trace!(%peer, kind = frame.kind(), len = bytes.len(), "frame out");
            self.report.frames_sent += 1;
            self.report.bytes_sent += bytes.len() as u64;
            let is_sync = matches!(frame, PeerFrame::Sync { .. });
            if link.writer.send((bytes, is_sync)).is_err() {
                // The writer gave up: the stream failed, or the peer left
                // too much unread (`MAX_QUEUED_BYTES`). Its link ends here,
                // so nothing more is read or served for it.
                tracing::info!(%peer, "dropping the link: its stream no longer takes frames");
                self.links.remove(&peer);
                return;
            }
        }
        if !frames.is_empty() {
            link.last_frame = Instant::now();
            link.quiet_told = false;
            self.last_activity = Instant::now();
        }
    }

    fn store_route(
        &self,
        peer: PeerId,
        route: Route,
        address: Option<&Multiaddr>,
        identity: Option<PeerIdentity>,
    ) -> Result<(), ClientError> {
        let now = i64::try_from(self.profile.now_ms()).unwrap_or(i64::MAX);
        let mut txn = self.profile.store().begin_write()?;
        txn.set_peer_route(&PeerRouteRow {
            peer_id: peer.to_string(),
            route: route.as_str().to_owned(),
            address: address.map(|a| a.to_string()),
            updated_ms: now,
        })?;
        if let (Some(address), Some(_), true) = (address, identity, matches!(route, Route::Lan | Route::Direct)) {
            txn.remember_peer_address(&peer.to_string(), &address.to_string(), now)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn write_routes(&self) -> Result<(), ClientError> {
        for (peer, link) in &self.links {
            if let Some(identity) = link.session.identity() {
                let (route, address) = self.routes.get(peer).cloned().unwrap_or((Route::Direct, None));
                self.store_route(*peer, route, address.as_ref(), Some(identity))?;
            }
        }
        Ok(())
    }

    /// Marks every peer offline for `kith peers`, and compacts what is due.
    fn finish(&mut self) {
        if self.compact_due.take().is_some() {
            self.profile.compact_when_due();
        }
        let peers: Vec<PeerId> = self.links.keys().copied().collect();
        for peer in peers {
            if let Err(err) = self.store_route(peer, Route::Offline, None, None) {
                tracing::warn!(%peer, "cannot record the route: {err}");
            }
        }
        self.links.clear();
    }
}

fn spawn_reader(
    mut reader: FrameReceiver,
    peer: PeerId,
    generation: u64,
    inbound: mpsc::UnboundedSender<(PeerId, u64, Option<Vec<u8>>)>,
) {
    tokio::spawn(async move {
        loop {
            match reader.next().await {
                Ok(Some(frame)) => {
                    if inbound.send((peer, generation, Some(frame))).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::info!(%peer, "peer stream failed: {err}");
                    break;
                }
            }
        }
        let _ = inbound.send((peer, generation, None));
    });
}

/// Frames go through here on their way out, so faults can be injected in
/// tests; dropping the returned sender closes the stream after what is queued.
fn spawn_writer(writer: FrameSender, faults: Faults) -> mpsc::UnboundedSender<(Vec<u8>, bool)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Vec<u8>, bool)>();
    tokio::spawn(async move {
        let mut sync_frames = 0usize;
        while let Some((frame, is_sync)) = rx.recv().await {
            if is_sync {
                sync_frames += 1;
                if faults.drop_sync_frames.contains(&sync_frames) {
                    tracing::info!(frame = sync_frames, "fault injection: dropped a sync frame");
                    continue;
                }
            }
            if !faults.delay.is_zero() {
                tokio::time::sleep(faults.delay).await;
            }
            if let Err(err) = writer.send(&frame) {
                tracing::info!("peer stream write failed: {err}");
                return;
            }
        }
    });
    tx
}

/// Whether an error from handling one peer's frame is that peer's doing (its
/// link is closed, every other goes on) rather than this device's (the
/// store, the node, the consumer, the OS: the whole run ends).
fn fails_only_the_link(err: &ClientError) -> bool {
    !matches!(
        err,
        ClientError::Store(_)
            | ClientError::Consumer(_)
            | ClientError::P2p(_)
            | ClientError::P2pStopped
            | ClientError::Io { .. }
            | ClientError::Randomness(_)
    )
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    #[test]
    fn a_peers_bad_input_closes_its_link_and_local_failures_end_the_run() {
        let peer_faults = [
            ClientError::Blob("shorter than its message says".into()),
            ClientError::Doc(kith_core::DocError::Invalid("bad".into())),
            ClientError::NoSuchChat("x".into()),
            ClientError::BadInvite("forged".into()),
        ];
        for err in &peer_faults {
            assert!(fails_only_the_link(err), "{err}");
        }
        let local = [
            ClientError::Store(kith_store::StoreError::Busy),
            ClientError::Consumer("the window closed".into()),
            ClientError::P2pStopped,
        ];
        for err in &local {
            assert!(!fails_only_the_link(err), "{err}");
        }
    }
}
