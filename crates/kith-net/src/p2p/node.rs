//! The swarm task: listens, dials, discovers, keeps one connection per peer
//! where it can and hands every `/kith/sync/1` stream to the application.
//!
//! One stream per peer: the peer with the lower PeerId opens it, the other
//! only accepts, so two peers that dial each other at once still end up with
//! a single stream (and, after the duplicate connection is closed, a single
//! connection).

use super::P2pError;
use super::behaviour::{DeviceBehaviour, DeviceBehaviourEvent};
use super::route::Route;
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, Swarm, autonat, dcutr, identify, mdns, ping, rendezvous};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;

/// The protocol of the one long-lived stream between two devices.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/kith/sync/1");

/// How often a discovered peer is dialed again while not connected.
const MAX_FOUND_DIALS: u32 = 10;
/// How long an idle connection (no stream, no ping) is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often opening the sync stream is tried while the peer stays
/// connected (the connection it went out on can be closed as a duplicate).
const MAX_OPEN_ATTEMPTS: u32 = 6;
/// The wait before the first new attempt; it doubles each time.
const OPEN_RETRY_AFTER: Duration = Duration::from_millis(100);

/// How a node starts.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Addresses to listen on (TCP, QUIC, or a relay circuit).
    pub listen: Vec<Multiaddr>,
    /// Whether to announce and discover on the LAN with mDNS.
    pub mdns: bool,
    /// How often rendezvous registrations are looked up again.
    pub discover_every: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().unwrap_or_else(|_| Multiaddr::empty()),
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .unwrap_or_else(|_| Multiaddr::empty()),
            ],
            mdns: true,
            discover_every: Duration::from_secs(10),
        }
    }
}

/// What the application asks of the node.
#[derive(Debug)]
pub enum NodeCommand {
    /// Dial an address (with or without `/p2p/PEER_ID`).
    Dial(Multiaddr),
    /// Use a rendezvous point: `address` ends in `/p2p/SERVER_ID`. The node
    /// registers under each namespace and looks the namespaces up.
    Rendezvous {
        /// The server's address.
        address: Multiaddr,
        /// Namespaces derived from secrets the peers share.
        namespaces: Vec<String>,
    },
    /// Open the sync stream to a peer again (after the application dropped
    /// it); only the lower PeerId opens, the other side waits for it.
    Reopen(PeerId),
}

/// What the node tells the application.
#[derive(Debug)]
pub enum NodeEvent {
    /// A new listening address.
    Listening(Multiaddr),
    /// Listening on an address failed or stopped.
    ListenFailed {
        /// The address (when known).
        address: Option<Multiaddr>,
        /// Why.
        error: String,
    },
    /// How a peer is connected changed (`Offline` when the last connection closed).
    Route {
        /// The peer.
        peer: PeerId,
        /// Its best route now.
        route: Route,
        /// The remote address of that route's connection.
        address: Option<Multiaddr>,
    },
    /// A sync stream with a peer, opened by either side.
    Stream {
        /// The peer.
        peer: PeerId,
        /// The stream.
        stream: Stream,
    },
    /// A peer was found (mDNS or rendezvous) and is being dialed.
    Discovered {
        /// The peer.
        peer: PeerId,
        /// Its addresses.
        addresses: Vec<Multiaddr>,
        /// `mdns` or `rendezvous`.
        via: &'static str,
    },
    /// A dial failed.
    DialFailed {
        /// The peer, when known.
        peer: Option<PeerId>,
        /// Why.
        error: String,
    },
    /// Registered at a rendezvous point.
    Registered {
        /// The namespace.
        namespace: String,
    },
}

