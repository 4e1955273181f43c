//! Token-bucket rate limiting, per device (frames) or per source address
//! (new device keys).

use kith_proto::DeviceId;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rate limit settings.
#[derive(Debug, Clone, Copy)]
pub struct RateConfig {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size (largest burst).
    pub burst: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            per_second: 200.0,
            burst: 400.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// One token bucket per key (a device, shared by all of its connections,
/// or a source address).
#[derive(Debug, Default)]
pub struct RateLimiter<K = DeviceId> {
    config: RateConfig,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    /// A limiter with these settings.
    pub fn new(config: RateConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `device` (or any key); `false` when the bucket
    /// is empty.
    pub fn check(&self, device: &K, now: Instant) -> bool {
        self.refilled(device, now, |bucket| {
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                true
            } else {
                false
            }
        })
    }

    /// Takes `amount` tokens for `key`, going into debt if need be, and
    /// returns how long until the debt is paid: a caller that waits that
    /// long before going on keeps `key` at the configured rate on average.
    pub fn charge(&self, key: &K, amount: f64, now: Instant) -> Duration {
        let per_second = self.config.per_second;
        self.refilled(key, now, |bucket| {
            bucket.tokens -= amount;
            if bucket.tokens >= 0.0 || per_second <= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-bucket.tokens / per_second)
            }
        })
    }

    /// Whether `key`'s bucket is in debt (after a [`RateLimiter::charge`]
    /// past it), without taking anything.
    pub fn in_debt(&self, key: &K, now: Instant) -> bool {
        self.refilled(key, now, |bucket| bucket.tokens < 0.0)
    }

    /// Runs `f` on `key`'s bucket, refilled up to `now`.
    fn refilled<T>(&self, key: &K, now: Instant, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let device = key;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > 100_000 {
            // Forget idle devices so the map stays bounded.
            let burst = self.config.burst;
            let rate = self.config.per_second;
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(*device).or_insert(Bucket {
            tokens: self.config.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.config.per_second).min(self.config.burst);
        bucket.updated = now;
        f(bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_past_the_bucket_is_paid_off_at_the_rate() {
        let limiter = RateLimiter::new(RateConfig {
            per_second: 100.0,
            burst: 200.0,
        });
        let key = 7u8;
        let t = Instant::now();
        assert_eq!(limiter.charge(&key, 150.0, t), Duration::ZERO, "within the burst");
        // 50 left; 250 more is a debt of 200: two seconds at 100 a second.
        assert_eq!(limiter.charge(&key, 250.0, t), Duration::from_secs(2));
        // One second later half the debt is paid.
        assert_eq!(
            limiter.charge(&key, 0.0, t + Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(limiter.charge(&key, 0.0, t + Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(RateConfig {
            per_second: 10.0,
            burst: 3.0,
        });
        let a = DeviceId::from_bytes([1; 32]);
        let b = DeviceId::from_bytes([2; 32]);
        let t = Instant::now();
        assert!(limiter.check(&a, t));
        assert!(limiter.check(&a, t));
        assert!(limiter.check(&a, t));
        assert!(!limiter.check(&a, t));
        assert!(limiter.check(&b, t));
        assert!(limiter.check(&a, t + Duration::from_millis(100)));
    }
}
