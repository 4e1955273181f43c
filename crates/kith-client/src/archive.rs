//! The handle for copies of a profile that live in files: encrypted
//! backups (backup.rs) and imports of exports (import.rs).

use crate::profile::Profile;

/// Backups of one profile and imports into it.
#[derive(Clone, Copy, Debug)]
pub struct Archive<'p> {
    pub(crate) profile: &'p Profile,
}

impl Profile {
    /// Backups of this profile and imports into it.
    pub fn archive(&self) -> Archive<'_> {
        Archive { profile: self }
    }
}