/// A running node; dropping it stops the swarm.
pub struct P2pNode {
    local_peer: PeerId,
    commands: mpsc::UnboundedSender<NodeCommand>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for P2pNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl P2pNode {
    /// Builds the swarm, starts listening and spawns its task on the current
    /// tokio runtime.
    pub fn start(
        keypair: Keypair,
        config: NodeConfig,
    ) -> Result<(P2pNode, mpsc::UnboundedReceiver<NodeEvent>), P2pError> {
        let local_peer = keypair.public().to_peer_id();
        let mdns_on = config.mdns;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default().nodelay(true),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .map_err(|err| P2pError::Start(err.to_string()))?
            .with_quic()
            .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
            .map_err(|err| P2pError::Start(err.to_string()))?
            .with_behaviour(|key, relay| {
                let peer = key.public().to_peer_id();
                let mdns = if mdns_on {
                    let mdns_config = mdns::Config {
                        query_interval: Duration::from_secs(5),
                        ..mdns::Config::default()
                    };
                    Some(mdns::tokio::Behaviour::new(mdns_config, peer)?)
                } else {
                    None
                };
                Ok(DeviceBehaviour {
                    relay,
                    dcutr: dcutr::Behaviour::new(peer),
                    identify: identify::Behaviour::new(identify::Config::new("/kith/1.0.0".into(), key.public())),
                    ping: ping::Behaviour::new(ping::Config::new()),
                    mdns: mdns.into(),
                    rendezvous: rendezvous::client::Behaviour::new(key.clone()),
                    autonat: autonat::Behaviour::new(peer, autonat::Config::default()),
                    stream: libp2p_stream::Behaviour::new(),
                })
            })
            .map_err(|err| P2pError::Start(err.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build();
        for address in &config.listen {
            swarm
                .listen_on(address.clone())
                .map_err(|err| P2pError::Listen(address.to_string(), err.to_string()))?;
        }
        let mut control = swarm.behaviour().stream.new_control();
        let incoming = control
            .accept(SYNC_PROTOCOL)
            .map_err(|err| P2pError::Start(err.to_string()))?;
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (retry_tx, retry_rx) = mpsc::unbounded_channel();
        let state = NodeState {
            swarm,
            control,
            events: event_tx,
            open_retries: retry_tx,
            connections: HashMap::new(),
            routes: HashMap::new(),
            servers: BTreeMap::new(),
            pending_circuits: HashMap::new(),
            found: HashMap::new(),
            discover_every: config.discover_every,
        };
        let task = tokio::spawn(state.run(command_rx, retry_rx, incoming));
        Ok((
            P2pNode {
                local_peer,
                commands: command_tx,
                task,
            },
            event_rx,
        ))
    }

    /// This device's PeerId.
    pub fn local_peer(&self) -> PeerId {
        self.local_peer
    }

    /// Sends a command to the swarm task.
    pub fn command(&self, command: NodeCommand) -> Result<(), P2pError> {
        self.commands.send(command).map_err(|_| P2pError::Stopped)
    }
}

/// One open connection.
#[derive(Clone, Debug)]
struct Connection {
    route: Route,
    address: Multiaddr,
    dialed_by_us: bool,
}

/// The swarm and what the task knows about its peers.
struct NodeState {
    swarm: Swarm<DeviceBehaviour>,
    control: libp2p_stream::Control,
    events: mpsc::UnboundedSender<NodeEvent>,
    /// Failed stream opens come back here (peer, attempts so far) to be
    /// tried again while the peer is connected.
    open_retries: mpsc::UnboundedSender<(PeerId, u32)>,
    connections: HashMap<PeerId, BTreeMap<ConnectionId, Connection>>,
    routes: HashMap<PeerId, Route>,
    /// Rendezvous servers and the namespaces used there.
    servers: BTreeMap<PeerId, Vec<String>>,
    /// Peers found by mDNS or rendezvous, dialed again on each discovery
    /// tick while not connected (a first dial can fail), a few times.
    found: HashMap<PeerId, (Vec<Multiaddr>, u32)>,
    /// Circuit addresses to dial once the relay is connected (the relay
    /// client cancels a circuit dial made before that).
    pending_circuits: HashMap<PeerId, Vec<Multiaddr>>,
    discover_every: Duration,
}

impl NodeState {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<NodeCommand>,
        mut open_retries: mpsc::UnboundedReceiver<(PeerId, u32)>,
        mut incoming: libp2p_stream::IncomingStreams,
    ) {
        let mut discover = tokio::time::interval(self.discover_every);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                Some((peer, stream)) = incoming.next() => {
                    self.emit(NodeEvent::Stream { peer, stream });
                }
                Some((peer, attempts)) = open_retries.recv() => {
                    if self.connections.contains_key(&peer) && attempts < MAX_OPEN_ATTEMPTS {
                        self.open_stream_attempt(peer, attempts);
                    }
                }
                _ = discover.tick() => self.discover_all(),
            }
        }
    }

