//! Kubelet's signals to the application container, and the waits the load
//! loop and its request tasks make on them.

use std::future::{Future, pending};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use meshsim_net::clock::{Instant, sleep_until};
use tokio::sync::watch;

use crate::drive::Shared;

/// The signals kubelet sends the application container of one
/// [`crate::drive_lifecycle`].
///
/// Cheap to clone; every clone signals the same container. The engine keeps
/// one clone and hands another over in [`crate::Lifecycle::control`]. A
/// signal sent before the drive starts is seen when it starts.
#[derive(Debug, Clone)]
pub struct AppControl {
    signal: Arc<watch::Sender<Signal>>,
}

/// The container's state as signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Running,
    /// SIGTERM: requests are still scheduled before `until`.
    Term {
        until: Instant,
    },
    /// SIGKILL.
    Kill,
}

/// How the load phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadEnd {
    /// Nothing more is scheduled; in-flight requests drain from `from`.
    Drain { from: Instant },
    /// SIGKILL: in-flight requests are abandoned.
    Killed,
}

// === impl AppControl ===

impl Default for AppControl {
    fn default() -> Self {
        AppControl::new()
    }
}

impl AppControl {
    /// A container not signalled yet.
    pub fn new() -> AppControl {
        AppControl {
            signal: Arc::new(watch::Sender::new(Signal::Running)),
        }
    }

    /// SIGTERM: the application keeps scheduling requests for `keep_working`
    /// from now (it finishes its batch, flushes its queue), then schedules
    /// nothing more; its in-flight requests finish (bounded by `drain_for`
    /// from then), then the drive returns. `keep_working` 0: stop scheduling
    /// at once (a request due right now is not made). A second SIGTERM, or
    /// one after SIGKILL, changes nothing.
    pub fn terminate(&self, keep_working: Duration) {
        let until = Instant::now() + keep_working;
        self.signal.send_if_modified(|s| match s {
            Signal::Running => {
                *s = Signal::Term { until };
                true
            }
            Signal::Term { .. } | Signal::Kill => false,
        });
    }

    /// SIGKILL: nothing more is scheduled, in-flight requests are abandoned at
    /// once (not recorded: no one observed their outcome; counted in
    /// [`crate::DriveStats::abandoned`]), every connection closes with the
    /// process, and the drive returns now. Works during the SIGTERM grace
    /// period too.
    pub fn kill(&self) {
        self.signal.send_replace(Signal::Kill);
    }
}

/// Resolves when the load must stop scheduling: at SIGTERM's `until`, or at
/// SIGKILL; never without a control.
pub(crate) async fn halted(control: &Option<AppControl>) -> LoadEnd {
    let Some(control) = control else {
        return pending().await;
    };
    // `control` holds the sender, so `changed` cannot fail.
    let mut rx = control.signal.subscribe();
    loop {
        let now = *rx.borrow_and_update();
        match now {
            Signal::Running => {
                let _ = rx.changed().await;
            }
            Signal::Term { until } => {
                tokio::select! {
                    biased;
                    _ = rx.changed() => {}
                    () = sleep_until(until) => return LoadEnd::Drain { from: until },
                }
            }
            Signal::Kill => return LoadEnd::Killed,
        }
    }
}

/// Resolves at SIGKILL; never without a control.
pub(crate) async fn killed(control: &Option<AppControl>) {
    match control {
        None => pending().await,
        Some(control) => {
            let mut rx = control.signal.subscribe();
            let _ = rx.wait_for(|s| *s == Signal::Kill).await;
        }
    }
}

/// Runs `request` unless SIGKILL comes first: then it is dropped unrecorded
/// (its connection closes with it) and counted as abandoned.
pub(crate) async fn unless_killed<F>(control: Option<AppControl>, shared: Arc<Shared>, request: F)
where
    F: Future<Output = ()>,
{
    tokio::select! {
        biased;
        () = killed(&control) => {
            shared.counters.abandoned.fetch_add(1, Ordering::Relaxed);
        }
        () = request => {}
    }
}
