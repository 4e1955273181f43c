//! The storage interface of the sync server, so backends other than SQLite
//! (PostgreSQL for scale-out) can be added without touching the protocol.

use kith_proto::{BlobId, DeviceId, Envelope, EnvelopeId, LogId, MAX_BLOB_BYTES, blob_chunk_count, blob_chunk_len};

pub use crate::store_error::StoreError;

/// Result of appending a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// `(envelope id, seq)` for every envelope, in the order given. Envelopes
    /// already present keep their original sequence number.
    pub results: Vec<(EnvelopeId, u64)>,
    /// The log's last sequence number after the append.
    pub last_seq: u64,
    /// Whether at least one new entry was written.
    pub appended: bool,
    /// Ciphertext bytes newly written.
    pub new_bytes: u64,
    /// Envelopes newly written.
    pub new_envelopes: u64,
}

/// Result of reading a log after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// `(seq, envelope)`, ascending.
    pub entries: Vec<(u64, Envelope)>,
    /// Whether entries exist after the last one returned.
    pub more: bool,
}

/// Result of storing one blob chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobPutOutcome {
    /// Whether every chunk of the blob is now stored.
    pub complete: bool,
    /// Whether the chunk was newly written (false when it was already there).
    pub new_chunk: bool,
    /// Ciphertext bytes newly written.
    pub new_bytes: u64,
}

/// What the store holds of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob's whole ciphertext size.
    pub total_bytes: u64,
    /// The indices of the chunks stored, ascending.
    pub have: Vec<u32>,
}

/// One chunk of a blob, as a client uploads it.
#[derive(Debug, Clone, Copy)]
pub struct BlobChunk<'a> {
    /// The blob.
    pub blob: BlobId,
    /// The blob's whole ciphertext size.
    pub total_bytes: u64,
    /// Which chunk.
    pub index: u32,
    /// Its ciphertext.
    pub bytes: &'a [u8],
}

impl BlobChunk<'_> {
    /// Checks the chunk against the blob's size, before any storage is touched:
    /// the size within [`MAX_BLOB_BYTES`], the index within the blob and the
    /// length exactly [`blob_chunk_len`]. Every backend calls this.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.total_bytes > MAX_BLOB_BYTES {
            return Err(StoreError::BlobTooLarge {
                total_bytes: self.total_bytes,
                limit: MAX_BLOB_BYTES,
            });
        }
        let Some(expected) = blob_chunk_len(self.total_bytes, self.index) else {
            return Err(StoreError::InvalidRequest(format!(
                "chunk index {} is out of range: a blob of {} bytes has {} chunks",
                self.index,
                self.total_bytes,
                blob_chunk_count(self.total_bytes)
            )));
        };
        if self.bytes.len() != expected {
            return Err(StoreError::InvalidRequest(format!(
                "chunk {} of a blob of {} bytes must be {expected} bytes, not {}",
                self.index,
                self.total_bytes,
                self.bytes.len()
            )));
        }
        Ok(())
    }
}

/// A count or size as a database integer (saturating).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A database integer as a count or size (a negative one reads as 0).
pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A database integer as a chunk index or count.
pub(crate) fn to_u32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// Refuses when the log or the device would hold more than its quota.
pub(crate) fn check_quotas(log_would_hold: u64, device_would_hold: u64, quotas: Quotas) -> Result<(), StoreError> {
    if log_would_hold > quotas.per_log {
        return Err(StoreError::QuotaExceeded {
            would_hold: log_would_hold,
            quota: quotas.per_log,
        });
    }
    if device_would_hold > quotas.per_device {
        return Err(StoreError::DeviceQuotaExceeded {
            would_hold: device_would_hold,
            quota: quotas.per_device,
        });
    }
    Ok(())
}

/// Splits `freed` bytes among holders of `held` bytes in proportion to
/// each one's holding (what compaction gives back per device). The shares
/// add up to `freed` (or to everything held, if that is less) and none is
/// larger than its holding: each share is the step between the rounded-down
/// proportional amounts of the running totals.
pub fn proportional_shares(held: &[u64], freed: u64) -> Vec<u64> {
    let total: u128 = held.iter().map(|bytes| u128::from(*bytes)).sum();
    if total == 0 {
        return vec![0; held.len()];
    }
    let freed = u128::from(freed).min(total);
    let mut running = 0u128;
    let mut given = 0u128;
    held.iter()
        .map(|bytes| {
            running += u128::from(*bytes);
            let upto = running * freed / total;
            let share = upto - given;
            given = upto;
            u64::try_from(share).unwrap_or(u64::MAX)
        })
        .collect()
}

