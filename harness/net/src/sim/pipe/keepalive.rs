//! TCP keepalive of one simulated connection end (see [`crate::keepalive`]
//! for the kernel behaviour reproduced).
//!
//! Only a stream with keepalive on has a timer: a task that sleeps until the
//! idle clock says a probe is due, sends probes across the path as it is at
//! that instant, and tears the end down after `probes` unanswered ones. A
//! stream without keepalive costs nothing more per packet than the one
//! arrival-time store every write makes.
//!
//! The idle clock reads the arrival time of the last segment queued in
//! either direction, clamped to the start of a drop: a segment that a drop
//! holds back counts as heard at the drop's start, at most that much later
//! than the kernel would have heard its predecessor.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use crate::clock::{Instant, sleep, sleep_until};
use tokio::task::JoinHandle;

use super::Conn;
use crate::Keepalive;
use crate::middlebox::Verdict;

/// What became of one probe.
enum Probe {
    /// Answered; the answer arrives at this instant.
    Answered(Instant),
    /// Lost in a drop.
    Lost,
    /// The peer has no socket: its RST is on the way.
    Reset,
}

/// How a round of probes ended.
enum Round {
    /// A probe was answered at this instant.
    Answered(Instant),
    /// A segment arrived meanwhile: the idle clock restarted.
    Heard,
    /// The peer answered with a RST.
    Reset,
    /// Every probe went unanswered.
    Dead,
}

/// State shared by a stream and its keepalive task.
#[derive(Default)]
pub(super) struct Shared {
    state: Mutex<SharedState>,
}

#[derive(Default)]
struct SharedState {
    /// The end was torn down locally (`ETIMEDOUT`).
    failed: Option<io::ErrorKind>,
    /// The stream's parked reader.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error the keepalive left on the end, if any.
    pub(super) fn failed(&self) -> Option<io::ErrorKind> {
        self.lock().failed
    }

    /// Wakes `waker` when the keepalive tears the end down.
    pub(super) fn register(&self, waker: &Waker) {
        let mut st = self.lock();
        if st.failed.is_some() {
            waker.wake_by_ref();
        } else {
            st.waker = Some(waker.clone());
        }
    }

    fn fail(&self, kind: io::ErrorKind) {
        let waker = {
            let mut st = self.lock();
            st.failed = Some(kind);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Keepalive switched on for one end: its settings and its timer task,
/// stopped when the end is dropped or keepalive is switched off.
pub(super) struct Timer {
    pub(super) settings: Keepalive,
    pub(super) shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Timer {
    /// Starts the keepalive of end `side` of `conn`.
    pub(super) fn start(conn: Arc<Conn>, side: usize, settings: Keepalive) -> Timer {
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(run(conn, side, settings, shared.clone()));
        Timer {
            settings,
            shared,
            task,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The keepalive timer of end `side`.
async fn run(conn: Arc<Conn>, side: usize, ka: Keepalive, shared: Arc<Shared>) {
    let mut answered = Instant::now();
    loop {
        let idle_since = conn.last_heard(side).map_or(answered, |h| h.max(answered));
        let due = idle_since + ka.time;
        if Instant::now() < due {
            sleep_until(due).await;
            continue;
        }
        if conn.reset_reached(side) {
            return;
        }
        if conn.unacked(side) {
            // The retransmission timer owns the connection meanwhile.
            sleep(ka.time.max(ka.interval)).await;
            continue;
        }
        match probe_round(&conn, side, &ka).await {
            Round::Answered(at) => answered = at,
            Round::Heard => {}
            Round::Reset => return,
            Round::Dead => {
                conn.tear_down(side);
                shared.fail(io::ErrorKind::TimedOut);
                return;
            }
        }
    }
}

/// Up to `probes` probes, `interval` apart.
async fn probe_round(conn: &Conn, side: usize, ka: &Keepalive) -> Round {
    for _ in 0..ka.probes {
        let sent = Instant::now();
        match conn.probe(side) {
            Probe::Answered(at) => return Round::Answered(at),
            Probe::Reset => return Round::Reset,
            Probe::Lost => {}
        }
        sleep(ka.interval).await;
        if conn.last_heard(side).is_some_and(|h| h > sent) {
            return Round::Heard;
        }
    }
    Round::Dead
}

// === impl Conn (keepalive) ===

impl Conn {
    /// Up to when segments can have arrived: now, or the start of a drop.
    fn horizon(&self) -> Instant {
        let now = Instant::now();
        self.dropped_since().map_or(now, |s| s.min(now))
    }

    /// When end `side` last heard a segment: data or FIN from the peer, or
    /// the acknowledgement of its own.
    fn last_heard(&self, side: usize) -> Option<Instant> {
        let horizon = self.horizon();
        let peer = self.dir(1 - side).last_arrival.map(|t| t.min(horizon));
        let own = self.dir(side).last_arrival.map(|t| t.min(horizon));
        peer.max(own)
    }

    /// Whether data end `side` sent has not reached the peer yet.
    fn unacked(&self, side: usize) -> bool {
        let horizon = self.horizon();
        self.dir(side).last_arrival.is_some_and(|t| t > horizon)
    }

    /// Whether a RST from the peer has reached end `side`.
    fn reset_reached(&self, side: usize) -> bool {
        self.reset_to(side).is_some_and(|at| at <= Instant::now())
    }

    /// End `side` sends one probe across the path as it is now.
    fn probe(&self, side: usize) -> Probe {
        match self.idle_verdict(side, false) {
            Verdict::Forward => {}
            Verdict::Reset | Verdict::ResetBoth => {
                self.box_reset(side);
                return Probe::Reset;
            }
            Verdict::Drop => return Probe::Lost,
        }
        if self.dropped_since().is_some() {
            return Probe::Lost;
        }
        let rtt = self.one_way(side) + self.one_way(1 - side);
        if self.dir(side).reader_gone {
            // No socket there: the peer's kernel answers with a RST.
            self.send_reset(1 - side, rtt);
            return Probe::Reset;
        }
        Probe::Answered(Instant::now() + rtt)
    }

    /// End `side` is gone without telling the peer: whatever the peer sends
    /// later is answered with a RST.
    fn tear_down(&self, side: usize) {
        self.dir(1 - side).reader_gone = true;
    }
}
