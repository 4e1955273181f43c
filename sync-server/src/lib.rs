//! `kith-server`: stores and forwards encrypted envelopes for Kith devices.
//!
//! Devices authenticate with a signed challenge, then push opaque envelopes to
//! per-conversation logs, pull after a cursor and subscribe to live pokes, and
//! upload and download encrypted blobs (attachments) in chunks kept with a
//! log. The server sees only log and blob ids, capability hashes, device
//! public keys, sizes and ciphertext. The protocol is described in `docs/protocol.md`.
//!
//! # Layers
//!
//! Each module imports only modules listed after it, so there is no import
//! cycle (`cargo xtask structure` checks):
//!
//! 1. `cli`: the binary's command line.
//! 2. `server` ([`serve()`]): the listener, graceful shutdown and the sweep
//!    of superseded entries.
//! 3. `app` ([`app()`]): the axum router; `/v1/ws` hands each socket to
//!    `connection`.
//! 4. `connection`: the socket loop (challenge, authentication, then
//!    requests and bus pokes) and the dispatch of each frame to its handler.
//! 5. `handlers`: one module per frame family: `auth`, `logs` (push, pull,
//!    subscribe), `blobs`, `signals` (typing, presence) and `manage`
//!    (register a manage key, compact, delete).
//! 6. `session`: what a handler works with: the connection, its
//!    subscriptions, store calls run off the async threads.
//! 7. `state` ([`AppState`], [`Settings`] and their defaults), with `clock`
//!    ([`Clock`]: time is an input, the system clock by default).
//! 8. [`p2p`]: the libp2p side (rendezvous, relay).
//! 9. `errors`: [`ServerError`] and how a refused request goes on the wire.
//! 10. The backends: `sqlite` ([`SqliteStore`]) and `postgres`
//!     ([`PostgresStore`]) over `store` ([`LogStore`]), `nats`
//!     ([`NatsNotifier`]) over
//!     `notify` ([`Notifier`]), `rate` ([`RateLimiter`]) and `metrics`.

#![warn(clippy::too_many_lines)]

mod admin;
mod app;
mod backend;
pub mod cli;
mod clock;
#[doc(hidden)]
pub mod conformance;
mod connection;
mod directory;
mod errors;
mod handlers;
mod listener;
mod mailer;
mod metrics;
mod migrations;
mod nats;
mod notify;
mod nudges;
pub mod p2p;
mod postgres;
mod rate;
mod server;
mod session;
mod sqlite;
mod state;
mod store;
mod store_error;
pub mod tls;

pub use app::app;
pub use clock::{Clock, SystemClock};
pub use directory::{AbuseReport, ClaimOutcome, DirectoryStore};
pub use errors::ServerError;
pub use listener::{ConnectionLimits, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS};
pub use nats::{NatsError, NatsNotifier};
pub use notify::{Appended, BroadcastNotifier, BusEvent, Notifier, Signal};
pub use nudges::{DueNudge, NudgeStore};
pub use postgres::PostgresStore;
pub use rate::{RateConfig, RateLimiter};
pub use server::{serve, serve_tls, shutdown_signal};
pub use sqlite::SqliteStore;
pub use state::{
    AUTH_TIMEOUT, AppState, DEFAULT_AUDIENCE, DEFAULT_QUOTA_BYTES, HEADER_READ_TIMEOUT, Settings, WS_READ_LIMIT,
};
pub use store::{
    AppendOutcome, BlobChunk, BlobInfo, BlobPutOutcome, LogStore, PullOutcome, Quotas, StoreError, proportional_shares,
};
