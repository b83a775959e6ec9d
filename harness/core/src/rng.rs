//! The one seeded random stream of a run.
//!
//! ChaCha8 gives the same stream on every platform, so a seed reproduces a run
//! anywhere. Components get their own stream with [`SimRng::fork`], derived from
//! the run seed and a stable label, so adding a random draw in one component
//! does not shift the numbers of another.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A seeded, portable pseudo-random stream.
#[derive(Debug, Clone)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// An independent stream for the component named `label`, derived from
    /// `seed` (FNV-1a of the label mixed into the seed).
    pub fn fork(seed: u64, label: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in label.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        SimRng::new(seed ^ h.rotate_left(17))
    }

    /// A uniformly distributed `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform integer in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant for simulation.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform duration in `[0, max)`, at nanosecond resolution.
    pub fn duration_below(&mut self, max: Duration) -> Duration {
        let n = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.below(n))
    }

    /// An exponentially distributed duration with the given mean (the gap
    /// between events of a Poisson process).
    pub fn exponential(&mut self, mean: Duration) -> Duration {
        let u = 1.0 - self.unit(); // (0, 1]
        Duration::from_secs_f64(-u.ln() * mean.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn forks_differ_by_label_and_are_reproducible() {
        let x = SimRng::fork(7, "sidecar").next_u64();
        assert_eq!(x, SimRng::fork(7, "sidecar").next_u64());
        assert_ne!(x, SimRng::fork(7, "app").next_u64());
        assert_ne!(x, SimRng::fork(8, "sidecar").next_u64());
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SimRng::new(1);
        for n in [1u64, 2, 3, 25, 1000] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn exponential_mean_is_close() {
        let mut r = SimRng::new(3);
        let mean = Duration::from_millis(20);
        let total: f64 = (0..20_000).map(|_| r.exponential(mean).as_secs_f64()).sum();
        let avg = total / 20_000.0;
        assert!((avg - 0.020).abs() < 0.001, "mean {avg}");
    }
}
