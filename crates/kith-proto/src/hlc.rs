//! Hybrid logical clock: wall-clock milliseconds plus a counter.
//!
//! Messages are ordered by HLC so that a device whose clock runs behind still
//! places its replies after the message it answered, and one whose clock runs
//! far ahead cannot drag everybody's clock with it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How far ahead of the local wall clock a remote timestamp may pull the local
/// clock. Remote timestamps beyond that keep their own value for ordering but do
/// not move our clock.
pub const MAX_FORWARD_DRIFT_MS: u64 = 5 * 60 * 1000;

/// A hybrid logical clock timestamp, packed as `millis << 16 | counter`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc(u64);

impl Hlc {
    /// The zero timestamp, before every other.
    pub const ZERO: Hlc = Hlc(0);

    /// Builds a timestamp from its parts. The counter is 16 bits.
    pub fn new(millis: u64, counter: u16) -> Hlc {
        Hlc((millis << 16) | u64::from(counter))
    }

    /// Wall-clock milliseconds since the Unix epoch.
    pub fn millis(self) -> u64 {
        self.0 >> 16
    }

    /// Logical counter within one millisecond.
    pub fn counter(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// The packed form, as stored in documents and SQLite (fits an i64 until the year 6400).
    pub fn to_packed(self) -> u64 {
        self.0
    }

    /// Rebuilds from the packed form.
    pub fn from_packed(packed: u64) -> Hlc {
        Hlc(packed)
    }

    /// The packed form as a signed SQLite/Automerge integer.
    pub fn to_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// Rebuilds from a signed integer; negative values clamp to zero.
    pub fn from_i64(value: i64) -> Hlc {
        Hlc(u64::try_from(value).unwrap_or(0))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.millis(), self.counter())
    }
}

/// The state of one device's hybrid logical clock. Sans-IO: the caller passes `now`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A clock that has issued nothing yet, or resumes after `last`.
    pub fn resume(last: Hlc) -> HlcClock {
        HlcClock { last }
    }

    /// The last timestamp issued or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// Issues a timestamp for a local event at wall time `now_ms`, strictly
    /// greater than every timestamp issued or observed before.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let next = if now_ms > self.last.millis() {
            Hlc::new(now_ms, 0)
        } else if self.last.counter() == u16::MAX {
            Hlc::new(self.last.millis() + 1, 0)
        } else {
            Hlc::new(self.last.millis(), self.last.counter() + 1)
        };
        self.last = next;
        next
    }

    /// Takes note of a remote timestamp so later local events order after it,
    /// unless it is implausibly far ahead of `now_ms`.
    pub fn observe(&mut self, remote: Hlc, now_ms: u64) {
        if remote.millis() <= now_ms.saturating_add(MAX_FORWARD_DRIFT_MS) && remote > self.last {
            self.last = remote;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_strictly_increasing_even_when_wall_clock_goes_back() {
        let mut clock = HlcClock::default();
        let a = clock.tick(1_000);
        let b = clock.tick(900);
        let c = clock.tick(900);
        assert!(a < b && b < c);
        assert_eq!(b.millis(), 1_000);
    }

    #[test]
    fn a_reply_from_a_slow_clock_orders_after_what_it_answers() {
        let mut fast = HlcClock::default();
        let question = fast.tick(10_000);
        let mut slow = HlcClock::default();
        slow.observe(question, 5_000);
        let answer = slow.tick(5_000);
        assert!(answer > question);
    }

    #[test]
    fn a_far_future_remote_does_not_drag_the_clock() {
        let mut clock = HlcClock::default();
        clock.observe(Hlc::new(10_000_000_000, 0), 1_000);
        assert_eq!(clock.tick(1_000).millis(), 1_000);
    }

    #[test]
    fn packed_round_trip() {
        let t = Hlc::new(1_700_000_000_000, 7);
        assert_eq!(Hlc::from_i64(t.to_i64()), t);
        assert_eq!(t.counter(), 7);
        assert_eq!(t.millis(), 1_700_000_000_000);
    }
}
