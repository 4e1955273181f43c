//! Per-device storage budgets: what each device has stored in each log, and
//! giving it back when entries are compacted away or the log is deleted.

use crate::store::StoreError;
use crate::store::{to_i64, to_u64};
use kith_proto::{DeviceId, LogId};
use rusqlite::{Connection, OptionalExtension, params};

/// Bytes `device` has stored and not yet had given back.
pub(super) fn device_stored(conn: &Connection, device: &DeviceId) -> Result<u64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT stored_bytes FROM devices WHERE device_id = ?1",
            params![&device.as_bytes()[..]],
            |row| row.get::<_, i64>(0),
        )
        .optional()?
        .map(to_u64)
        .unwrap_or(0))
}

/// Charges `bytes` newly stored in `log` to `device`.
pub(super) fn charge(
    conn: &Connection,
    log: &LogId,
    device: &DeviceId,
    bytes: u64,
    now_ms: u64,
) -> Result<(), StoreError> {
    if bytes == 0 {
        return Ok(());
    }
    let device = &device.as_bytes()[..];
    conn.prepare_cached(
        "INSERT INTO log_usage (log_id, device_id, stored_bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (log_id, device_id) DO UPDATE SET stored_bytes = stored_bytes + excluded.stored_bytes",
    )?
    .execute(params![&log.0[..], device, to_i64(bytes)])?;
    conn.prepare_cached(
        "INSERT INTO devices (device_id, first_seen_ms, last_seen_ms, stored_bytes) VALUES (?1, ?2, ?2, ?3)
         ON CONFLICT (device_id) DO UPDATE SET stored_bytes = stored_bytes + excluded.stored_bytes",
    )?
    .execute(params![device, to_i64(now_ms), to_i64(bytes)])?;
    Ok(())
}

/// Every device's stored bytes in `log`.
fn usage_of(conn: &Connection, log: &LogId) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT device_id, stored_bytes FROM log_usage WHERE log_id = ?1 ORDER BY device_id")?;
    let rows = stmt.query_map(params![&log.0[..]], |row| Ok((row.get(0)?, to_u64(row.get(1)?))))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn give_back(conn: &Connection, log: &[u8], device: &[u8], bytes: u64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE log_usage SET stored_bytes = MAX(0, stored_bytes - ?3) WHERE log_id = ?1 AND device_id = ?2",
    )?
    .execute(params![log, device, to_i64(bytes)])?;
    conn.prepare_cached("UPDATE devices SET stored_bytes = MAX(0, stored_bytes - ?2) WHERE device_id = ?1")?
        .execute(params![device, to_i64(bytes)])?;
    Ok(())
}

/// The log is going: every device gets back all it stored there.
pub(super) fn give_back_log(conn: &Connection, log: &LogId) -> Result<(), StoreError> {
    for (device, bytes) in usage_of(conn, log)? {
        give_back(conn, &log.0, &device, bytes)?;
    }
    conn.execute("DELETE FROM log_usage WHERE log_id = ?1", params![&log.0[..]])?;
    Ok(())
}

/// `freed` bytes of `log` were compacted away. Which device wrote them is
/// not recorded (by design), so each device gets back its share of them,
/// in proportion to what it has stored in the log.
pub(super) fn give_back_share(conn: &Connection, log: &LogId, freed: u64) -> Result<(), StoreError> {
    let usage = usage_of(conn, log)?;
    let held: Vec<u64> = usage.iter().map(|(_, bytes)| *bytes).collect();
    for ((device, _), share) in usage.iter().zip(crate::store::proportional_shares(&held, freed)) {
        give_back(conn, &log.0, device, share)?;
    }
    Ok(())
}
