//! The Kith local store: document chunks (the source of truth) and the read
//! models derived from them, behind one [`Store`] trait with two
//! implementations: [`SqliteStore`] (the real one: SQLite, WAL, FTS5) and
//! [`MemoryStore`] (for simulations). One conformance suite runs against both.

mod change_signatures;
mod error;
mod memory;
mod migrations;
mod relay_mail;
mod rows;
mod search_query;
mod sqlite;
mod store;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use migrations::LATEST as LATEST_SCHEMA;
pub use relay_mail::{PendingMail, RelayGrant};
pub use rows::{
    BlobRow, ChatListEntry, DeviceEntry, PeerRouteRow, RelayLogRow, ReplyCandidate, SearchHit, StoredChunk,
};
pub use search_query::{fts_any_query, fts_query};
pub use sqlite::{SEARCH_WINDOW, SqliteStore, UNREAD_CAP};
pub use store::{
    QUARANTINE_BYTES_LIMIT, QUARANTINE_EXPIRY_MS, QUARANTINE_LIMIT_PER_DOC, Store, StoreDirectory, WriteTxn,
};

/// The conformance suite every [`Store`] implementation must pass.
pub mod conformance;
