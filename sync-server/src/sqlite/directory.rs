//! [`DirectoryStore`] on SQLite: usernames, inboxes, reports, suspensions.

use super::{SqliteStore, is_deleted};
use crate::directory::{AbuseReport, ClaimOutcome, DirectoryStore};
use crate::store::{StoreError, to_i64, to_u64};
use kith_proto::{DeviceId, LogId};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

impl DirectoryStore for SqliteStore {
    fn claim_name(
        &self,
        lookup: &[u8; 32],
        record: &[u8],
        manage_hash: &[u8; 32],
        claimant: &DeviceId,
        now_ms: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = held_name(&tx, lookup)?;
        let outcome = match held {
            Some((_, Some(_))) => return Err(StoreError::Suspended),
            Some((manager, None)) if manager.as_slice() != manage_hash.as_slice() => return Err(StoreError::Taken),
            Some(_) => {
                tx.execute(
                    "UPDATE usernames SET record = ?2, claimed_by = ?3, claimed_ms = ?4 WHERE lookup = ?1",
                    params![&lookup[..], record, &claimant.as_bytes()[..], to_i64(now_ms)],
                )?;
                ClaimOutcome::Updated
            }
            None => {
                tx.execute(
                    "INSERT INTO usernames (lookup, record, manage_hash, claimed_by, claimed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        &lookup[..],
                        record,
                        &manage_hash[..],
                        &claimant.as_bytes()[..],
                        to_i64(now_ms)
                    ],
                )?;
                ClaimOutcome::Claimed
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn find_name(&self, lookup: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT record FROM usernames WHERE lookup = ?1 AND suspended_ms IS NULL",
                params![&lookup[..]],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn release_name(&self, lookup: &[u8; 32], manage_hash: &[u8; 32]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = held_name(&tx, lookup)?;
        match held {
            None => return Err(StoreError::NotFound),
            Some((_, Some(_))) => return Err(StoreError::Suspended),
            Some((manager, None)) if manager.as_slice() != manage_hash.as_slice() => {
                return Err(StoreError::NotManager);
            }
            Some(_) => {
                tx.execute("DELETE FROM usernames WHERE lookup = ?1", params![&lookup[..]])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn suspend_name(&self, lookup: &[u8; 32], now_ms: u64) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = tx
            .query_row(
                "SELECT 1 FROM usernames WHERE lookup = ?1 AND suspended_ms IS NULL",
                params![&lookup[..]],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        // A name nobody holds is reserved the same way: an empty record
        // and a manager no key hashes to.
        tx.execute(
            "INSERT INTO usernames (lookup, record, manage_hash, claimed_by, claimed_ms, suspended_ms)
             VALUES (?1, x'', zeroblob(32), zeroblob(32), ?2, ?2)
             ON CONFLICT (lookup) DO UPDATE SET suspended_ms = ?2",
            params![&lookup[..], to_i64(now_ms)],
        )?;
        tx.commit()?;
        Ok(held)
    }

    fn open_inbox(
        &self,
        device: &DeviceId,
        log: &LogId,
        capability_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if is_deleted(&tx, log)? {
            return Err(StoreError::Deleted);
        }
        let capability: Option<Vec<u8>> = tx
            .query_row(
                "SELECT capability_hash FROM logs WHERE log_id = ?1",
                params![&log.0[..]],
                |row| row.get(0),
            )
            .optional()?;
        match capability {
            Some(hash) if hash.as_slice() != capability_hash.as_slice() => return Err(StoreError::Forbidden),
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO logs (log_id, capability_hash, last_seq, stored_bytes, created_ms)
                     VALUES (?1, ?2, 0, 0, ?3)",
                    params![&log.0[..], &capability_hash[..], to_i64(now_ms)],
                )?;
            }
        }
        tx.execute(
            "INSERT INTO inboxes (device_id, log_id, opened_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (device_id) DO UPDATE SET log_id = excluded.log_id, opened_ms = excluded.opened_ms",
            params![&device.as_bytes()[..], &log.0[..], to_i64(now_ms)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn inbox(&self, device: &DeviceId) -> Result<Option<(LogId, [u8; 32])>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .read()
            .query_row(
                "SELECT inboxes.log_id, logs.capability_hash FROM inboxes JOIN logs USING (log_id)
                 WHERE inboxes.device_id = ?1",
                params![&device.as_bytes()[..]],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(log, hash)| Some((LogId(log.try_into().ok()?), hash.try_into().ok()?))))
    }

    fn record_report(&self, report: &AbuseReport) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO reports (reported, reporter, reason, at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (reported, reporter) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
            params![
                &report.reported.as_bytes()[..],
                &report.reporter.as_bytes()[..],
                report.reason,
                to_i64(report.at_ms)
            ],
        )?;
        Ok(())
    }

    fn reports(&self, limit: u32) -> Result<Vec<AbuseReport>, StoreError> {
        let conn = self.read();
        let mut statement = conn.prepare(
            "SELECT reported, reporter, reason, at_ms FROM reports ORDER BY at_ms DESC, reported, reporter LIMIT ?1",
        )?;
        let rows = statement.query_map(params![limit], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, Vec<u8>>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (reported, reporter, reason, at_ms) = row?;
            let (Some(reported), Some(reporter)) = (device_id(&reported), device_id(&reporter)) else {
                continue;
            };
            out.push(AbuseReport {
                reported,
                reporter,
                reason,
                at_ms: to_u64(at_ms),
            });
        }
        Ok(out)
    }

    fn suspend_device(&self, device: &DeviceId, reason: &str, now_ms: u64) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO suspended_devices (device_id, reason, at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (device_id) DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
            params![&device.as_bytes()[..], reason, to_i64(now_ms)],
        )?;
        Ok(())
    }

    fn lift_suspension(&self, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self.lock().execute(
            "DELETE FROM suspended_devices WHERE device_id = ?1",
            params![&device.as_bytes()[..]],
        )? > 0)
    }

    fn device_suspended(&self, device: &DeviceId) -> Result<bool, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT 1 FROM suspended_devices WHERE device_id = ?1",
                params![&device.as_bytes()[..]],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

/// A name's manage hash and suspension time.
type HeldName = (Vec<u8>, Option<i64>);

/// The manage hash and suspension time of a name, if it has a row.
fn held_name(conn: &rusqlite::Connection, lookup: &[u8; 32]) -> Result<Option<HeldName>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT manage_hash, suspended_ms FROM usernames WHERE lookup = ?1",
            params![&lookup[..]],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// A stored device id (a malformed one is skipped by the caller).
pub(crate) fn device_id(bytes: &[u8]) -> Option<DeviceId> {
    <[u8; 32]>::try_from(bytes).ok().map(DeviceId::from_bytes)
}
