//! Open-loop schedules: when each request of each call starts.
//!
//! The schedule is fixed in advance by the rate, never by how fast responses
//! come back: a slow request does not delay the next one, so latency measured
//! from the scheduled start has no coordinated omission (oha's "latency
//! corrected" mode, wrk2). All calls are merged into one ordered stream so
//! request ids are handed out in a deterministic order.

use std::time::Duration;

use meshsim_core::{Rate, SimRng};

/// How the gaps between a call's requests are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    /// Exactly one request every `1 / rate`, the first at the start.
    #[default]
    Constant,
    /// A Poisson process: exponential gaps of mean `1 / rate`, drawn from the
    /// run's seeded RNG.
    Poisson,
}

/// The clock of one call.
#[derive(Debug)]
enum Clock {
    Constant { per_second: f64, index: u64 },
    Poisson { rng: Box<SimRng>, mean: Duration },
}

#[derive(Debug)]
struct CallClock {
    clock: Clock,
    next: Duration,
    /// Requests this call may still make; `None`: unbounded.
    left: Option<u64>,
}

impl CallClock {
    fn new(rate: Rate, arrival: Arrival, mut rng: SimRng) -> CallClock {
        match arrival {
            Arrival::Constant => CallClock {
                clock: Clock::Constant {
                    per_second: rate.per_second(),
                    index: 0,
                },
                next: Duration::ZERO,
                left: None,
            },
            Arrival::Poisson => {
                let mean = rate.interval();
                let next = rng.exponential(mean);
                CallClock {
                    clock: Clock::Poisson {
                        rng: Box::new(rng),
                        mean,
                    },
                    next,
                    left: None,
                }
            }
        }
    }

    /// Whether the call may make another request before `until` (an offset
    /// on the call's own clock).
    fn due_before(&self, until: Duration) -> bool {
        self.next < until && self.left != Some(0)
    }

    fn advance(&mut self) {
        self.left = self.left.map(|n| n.saturating_sub(1));
        self.next = match &mut self.clock {
            Clock::Constant { per_second, index } => {
                *index += 1;
                // From the index, not by adding gaps: no drift over long runs.
                Duration::from_secs_f64(*index as f64 / *per_second)
            }
            Clock::Poisson { rng, mean } => self.next.saturating_add(rng.exponential(*mean)),
        };
    }
}

/// The merged schedule of every call, as offsets from the start of the load.
#[derive(Debug)]
pub(crate) struct Schedule {
    calls: Vec<CallClock>,
    until: Duration,
    /// Where the calls' clocks start (their first request), from the start.
    begin: Duration,
}

impl Schedule {
    /// A schedule for `calls` (rate, arrival) that ends before `until`. Each
    /// Poisson call draws from its own stream, taken from `rng` in call order.
    pub(crate) fn new(calls: &[(Rate, Arrival)], until: Duration, rng: &mut SimRng) -> Schedule {
        let calls = calls
            .iter()
            .map(|&(rate, arrival)| CallClock::new(rate, arrival, SimRng::new(rng.next_u64())))
            .collect();
        Schedule {
            calls,
            until,
            begin: Duration::ZERO,
        }
    }

    /// The same schedule with at most `counts[i]` requests of call `i`
    /// (`None`: unbounded; calls beyond `counts` stay unbounded).
    pub(crate) fn limited(mut self, counts: &[Option<u64>]) -> Schedule {
        for (clock, count) in self.calls.iter_mut().zip(counts) {
            clock.left = *count;
        }
        self
    }

    /// The same schedule started at `begin`: every call's first request is at
    /// `begin` (its clock starts there), and nothing is scheduled from
    /// `until` on, as before.
    pub(crate) fn starting_at(mut self, begin: Duration) -> Schedule {
        self.begin = begin;
        self
    }

    /// Whether every call had a count and has made all its requests: the
    /// load is over however long `until` still is.
    pub(crate) fn counts_done(&self) -> bool {
        self.calls.iter().all(|c| c.left == Some(0))
    }
}

impl Iterator for Schedule {
    /// (call index, offset from the start).
    type Item = (usize, Duration);

