//! The phase of one sidecar, its log, and what is held until the first push.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use meshsim_net::clock::Instant;
use tokio::sync::watch;

use super::Phase;
use crate::config::{Endpoint, SidecarConfig};

/// A push that arrived before Envoy's first CDS/LDS (kept, in order, and in
/// force from `ConfigReceived` on).
#[derive(Debug)]
pub(crate) enum Held {
    /// `SidecarHandle::apply`.
    Config(Box<SidecarConfig>),
    /// `SidecarHandle::update_endpoints`.
    Endpoints {
        cluster: String,
        endpoints: Vec<Endpoint>,
    },
}

/// The lifecycle state shared by every generation of one sidecar.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: watch::Sender<Phase>,
    log: Mutex<Vec<(Instant, Phase)>>,
    /// `Some` until `ConfigReceived`: the pushes held meanwhile.
    held: Mutex<Option<Vec<Held>>>,
    /// pilot-agent's `skipDrain`: set by `/drain` and `/quitquitquit`, so that
    /// a later SIGTERM exits at once.
    skip_drain: AtomicBool,
    /// The exit has begun (tasks are being ended); `Exited` follows.
    exiting: AtomicBool,
}

impl Lifecycle {
    /// A lifecycle at `phase`, logged now.
    pub(crate) fn new(phase: Phase) -> Lifecycle {
        let held = (phase < Phase::ConfigReceived).then(Vec::new);
        Lifecycle {
            phase: watch::channel(phase).0,
            log: Mutex::new(vec![(Instant::now(), phase)]),
            held: Mutex::new(held),
            skip_drain: AtomicBool::new(false),
            exiting: AtomicBool::new(false),
        }
    }

    /// The current phase.
    pub(crate) fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Moves to `to` when it is later than the current phase (logged);
    /// false when the sidecar is already there or beyond.
    pub(crate) fn advance(&self, to: Phase) -> bool {
        let moved = self.phase.send_if_modified(|p| {
            let later = *p < to;
            if later {
                *p = to;
            }
            later
        });
        if moved {
            tracing::info!(phase = to.as_str(), "sidecar phase");
            lock(&self.log).push((Instant::now(), to));
        }
        moved
    }

    /// Every transition so far, in order (the first entry is the start).
    pub(crate) fn log(&self) -> Vec<(Instant, Phase)> {
        lock(&self.log).clone()
    }

    /// Resolves once the phase is `at_least` or later.
    pub(crate) async fn wait_for(&self, at_least: Phase) {
        let mut rx = self.phase.subscribe();
        // The sender lives as long as `self`: no error to handle.
        let _ = rx.wait_for(|p| *p >= at_least).await;
    }

    /// Whether inbound listeners drain now.
    pub(crate) fn is_draining(&self) -> bool {
        self.phase() == Phase::Draining
    }

    /// The pushes held until the first one (`None` once it came).
    pub(crate) fn held(&self) -> MutexGuard<'_, Option<Vec<Held>>> {
        lock(&self.held)
    }

    /// Marks the drain as done already: a later SIGTERM exits at once.
    pub(crate) fn skip_drain(&self) {
        self.skip_drain.store(true, Ordering::Relaxed);
    }

    /// Whether a SIGTERM should exit without draining.
    pub(crate) fn drain_skipped(&self) -> bool {
        self.skip_drain.load(Ordering::Relaxed)
    }

    /// Marks the exit as begun; false when it had begun already.
    pub(crate) fn begin_exit(&self) -> bool {
        !self.exiting.swap(true, Ordering::Relaxed)
    }

    /// Whether the exit has begun.
    pub(crate) fn exit_begun(&self) -> bool {
        self.exiting.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
