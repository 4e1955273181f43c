//! Peer-to-peer sync: devices of one person and their contacts exchange
//! Automerge sync messages over libp2p streams, with the same checks as the
//! relay path (see `docs/protocol.md`, "Peer-to-peer").

mod blobs;
pub mod driver;
pub mod frame;
pub mod identity;
pub mod namespaces;
pub mod peers;
pub mod session;

pub use driver::{Faults, P2pEvent, P2pOptions, P2pReport, ROUTE_FRESH_MS, run_p2p};
pub use frame::{ConnectOffer, PeerFrame, PeerSignal};
pub use identity::PeerIdentity;
pub use peers::PeerView;
pub use session::{PeerSession, Step, sync_key};
