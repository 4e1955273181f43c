//! Numbered SQL migrations, applied in order; `PRAGMA user_version` records the last.

use crate::store::StoreError;
use rusqlite::Connection;

/// Every migration, in order. Version N is the N-th entry.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_device_usage.sql"),
    include_str!("../migrations/0003_compactions.sql"),
    include_str!("../migrations/0004_blobs.sql"),
    include_str!("../migrations/0005_tombstones.sql"),
    include_str!("../migrations/0006_managers_and_usage.sql"),
    include_str!("../migrations/0007_shared_gateway_state.sql"),
    include_str!("../migrations/0008_directory.sql"),
    include_str!("../migrations/0009_nudges.sql"),
];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`LATEST`], refusing databases from the future.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > LATEST {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: LATEST,
        });
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
