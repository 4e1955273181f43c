//! Helpers shared by this crate's unit tests.
#![allow(clippy::unwrap_used)]

use crate::profile::Profile;
use kith_core::Identity;
use std::sync::Arc;

/// A profile in memory whose keys all derive from `seed`.
pub(crate) fn persona(seed: u8, name: &str) -> Profile {
    let identity = Identity::create([[seed; 32], [seed + 100; 32], [seed + 150; 32]], 1_795_000_000_000);
    Profile::with_store(identity, Arc::new(kith_store::MemoryStore::new()), name).unwrap()
}
