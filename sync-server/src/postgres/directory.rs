//! [`DirectoryStore`] on PostgreSQL: the SQLite store's rules (see
//! there) over the same tables.

use super::{PostgresStore, lock_or_create};
use crate::directory::{AbuseReport, ClaimOutcome, DirectoryStore};
use crate::sqlite::device_id;
use crate::store::{StoreError, to_i64, to_u64};
use kith_proto::{DeviceId, LogId};

impl DirectoryStore for PostgresStore {
    fn claim_name(
        &self,
        lookup: &[u8; 32],
        record: &[u8],
        manage_hash: &[u8; 32],
        claimant: &DeviceId,
        now_ms: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        self.block_on(async {
            let mut client = self.client().await;
            let tx = client.transaction().await?;
            // The row of a free name is made first, so two claims of it
            // serialise on its lock.
            let inserted = tx
                .execute(
                    "INSERT INTO usernames (lookup, record, manage_hash, claimed_by, claimed_ms)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (lookup) DO NOTHING",
                    &[
                        &&lookup[..],
                        &record,
                        &&manage_hash[..],
                        &&claimant.as_bytes()[..],
                        &to_i64(now_ms),
                    ],
                )
                .await?;
            if inserted == 1 {
                tx.commit().await?;
                return Ok(ClaimOutcome::Claimed);
            }
            let row = tx
                .query_one(
                    "SELECT manage_hash, suspended_ms FROM usernames WHERE lookup = $1 FOR UPDATE",
                    &[&&lookup[..]],
                )
                .await?;
            let (manager, suspended): (Vec<u8>, Option<i64>) = (row.get(0), row.get(1));
            if suspended.is_some() {
                return Err(StoreError::Suspended);
            }
            if manager.as_slice() != manage_hash.as_slice() {
                return Err(StoreError::Taken);
            }
            tx.execute(
                "UPDATE usernames SET record = $2, claimed_by = $3, claimed_ms = $4 WHERE lookup = $1",
                &[&&lookup[..], &record, &&claimant.as_bytes()[..], &to_i64(now_ms)],
            )
            .await?;
            tx.commit().await?;
            Ok(ClaimOutcome::Updated)
        })
    }

    fn find_name(&self, lookup: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.block_on(async {
            Ok(self
                .client()
                .await
                .query_opt(
                    "SELECT record FROM usernames WHERE lookup = $1 AND suspended_ms IS NULL",
                    &[&&lookup[..]],
                )
                .await?
                .map(|row| row.get(0)))
        })
    }

    fn release_name(&self, lookup: &[u8; 32], manage_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.block_on(async {
            let mut client = self.client().await;
            let tx = client.transaction().await?;
            let row = tx
                .query_opt(
                    "SELECT manage_hash, suspended_ms FROM usernames WHERE lookup = $1 FOR UPDATE",
                    &[&&lookup[..]],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
            let (manager, suspended): (Vec<u8>, Option<i64>) = (row.get(0), row.get(1));
            if suspended.is_some() {
                return Err(StoreError::Suspended);
            }
            if manager.as_slice() != manage_hash.as_slice() {
                return Err(StoreError::NotManager);
            }
            tx.execute("DELETE FROM usernames WHERE lookup = $1", &[&&lookup[..]])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn suspend_name(&self, lookup: &[u8; 32], now_ms: u64) -> Result<bool, StoreError> {
        self.block_on(async {
            let mut client = self.client().await;
            let tx = client.transaction().await?;
            let held = tx
                .query_opt(
                    "SELECT 1 FROM usernames WHERE lookup = $1 AND suspended_ms IS NULL FOR UPDATE",
                    &[&&lookup[..]],
                )
                .await?
                .is_some();
            let nobody = [0u8; 32];
            tx.execute(
                "INSERT INTO usernames (lookup, record, manage_hash, claimed_by, claimed_ms, suspended_ms)
                 VALUES ($1, ''::bytea, $2, $2, $3, $3)
                 ON CONFLICT (lookup) DO UPDATE SET suspended_ms = $3",
                &[&&lookup[..], &&nobody[..], &to_i64(now_ms)],
            )
            .await?;
            tx.commit().await?;
            Ok(held)
        })
    }

    fn open_inbox(
        &self,
        device: &DeviceId,
        log: &LogId,
        capability_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.block_on(async {
            let mut client = self.client().await;
            let tx = client.transaction().await?;
            lock_or_create(&tx, log, capability_hash, None, now_ms).await?;
            tx.execute(
                "INSERT INTO inboxes (device_id, log_id, opened_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (device_id) DO UPDATE SET log_id = excluded.log_id, opened_ms = excluded.opened_ms",
                &[&&device.as_bytes()[..], &&log.0[..], &to_i64(now_ms)],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn inbox(&self, device: &DeviceId) -> Result<Option<(LogId, [u8; 32])>, StoreError> {
        self.block_on(async {
            let row = self
                .client()
                .await
                .query_opt(
                    "SELECT inboxes.log_id, logs.capability_hash FROM inboxes JOIN logs USING (log_id)
                     WHERE inboxes.device_id = $1",
                    &[&&device.as_bytes()[..]],
                )
                .await?;
            Ok(row.and_then(|row| {
                let log: Vec<u8> = row.get(0);
                let hash: Vec<u8> = row.get(1);
                Some((LogId(log.try_into().ok()?), hash.try_into().ok()?))
            }))
        })
    }

    fn record_report(&self, report: &AbuseReport) -> Result<(), StoreError> {
        self.block_on(async {
            self.client()
                .await
                .execute(
                    "INSERT INTO reports (reported, reporter, reason, at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (reported, reporter) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
                    &[
                        &&report.reported.as_bytes()[..],
                        &&report.reporter.as_bytes()[..],
                        &report.reason,
                        &to_i64(report.at_ms),
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn reports(&self, limit: u32) -> Result<Vec<AbuseReport>, StoreError> {
        self.block_on(async {
            let rows = self
                .client()
                .await
                .query(
                    "SELECT reported, reporter, reason, at_ms FROM reports
                     ORDER BY at_ms DESC, reported, reporter LIMIT $1",
                    &[&i64::from(limit)],
                )
                .await?;
            Ok(rows
                .into_iter()
                .filter_map(|row| {
                    Some(AbuseReport {
                        reported: device_id(row.get::<_, &[u8]>(0))?,
                        reporter: device_id(row.get::<_, &[u8]>(1))?,
                        reason: row.get(2),
                        at_ms: to_u64(row.get(3)),
                    })
                })
                .collect())
        })
    }

    fn suspend_device(&self, device: &DeviceId, reason: &str, now_ms: u64) -> Result<(), StoreError> {
        self.block_on(async {
            self.client()
                .await
                .execute(
                    "INSERT INTO suspended_devices (device_id, reason, at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (device_id) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
                    &[&&device.as_bytes()[..], &reason, &to_i64(now_ms)],
                )
                .await?;
            Ok(())
        })
    }

    fn lift_suspension(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.block_on(async {
            Ok(self
                .client()
                .await
                .execute(
                    "DELETE FROM suspended_devices WHERE device_id = $1",
                    &[&&device.as_bytes()[..]],
                )
                .await?
                > 0)
        })
    }

    fn device_suspended(&self, device: &DeviceId) -> Result<bool, StoreError> {
        self.block_on(async {
            Ok(self
                .client()
                .await
                .query_opt(
                    "SELECT 1 FROM suspended_devices WHERE device_id = $1",
                    &[&&device.as_bytes()[..]],
                )
                .await?
                .is_some())
        })
    }
}
