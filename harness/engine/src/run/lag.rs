//! Whether a real run kept up with its own clock.
//!
//! A real run shares the machine: when the process cannot keep up (a scale
//! too small for the scenario's load, other work on the cores), every timer
//! fires late, requests start late and time out, and the verdicts reflect
//! the machine rather than the scenario. A watcher sleeps a short period
//! over and over and measures how late it wakes; a run that was often late
//! by more than a few wall milliseconds says so on stderr.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_net::clock;

/// How often the watcher wakes, in wall time.
const PERIOD_WALL: Duration = Duration::from_millis(5);
/// Later than this (wall time) counts as falling behind.
const LATE_WALL: Duration = Duration::from_millis(10);
/// The share of late wakes above which a run is reported as behind.
const LATE_SHARE: f64 = 0.01;

/// What the watcher saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lag {
    wakes: u64,
    late: u64,
    /// The latest wake, in scenario time.
    worst: Duration,
}

/// A running watcher.
pub(super) struct Watch {
    seen: Arc<Mutex<Lag>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// Starts watching the current runtime's clock.
    pub(super) fn start() -> Watch {
        let seen = Arc::new(Mutex::new(Lag::default()));
        let task = tokio::spawn(watch(seen.clone()));
        Watch { seen, task }
    }

    /// Stops watching; what was seen.
    pub(super) async fn stop(self) -> Lag {
        self.task.abort();
        let _ = self.task.await;
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn watch(seen: Arc<Mutex<Lag>>) {
    // The clock's own units: scenario time, `factor` wall seconds each.
    let factor = clock::factor();
    let period = PERIOD_WALL.div_f64(factor);
    let late = LATE_WALL.div_f64(factor);
    loop {
        let due = clock::now() + period;
        clock::sleep_until(due).await;
        let behind = clock::now().saturating_duration_since(due);
        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
        s.wakes += 1;
        if behind > late {
            s.late += 1;
        }
        s.worst = s.worst.max(behind);
    }
}

impl Lag {
    /// Whether the run fell behind its clock often enough to doubt it.
    pub(super) fn behind(&self) -> bool {
        self.wakes > 0 && self.late as f64 / self.wakes as f64 > LATE_SHARE
    }

    /// Warns on stderr (tracing, shown by default) when the run fell behind.
    pub(super) fn warn_if_behind(&self, mitigation: &str) {
        if self.behind() {
            tracing::warn!(
                mitigation,
                late_wakes = self.late,
                wakes = self.wakes,
                worst_scenario_ms = self.worst.as_secs_f64() * 1e3,
                "the real run fell behind its clock (timers fired late): its figures reflect the \
                 machine's load, not only the scenario; give a larger --time-scale or free the cores"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_late_on_more_than_one_wake_in_a_hundred_is_behind() {
        let lag = |wakes, late| Lag {
            wakes,
            late,
            worst: Duration::ZERO,
        };
        assert!(!lag(0, 0).behind());
        assert!(!lag(1000, 10).behind());
        assert!(lag(1000, 11).behind());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_watcher_counts_its_wakes_and_a_wake_after_a_time_jump_as_late() {
        let w = Watch::start();
        clock::sleep(Duration::from_millis(52)).await;
        // Paused time wakes every 5 ms exactly: ten wakes, none late.
        assert_eq!(
            *w.seen.lock().unwrap(),
            Lag {
                wakes: 10,
                late: 0,
                worst: Duration::ZERO
            }
        );
        // The clock jumps 100 ms while the watcher waits (as when the thread
        // is busy): its next wake comes 97 ms late.
        clock::advance(Duration::from_millis(100)).await;
        tokio::task::yield_now().await;
        let seen = w.stop().await;
        assert_eq!((seen.wakes, seen.late), (11, 1));
        assert_eq!(seen.worst, Duration::from_millis(97));
    }
}
