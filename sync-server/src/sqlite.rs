//! The embedded [`LogStore`]: one SQLite file, WAL, `synchronous=FULL`;
//! one writer connection and a few read-only ones, so a pull of large
//! entries never waits behind, or holds up, the writes.

use crate::migrations;
use crate::store::{
    AppendOutcome, BlobChunk, BlobInfo, BlobPutOutcome, GatewayAnnouncement, LogStore, PullOutcome, Quotas, StoreError,
    TokenRate, announcement, check_quotas, to_i64, to_u32, to_u64,
};
use kith_proto::{BlobId, DeviceId, Envelope, EnvelopeId, LogId, blob_chunk_count};
use rusqlite::OpenFlags;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

mod directory;
mod nudges;
mod usage;

pub(crate) use directory::device_id;

/// Read-only connections beside the writer.
const READERS: usize = 4;

/// A [`LogStore`] backed by one SQLite database file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) `server.db` in `dir` and migrates it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let mut conn = Connection::open(dir.join("server.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted logs (account deletion) are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::migrate(&mut conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                dir.join("server.db"),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            reader.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(Mutex::new(reader));
        }
        Ok(Self {
            conn: Mutex::new(conn),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-applied
        // (it rolls back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A read-only connection: a free one if there is one, else the next in
    /// turn. (WAL readers see every committed write and block no writer.)
    fn read(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.readers.len() {
            if let Some(reader) = self.readers.get((start + offset) % self.readers.len())
                && let Ok(guard) = reader.try_lock()
            {
                return guard;
            }
        }
        match self.readers.get(start % self.readers.len().max(1)) {
            Some(reader) => reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            None => self.lock(),
        }
    }
}

/// Reads the log's capability hash, last seq and stored bytes.
fn log_row(conn: &Connection, log: &LogId) -> Result<Option<(Vec<u8>, u64, u64)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT capability_hash, last_seq, stored_bytes FROM logs WHERE log_id = ?1",
            params![&log.0[..]],
            |row| Ok((row.get::<_, Vec<u8>>(0)?, to_u64(row.get(1)?), to_u64(row.get(2)?))),
        )
        .optional()?)
}

/// Checks the capability of an existing log; returns its last seq.
fn check(conn: &Connection, log: &LogId, capability_hash: &[u8; 32]) -> Result<u64, StoreError> {
    match log_row(conn, log)? {
        None => Err(StoreError::NotFound),
        Some((hash, _, _)) if hash.as_slice() != capability_hash.as_slice() => Err(StoreError::Forbidden),
        Some((_, last_seq, _)) => Ok(last_seq),
    }
}

/// Whether `log` was deleted (its id is a tombstone).
fn is_deleted(conn: &Connection, log: &LogId) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM deleted_logs WHERE log_id = ?1",
            params![&log.0[..]],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Checks the manage key of an existing log; returns its last seq.
fn check_manager(conn: &Connection, log: &LogId, manage_hash: &[u8; 32]) -> Result<u64, StoreError> {
    let row: Option<(Option<Vec<u8>>, i64)> = conn
        .query_row(
            "SELECT manage_hash, last_seq FROM logs WHERE log_id = ?1",
            params![&log.0[..]],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    match row {
        None => Err(StoreError::NotFound),
        Some((None, _)) => Err(StoreError::Unmanaged),
        Some((Some(hash), _)) if hash.as_slice() != manage_hash.as_slice() => Err(StoreError::NotManager),
        Some((Some(_), last_seq)) => Ok(to_u64(last_seq)),
    }
}

/// A row of `blobs`.
struct BlobRow {
    log: Vec<u8>,
    total_bytes: u64,
    chunk_count: u32,
    stored_chunks: u32,
}

fn blob_row(conn: &Connection, blob: &BlobId) -> Result<Option<BlobRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT log_id, total_bytes, chunk_count, stored_chunks FROM blobs WHERE blob_id = ?1",
            params![&blob.0[..]],
            |row| {
                Ok(BlobRow {
                    log: row.get(0)?,
                    total_bytes: to_u64(row.get(1)?),
                    chunk_count: to_u32(row.get(2)?),
                    stored_chunks: to_u32(row.get(3)?),
                })
            },
        )
        .optional()?)
}

