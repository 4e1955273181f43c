//! Numbered SQL migrations, applied in order; `PRAGMA user_version` records the last.

use crate::error::StoreError;
use rusqlite::{Connection, Transaction, params};

/// Every migration, in order. Version N is the N-th entry.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_delivered_positions.sql"),
    include_str!("../migrations/0003_peers.sql"),
    include_str!("../migrations/0004_attachments.sql"),
    include_str!("../migrations/0005_chat_avatars.sql"),
    include_str!("../migrations/0006_relay_logs.sql"),
];

/// Records how far a relay log was pulled (`?1` log, `?2` sequence number).
pub(crate) const SET_RELAY_PULLED: &str = "INSERT INTO relay_logs (log, pulled) VALUES (?1, ?2)
     ON CONFLICT (log) DO UPDATE SET pulled = excluded.pulled";
/// Records where a relay log was last compacted (`?1` log, `?2` sequence number).
pub(crate) const SET_RELAY_COMPACTED: &str = "INSERT INTO relay_logs (log, compacted) VALUES (?1, ?2)
     ON CONFLICT (log) DO UPDATE SET compacted = excluded.compacted";
/// Records the heads of a document on a relay log (`?1` log, `?2` doc, `?3` heads).
pub(crate) const SET_RELAY_UPLOADED: &str = "INSERT INTO relay_uploaded (log, doc_id, heads) VALUES (?1, ?2, ?3)
     ON CONFLICT (log, doc_id) DO UPDATE SET heads = excluded.heads";

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
        let version = index as i64 + 1;
        after_sql(version, &tx).map_err(|e| StoreError::from_sqlite(e, path))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// The part of a migration SQL cannot do, run after its SQL in the same
/// transaction.
fn after_sql(version: i64, tx: &Transaction<'_>) -> rusqlite::Result<()> {
    match version {
        6 => relay_state_from_meta(tx),
        _ => Ok(()),
    }
}

/// Version 6: moves the relay cursors, compaction marks and uploaded heads
/// from meta strings into `relay_logs` and `relay_uploaded`. A key that does
/// not parse stays in meta (it is only ever ignored there).
fn relay_state_from_meta(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let rows: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT key, value FROM meta WHERE substr(key, 1, 6) = 'relay/' ORDER BY key")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (key, value) in rows {
        let moved = if let Some(log) = key.strip_prefix("relay/cursor/").and_then(log_from_hex) {
            let pulled = u64_from_be(&value);
            tx.execute(
                SET_RELAY_PULLED,
                params![log.as_slice(), i64::try_from(pulled).unwrap_or(i64::MAX)],
            )?;
            true
        } else if let Some(log) = key.strip_prefix("relay/compacted/").and_then(log_from_hex) {
            let compacted = u64_from_be(&value);
            tx.execute(
                SET_RELAY_COMPACTED,
                params![log.as_slice(), i64::try_from(compacted).unwrap_or(i64::MAX)],
            )?;
            true
        } else if let Some((log, doc)) = key
            .strip_prefix("relay/uploaded/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(log, doc)| log_from_hex(log).map(|log| (log, doc)))
            && value.len().is_multiple_of(32)
        {
            tx.execute(SET_RELAY_UPLOADED, params![log.as_slice(), doc, value])?;
            true
        } else {
            false
        };
        if moved {
            tx.execute("DELETE FROM meta WHERE key = ?1", [&key])?;
        }
    }
    Ok(())
}

/// A log id written as 64 lower-case hex digits.
fn log_from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// An 8-byte big-endian counter as the relay kept it (0 when damaged).
fn u64_from_be(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map(u64::from_be_bytes).unwrap_or(0)
}
