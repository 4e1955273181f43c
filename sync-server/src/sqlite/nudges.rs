//! [`NudgeStore`] on SQLite.

use super::SqliteStore;
use crate::nudges::{DueNudge, NudgeStore};
use crate::sqlite::device_id;
use crate::store::{StoreError, to_i64};
use kith_proto::{DeviceId, LogId};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

/// Who is due (the PostgreSQL store asks the same).
const DUE: &str = "SELECT n.device_id, n.address, n.token FROM nudges n JOIN devices d ON d.device_id = n.device_id
     WHERE d.last_seen_ms + n.after_ms <= ?1
       AND (n.nudged_ms IS NULL OR n.nudged_ms < d.last_seen_ms)
       AND EXISTS (SELECT 1 FROM nudge_logs w WHERE w.device_id = n.device_id
                   AND (SELECT e.received_ms FROM entries e WHERE e.log_id = w.log_id
                        ORDER BY e.seq DESC LIMIT 1) > d.last_seen_ms)
     ORDER BY n.device_id LIMIT ?2";

impl NudgeStore for SqliteStore {
    fn set_nudge(
        &self,
        device: &DeviceId,
        address: &str,
        token: [u8; 16],
        after_ms: u64,
        logs: &[LogId],
        now_ms: u64,
    ) -> Result<[u8; 16], StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = &device.as_bytes()[..];
        tx.execute(
            "INSERT INTO nudges (device_id, address, token, after_ms, set_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (device_id) DO UPDATE SET address = excluded.address, after_ms = excluded.after_ms,
                                                   set_ms = excluded.set_ms",
            params![id, address, &token[..], to_i64(after_ms), to_i64(now_ms)],
        )?;
        let kept: Vec<u8> = tx.query_row("SELECT token FROM nudges WHERE device_id = ?1", params![id], |row| {
            row.get(0)
        })?;
        tx.execute("DELETE FROM nudge_logs WHERE device_id = ?1", params![id])?;
        {
            let mut insert =
                tx.prepare_cached("INSERT OR IGNORE INTO nudge_logs (device_id, log_id) VALUES (?1, ?2)")?;
            for log in logs {
                insert.execute(params![id, &log.0[..]])?;
            }
        }
        tx.commit()?;
        Ok(kept.try_into().unwrap_or(token))
    }

    fn has_nudge(&self, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT 1 FROM nudges WHERE device_id = ?1",
                params![&device.as_bytes()[..]],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn stop_nudges(&self, device: &DeviceId) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = &device.as_bytes()[..];
        tx.execute("DELETE FROM nudge_logs WHERE device_id = ?1", params![id])?;
        let removed = tx.execute("DELETE FROM nudges WHERE device_id = ?1", params![id])? > 0;
        tx.commit()?;
        Ok(removed)
    }

    fn unsubscribe(&self, token: &[u8; 16]) -> Result<bool, StoreError> {
        let device: Option<Vec<u8>> = self
            .lock()
            .query_row(
                "SELECT device_id FROM nudges WHERE token = ?1",
                params![&token[..]],
                |row| row.get(0),
            )
            .optional()?;
        match device.as_deref().and_then(device_id) {
            Some(device) => self.stop_nudges(&device),
            None => Ok(false),
        }
    }

    fn touch_devices(&self, devices: &[DeviceId], now_ms: u64) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut update =
                tx.prepare_cached("UPDATE devices SET last_seen_ms = MAX(last_seen_ms, ?2) WHERE device_id = ?1")?;
            for device in devices {
                update.execute(params![&device.as_bytes()[..], to_i64(now_ms)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn due_nudges(&self, now_ms: u64, limit: u32) -> Result<Vec<DueNudge>, StoreError> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(DUE)?;
        let rows = statement.query_map(params![to_i64(now_ms), limit], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (device, address, token) = row?;
            if let (Some(device), Ok(token)) = (device_id(&device), <[u8; 16]>::try_from(token.as_slice())) {
                out.push(DueNudge { device, address, token });
            }
        }
        Ok(out)
    }

    fn claim_nudge(&self, device: &DeviceId, now_ms: u64) -> Result<bool, StoreError> {
        Ok(self.lock().execute(
            "UPDATE nudges SET nudged_ms = ?2 WHERE device_id = ?1
               AND (nudged_ms IS NULL OR nudged_ms < (SELECT last_seen_ms FROM devices WHERE device_id = ?1))",
            params![&device.as_bytes()[..], to_i64(now_ms)],
        )? == 1)
    }
}
