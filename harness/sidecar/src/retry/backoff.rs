//! Envoy's retry back-off, both formulas (fact sheet §1.2), in whole
//! milliseconds as Envoy does.
//!
//! - [`BackOffFormula::CurrentCode`] (`JitteredExponentialBackOffStrategy`,
//!   the default): a ceiling starts at `base`; each draw is
//!   `random % ceiling`, then the ceiling doubles while it is below `max / 2`,
//!   else becomes `max`. Defaults (25 ms, 250 ms): `[0,25)`, `[0,50)`,
//!   `[0,100)`, `[0,200)`, then `[0,250)` ms.
//! - [`BackOffFormula::Documented`] (the docs, and the older
//!   `JitteredBackOffStrategy`): retry N draws `random % ((2^N - 1) * base)`
//!   capped at `max`; N stops growing once that product passes `max`.
//!   Defaults: `[0,25)`, `[0,75)`, `[0,175)`, then `min([0,375), 250)`.

use std::time::Duration;

use meshsim_core::SimRng;

use crate::config::BackOffFormula;

/// The back-off of one request (Envoy makes one per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackOff {
    formula: BackOffFormula,
    base_ms: u64,
    max_ms: u64,
    /// CurrentCode: the next ceiling. Documented: unused.
    next_ms: u64,
    /// Documented: N, the 1-based retry the next draw is for.
    retry: u32,
}

impl BackOff {
    /// The current-code back-off with `base_interval` and `max_interval`. A
    /// base under 1 ms counts as 1 ms; a max under the base counts as the base.
    pub fn new(base: Duration, max: Duration) -> BackOff {
        BackOff::with_formula(base, max, BackOffFormula::CurrentCode)
    }

    /// A back-off following `formula`; bounds as in [`BackOff::new`].
    pub fn with_formula(base: Duration, max: Duration, formula: BackOffFormula) -> BackOff {
        let base_ms = millis(base).max(1);
        BackOff {
            formula,
            base_ms,
            max_ms: millis(max).max(base_ms),
            next_ms: base_ms,
            retry: 1,
        }
    }

    /// The ceiling the next draw is taken under (Documented: it may pass the
    /// max, the draw is then capped).
    pub fn ceiling(&self) -> Duration {
        Duration::from_millis(match self.formula {
            BackOffFormula::CurrentCode => self.next_ms,
            BackOffFormula::Documented => self.documented_ceiling(),
        })
    }

    fn documented_ceiling(&self) -> u64 {
        let multiplier = 1u64
            .checked_shl(self.retry)
            .map_or(u64::MAX, |m| m.saturating_sub(1));
        multiplier.saturating_mul(self.base_ms)
    }

    /// The wait before the next retry: below the ceiling, never above the max.
    pub fn next_backoff(&mut self, rng: &mut SimRng) -> Duration {
        let ceiling = self.ceiling().as_millis() as u64;
        match self.formula {
            BackOffFormula::CurrentCode => {
                self.next_ms = if ceiling < self.max_ms / 2 {
                    ceiling * 2
                } else {
                    self.max_ms
                };
            }
            BackOffFormula::Documented => {
                if ceiling <= self.max_ms {
                    self.retry += 1;
                }
            }
        }
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

    /// Fact sheet §1.2: the documented `(2^N - 1)·B` formula.
    #[test]
    fn documented_formula_ceilings_are_25_75_175_then_375_capped_at_250() {
        let mut b = BackOff::with_formula(
            Duration::from_millis(25),
            Duration::from_millis(250),
            BackOffFormula::Documented,
        );
        let mut rng = SimRng::new(1);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling().as_millis());
            assert!(b.next_backoff(&mut rng) <= Duration::from_millis(250));
        }
        assert_eq!(ceilings, vec![25, 75, 175, 375, 375, 375]);
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

        /// Fact sheet §1.2: every draw of the documented formula is below
        /// `(2^N - 1)·B` for retry N and never above the max.
        #[test]
        fn documented_backoff_draws_stay_below_2_pow_n_minus_1_times_base_and_the_max(
            base_ms in 1u64..1000, factor in 1u64..20, seed in any::<u64>(), n in 1u32..30,
        ) {
            let max_ms = base_ms * factor;
            let max = Duration::from_millis(max_ms);
            let mut b = BackOff::with_formula(Duration::from_millis(base_ms), max, BackOffFormula::Documented);
            let mut rng = SimRng::new(seed);
            let mut last_ceiling = Duration::ZERO;
            for retry in 1..=n {
                let ceiling = b.ceiling();
                let formula = ((1u64 << retry.min(40)) - 1) * base_ms;
                prop_assert!(ceiling.as_millis() as u64 <= formula);
                prop_assert!(ceiling >= last_ceiling);
                let wait = b.next_backoff(&mut rng);
                prop_assert!(wait < ceiling && wait <= max);
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
