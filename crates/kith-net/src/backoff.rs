//! Reconnect delays: exponential with full jitter, so many clients that lost
//! the same server do not all come back in the same instant.

use std::time::Duration;

/// Exponential backoff with full jitter. The random source is an input.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays start around `base` and never exceed `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max, attempt: 0 }
    }

    /// The delay before the next attempt; `unit` is a uniform random number
    /// in `[0, 1)`.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Call after a successful connection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let ceilings: Vec<_> = (0..10).map(|_| backoff.next_delay(0.999_999)).collect();
        assert!(ceilings[0] < Duration::from_millis(101));
        assert!(ceilings[3] > Duration::from_millis(700) && ceilings[3] <= Duration::from_millis(800));
        assert!(ceilings[9] <= Duration::from_secs(5) && ceilings[9] > Duration::from_millis(4900));
        assert_eq!(backoff.next_delay(0.0), Duration::ZERO, "full jitter reaches zero");
        backoff.reset();
        assert!(backoff.next_delay(0.999_999) < Duration::from_millis(101));
    }
}
