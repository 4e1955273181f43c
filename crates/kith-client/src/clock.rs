//! Wall-clock time and hybrid logical clocks as kept in the store.
//!
//! Only [`system_now_ms`] reads the system clock; everything else takes the
//! time from the profile's injected clock (`Profile::set_clock`).

use kith_proto::Hlc;

/// Milliseconds since the Unix epoch from the system clock.
pub fn system_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An HLC kept in a meta value (8 bytes, big-endian packed).
pub(crate) fn hlc_from_meta(bytes: Option<Vec<u8>>) -> Option<Hlc> {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(|b| Hlc::from_packed(u64::from_be_bytes(b)))
}