    fn emit(&self, event: NodeEvent) {
        // A closed receiver means the application is shutting down.
        let _ = self.events.send(event);
    }

    fn on_command(&mut self, command: NodeCommand) {
        match command {
            NodeCommand::Dial(address) => {
                if let Some((relay, relay_address)) = relay_of(&address)
                    && !self.swarm.is_connected(&relay)
                {
                    self.pending_circuits.entry(relay).or_default().push(address);
                    if let Err(err) = self.swarm.dial(to_address(relay_address)) {
                        self.emit(NodeEvent::DialFailed {
                            peer: Some(relay),
                            error: err.to_string(),
                        });
                    }
                    return;
                }
                if let Err(err) = self.swarm.dial(to_address(address.clone())) {
                    self.emit(NodeEvent::DialFailed {
                        peer: peer_of(&address),
                        error: err.to_string(),
                    });
                }
            }
            NodeCommand::Rendezvous { address, namespaces } => {
                let Some(server) = peer_of(&address) else {
                    self.emit(NodeEvent::DialFailed {
                        peer: None,
                        error: format!("rendezvous address {address} has no /p2p/PEER_ID"),
                    });
                    return;
                };
                self.servers.insert(server, namespaces);
                if self.swarm.is_connected(&server) {
                    self.register_at(server);
                } else if let Err(err) = self.swarm.dial(to_address(address)) {
                    self.emit(NodeEvent::DialFailed {
                        peer: Some(server),
                        error: err.to_string(),
                    });
                }
            }
            NodeCommand::Reopen(peer) => {
                if self.swarm.is_connected(&peer) {
                    self.open_stream(peer);
                } else {
                    let _ = self.swarm.dial(DialOpts::peer_id(peer).allocate_new_port().build());
                }
            }
        }
    }

    /// Opens the sync stream if this side is the one that opens it.
    fn open_stream(&self, peer: PeerId) {
        self.open_stream_attempt(peer, 0);
    }

    /// One attempt at opening the sync stream; a failure (say, the
    /// connection it went out on was closed as the duplicate of a crossed
    /// dial) is tried again after a growing wait while the peer is connected.
    fn open_stream_attempt(&self, peer: PeerId, attempts: u32) {
        if self.servers.contains_key(&peer) || *self.swarm.local_peer_id() > peer {
            return;
        }
        let mut control = self.control.clone();
        let events = self.events.clone();
        let retries = self.open_retries.clone();
        tokio::spawn(async move {
            match control.open_stream(peer, SYNC_PROTOCOL).await {
                Ok(stream) => {
                    let _ = events.send(NodeEvent::Stream { peer, stream });
                }
                Err(err) => {
                    tracing::debug!(%peer, attempts, "cannot open the sync stream: {err}");
                    tokio::time::sleep(OPEN_RETRY_AFTER * 2u32.saturating_pow(attempts)).await;
                    let _ = retries.send((peer, attempts + 1));
                }
            }
        });
    }

    fn register_at(&mut self, server: PeerId) {
        let Some(namespaces) = self.servers.get(&server).cloned() else {
            return;
        };
        for namespace in namespaces {
            let Ok(ns) = rendezvous::Namespace::new(namespace.clone()) else {
                tracing::warn!(namespace, "rendezvous namespace too long");
                continue;
            };
            match self.swarm.behaviour_mut().rendezvous.register(ns.clone(), server, None) {
                Ok(()) => {}
                // Registered again once we know an address of ours.
                Err(rendezvous::client::RegisterError::NoExternalAddresses) => {}
                Err(err) => tracing::warn!(%server, "rendezvous registration failed: {err}"),
            }
            self.swarm
                .behaviour_mut()
                .rendezvous
                .discover(Some(ns), None, None, server);
        }
    }

