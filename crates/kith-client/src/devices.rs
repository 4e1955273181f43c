//! This account's devices: the list, revoking one and linking a new one.

use crate::error::ClientError;
use crate::profile::Profile;
use crate::views::DeviceView;
use kith_core::docs::account;
use kith_proto::DocId;

/// This account's devices: the list, revoking one and linking a new one.
#[derive(Clone, Copy, Debug)]
pub struct Devices<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// This account's devices.
    pub fn devices(&self) -> Devices<'_> {
        Devices { profile: self }
    }
}

impl Devices<'_> {
    /// This account's devices.
    pub fn list(&self) -> Result<Vec<DeviceView>, ClientError> {
        let me = self.profile.identity().account_id();
        let this = self.profile.identity().device_id();
        Ok(self
            .profile
            .store()
            .devices(&me)?
            .into_iter()
            .map(|entry| DeviceView {
                device_id: entry.cert.device,
                issued_ms: entry.cert.issued_ms,
                revoked: entry.revoked_at.is_some(),
                this_device: entry.cert.device == this,
            })
            .collect())
    }

    /// Revokes another device of this account: its later account changes are
    /// refused, and new keys (account stream, every chat) that it never
    /// receives are started; contacts are told on the next sync.
    pub fn revoke(&self, device: &kith_proto::DeviceId) -> Result<(), ClientError> {
        let me = self.profile.identity().account_id();
        if *device == self.profile.identity().device_id() {
            return Err(ClientError::RevokeSelf);
        }
        if !self.list()?.iter().any(|d| d.device_id == *device) {
            return Err(ClientError::NoSuchDevice(*device));
        }
        let now = i64::try_from(self.profile.now_ms()).unwrap_or(i64::MAX);
        self.profile.write(|ctx| {
            account::revoke_device(ctx.doc(DocId::Account(me))?, device, now)?;
            Ok(())
        })?;
        self.profile.rotate_after_revocation(device)
    }
}
