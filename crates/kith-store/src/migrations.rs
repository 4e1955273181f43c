//! Numbered SQL migrations, applied in order; `PRAGMA user_version` records the last.

use crate::error::StoreError;
use rusqlite::Connection;

/// Every migration, in order. Version N is the N-th entry.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_delivered_positions.sql"),
    include_str!("../migrations/0003_peers.sql"),
    include_str!("../migrations/0004_attachments.sql"),
    include_str!("../migrations/0005_chat_avatars.sql"),
];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Reads the schema version, refusing databases from the future.
pub fn check_version(conn: &Connection, path: &str) -> Result<i64, StoreError> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| StoreError::from_sqlite(e, path))?;
    if current > LATEST {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: LATEST,
        });
    }
    Ok(current)
}

/// Brings the database up to [`LATEST`], refusing databases from the future.
pub fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let current = check_version(conn, path)?;
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(|e| StoreError::from_sqlite(e, path))?;
        tx.execute_batch(sql).map_err(|e| StoreError::from_sqlite(e, path))?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
