//! How a connection meets the idle-timer middleboxes on its path (see
//! [`crate::middlebox`]): every packet asks them for a verdict; a box that
//! forgot the flow answers the sender with its own RST or black-holes it.

use crate::clock::Instant;

use super::Conn;
use crate::middlebox::Verdict;

impl Conn {
    /// What the middleboxes (idle timers, then firewalls) do with a packet
    /// end `side` sends now: the first box that does not forward it decides.
    /// `is_rst`: the packet is a RST. A firewall that resets both ends has
    /// already sent the far end its RST when this returns
    /// [`Verdict::Reset`]; the caller answers `side`.
    pub(super) fn idle_verdict(&self, side: usize, is_rst: bool) -> Verdict {
        let was_dropped = self.box_dropped();
        let idle = self.idle.iter().map(|f| f.packet(is_rst));
        let mut verdict = Verdict::Forward;
        for v in idle {
            verdict = v;
            if verdict != Verdict::Forward {
                break;
            }
        }
        if verdict == Verdict::Forward {
            for flow in &self.fw {
                verdict = flow.packet(is_rst);
                if verdict != Verdict::Forward {
                    break;
                }
            }
        }
        if verdict == Verdict::Drop && !was_dropped {
            // Parked streams re-check their path, as when a black hole starts.
            self.world.faults().notify_waiters();
        }
        if verdict == Verdict::ResetBoth {
            self.box_reset(1 - side);
            return Verdict::Reset;
        }
        verdict
    }

    /// Whether a middlebox black-holes the flow already.
    fn box_dropped(&self) -> bool {
        self.idle.iter().any(|f| f.dropped_since().is_some())
            || self.fw.iter().any(|f| f.dropped_since().is_some())
    }

    /// A middlebox answers side `to` with a RST, which reaches it one
    /// one-way latency from now (the box sits half-way).
    pub(super) fn box_reset(&self, to: usize) {
        let at = Instant::now() + self.one_way(to);
        {
            let mut r = self.box_resets.lock().unwrap_or_else(|e| e.into_inner());
            if r[to].is_none() {
                r[to] = Some(at);
            }
        }
        if let Some(w) = self.dir(1 - to).reader_waker.take() {
            w.wake();
        }
    }

    /// When a RST reaches side `side`: the peer's, or a middlebox's.
    pub(super) fn reset_to(&self, side: usize) -> Option<Instant> {
        let peer = match self.reset_state() {
            Some((from, at)) if from != side => Some(at),
            _ => None,
        };
        let boxed = self.box_resets.lock().unwrap_or_else(|e| e.into_inner())[side];
        match (peer, boxed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
