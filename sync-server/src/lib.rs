//! `kith-server`: stores and forwards encrypted envelopes for Kith devices.
//!
//! Devices authenticate with a signed challenge, then push opaque envelopes to
//! per-conversation logs, pull after a cursor and subscribe to live pokes, and
//! upload and download encrypted blobs (attachments) in chunks kept with a
//! log. The server sees only log and blob ids, capability hashes, device
//! public keys, sizes and ciphertext. The protocol is described in `docs/protocol.md`.
//!
//! Layers: [`app()`] (axum router) → connection handling → [`LogStore`]
//! (SQLite by default) and [`Notifier`] (in-process broadcast by default).

mod app;
pub mod cli;
mod connection;
mod metrics;
mod migrations;
mod notify;
pub mod p2p;
mod rate;
mod server;
mod sqlite;
mod store;

pub use app::{AUTH_TIMEOUT, AppState, DEFAULT_AUDIENCE, DEFAULT_QUOTA_BYTES, Settings, WS_READ_LIMIT, app};
pub use notify::{Appended, BroadcastNotifier, BusEvent, Notifier, Signal};
pub use rate::{RateConfig, RateLimiter};
pub use server::{ServerError, serve, shutdown_signal};
pub use sqlite::SqliteStore;
pub use store::{AppendOutcome, BlobChunk, BlobInfo, BlobPutOutcome, LogStore, PullOutcome, Quotas, StoreError};
