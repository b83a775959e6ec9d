//! How a connection meets the idle-timer middleboxes on its path (see
//! [`crate::middlebox`]): every packet asks them for a verdict; a box that
//! forgot the flow answers the sender with its own RST or black-holes it.

use crate::clock::Instant;

use super::Conn;
use crate::middlebox::Verdict;
use crate::sim::idle::IdleFlow;

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

    /// When a RST reaches side `side`: the peer's, or a middlebox's (one it
    /// sent, or one a box resetting at expiry sends when the flow expires,
    /// which may lie ahead: every packet moves it).
    pub(super) fn reset_to(&self, side: usize) -> Option<Instant> {
        let sent = self.sent_reset_to(side);
        let at_expiry = self.expiry_reset_to(side);
        match (sent, at_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When a RST already sent reaches side `side`: the peer's, or a
    /// middlebox's.
    pub(super) fn sent_reset_to(&self, side: usize) -> Option<Instant> {
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

    /// When the RST of a box resetting both ends at expiry reaches side
    /// `side`; `None` when no such box is crossed, or the flow ended (a RST
    /// from an end, or both FINs) before it expired.
    fn expiry_reset_to(&self, side: usize) -> Option<Instant> {
        if self.idle.is_empty() {
            return None;
        }
        let at = self.idle.iter().filter_map(IdleFlow::expiry_at).min()?;
        if self.reset_state().is_some_and(|(_, r)| r <= at) {
            return None;
        }
        let fin = |s: usize| self.dir(s).fin_at.is_some_and(|f| f <= at);
        if fin(0) && fin(1) {
            return None;
        }
        // The flow was live when it expired: count and log it.
        let at = self
            .idle
            .iter()
            .filter_map(IdleFlow::reset_at_expiry)
            .min()?;
        Some(at + self.one_way(side))
    }
}
