//! Who an authenticated peer is.

use kith_proto::{AccountId, DeviceId};

/// Who the peer turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Its account.
    pub account: AccountId,
    /// Its device.
    pub device: DeviceId,
    /// Whether it is one of this account's own devices.
    pub own: bool,
}