    fn discover_all(&mut self) {
        let retry: Vec<(PeerId, Vec<Multiaddr>)> = self
            .found
            .iter_mut()
            .filter(|(_, (_, tries))| *tries < MAX_FOUND_DIALS)
            .map(|(peer, (addresses, tries))| {
                *tries += 1;
                (*peer, addresses.clone())
            })
            .collect();
        for (peer, addresses) in retry {
            if !self.swarm.is_connected(&peer) {
                let _ = self.swarm.dial(to_peer(peer, addresses));
            }
        }
        let servers: Vec<(PeerId, Vec<String>)> = self.servers.iter().map(|(p, n)| (*p, n.clone())).collect();
        for (server, namespaces) in servers {
            if !self.swarm.is_connected(&server) {
                continue;
            }
            for namespace in namespaces {
                if let Ok(ns) = rendezvous::Namespace::new(namespace) {
                    self.swarm
                        .behaviour_mut()
                        .rendezvous
                        .discover(Some(ns), None, None, server);
                }
            }
        }
    }

    fn dial_found(&mut self, peer: PeerId, addresses: Vec<Multiaddr>, via: &'static str) {
        if peer == *self.swarm.local_peer_id() || self.servers.contains_key(&peer) {
            return;
        }
        for address in &addresses {
            self.swarm.add_peer_address(peer, address.clone());
        }
        self.found.insert(peer, (addresses.clone(), 0));
        if self.swarm.is_connected(&peer) {
            return;
        }
        self.emit(NodeEvent::Discovered {
            peer,
            addresses: addresses.clone(),
            via,
        });
        // Two peers usually find each other at the same moment: the lower
        // PeerId dials now, the higher on the next discovery tick if still
        // not connected, so one connection is made rather than two.
        if *self.swarm.local_peer_id() > peer {
            return;
        }
        if let Err(err) = self.swarm.dial(to_peer(peer, addresses)) {
            tracing::debug!(%peer, "dial after discovery failed: {err}");
        }
    }

