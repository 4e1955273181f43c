//! Which store the server runs on: PostgreSQL when `--database` names one,
//! else SQLite in the data directory. Shared by serving and `admin`.

use crate::errors::ServerError;
use crate::sqlite::SqliteStore;
use std::sync::Arc;

/// The store `--database` names (PostgreSQL), or SQLite in `data`.
pub(crate) fn open_store(
    database: Option<&str>,
    data: &std::path::Path,
) -> Result<Arc<dyn crate::store::LogStore>, ServerError> {
    Ok(match database {
        Some(url) => Arc::new(crate::postgres::PostgresStore::open(url)?),
        None => Arc::new(SqliteStore::open(data)?),
    })
}
