//! Percentiles from sorted samples and a small timing helper.

use std::time::{Duration, Instant};

/// Milliseconds of a duration, as a float.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// Times one call, returning its result and how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// Samples (milliseconds) with nearest-rank percentiles.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    values: Vec<f64>,
    sorted: bool,
}

impl Samples {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Samples {
        Samples {
            values: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Records one duration.
    pub fn push(&mut self, duration: Duration) {
        self.values.push(ms(duration));
        self.sorted = false;
    }

    /// The `p`-th percentile (0 < p <= 100), nearest rank; 0 when empty.
    pub fn percentile(&mut self, p: f64) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        if !self.sorted {
            self.values.sort_by(f64::total_cmp);
            self.sorted = true;
        }
        let n = self.values.len();
        let rank = (p / 100.0 * n as f64).ceil() as usize;
        self.values[rank.clamp(1, n) - 1]
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Samples;
    use std::time::Duration;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::with_capacity(100);
        for i in (1..=100).rev() {
            samples.push(Duration::from_millis(i));
        }
        assert_eq!(samples.percentile(50.0), 50.0);
        assert_eq!(samples.percentile(99.0), 99.0);
        assert_eq!(samples.percentile(100.0), 100.0);
        assert_eq!(samples.percentile(0.1), 1.0);
        assert_eq!(samples.len(), 100);
    }
}
