//! Kith transports. [`relay`] is the client of `kith-server` (protocol v1,
//! `docs/protocol.md`): one authenticated WebSocket, requests answered in
//! order, live `Appended` notifications on the side, reconnect backoff.
//! [`p2p`] is the libp2p swarm that carries sync between devices directly.

pub mod backoff;
pub mod p2p;
pub mod relay;
pub mod tls;

pub use backoff::Backoff;
pub use relay::{NetError, Notification, RelayConnection, ws_url};
pub use tls::ServerTrust;
