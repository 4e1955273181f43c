//! Wall-clock time as an input: the server reads the time through a
//! [`Clock`] held in [`AppState`](crate::AppState), so code that stamps
//! entries or checks authentication timestamps can be run at a chosen time.

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's clock; what the server uses unless told otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            // A clock set before 1970 reads as the epoch rather than failing.
            .unwrap_or(0)
    }
}
