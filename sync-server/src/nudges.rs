//! What the server keeps for email nudges: a device's address, how long it
//! may be away, the logs whose new entries count as waiting for it, and
//! when it was last nudged. Every backend implements [`NudgeStore`]; the
//! rules are in [`conformance`](crate::conformance).

use crate::store_error::StoreError;
use kith_proto::{DeviceId, LogId};

/// A device to email now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNudge {
    /// The device away.
    pub device: DeviceId,
    /// Where to write.
    pub address: String,
    /// The unsubscribe secret.
    pub token: [u8; 16],
}

/// Email nudge registrations.
pub trait NudgeStore: Send + Sync + 'static {
    /// Registers (or changes) `device`'s nudge: `address`, after `after_ms`
    /// away, for new entries in `logs` (which replace the earlier ones).
    /// A new registration gets `token`; a changed one keeps its own (links
    /// in emails already sent keep working). Returns the token in force.
    fn set_nudge(
        &self,
        device: &DeviceId,
        address: &str,
        token: [u8; 16],
        after_ms: u64,
        logs: &[LogId],
        now_ms: u64,
    ) -> Result<[u8; 16], StoreError>;

    /// Whether `device` has a nudge registered.
    fn has_nudge(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// Removes `device`'s nudge; returns whether it had one.
    fn stop_nudges(&self, device: &DeviceId) -> Result<bool, StoreError>;

    /// Removes the nudge whose unsubscribe secret is `token`; returns
    /// whether there was one.
    fn unsubscribe(&self, token: &[u8; 16]) -> Result<bool, StoreError>;

    /// Records that `devices` are connected at `now_ms` (their "last seen").
    fn touch_devices(&self, devices: &[DeviceId], now_ms: u64) -> Result<(), StoreError>;

    /// Up to `limit` devices away longer than their setting, not nudged
    /// since they were last seen, with an entry received in one of their
    /// logs after that.
    fn due_nudges(&self, now_ms: u64, limit: u32) -> Result<Vec<DueNudge>, StoreError>;

    /// Marks `device` nudged at `now_ms`, if it is still due; returns
    /// whether this call did (so two gateways send one email, not two).
    fn claim_nudge(&self, device: &DeviceId, now_ms: u64) -> Result<bool, StoreError>;
}
