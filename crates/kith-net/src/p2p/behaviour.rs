//! The swarm's behaviours, combined.

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{autonat, dcutr, identify, mdns, ping, relay, rendezvous};

/// Everything a Kith device's swarm does besides the Kith stream itself.
#[derive(NetworkBehaviour)]
pub struct DeviceBehaviour {
    /// Dials through and listens on a `kith-server` circuit relay.
    pub relay: relay::client::Behaviour,
    /// Upgrades relayed connections to direct ones (hole punching).
    pub dcutr: dcutr::Behaviour,
    /// Tells peers our addresses and protocols, learns our observed address.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures them.
    pub ping: ping::Behaviour,
    /// LAN discovery (off when the caller says so).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Registration and discovery at a `kith-server`.
    pub rendezvous: rendezvous::client::Behaviour,
    /// Whether we are reachable from outside.
    pub autonat: autonat::Behaviour,
    /// The `/kith/sync/1` streams.
    pub stream: libp2p_stream::Behaviour,
}
