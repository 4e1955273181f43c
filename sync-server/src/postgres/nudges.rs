//! [`NudgeStore`] on PostgreSQL: the SQLite store's rules over the same tables.

use super::PostgresStore;
use crate::nudges::{DueNudge, NudgeStore};
use crate::sqlite::device_id;
use crate::store::{StoreError, to_i64};
use kith_proto::{DeviceId, LogId};

impl NudgeStore for PostgresStore {
    fn set_nudge(
        &self,
        device: &DeviceId,
        address: &str,
        token: [u8; 16],
        after_ms: u64,
        logs: &[LogId],
        now_ms: u64,
    ) -> Result<[u8; 16], StoreError> {
        self.block_on(async {
            let mut client = self.client().await;
            let tx = client.transaction().await?;
            let id = &device.as_bytes()[..];
            let row = tx
                .query_one(
                    "INSERT INTO nudges (device_id, address, token, after_ms, set_ms) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (device_id) DO UPDATE SET address = excluded.address,
                         after_ms = excluded.after_ms, set_ms = excluded.set_ms
                     RETURNING token",
                    &[&id, &address, &&token[..], &to_i64(after_ms), &to_i64(now_ms)],
                )
                .await?;
            let kept: Vec<u8> = row.get(0);
            tx.execute("DELETE FROM nudge_logs WHERE device_id = $1", &[&id])
                .await?;
            let ids: Vec<&[u8]> = logs.iter().map(|log| &log.0[..]).collect();
            tx.execute(
                "INSERT INTO nudge_logs (device_id, log_id) SELECT $1, l FROM unnest($2::bytea[]) AS l
                 ON CONFLICT DO NOTHING",
                &[&id, &ids],
            )
            .await?;
            tx.commit().await?;
            Ok(kept.try_into().unwrap_or(token))
        })
    }

    fn has_nudge(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.block_on(async {
            Ok(self
                .client()
                .await
                .query_opt("SELECT 1 FROM nudges WHERE device_id = $1", &[&&device.as_bytes()[..]])
                .await?
                .is_some())
        })
    }

    fn stop_nudges(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.block_on(async {
            let mut client = self.client().await;
            let tx = client.transaction().await?;
            let id = &device.as_bytes()[..];
            tx.execute("DELETE FROM nudge_logs WHERE device_id = $1", &[&id])
                .await?;
            let removed = tx.execute("DELETE FROM nudges WHERE device_id = $1", &[&id]).await? > 0;
            tx.commit().await?;
            Ok(removed)
        })
    }

    fn unsubscribe(&self, token: &[u8; 16]) -> Result<bool, StoreError> {
        let device = self.block_on(async {
            Ok(self
                .client()
                .await
                .query_opt("SELECT device_id FROM nudges WHERE token = $1", &[&&token[..]])
                .await?
                .and_then(|row| device_id(row.get::<_, &[u8]>(0))))
        })?;
        match device {
            Some(device) => self.stop_nudges(&device),
            None => Ok(false),
        }
    }

    fn touch_devices(&self, devices: &[DeviceId], now_ms: u64) -> Result<(), StoreError> {
        self.block_on(async {
            let ids: Vec<&[u8]> = devices.iter().map(|d| &d.as_bytes()[..]).collect();
            self.client()
                .await
                .execute(
                    "UPDATE devices SET last_seen_ms = GREATEST(last_seen_ms, $2) WHERE device_id = ANY($1::bytea[])",
                    &[&ids, &to_i64(now_ms)],
                )
                .await?;
            Ok(())
        })
    }

    fn due_nudges(&self, now_ms: u64, limit: u32) -> Result<Vec<DueNudge>, StoreError> {
        self.block_on(async {
            let rows = self
                .client()
                .await
                .query(
                    "SELECT n.device_id, n.address, n.token FROM nudges n JOIN devices d ON d.device_id = n.device_id
                     WHERE d.last_seen_ms + n.after_ms <= $1
                       AND (n.nudged_ms IS NULL OR n.nudged_ms < d.last_seen_ms)
                       AND EXISTS (SELECT 1 FROM nudge_logs w WHERE w.device_id = n.device_id
                                   AND (SELECT e.received_ms FROM entries e WHERE e.log_id = w.log_id
                                        ORDER BY e.seq DESC LIMIT 1) > d.last_seen_ms)
                     ORDER BY n.device_id LIMIT $2",
                    &[&to_i64(now_ms), &i64::from(limit)],
                )
                .await?;
            Ok(rows
                .into_iter()
                .filter_map(|row| {
                    Some(DueNudge {
                        device: device_id(row.get::<_, &[u8]>(0))?,
                        address: row.get(1),
                        token: row.get::<_, &[u8]>(2).try_into().ok()?,
                    })
                })
                .collect())
        })
    }

    fn claim_nudge(&self, device: &DeviceId, now_ms: u64) -> Result<bool, StoreError> {
        self.block_on(async {
            Ok(self
                .client()
                .await
                .execute(
                    "UPDATE nudges SET nudged_ms = $2 WHERE device_id = $1
                       AND (nudged_ms IS NULL OR nudged_ms < (SELECT last_seen_ms FROM devices WHERE device_id = $1))",
                    &[&&device.as_bytes()[..], &to_i64(now_ms)],
                )
                .await?
                == 1)
        })
    }
}
