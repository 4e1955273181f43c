//! The storage interface of the sync server, so backends other than SQLite
//! (PostgreSQL for scale-out) can be added without touching the protocol.

use kith_proto::{DeviceId, Envelope, EnvelopeId, LogId};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The presented capability does not hash to the log's capability hash.
    #[error("capability does not match the log")]
    Forbidden,
    /// The log does not exist.
    #[error("log not found")]
    NotFound,
    /// The request is not valid for this log (for example compacting past its end).
    #[error("{0}")]
    InvalidRequest(String),
    /// Appending would take the device over its write budget.
    #[error("this device would have stored {would_hold} bytes, its quota is {quota} bytes")]
    DeviceQuotaExceeded {
        /// What the device would have stored.
        would_hold: u64,
        /// The configured quota.
        quota: u64,
    },
    /// Appending would take the log over its storage quota.
    #[error("log would hold {would_hold} bytes, quota is {quota} bytes")]
    QuotaExceeded {
        /// Bytes the log would hold after the append.
        would_hold: u64,
        /// The configured quota.
        quota: u64,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database has a schema newer than this build understands.
    #[error("database schema version {found} is newer than supported version {supported}")]
    NewerSchema {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Could not create the data directory.
    #[error("cannot use data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Result of appending a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// `(envelope id, seq)` for every envelope, in the order given. Envelopes
    /// already present keep their original sequence number.
    pub results: Vec<(EnvelopeId, u64)>,
    /// The log's last sequence number after the append.
    pub last_seq: u64,
    /// Whether at least one new entry was written.
    pub appended: bool,
    /// Ciphertext bytes newly written.
    pub new_bytes: u64,
    /// Envelopes newly written.
    pub new_envelopes: u64,
}

/// Result of reading a log after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// `(seq, envelope)`, ascending.
    pub entries: Vec<(u64, Envelope)>,
    /// Whether entries exist after the last one returned.
    pub more: bool,
}

/// Storage limits for one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Bytes of ciphertext one log may hold.
    pub per_log: u64,
    /// Bytes of ciphertext one device may store in all (a write budget: the
    /// server knows devices, not accounts, by design).
    pub per_device: u64,
}

/// Durable, per-log append-only storage of opaque envelopes.
///
/// Methods block; the server calls them from `spawn_blocking`. Every method
/// that takes a capability hash checks it against the log's before doing
/// anything else, and changes nothing when it does not match.
pub trait LogStore: Send + Sync + 'static {
    /// Appends `envelopes` to `log` atomically: all are stored or none.
    /// The first append to an unknown log records `capability_hash` for it.
    /// Envelope ids already in the log are not stored again. The append is
    /// durable when this returns `Ok`.
    /// `pusher`'s running total of stored bytes must stay within
    /// `quotas.per_device`, the log's within `quotas.per_log`.
    fn append(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        envelopes: &[Envelope],
        pusher: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError>;

    /// Reads up to `limit` entries with `seq > after_seq`.
    fn pull(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        after_seq: u64,
        limit: u32,
    ) -> Result<PullOutcome, StoreError>;

    /// Checks the capability and returns the log's last sequence number.
    fn last_seq(&self, log: &LogId, capability_hash: &[u8; 32]) -> Result<u64, StoreError>;

    /// Deletes a log and every entry in it (account deletion). The capability
    /// must match; an unknown log is `NotFound`.
    fn delete_log(&self, log: &LogId, capability_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// Marks every entry of `log` up to `through_seq` superseded at `now_ms`
    /// (a client uploaded a snapshot after them). `through_seq` beyond the
    /// log's end is `InvalidRequest`.
    fn mark_superseded(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        through_seq: u64,
        now_ms: u64,
    ) -> Result<(), StoreError>;

    /// Deletes entries superseded at or before `cutoff_ms`; returns how many.
    fn sweep_superseded(&self, cutoff_ms: u64) -> Result<u64, StoreError>;

    /// Records that `device` authenticated at `now_ms`.
    fn record_device(&self, device: &DeviceId, now_ms: u64) -> Result<(), StoreError>;
}
