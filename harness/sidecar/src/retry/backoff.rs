//! Envoy's retry back-off: `JitteredExponentialBackOffStrategy` (current code).
//!
//! Envoy's docs describe retry *N* waiting in `[0, (2^N - 1) * base)`; the
//! current source keeps a ceiling that starts at `base`, returns
//! `random % ceiling` and then doubles the ceiling while it is below `max / 2`,
//! else sets it to `max`. With the defaults (25 ms, 250 ms) retries wait in
//! `[0,25)`, `[0,50)`, `[0,100)`, `[0,200)`, then `[0,250)` ms. We follow the
//! code (the fact sheet's recommendation), in whole milliseconds as Envoy does.

use std::time::Duration;

use meshsim_core::SimRng;

/// The back-off of one request (Envoy makes one per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackOff {
    next_ms: u64,
    max_ms: u64,
}

impl BackOff {
    /// A back-off with `base_interval` and `max_interval`. A base under 1 ms
    /// counts as 1 ms; a max under the base counts as the base.
    pub fn new(base: Duration, max: Duration) -> BackOff {
        let base_ms = millis(base).max(1);
        BackOff {
            next_ms: base_ms,
            max_ms: millis(max).max(base_ms),
        }
    }

    /// The ceiling the next draw is taken under.
    pub fn ceiling(&self) -> Duration {
        Duration::from_millis(self.next_ms)
    }

    /// The wait before the next retry: uniform in `[0, ceiling)` ms.
    pub fn next_backoff(&mut self, rng: &mut SimRng) -> Duration {
        let ceiling = self.next_ms;
        self.next_ms = if ceiling < self.max_ms / 2 {
            ceiling * 2
        } else {
            self.max_ms
        };
        Duration::from_millis(rng.below(ceiling).min(self.max_ms))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_ceilings_follow_current_envoy_code_25_50_100_200_then_250() {
        let mut b = BackOff::new(Duration::from_millis(25), Duration::from_millis(250));
        let mut rng = SimRng::new(1);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling().as_millis());
            b.next_backoff(&mut rng);
        }
        assert_eq!(ceilings, vec![25, 50, 100, 200, 250, 250]);
    }

    #[test]
    fn sub_millisecond_base_rounds_up_to_one_millisecond() {
        let b = BackOff::new(Duration::from_micros(10), Duration::from_micros(10));
        assert_eq!(b.ceiling(), Duration::from_millis(1));
    }

    proptest! {
        #[test]
        fn backoff_stays_below_its_ceiling_and_the_max_and_ceilings_never_decrease(
            base_ms in 1u64..1000, factor in 1u64..20, seed in any::<u64>(), n in 1usize..30,
        ) {
            let max_ms = base_ms * factor;
            let mut b = BackOff::new(Duration::from_millis(base_ms), Duration::from_millis(max_ms));
            let mut rng = SimRng::new(seed);
            let mut last_ceiling = Duration::ZERO;
            for _ in 0..n {
                let ceiling = b.ceiling();
                prop_assert!(ceiling >= last_ceiling);
                prop_assert!(ceiling <= Duration::from_millis(max_ms));
                let wait = b.next_backoff(&mut rng);
                prop_assert!(wait < ceiling);
                last_ceiling = ceiling;
            }
        }

        #[test]
        fn same_seed_gives_the_same_waits(seed in any::<u64>()) {
            let draw = || {
                let mut b = BackOff::new(Duration::from_millis(25), Duration::from_millis(250));
                let mut rng = SimRng::new(seed);
                (0..8).map(|_| b.next_backoff(&mut rng)).collect::<Vec<_>>()
            };
            prop_assert_eq!(draw(), draw());
        }
    }
}