/// Storage limits for one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Bytes of ciphertext one log may hold.
    pub per_log: u64,
    /// Bytes of ciphertext one device may store in all (a write budget: the
    /// server knows devices, not accounts, by design).
    pub per_device: u64,
}

/// A gateway's libp2p side, as it announces itself to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAnnouncement {
    /// Its libp2p PeerId, as text.
    pub peer_id: String,
    /// Its multiaddrs, each ending in `/p2p/PEER_ID`.
    pub addresses: Vec<String>,
}

/// A stored announcement: addresses are kept one per line.
pub(crate) fn announcement(peer_id: String, addresses: &str) -> GatewayAnnouncement {
    GatewayAnnouncement {
        peer_id,
        addresses: addresses
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// A token bucket's settings, for the buckets a [`LogStore`] keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenRate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size (at least 1).
    pub burst: f64,
}

impl TokenRate {
    /// Tokens added per millisecond.
    pub fn per_ms(&self) -> f64 {
        self.per_second.max(0.0) / 1000.0
    }

    /// A bucket last touched before this time is full again at `now_ms`.
    pub fn full_again_before(&self, now_ms: u64) -> u64 {
        let per_ms = self.per_ms();
        if per_ms <= 0.0 {
            return 0;
        }
        let fill_ms = (self.burst / per_ms).ceil();
        // Saturating float-to-int: a huge fill time keeps every bucket.
        now_ms.saturating_sub(fill_ms as u64)
    }
}

/// Durable, per-log append-only storage of opaque envelopes.
///
/// Methods block; the server calls them from `spawn_blocking`. Every method
/// that takes a capability hash checks it against the log's before doing
/// anything else, and changes nothing when it does not match.
pub trait LogStore: crate::directory::DirectoryStore + crate::nudges::NudgeStore + Send + Sync + 'static {
    /// Appends `envelopes` to `log` atomically: all are stored or none.
    /// The first append to an unknown log records `capability_hash` for it.
    /// Envelope ids already in the log are not stored again. The append is
    /// durable when this returns `Ok`.
    /// `pusher`'s running total of stored bytes must stay within
    /// `quotas.per_device`, the log's within `quotas.per_log`.
    fn append(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        envelopes: &[Envelope],
        pusher: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<AppendOutcome, StoreError>;

    /// Reads up to `limit` entries with `seq > after_seq`, stopping before
    /// the entry that would take the ciphertext read past `max_bytes` (the
    /// first entry is always read). A cursor past the log's end answers no
    /// entries with `more` set: the client then pulls from the start.
    fn pull(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        after_seq: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<PullOutcome, StoreError>;

    /// Checks the capability and returns the log's last sequence number.
    fn last_seq(&self, log: &LogId, capability_hash: &[u8; 32]) -> Result<u64, StoreError>;

    /// Registers `manage_hash` as the log's manager, creating the log
    /// (empty, with `capability_hash`) if it does not exist. The capability
    /// must match an existing log's; a deleted log is `Deleted`. The first
    /// registration wins: the same hash again is `Ok`, another one
    /// `ManagedByAnother`.
    fn register(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        manage_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError>;

    /// Deletes a log with every entry and every blob in it (account
    /// deletion) and keeps its id as a tombstone: pushing to it again is
    /// `Deleted`. Only the log's manager may (`Unmanaged`, `NotManager`);
    /// an unknown log is `NotFound`. Every device's stored bytes in the log
    /// are given back to its budget.
    fn delete_log(&self, log: &LogId, manage_hash: &[u8; 32], now_ms: u64) -> Result<(), StoreError>;

    /// Marks every entry of `log` up to `through_seq` superseded at `now_ms`
    /// (the manager uploaded a snapshot after them). Only the log's manager
    /// may, as for [`LogStore::delete_log`]; `through_seq` beyond the log's
    /// end is `InvalidRequest`.
    fn mark_superseded(
        &self,
        log: &LogId,
        manage_hash: &[u8; 32],
        through_seq: u64,
        now_ms: u64,
    ) -> Result<(), StoreError>;

    /// Bytes `device` has stored and not yet had given back (its budget
    /// used).
    fn device_stored(&self, device: &DeviceId) -> Result<u64, StoreError>;

    /// Deletes entries superseded at or before `cutoff_ms`; returns how many.
    /// Their bytes go back to the budgets of the devices that stored bytes
    /// in the log, in proportion to each one's share (the server keeps no
    /// record of who wrote which entry).
    fn sweep_superseded(&self, cutoff_ms: u64) -> Result<u64, StoreError>;

    /// Records that `device` authenticated at `now_ms`.
    fn record_device(&self, device: &DeviceId, now_ms: u64) -> Result<(), StoreError>;

    /// Whether `device` has authenticated here before.
    fn device_known(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// Takes one token from the bucket `source` names (a hash of what is
    /// limited and whose: the address a new device key signs in from, the
    /// device or address looking names up or leaving requests); `false`
    /// when it is empty. Kept in the store, so every gateway on one
    /// database draws from the same bucket and a restart does not refill
    /// it; a bucket that is full again is forgotten.
    fn take_token(&self, source: &[u8; 32], rate: TokenRate, now_ms: u64) -> Result<bool, StoreError>;

    /// Records that a gateway's libp2p side is up at `now_ms` (replacing
    /// what it announced before).
    fn announce_gateway(&self, gateway: &GatewayAnnouncement, now_ms: u64) -> Result<(), StoreError>;

    /// The gateways that announced themselves at or after `since_ms`, by
    /// PeerId.
    fn gateways(&self, since_ms: u64) -> Result<Vec<GatewayAnnouncement>, StoreError>;

    /// Stores one chunk of a blob kept with `log`, which must exist (a blob
    /// never creates a log). The chunk is first checked with
    /// [`BlobChunk::validate`]. The first chunk stored fixes the blob's log
    /// and size: a later chunk naming another log is `BlobInOtherLog`,
    /// another size `InvalidRequest`. When the blob is new, its whole size
    /// must fit in `uploader`'s and the log's remaining quota; every chunk's
    /// bytes are then charged to both when it is written. A chunk already
    /// stored is not stored or charged again (the first copy is kept).
    /// Durable when this returns `Ok`.
    fn blob_put_chunk(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        chunk: BlobChunk<'_>,
        uploader: &DeviceId,
        quotas: Quotas,
        now_ms: u64,
    ) -> Result<BlobPutOutcome, StoreError>;

    /// The blob's size and the chunks stored so far. `BlobNotFound` when
    /// `log` holds no such blob.
    fn blob_stat(&self, log: &LogId, capability_hash: &[u8; 32], blob: &BlobId) -> Result<BlobInfo, StoreError>;

    /// Chunk `index` of a complete blob. `BlobNotFound` when `log` holds no
    /// such blob, `BlobIncomplete` while chunks are missing, `InvalidRequest`
    /// for an index past the end.
    fn blob_get_chunk(
        &self,
        log: &LogId,
        capability_hash: &[u8; 32],
        blob: &BlobId,
        index: u32,
    ) -> Result<Vec<u8>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::proportional_shares;

    #[test]
    fn shares_follow_the_holdings_and_add_up() {
        assert_eq!(proportional_shares(&[600, 200], 600), vec![450, 150]);
        assert_eq!(proportional_shares(&[1, 1, 1], 2), vec![0, 1, 1]);
        assert_eq!(
            proportional_shares(&[100, 50], 1000),
            vec![100, 50],
            "never more than held"
        );
        assert_eq!(proportional_shares(&[], 10), Vec::<u64>::new());
        assert_eq!(proportional_shares(&[0, 0], 10), vec![0, 0]);
        let held = [7, 13, 0, 29, 1];
        for freed in 0..=50 {
            let shares = proportional_shares(&held, freed);
            assert_eq!(shares.iter().sum::<u64>(), freed);
            assert!(shares.iter().zip(held).all(|(share, held)| *share <= held));
        }
    }
}
