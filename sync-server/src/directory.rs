//! The storage the server needs to let people find each other and to keep
//! strangers in their place: usernames (by the hash of the canonical name,
//! never the name), each device's request inbox, abuse reports and the
//! operator's suspensions. Every [`LogStore`](crate::LogStore) backend
//! implements it; the rules are checked for all of them in
//! [`conformance`](crate::conformance).

use crate::store_error::StoreError;
use kith_proto::{DeviceId, LogId};

/// One abuse report, as the operator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseReport {
    /// The device reported.
    pub reported: DeviceId,
    /// The device that reported it.
    pub reporter: DeviceId,
    /// The reporter's words.
    pub reason: String,
    /// When, in ms since the Unix epoch.
    pub at_ms: u64,
}

/// How one username claim went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The name was free and is now the claimant's.
    Claimed,
    /// The claimant already held it; its record was replaced.
    Updated,
}

/// Usernames, inboxes, reports and suspensions.
pub trait DirectoryStore: Send + Sync + 'static {
    /// Claims `lookup` for the holder of the manage key hashing to
    /// `manage_hash`, with `record` as the answer to lookups. Someone
    /// else's name is `Taken`, a suspended one `Suspended`.
    fn claim_name(
        &self,
        lookup: &[u8; 32],
        record: &[u8],
        manage_hash: &[u8; 32],
        claimant: &DeviceId,
        now_ms: u64,
    ) -> Result<ClaimOutcome, StoreError>;

    /// The record of a claimed name (`None` when nobody holds it, or the
    /// operator suspended it).
    fn find_name(&self, lookup: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Frees a name: only with its manage key (`NotManager`); a name not
    /// claimed is `NotFound`, a suspended one `Suspended`.
    fn release_name(&self, lookup: &[u8; 32], manage_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// The operator takes a name (claimed or not): lookups find nothing and
    /// nobody may claim it. Returns whether someone held it.
    fn suspend_name(&self, lookup: &[u8; 32], now_ms: u64) -> Result<bool, StoreError>;

    /// Makes `log` (created with `capability_hash` if it does not exist;
    /// an existing log must have that capability, else `Forbidden`) the
    /// request inbox of `device`, replacing an earlier one.
    fn open_inbox(
        &self,
        device: &DeviceId,
        log: &LogId,
        capability_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<(), StoreError>;

    /// `device`'s inbox log and its capability hash.
    fn inbox(&self, device: &DeviceId) -> Result<Option<(LogId, [u8; 32])>, StoreError>;

    /// Keeps a report (one per reporter and reported device: a second one
    /// replaces the reason).
    fn record_report(&self, report: &AbuseReport) -> Result<(), StoreError>;

    /// The newest `limit` reports, newest first.
    fn reports(&self, limit: u32) -> Result<Vec<AbuseReport>, StoreError>;

    /// Suspends a device: it cannot sign in until lifted.
    fn suspend_device(&self, device: &DeviceId, reason: &str, now_ms: u64) -> Result<(), StoreError>;

    /// Lifts a device's suspension; returns whether it was suspended.
    fn lift_suspension(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// Whether `device` is suspended.
    fn device_suspended(&self, device: &DeviceId) -> Result<bool, StoreError>;
}
