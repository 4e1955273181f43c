//! The peer-to-peer transport: a libp2p swarm (TCP and QUIC, Noise, Yamux,
//! identify, ping, mDNS, rendezvous client, relay client, DCUtR, AutoNAT)
//! that hands the application one ordered stream per peer.
//!
//! This module knows nothing of Kith's documents: it dials, listens,
//! discovers, classifies routes and opens `/kith/sync/1` streams. What goes
//! over a stream (authentication, heads, Automerge sync) is decided by
//! `kith-client`.

mod behaviour;
pub mod framing;
pub mod keys;
pub mod node;
pub mod route;
pub mod server_info;

pub use framing::{FrameReceiver, FrameSender, MAX_PEER_FRAME_BYTES, spawn_framed};
pub use keys::{keypair_of, peer_id_of_device};
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
pub use node::{NodeCommand, NodeConfig, NodeEvent, P2pNode, SYNC_PROTOCOL, peer_of};
pub use route::Route;
pub use server_info::server_p2p_info;

/// Why the peer-to-peer layer failed.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The swarm could not be built (key, transport, mDNS socket).
    #[error("cannot start the peer-to-peer node: {0}")]
    Start(String),
    /// A multiaddr that cannot be used.
    #[error("bad address {0:?}: {1}")]
    Address(String, String),
    /// Listening failed.
    #[error("cannot listen on {0}: {1}")]
    Listen(String, String),
    /// The node stopped.
    #[error("the peer-to-peer node stopped")]
    Stopped,
    /// A frame on a peer stream was malformed, too big, or the stream failed.
    #[error("peer stream: {0}")]
    Stream(String),
}
