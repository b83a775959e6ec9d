//! What a run reports while it goes, for a progress display (`meshsim run`'s
//! bar on a terminal).
//!
//! The hook observes and never steers: it is called synchronously from the
//! run's loop (a mitigation starts or ends) and from the application's record
//! sink (the load reached another simulated second), adds no task, no timer
//! and no draw of randomness, so a run with a hook gives the same result as
//! one without (`harness/engine/tests/progress.rs` checks it byte for byte).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use meshsim_app::RecordSink;

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunEvent {
    /// A mitigation's world is about to be built.
    MitigationStarted {
        /// Its position among the selected mitigations, from 0.
        index: usize,
        /// How many mitigations are selected.
        count: usize,
        /// Its name.
        name: String,
        /// The load phase it will run for, in scenario time.
        duration: Duration,
    },
    /// The load of the current mitigation reached another whole second of
    /// scenario time (a request ended at or after it). At most one event per
    /// second, in increasing order, up to the load's length (the last one
    /// may come while in-flight requests drain after the load).
    SimulatedTime {
        /// The mitigation's position, from 0.
        index: usize,
        /// Scenario time since the start of the mitigation's run, whole seconds.
        reached: Duration,
    },
    /// A mitigation finished (its result is in the run's result).
    MitigationFinished {
        /// Its position, from 0.
        index: usize,
        /// How many mitigations are selected.
        count: usize,
        /// Its name.
        name: String,
    },
}

/// A progress hook: called with every [`RunEvent`] of a run, from the thread
/// running it. Set it in [`super::RunOptions::progress`].
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(&RunEvent) + Send + Sync>);

impl Progress {
    /// A hook calling `f`.
    pub fn new(f: impl Fn(&RunEvent) + Send + Sync + 'static) -> Progress {
        Progress(Arc::new(f))
    }

    pub(crate) fn emit(&self, event: &RunEvent) {
        (self.0)(event);
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress")
    }
}

/// Turns request end times into [`RunEvent::SimulatedTime`] events, one per
/// whole second reached, for one mitigation.
pub(crate) struct Clock {
    progress: Progress,
    index: usize,
    load_for: Duration,
    /// The last whole second reported (0: none yet).
    reported: AtomicU64,
}

impl Clock {
    pub(crate) fn new(progress: Progress, index: usize, load_for: Duration) -> Clock {
        Clock {
            progress,
            index,
            load_for,
            reported: AtomicU64::new(0),
        }
    }

    /// A request ended `ended` after the start of the run.
    pub(crate) fn observe(&self, ended: Duration) {
        let second = ended.min(self.load_for).as_secs();
        if second > self.reported.load(Ordering::Relaxed)
            && self.reported.fetch_max(second, Ordering::Relaxed) < second
        {
            self.progress.emit(&RunEvent::SimulatedTime {
                index: self.index,
                reached: Duration::from_secs(second),
            });
        }
    }
}

/// `sink`, telling `clock` (when there is one) when each record ended.
pub(crate) fn observed(sink: RecordSink, clock: Option<&Arc<Clock>>) -> RecordSink {
    let Some(clock) = clock.cloned() else {
        return sink;
    };
    RecordSink::new(move |r| {
        clock.observe(r.ended);
        sink.record(r);
    })
}
