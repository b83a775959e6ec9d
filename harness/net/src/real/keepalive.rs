//! TCP keepalive of one real-mode connection end, emulated in the process
//! (see [`crate::keepalive`] for the kernel behaviour reproduced).
//!
//! The kernel's own probes cross loopback, where the peer's kernel always
//! answers them: they never see a black hole or a middlebox this backend
//! keeps in the process, and never refresh an idle timer. So a stream with
//! keepalive on also gets the emulation the simulated backend runs: a task
//! that sleeps until the end has heard nothing for `time`, then sends
//! probes, `interval` apart, through the in-process path as it is at that
//! instant (each one a packet for the idle timers and the firewalls), and
//! tears the end down with `ETIMEDOUT` after `probes` unanswered ones. A
//! probe the path forwards is answered (the peer's kernel is there); one a
//! box answers with a RST resets the end. No probe goes while the end's
//! own data is unacknowledged (held in a black hole): the retransmission
//! give-up owns the connection then.
//!
//! Every stream with keepalive on has one, whether or not its path has a
//! fault yet: a black hole can start at any time. The task holds no socket
//! and is aborted when the stream is dropped or keepalive switched off, so
//! it never outlives its stream. Times are taken as given (not rounded to
//! the kernel's whole seconds): a time-scaled run shortens them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use crate::clock::{Instant, sleep, sleep_until};
use tokio::task::JoinHandle;

use super::World;
use super::end::path_verdict;
use super::fw::FwLink;
use super::idle::IdleLink;
use crate::Keepalive;
use crate::middlebox::Verdict;

/// The in-process path of one connection, as one end's probes cross it.
pub(super) struct ProbePath {
    pub(super) world: Arc<World>,
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
    pub(super) side: usize,
    pub(super) fw: Option<Arc<FwLink>>,
    pub(super) idle: Option<Arc<IdleLink>>,
}

/// What became of one probe.
enum Probe {
    Answered,
    Lost,
    /// A box answered it with a RST (the end is reset).
    Reset,
}

/// How a round of probes ended.
enum Round {
    Answered,
    /// The end heard a segment meanwhile: the idle clock restarted.
    Heard,
    Reset,
    Dead,
}

impl ProbePath {
    fn probe(&self) -> Probe {
        let verdict = path_verdict(
            &self.world,
            self.fw.as_deref(),
            self.idle.as_deref(),
            self.side,
            false,
        );
        match verdict {
            Verdict::Reset | Verdict::ResetBoth => Probe::Reset,
            Verdict::Drop => Probe::Lost,
            Verdict::Forward if self.dropped() => Probe::Lost,
            Verdict::Forward => Probe::Answered,
        }
    }

    fn dropped(&self) -> bool {
        self.fw.as_ref().is_some_and(|f| f.dropped())
            || self.idle.as_ref().is_some_and(|l| l.dropped())
            || self.world.flow_dropped(self.local, self.peer)
    }

    fn is_reset(&self) -> bool {
        self.fw.as_ref().is_some_and(|f| f.is_reset())
            || self.idle.as_ref().is_some_and(|l| l.is_reset(self.side))
    }
}

/// State shared by a stream and its keepalive task.
pub(super) struct Shared {
    state: Mutex<SharedState>,
}

struct SharedState {
    /// When the end last heard a segment (data, FIN, an acknowledgement,
    /// a probe's answer).
    heard: Instant,
    /// The end's own data is held in a black hole.
    unacked: bool,
    /// The keepalive tore the end down.
    failed: bool,
    /// The stream's parked reader.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The end heard a segment now.
    pub(super) fn heard(&self) {
        self.lock().heard = Instant::now();
    }

    /// The end's own data is (`true`) or is no longer held in a black hole.
    pub(super) fn set_unacked(&self, on: bool) {
        self.lock().unacked = on;
    }

    /// Whether the keepalive tore the end down.
    pub(super) fn failed(&self) -> bool {
        self.lock().failed
    }

    /// Wakes `waker` when the keepalive tears the end down.
    pub(super) fn register(&self, waker: &Waker) {
        let mut st = self.lock();
        if st.failed {
            waker.wake_by_ref();
        } else if !st.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            st.waker = Some(waker.clone());
        }
    }

    /// The end is torn down (by the keepalive, or by the retransmission
    /// give-up, which ends the keepalive too).
    pub(super) fn fail(&self) {
        let waker = {
            let mut st = self.lock();
            st.failed = true;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Keepalive switched on for one end: its settings and its task, aborted
/// when this is dropped.
pub(super) struct Emulation {
    pub(super) settings: Keepalive,
    pub(super) shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Emulation {
    /// Starts the emulated keepalive of the end whose path is `path`.
    pub(super) fn start(path: ProbePath, settings: Keepalive) -> Emulation {
        let shared = Arc::new(Shared {
            state: Mutex::new(SharedState {
                heard: Instant::now(),
                unacked: false,
                failed: false,
                waker: None,
            }),
        });
        let task = tokio::spawn(run(path, settings, shared.clone()));
        Emulation {
            settings,
            shared,
            task,
        }
    }
}

impl Drop for Emulation {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The keepalive timer of one end.
async fn run(path: ProbePath, ka: Keepalive, shared: Arc<Shared>) {
    loop {
        let due = shared.lock().heard + ka.time;
        if Instant::now() < due {
            sleep_until(due).await;
            continue;
        }
        if path.is_reset() || shared.failed() {
            return;
        }
        if shared.lock().unacked {
            // The retransmission give-up owns the connection meanwhile.
            sleep(ka.time.max(ka.interval)).await;
            continue;
        }
        match probe_round(&path, &shared, &ka).await {
            Round::Answered => shared.heard(),
            Round::Heard => {}
            Round::Reset => {
                // The box's RST is in the link; wake the reader to see it.
                if let Some(w) = shared.lock().waker.take() {
                    w.wake();
                }
                return;
            }
            Round::Dead => {
                shared.fail();
                return;
            }
        }
    }
}

/// Up to `probes` probes, `interval` apart.
async fn probe_round(path: &ProbePath, shared: &Shared, ka: &Keepalive) -> Round {
    for _ in 0..ka.probes {
        let sent = Instant::now();
        match path.probe() {
            Probe::Answered => return Round::Answered,
            Probe::Reset => return Round::Reset,
            Probe::Lost => {}
        }
        sleep(ka.interval).await;
        if shared.lock().heard > sent {
            return Round::Heard;
        }
    }
    Round::Dead
}