    fn update_route(&mut self, peer: PeerId) {
        if self.servers.contains_key(&peer) {
            return;
        }
        let best = self
            .connections
            .get(&peer)
            .and_then(|c| c.values().min_by_key(|c| c.route).cloned());
        let (route, address) = match best {
            Some(connection) => (connection.route, Some(connection.address)),
            None => (Route::Offline, None),
        };
        if self.routes.get(&peer) != Some(&route) {
            self.routes.insert(peer, route);
            self.emit(NodeEvent::Route { peer, route, address });
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<DeviceBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                if !is_unspecified(&address) {
                    self.swarm.add_external_address(address.clone());
                    let servers: Vec<PeerId> = self.servers.keys().copied().collect();
                    for server in servers {
                        if self.swarm.is_connected(&server) {
                            self.register_at(server);
                        }
                    }
                }
                self.emit(NodeEvent::Listening(address));
            }
            SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                for address in addresses {
                    self.emit(NodeEvent::ListenFailed {
                        address: Some(address),
                        error: format!("{reason:?}"),
                    });
                }
            }
            SwarmEvent::ListenerError { error, .. } => self.emit(NodeEvent::ListenFailed {
                address: None,
                error: error.to_string(),
            }),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let address = endpoint.get_remote_address().clone();
                let route = Route::of_address(&address);
                let dialed_by_us = is_dialer(&endpoint);
                for circuit in self.pending_circuits.remove(&peer_id).unwrap_or_default() {
                    if let Err(err) = self.swarm.dial(to_address(circuit)) {
                        self.emit(NodeEvent::DialFailed {
                            peer: None,
                            error: err.to_string(),
                        });
                    }
                }
                let first = self.connections.get(&peer_id).is_none_or(|c| c.is_empty());
                // Two peers that dialed each other at once: keep the
                // connection the lower PeerId dialed (both sides decide the
                // same way). Two connections we dialed ourselves (a relay we
                // listen through and dial through) are left alone.
                let we_are_higher = *self.swarm.local_peer_id() > peer_id;
                let crossed: Vec<ConnectionId> = self
                    .connections
                    .get(&peer_id)
                    .map(|c| {
                        c.iter()
                            .filter(|(_, other)| other.route == route && other.dialed_by_us != dialed_by_us)
                            .map(|(id, _)| *id)
                            .collect()
                    })
                    .unwrap_or_default();
                if !crossed.is_empty() {
                    if dialed_by_us == we_are_higher {
                        // The new one was dialed by the higher PeerId.
                        let _ = self.swarm.close_connection(connection_id);
                        return;
                    }
                    for id in crossed {
                        let _ = self.swarm.close_connection(id);
                    }
                }
                self.connections.entry(peer_id).or_default().insert(
                    connection_id,
                    Connection {
                        route,
                        address,
                        dialed_by_us,
                    },
                );
                if self.servers.contains_key(&peer_id) {
                    self.register_at(peer_id);
                    return;
                }
                self.update_route(peer_id);
                if first {
                    self.open_stream(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id, connection_id, ..
            } => {
                if let Some(connections) = self.connections.get_mut(&peer_id) {
                    connections.remove(&connection_id);
                    if connections.is_empty() {
                        self.connections.remove(&peer_id);
                    }
                }
                self.update_route(peer_id);
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                self.emit(NodeEvent::DialFailed {
                    peer: peer_id,
                    error: error.to_string(),
                });
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: DeviceBehaviourEvent) {
        match event {
            DeviceBehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let mut by_peer: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
                for (peer, address) in found {
                    by_peer.entry(peer).or_default().push(address);
                }
                for (peer, addresses) in by_peer {
                    self.dial_found(peer, addresses, "mdns");
                }
            }
            DeviceBehaviourEvent::Rendezvous(rendezvous::client::Event::Discovered { registrations, .. }) => {
                for registration in registrations {
                    let peer = registration.record.peer_id();
                    let addresses = registration.record.addresses().to_vec();
                    self.dial_found(peer, addresses, "rendezvous");
                }
            }
            DeviceBehaviourEvent::Rendezvous(rendezvous::client::Event::Registered { namespace, .. }) => {
                self.emit(NodeEvent::Registered {
                    namespace: namespace.to_string(),
                });
            }
            DeviceBehaviourEvent::Rendezvous(rendezvous::client::Event::RegisterFailed { error, .. }) => {
                tracing::warn!("rendezvous registration refused: {error:?}");
            }
            DeviceBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // Remember where a peer listens, for reconnecting later.
                let addresses: BTreeSet<Multiaddr> = info.listen_addrs.into_iter().collect();
                for address in addresses {
                    self.swarm.add_peer_address(peer_id, address);
                }
            }
            _ => {}
        }
    }
}

/// A dial from a new local port. The default reuses the listening port,
/// and two peers dialing each other at once from their listening ports make
/// one TCP connection by simultaneous open on which both act as dialer, so
/// both handshakes fail. Hole punching (DCUtR) wants exactly that and builds
/// its own dials; ours do not.
fn to_address(address: Multiaddr) -> DialOpts {
    DialOpts::unknown_peer_id().address(address).allocate_new_port().build()
}

/// A dial of a known peer at some addresses, from a new local port.
fn to_peer(peer: PeerId, addresses: Vec<Multiaddr>) -> DialOpts {
    DialOpts::peer_id(peer).addresses(addresses).allocate_new_port().build()
}

fn is_dialer(endpoint: &ConnectedPoint) -> bool {
    matches!(endpoint, ConnectedPoint::Dialer { .. })
}

/// The PeerId at the end of an address, if any.
pub fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().last().and_then(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// For a circuit address (`RELAY/p2p/RELAY_ID/p2p-circuit/...`): the relay
/// and the address to reach it.
fn relay_of(address: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut relay_address = Multiaddr::empty();
    let mut relay = None;
    for protocol in address.iter() {
        match protocol {
            Protocol::P2pCircuit => return relay.map(|peer| (peer, relay_address)),
            Protocol::P2p(peer) => {
                relay = Some(peer);
                relay_address.push(Protocol::P2p(peer));
            }
            other => relay_address.push(other),
        }
    }
    None
}

fn is_unspecified(address: &Multiaddr) -> bool {
    address.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
