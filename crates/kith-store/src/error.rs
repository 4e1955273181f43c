//! Store errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file is damaged or not a Kith database.
    #[error("the profile database {path} is corrupt or not a Kith database: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// SQLite's complaint.
        reason: String,
    },
    /// The database was written by a newer version of Kith.
    #[error("the profile database has schema version {found}; this build understands up to {supported}. Upgrade Kith")]
    NewerSchema {
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Another process holds the write lock for too long.
    #[error("the profile is busy (another process is writing); try again")]
    Busy,
    /// A stored value does not parse (id, JSON, certificate).
    #[error("stored value is invalid: {0}")]
    InvalidRow(String),
    /// Any other SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// The database file could not be created or made private.
    #[error("cannot prepare the profile database {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What the file system said.
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(err, "(profile database)")
    }
}

impl StoreError {
    pub(crate) fn from_sqlite(err: rusqlite::Error, path: &str) -> StoreError {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path: path.to_owned(),
                reason: err.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(err),
        }
    }
}