    /// The earliest next request of any call; ties go to the lower call index.
    fn next(&mut self) -> Option<(usize, Duration)> {
        let until = self.until.checked_sub(self.begin)?;
        let (index, clock) = self
            .calls
            .iter_mut()
            .enumerate()
            .filter(|(_, c)| c.due_before(until))
            .min_by_key(|(i, c)| (c.next, *i))?;
        let at = self.begin + clock.next;
        clock.advance();
        Some((index, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: f64) -> Rate {
        Rate::try_per_second(per_second).unwrap()
    }

    #[test]
    fn constant_rate_gives_exactly_rate_times_duration_requests() {
        for (r, secs, expected) in [(10.0, 2, 20), (3.0, 7, 21), (50.0, 60, 3000), (0.5, 10, 5)] {
            let s = Schedule::new(
                &[(rate(r), Arrival::Constant)],
                Duration::from_secs(secs),
                &mut SimRng::new(1),
            );
            assert_eq!(s.count(), expected, "{r}/s for {secs}s");
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced_from_the_start() {
        let s = Schedule::new(
            &[(rate(4.0), Arrival::Constant)],
            Duration::from_secs(1),
            &mut SimRng::new(1),
        );
        let at: Vec<u64> = s.map(|(_, d)| d.as_millis() as u64).collect();
        assert_eq!(at, vec![0, 250, 500, 750]);
    }

    #[test]
    fn poisson_with_a_seed_is_reproducible_and_near_its_rate() {
        let run = |seed| {
            Schedule::new(
                &[(rate(100.0), Arrival::Poisson)],
                Duration::from_secs(100),
                &mut SimRng::new(seed),
            )
            .map(|(_, d)| d)
            .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!((9_500..10_500).contains(&a.len()), "{} requests", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn calls_are_merged_in_time_order_with_ties_to_the_lower_index() {
        let calls = [
            (rate(1.0), Arrival::Constant),
            (rate(2.0), Arrival::Constant),
        ];
        let s = Schedule::new(&calls, Duration::from_secs(2), &mut SimRng::new(1));
        let got: Vec<(usize, u64)> = s.map(|(c, d)| (c, d.as_millis() as u64)).collect();
        assert_eq!(
            got,
            vec![(0, 0), (1, 0), (1, 500), (0, 1000), (1, 1000), (1, 1500)]
        );
    }

    #[test]
    fn a_late_begin_starts_every_clock_there_and_keeps_the_end() {
        let calls = [(rate(2.0), Arrival::Constant)];
        let s = Schedule::new(&calls, Duration::from_secs(3), &mut SimRng::new(1))
            .starting_at(Duration::from_millis(1200));
        let at: Vec<u64> = s.map(|(_, d)| d.as_millis() as u64).collect();
        assert_eq!(at, vec![1200, 1700, 2200, 2700]);
        let late = Schedule::new(&calls, Duration::from_secs(3), &mut SimRng::new(1))
            .starting_at(Duration::from_secs(3));
        assert_eq!(late.count(), 0);
    }

    #[test]
    fn counts_bound_each_call_and_say_when_all_are_done() {
        let calls = [
            (rate(10.0), Arrival::Constant),
            (rate(10.0), Arrival::Constant),
        ];
        let mut s = Schedule::new(&calls, Duration::from_secs(10), &mut SimRng::new(1))
            .limited(&[Some(2), Some(3)]);
        let got: Vec<(usize, u64)> = s.by_ref().map(|(c, d)| (c, d.as_millis() as u64)).collect();
        assert_eq!(got, vec![(0, 0), (1, 0), (0, 100), (1, 100), (1, 200)]);
        assert!(s.counts_done());
        let mut open = Schedule::new(&calls, Duration::from_secs(1), &mut SimRng::new(1))
            .limited(&[Some(2), None]);
        assert_eq!(open.by_ref().count(), 12);
        assert!(
            !open.counts_done(),
            "an unbounded call is never done by count"
        );
    }

    proptest::proptest! {
        #[test]
        fn constant_schedules_hold_ceil_rate_times_duration_sorted_offsets(per_s in 1u32..500, ms in 1u64..20_000) {
            let until = Duration::from_millis(ms);
            let s = Schedule::new(&[(rate(f64::from(per_s)), Arrival::Constant)], until, &mut SimRng::new(1));
            let at: Vec<Duration> = s.map(|(_, d)| d).collect();
            let expected = (u64::from(per_s) * ms).div_ceil(1000);
            proptest::prop_assert_eq!(at.len() as u64, expected);
            proptest::prop_assert!(at.windows(2).all(|w| w[0] < w[1]) && at.iter().all(|d| *d < until));
        }
    }
}