/// The blob if `log` holds it; a blob of another log reads as absent.
fn blob_in_log(conn: &Connection, log: &LogId, blob: &BlobId) -> Result<BlobRow, StoreError> {
    match blob_row(conn, blob)? {
        Some(row) if row.log.as_slice() == log.0.as_slice() => Ok(row),
        _ => Err(StoreError::BlobNotFound),
    }
}

impl LogStore for SqliteStore {
    fn append(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        envelopes: &[Envelope],
        pusher: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError> {
        let quota_bytes = quotas.per_log;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let device_before = usage::device_stored(&tx, pusher)?;
        let mut device_stored = device_before;
        if is_deleted(&tx, log)? {
            return Err(StoreError::Deleted);
        }
        let (mut last_seq, mut stored) = match log_row(&tx, log)? {
            Some((hash, _, _)) if hash.as_slice() != capability_hash.as_slice() => return Err(StoreError::Forbidden),
            Some((_, last_seq, stored)) => (last_seq, stored),
            None => {
                tx.execute(
                    "INSERT INTO logs (log_id, capability_hash, last_seq, stored_bytes, created_ms)
                     VALUES (?1, ?2, 0, 0, ?3)",
                    params![&log.0[..], &capability_hash[..], to_i64(now_ms)],
                )?;
                (0, 0)
            }
        };
        let first_new_seq = last_seq + 1;
        let mut results = Vec::with_capacity(envelopes.len());
        let mut appended = false;
        {
            let mut find = tx.prepare_cached("SELECT seq FROM entries WHERE log_id = ?1 AND envelope_id = ?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO entries (log_id, seq, envelope_id, epoch, ciphertext, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for envelope in envelopes {
                let existing: Option<i64> = find
                    .query_row(params![&log.0[..], &envelope.id.0[..]], |row| row.get(0))
                    .optional()?;
                if let Some(seq) = existing {
                    results.push((envelope.id, to_u64(seq)));
                    continue;
                }
                // Also dedupe ids repeated inside this one batch.
                if let Some((_, seq)) = results.iter().find(|(id, _)| *id == envelope.id) {
                    let seq = *seq;
                    results.push((envelope.id, seq));
                    continue;
                }
                stored = stored.saturating_add(envelope.ciphertext.len() as u64);
                if stored > quota_bytes {
                    return Err(StoreError::QuotaExceeded {
                        would_hold: stored,
                        quota: quota_bytes,
                    });
                }
                device_stored = device_stored.saturating_add(envelope.ciphertext.len() as u64);
                if device_stored > quotas.per_device {
                    return Err(StoreError::DeviceQuotaExceeded {
                        would_hold: device_stored,
                        quota: quotas.per_device,
                    });
                }
                last_seq += 1;
                insert.execute(params![
                    &log.0[..],
                    to_i64(last_seq),
                    &envelope.id.0[..],
                    i64::from(envelope.epoch),
                    &envelope.ciphertext,
                    to_i64(now_ms)
                ])?;
                results.push((envelope.id, last_seq));
                appended = true;
            }
        }
        if appended {
            tx.execute(
                "UPDATE logs SET last_seq = ?2, stored_bytes = ?3 WHERE log_id = ?1",
                params![&log.0[..], to_i64(last_seq), to_i64(stored)],
            )?;
            usage::charge(&tx, log, pusher, device_stored - device_before, now_ms)?;
        }
        tx.commit()?;
        Ok(AppendOutcome {
            results,
            last_seq,
            appended,
            new_bytes: device_stored - device_before,
            new_envelopes: (last_seq + 1).saturating_sub(first_new_seq),
        })
    }

    fn pull(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        after_seq: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<PullOutcome, StoreError> {
        let mut conn = self.read();
        let tx = conn.transaction()?;
        let last_seq = check(&tx, log, capability_hash)?;
        if after_seq > last_seq {
            return Ok(PullOutcome {
                entries: Vec::new(),
                more: true,
            });
        }
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        {
            let mut stmt = tx.prepare_cached(
                "SELECT seq, envelope_id, epoch, ciphertext FROM entries
                 WHERE log_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![&log.0[..], to_i64(after_seq), i64::from(limit)], |row| {
                Ok((
                    to_u64(row.get(0)?),
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                ))
            })?;
            for row in rows {
                let (seq, id, epoch, ciphertext) = row?;
                // Rows are read one at a time: stop before the budget
                // breaks, so a pull of large entries holds one page at most.
                bytes = bytes.saturating_add(ciphertext.len());
                if bytes > max_bytes && !entries.is_empty() {
                    break;
                }
                let id = <[u8; 16]>::try_from(id.as_slice()).map_err(|_| {
                    rusqlite::Error::InvalidColumnType(1, "envelope_id".into(), rusqlite::types::Type::Blob)
                })?;
                entries.push((
                    seq,
                    Envelope {
                        id: EnvelopeId(id),
                        epoch: u32::try_from(epoch).unwrap_or(0),
                        ciphertext,
                    },
                ));
            }
        }
        tx.commit()?;
        let more = entries.last().is_some_and(|(seq, _)| *seq < last_seq);
        Ok(PullOutcome { entries, more })
    }

    fn last_seq(&self, log: &LogId, capability_hash: &[u8; 32]) -> Result<u64, StoreError> {
        let conn = self.read();
        check(&conn, log, capability_hash)
    }

    fn mark_superseded(
        &self,
        log: &LogId,
        manage_hash: &[u8; 32],
        through_seq: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        let last_seq = check_manager(&conn, log, manage_hash)?;
        if through_seq > last_seq {
            return Err(StoreError::InvalidRequest(format!(
                "cannot compact through {through_seq}: the log ends at {last_seq}"
            )));
        }
        conn.execute(
            "INSERT INTO compactions (log_id, through_seq, superseded_ms) VALUES (?1, ?2, ?3)",
            params![&log.0[..], to_i64(through_seq), to_i64(now_ms)],
        )?;
        Ok(())
    }

    fn sweep_superseded(&self, cutoff_ms: u64) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let due: Vec<(Vec<u8>, i64)> = {
            let mut stmt = tx.prepare(
                "SELECT log_id, MAX(through_seq) FROM compactions WHERE superseded_ms <= ?1 GROUP BY log_id",
            )?;
            let rows = stmt.query_map(params![to_i64(cutoff_ms)], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut deleted = 0u64;
        for (log, through) in &due {
            let freed: i64 = tx.query_row(
                "SELECT COALESCE(SUM(LENGTH(ciphertext)), 0) FROM entries WHERE log_id = ?1 AND seq <= ?2",
                params![log, through],
                |row| row.get(0),
            )?;
            let n = tx.execute(
                "DELETE FROM entries WHERE log_id = ?1 AND seq <= ?2",
                params![log, through],
            )?;
            tx.execute(
                "UPDATE logs SET stored_bytes = MAX(0, stored_bytes - ?2) WHERE log_id = ?1",
                params![log, freed],
            )?;
            if let Ok(id) = <[u8; 32]>::try_from(log.as_slice()) {
                usage::give_back_share(&tx, &LogId(id), to_u64(freed))?;
            }
            tx.execute(
                "DELETE FROM compactions WHERE log_id = ?1 AND through_seq <= ?2 AND superseded_ms <= ?3",
                params![log, through, to_i64(cutoff_ms)],
            )?;
            deleted += n as u64;
        }
        tx.commit()?;
        if deleted > 0 {
            // As for deleted logs: no copy of the entries stays in the WAL.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(deleted)
    }

    fn register(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        manage_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if is_deleted(&tx, log)? {
            return Err(StoreError::Deleted);
        }
        let current: Option<(Vec<u8>, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT capability_hash, manage_hash FROM logs WHERE log_id = ?1",
                params![&log.0[..]],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        match current {
            None => {
                tx.execute(
                    "INSERT INTO logs (log_id, capability_hash, last_seq, stored_bytes, created_ms, manage_hash)
                     VALUES (?1, ?2, 0, 0, ?3, ?4)",
                    params![&log.0[..], &capability_hash[..], to_i64(now_ms), &manage_hash[..]],
                )?;
            }
            Some((capability, _)) if capability.as_slice() != capability_hash.as_slice() => {
                return Err(StoreError::Forbidden);
            }
            Some((_, Some(registered))) if registered.as_slice() == manage_hash.as_slice() => {}
            Some((_, Some(_))) => return Err(StoreError::ManagedByAnother),
            Some((_, None)) => {
                tx.execute(
                    "UPDATE logs SET manage_hash = ?2 WHERE log_id = ?1",
                    params![&log.0[..], &manage_hash[..]],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn device_stored(&self, device: &DeviceId) -> Result<u64, StoreError> {
        usage::device_stored(&self.read(), device)
    }

    fn delete_log(&self, log: &LogId, manage_hash: &[u8; 32], now_ms: u64) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        check_manager(&tx, log, manage_hash)?;
        usage::give_back_log(&tx, log)?;
        tx.execute(
            "DELETE FROM blob_chunks WHERE blob_id IN (SELECT blob_id FROM blobs WHERE log_id = ?1)",
            params![&log.0[..]],
        )?;
        tx.execute("DELETE FROM blobs WHERE log_id = ?1", params![&log.0[..]])?;
        tx.execute("DELETE FROM entries WHERE log_id = ?1", params![&log.0[..]])?;
        tx.execute("DELETE FROM compactions WHERE log_id = ?1", params![&log.0[..]])?;
        tx.execute("DELETE FROM logs WHERE log_id = ?1", params![&log.0[..]])?;
        tx.execute(
            "INSERT OR IGNORE INTO deleted_logs (log_id, deleted_ms) VALUES (?1, ?2)",
            params![&log.0[..], to_i64(now_ms)],
        )?;
        tx.commit()?;
        // Move the deletion out of the WAL too, so no copy of the entries
        // or blobs stays in the write-ahead log file.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn device_known(&self, device: &DeviceId) -> Result<bool, StoreError> {
        let conn = self.read();
        Ok(conn
            .query_row(
                "SELECT 1 FROM devices WHERE device_id = ?1",
                params![&device.as_bytes()[..]],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn take_token(&self, source: &[u8; 32], rate: TokenRate, now_ms: u64) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM new_device_buckets WHERE updated_ms < ?1",
            params![to_i64(rate.full_again_before(now_ms))],
        )?;
        let taken = tx
            .query_row(
                "INSERT INTO new_device_buckets (address_hash, tokens, updated_ms) VALUES (?1, ?2 - 1.0, ?3)
                 ON CONFLICT (address_hash) DO UPDATE
                 SET tokens = MIN(?2, new_device_buckets.tokens
                              + MAX(0, ?3 - new_device_buckets.updated_ms) * ?4) - 1.0,
                     updated_ms = ?3
                 WHERE MIN(?2, new_device_buckets.tokens
                           + MAX(0, ?3 - new_device_buckets.updated_ms) * ?4) >= 1.0
                 RETURNING tokens",
                params![&source[..], rate.burst, to_i64(now_ms), rate.per_ms()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        tx.commit()?;
        Ok(taken)
    }

    fn announce_gateway(&self, gateway: &GatewayAnnouncement, now_ms: u64) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO gateways (peer_id, addresses, seen_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer_id) DO UPDATE SET addresses = excluded.addresses, seen_ms = excluded.seen_ms",
            params![gateway.peer_id, gateway.addresses.join("\n"), to_i64(now_ms)],
        )?;
        Ok(())
    }

    fn gateways(&self, since_ms: u64) -> Result<Vec<GatewayAnnouncement>, StoreError> {
        let conn = self.read();
        let mut statement =
            conn.prepare("SELECT peer_id, addresses FROM gateways WHERE seen_ms >= ?1 ORDER BY peer_id")?;
        let rows = statement.query_map(params![to_i64(since_ms)], |row| {
            Ok(announcement(row.get(0)?, &row.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_device(&self, device: &DeviceId, now_ms: u64) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO devices (device_id, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?2)
             ON CONFLICT (device_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
            params![&device.as_bytes()[..], to_i64(now_ms)],
        )?;
        Ok(())
    }

    fn blob_put_chunk(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        chunk: BlobChunk<'_>,
        uploader: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<BlobPutOutcome, StoreError> {
        chunk.validate()?;
        let blob = &chunk.blob.0[..];
        let index = i64::from(chunk.index);
        let len = chunk.bytes.len() as u64;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let log_stored = match log_row(&tx, log)? {
            None => return Err(StoreError::NotFound),
            Some((hash, _, _)) if hash.as_slice() != capability_hash.as_slice() => return Err(StoreError::Forbidden),
            Some((_, _, stored)) => stored,
        };
        let device_before = usage::device_stored(&tx, uploader)?;
        let (stored_chunks, chunk_count) = match blob_row(&tx, &chunk.blob)? {
            Some(row) => {
                if row.log.as_slice() != log.0.as_slice() {
                    return Err(StoreError::BlobInOtherLog);
                }
                if row.total_bytes != chunk.total_bytes {
                    return Err(StoreError::InvalidRequest(format!(
                        "the blob was started with a size of {} bytes, not {}",
                        row.total_bytes, chunk.total_bytes
                    )));
                }
                let stored: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM blob_chunks WHERE blob_id = ?1 AND idx = ?2",
                        params![blob, index],
                        |row| row.get(0),
                    )
                    .optional()?;
                if stored.is_some() {
                    // Idempotent: the first copy stays, nothing is charged again.
                    return Ok(BlobPutOutcome {
                        complete: row.stored_chunks >= row.chunk_count,
                        new_chunk: false,
                        new_bytes: 0,
                    });
                }
                (row.stored_chunks, row.chunk_count)
            }
            None => {
                // Refuse an upload that cannot finish before any of it is stored.
                check_quotas(
                    log_stored.saturating_add(chunk.total_bytes),
                    device_before.saturating_add(chunk.total_bytes),
                    quotas,
                )?;
                let count = blob_chunk_count(chunk.total_bytes);
                tx.execute(
                    "INSERT INTO blobs (blob_id, log_id, total_bytes, chunk_count, stored_chunks, created_ms)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5)",
                    params![
                        blob,
                        &log.0[..],
                        to_i64(chunk.total_bytes),
                        i64::from(count),
                        to_i64(now_ms)
                    ],
                )?;
                (0, count)
            }
        };
        let log_after = log_stored.saturating_add(len);
        let device_after = device_before.saturating_add(len);
        check_quotas(log_after, device_after, quotas)?;
        tx.execute(
            "INSERT INTO blob_chunks (blob_id, idx, bytes) VALUES (?1, ?2, ?3)",
            params![blob, index, chunk.bytes],
        )?;
        tx.execute(
            "UPDATE blobs SET stored_chunks = stored_chunks + 1 WHERE blob_id = ?1",
            params![blob],
        )?;
        tx.execute(
            "UPDATE logs SET stored_bytes = ?2 WHERE log_id = ?1",
            params![&log.0[..], to_i64(log_after)],
        )?;
        usage::charge(&tx, log, uploader, device_after - device_before, now_ms)?;
        tx.commit()?;
        Ok(BlobPutOutcome {
            complete: stored_chunks + 1 >= chunk_count,
            new_chunk: true,
            new_bytes: len,
        })
    }

    fn blob_stat(&self, log: &LogId, capability_hash: &[u8; 32], blob: &BlobId) -> Result<BlobInfo, StoreError> {
        let mut conn = self.read();
        let tx = conn.transaction()?;
        check(&tx, log, capability_hash)?;
        let row = blob_in_log(&tx, log, blob)?;
        let have = {
            let mut stmt = tx.prepare_cached("SELECT idx FROM blob_chunks WHERE blob_id = ?1 ORDER BY idx")?;
            let rows = stmt.query_map(params![&blob.0[..]], |row| row.get::<_, i64>(0))?;
            rows.map(|idx| idx.map(to_u32)).collect::<Result<Vec<u32>, _>>()?
        };
        tx.commit()?;
        Ok(BlobInfo {
            total_bytes: row.total_bytes,
            have,
        })
    }

    fn blob_get_chunk(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        blob: &BlobId,
        index: u32,
    ) -> Result<Vec<u8>, StoreError> {
        let mut conn = self.read();
        let tx = conn.transaction()?;
        check(&tx, log, capability_hash)?;
        let row = blob_in_log(&tx, log, blob)?;
        if index >= row.chunk_count {
            return Err(StoreError::InvalidRequest(format!(
                "chunk index {index} is out of range: the blob has {} chunks",
                row.chunk_count
            )));
        }
        if row.stored_chunks < row.chunk_count {
            return Err(StoreError::BlobIncomplete {
                stored: row.stored_chunks,
                count: row.chunk_count,
            });
        }
        let bytes = tx.query_row(
            "SELECT bytes FROM blob_chunks WHERE blob_id = ?1 AND idx = ?2",
            params![&blob.0[..], i64::from(index)],
            |row| row.get::<_, Vec<u8>>(0),
        )?;
        tx.commit()?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    //! What only SQLite shows: migrations from older files and what is left
    //! in the tables. The behaviour every backend shares is in
    //! `conformance` (run by `tests/store_conformance.rs`).
    use super::*;

    fn env(n: u8) -> Envelope {
        Envelope {
            id: EnvelopeId([n; 16]),
            epoch: 1,
            ciphertext: vec![n; 10],
        }
    }

    fn dev() -> DeviceId {
        DeviceId::from_bytes([7; 32])
    }

    fn quotas(per_log: u64) -> Quotas {
        Quotas {
            per_log,
            per_device: u64::MAX,
        }
    }

    #[test]
    fn a_version_1_database_is_upgraded_and_keeps_its_logs() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path()).unwrap();
            store
                .append(&LogId([1; 32]), &[9; 32], &[env(1)], &dev(), quotas(1000), 1)
                .unwrap();
            let conn = store.lock();
            conn.execute_batch(
                "DROP TABLE log_usage; ALTER TABLE logs DROP COLUMN manage_hash;
                 DROP TABLE deleted_logs; DROP TABLE blob_chunks; DROP TABLE blobs; DROP TABLE compactions;
                 ALTER TABLE devices DROP COLUMN stored_bytes; DROP TABLE new_device_buckets; DROP TABLE gateways;
                 DROP TABLE usernames; DROP TABLE inboxes; DROP TABLE reports; DROP TABLE suspended_devices;
                 DROP TABLE nudges; DROP TABLE nudge_logs;
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.last_seq(&LogId([1; 32]), &[9; 32]).unwrap(), 1);
        store
            .append(&LogId([1; 32]), &[9; 32], &[env(2)], &dev(), quotas(1000), 2)
            .unwrap();
        let version: i64 = store.lock().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, crate::migrations::LATEST);
    }

    #[test]
    fn a_deleted_log_leaves_no_rows_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (log, cap, manager) = (LogId([1; 32]), [9; 32], [0xab; 32]);
        store.append(&log, &cap, &[env(1)], &dev(), quotas(1000), 1).unwrap();
        let chunk = BlobChunk {
            blob: BlobId([3; 32]),
            total_bytes: 5,
            index: 0,
            bytes: &[1; 5],
        };
        store
            .blob_put_chunk(&log, &cap, chunk, &dev(), quotas(1000), 2)
            .unwrap();
        store.register(&log, &cap, &manager, 3).unwrap();
        store.delete_log(&log, &manager, 4).unwrap();
        for table in ["entries", "blobs", "blob_chunks", "log_usage", "compactions", "logs"] {
            let rows: i64 = store
                .lock()
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0))
                .unwrap();
            assert_eq!(rows, 0, "{table} keeps rows of a deleted log");
        }
    }
}
