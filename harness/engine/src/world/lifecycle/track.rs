//! What a pod with a lifecycle went through: its event log (kubelet's and
//! the sidecar's phases) and the figures read off its application's records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_app::RecordSink;
use meshsim_core::{PodEvent, PodLifecycleResult, RequestRecord};
use meshsim_net::clock::Instant;

/// The pod's event log, times from the run's start.
#[derive(Clone)]
pub(super) struct Log {
    start: Instant,
    events: Arc<Mutex<Vec<(Duration, String)>>>,
}

impl Log {
    pub(super) fn new(start: Instant) -> Log {
        Log {
            start,
            events: Arc::default(),
        }
    }

    /// The time since the run's start.
    pub(super) fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    /// Logs `what` now.
    pub(super) fn note(&self, what: impl Into<String>) {
        self.note_at(self.now(), what);
    }

    /// Logs `what` at `at`.
    pub(super) fn note_at(&self, at: Duration, what: impl Into<String>) {
        let what = what.into();
        tracing::debug!(at = ?at, %what, "pod lifecycle");
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((at, what));
    }

    /// Every event, by time (stable: same-time events keep their order).
    pub(super) fn events(&self) -> Vec<PodEvent> {
        let mut list = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        list.sort_by_key(|(at, _)| *at);
        list.into_iter()
            .map(|(at, what)| PodEvent {
                at_s: at.as_secs_f64(),
                what,
            })
            .collect()
    }
}

/// The application's records, as far as start-up and termination figures
/// need them.
#[derive(Default)]
struct Seen {
    first_request: Option<Duration>,
    /// (scheduled, ended) of the first success.
    first_success: Option<(Duration, Duration)>,
    /// (scheduled, ended) of every failure.
    failures: Vec<(Duration, Duration)>,
}

/// Watches the records on their way to the run's collector.
#[derive(Clone, Default)]
pub(super) struct Tracker {
    seen: Arc<Mutex<Seen>>,
}

impl Tracker {
    /// A sink that notes every record, then hands it to `inner`.
    pub(super) fn wrap(&self, inner: RecordSink) -> RecordSink {
        let seen = self.seen.clone();
        RecordSink::new(move |r: RequestRecord| {
            note(&mut seen.lock().unwrap_or_else(|e| e.into_inner()), &r);
            inner.record(r);
        })
    }

    /// Fills the figures of `out` read off the records: `sigterm` is when
    /// the pod's deletion began, if it did.
    pub(super) fn fill(&self, out: &mut PodLifecycleResult, sigterm: Option<Duration>) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        out.first_request_s = seen.first_request.map(|d| d.as_secs_f64());
        out.first_success_s = seen.first_success.map(|(_, end)| end.as_secs_f64());
        let before = seen.first_success.map(|(start, _)| start);
        out.startup_failures = seen
            .failures
            .iter()
            .filter(|(start, _)| before.is_none_or(|b| *start < b))
            .count() as u64;
        out.termination_failures = sigterm.map_or(0, |t| {
            seen.failures.iter().filter(|(_, end)| *end >= t).count() as u64
        });
    }
}

fn note(seen: &mut Seen, r: &RequestRecord) {
    let start = r.scheduled;
    seen.first_request = Some(seen.first_request.map_or(start, |f| f.min(start)));
    if r.outcome.is_ok() {
        let earlier = seen.first_success.is_none_or(|(s, _)| start < s);
        if earlier {
            seen.first_success = Some((start, r.ended));
        }
    } else {
        seen.failures.push((start, r.ended));
    }
}
