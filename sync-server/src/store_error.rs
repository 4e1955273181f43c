//! Why a store operation failed: one error type for every backend and
//! every part of the storage interface.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The presented capability does not hash to the log's capability hash.
    #[error("capability does not match the log")]
    Forbidden,
    /// The log does not exist.
    #[error("log not found")]
    NotFound,
    /// The log has no manage key registered, so nobody may delete or
    /// compact it.
    #[error("no manage key is registered for this log")]
    Unmanaged,
    /// The manage key presented is not the log's.
    #[error("the manage key does not match the log's")]
    NotManager,
    /// Another manage key was registered for the log first.
    #[error("the log already has another manager")]
    ManagedByAnother,
    /// The log was deleted; its id is never used again.
    #[error("this log was deleted and its id cannot be used again")]
    Deleted,
    /// The request is not valid for this log (for example compacting past its
    /// end, or a blob chunk of the wrong length).
    #[error("{0}")]
    InvalidRequest(String),
    /// The log holds no such blob (it may exist under another log; the answer
    /// is the same, so a capability for one log learns nothing about others).
    #[error("blob not found")]
    BlobNotFound,
    /// Some of the blob's chunks have not been uploaded yet.
    #[error("blob not complete yet: {stored} of {count} chunks stored")]
    BlobIncomplete {
        /// Chunks stored.
        stored: u32,
        /// Chunks the blob has.
        count: u32,
    },
    /// The blob was started under another log.
    #[error("blob belongs to another log")]
    BlobInOtherLog,
    /// The blob is larger than [`MAX_BLOB_BYTES`].
    #[error("blob of {total_bytes} bytes exceeds the limit of {limit} bytes")]
    BlobTooLarge {
        /// The size the client gave.
        total_bytes: u64,
        /// The limit.
        limit: u64,
    },
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
    /// The username is someone else's.
    #[error("this username is taken")]
    Taken,
    /// The operator suspended the name or the device.
    #[error("suspended by the server's operator")]
    Suspended,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database failed (or could not be reached).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
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
