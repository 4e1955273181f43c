//! Per-device storage budgets on PostgreSQL: the rules of the SQLite
//! store's `usage` (see there), over the same tables.

use crate::store::StoreError;
use crate::store::{to_i64, to_u64};
use kith_proto::{DeviceId, LogId};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Type;

/// Bytes `device` has stored and not yet had given back.
pub(super) async fn device_stored(client: &impl GenericClient, device: &DeviceId) -> Result<u64, StoreError> {
    Ok(client
        .query_opt(
            "SELECT stored_bytes FROM devices WHERE device_id = $1",
            &[&&device.as_bytes()[..]],
        )
        .await?
        .map_or(0, |row| to_u64(row.get(0))))
}

/// Charges `bytes` newly stored in `log` to `device`.
pub(super) async fn charge(
    client: &impl GenericClient,
    log: &LogId,
    device: &DeviceId,
    bytes: u64,
    now_ms: u64,
) -> Result<(), StoreError> {
    if bytes == 0 {
        return Ok(());
    }
    let device = &device.as_bytes()[..];
    // One statement (one round trip) on every push.
    client
        .execute_typed(
            "WITH per_log AS (
                 INSERT INTO log_usage (log_id, device_id, stored_bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (log_id, device_id) DO UPDATE SET stored_bytes = log_usage.stored_bytes + excluded.stored_bytes
             )
             INSERT INTO devices (device_id, first_seen_ms, last_seen_ms, stored_bytes) VALUES ($2, $4, $4, $3)
             ON CONFLICT (device_id) DO UPDATE SET stored_bytes = devices.stored_bytes + excluded.stored_bytes",
            &[
                (&&log.0[..], Type::BYTEA),
                (&device, Type::BYTEA),
                (&to_i64(bytes), Type::INT8),
                (&to_i64(now_ms), Type::INT8),
            ],
        )
        .await?;
    Ok(())
}

async fn usage_of(client: &impl GenericClient, log: &LogId) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
    Ok(client
        .query(
            "SELECT device_id, stored_bytes FROM log_usage WHERE log_id = $1 ORDER BY device_id",
            &[&&log.0[..]],
        )
        .await?
        .into_iter()
        .map(|row| (row.get(0), to_u64(row.get(1))))
        .collect())
}

async fn give_back(client: &impl GenericClient, log: &[u8], device: &[u8], bytes: u64) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE log_usage SET stored_bytes = GREATEST(0, stored_bytes - $3) WHERE log_id = $1 AND device_id = $2",
            &[&log, &device, &to_i64(bytes)],
        )
        .await?;
    client
        .execute(
            "UPDATE devices SET stored_bytes = GREATEST(0, stored_bytes - $2) WHERE device_id = $1",
            &[&device, &to_i64(bytes)],
        )
        .await?;
    Ok(())
}

/// The log is going: every device gets back all it stored there.
pub(super) async fn give_back_log(client: &impl GenericClient, log: &LogId) -> Result<(), StoreError> {
    for (device, bytes) in usage_of(client, log).await? {
        give_back(client, &log.0, &device, bytes).await?;
    }
    client
        .execute("DELETE FROM log_usage WHERE log_id = $1", &[&&log.0[..]])
        .await?;
    Ok(())
}

/// `freed` bytes of `log` were compacted away: each device gets back its
/// share, in proportion to what it stored in the log.
pub(super) async fn give_back_share(client: &impl GenericClient, log: &LogId, freed: u64) -> Result<(), StoreError> {
    let usage = usage_of(client, log).await?;
    let shares = crate::store::proportional_shares(&usage.iter().map(|(_, bytes)| *bytes).collect::<Vec<_>>(), freed);
    for ((device, _), share) in usage.iter().zip(shares) {
        give_back(client, &log.0, device, share).await?;
    }
    Ok(())
}
