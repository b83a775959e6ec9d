//! How real-mode (loopback) connections meet the idle-timer middleboxes
//! (see [`crate::middlebox`]); the same box state as the simulated path
//! (`sim::idle`), held around the kernel sockets as the firewall's is
//! (`fw`).
//!
//! Both ends of a loopback connection live in this process, so the boxes'
//! state for a flow ([`IdleLink`]) is one object the two
//! [`RealStream`](super::RealStream)s share: the connect registers it under
//! the flow's scenario ends `(client, server)` before the kernel handshake,
//! the accept takes it from there.
//!
//! Every packet of either end asks it for a verdict: a write, a shutdown
//! (FIN), a read that returns data, EOF or the peer's RST (that is the
//! peer's packet reaching the box, caught where the reader meets it: a FIN
//! the kernel sends when the peer's process closes its socket has no other
//! place to be seen), and an emulated keepalive probe. A forgotten flow's
//! packet is not delivered: with [`OnExpiry::Reset`](crate::OnExpiry) its
//! sender is answered with a RST (that end's later operations fail with
//! `ECONNRESET`, the other end is not told), with `Drop` the flow is
//! black-holed from then on.
//!
//! A box resetting both ends at expiry
//! ([`OnExpiry::ResetAtExpiry`](crate::OnExpiry)) needs no packet: each
//! end's parked read waits for the moment of expiry on a timer, and both
//! ends' later operations fail with `ECONNRESET` from then on; unless both
//! ends' FINs went through first (each seen at its sender's shutdown or
//! where the other end reads it, and not judged a second time there).
//!
//! What loopback cannot express: the box's RST reaches its end at once (the
//! simulated path takes one one-way latency); data a slow reader finds in
//! its kernel after the flow expired meets the verdict there, though the
//! box forwarded it when it was written.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::World;
use crate::clock::Instant;
use crate::middlebox::{IdleTimer, IdleTimerHandle, Verdict};
use crate::sim::idle::{IdleBox, IdleFlow};

/// The idle timers' state for one loopback connection, shared by its two
/// ends (side 0 connected, side 1 accepted).
pub(crate) struct IdleLink {
    /// One per crossing box, in the order they were added.
    flows: Vec<IdleFlow>,
    /// `reset[s]`: a box answered side `s` with a RST.
    reset: [AtomicBool; 2],
    /// `fin[s]`: side `s`'s FIN went through the boxes.
    fin: [AtomicBool; 2],
}

impl IdleLink {
    /// Side `side`'s FIN went through the boxes (seen at its shutdown, or
    /// where the other end reads it).
    pub(super) fn fin_passed(&self, side: usize) {
        self.fin[side].store(true, Ordering::Release);
    }

    /// Whether side `side`'s FIN went through the boxes already.
    pub(super) fn fin_seen(&self, side: usize) -> bool {
        self.fin[side].load(Ordering::Acquire)
    }

    /// Whether a box answered side `side` with a RST, or reset both ends
    /// when the flow expired.
    pub(super) fn is_reset(&self, side: usize) -> bool {
        self.reset[side].load(Ordering::Acquire)
            || self
                .reset_at_expiry()
                .is_some_and(|at| at <= Instant::now())
    }

    /// The connect gave this attempt up for another source port: the boxes
    /// never saw a flow.
    pub(super) fn untrack(&self) {
        for f in &self.flows {
            f.untrack();
        }
    }

    /// When a box resetting both ends at expiry does so, as things stand
    /// now (every packet moves it); `None` when no such box is crossed, or
    /// when both ends' FINs went through before it (a forwarded packet
    /// restarts the timer, so any FIN that passed came before the expiry):
    /// the box leaves a closed flow alone, as on the simulated path.
    pub(super) fn reset_at_expiry(&self) -> Option<Instant> {
        if self.fin_seen(0) && self.fin_seen(1) {
            return None;
        }
        self.flows
            .iter()
            .filter_map(IdleFlow::reset_at_expiry)
            .min()
    }

    /// Whether a box black-holes the flow.
    pub(super) fn dropped(&self) -> bool {
        self.flows.iter().any(|f| f.dropped_since().is_some())
    }

    /// What the boxes do with a packet side `from` sends now (`is_rst`: a
    /// RST, which is never answered): the first that does not forward it
    /// decides. A box's RST is recorded for `from`; the world's parked
    /// readers are woken when an end is reset or the flow black-holed.
    pub(super) fn packet(&self, world: &World, from: usize, is_rst: bool) -> Verdict {
        let was_dropped = self.dropped();
        let verdict = self
            .flows
            .iter()
            .map(|f| f.packet(is_rst))
            .find(|v| *v != Verdict::Forward)
            .unwrap_or(Verdict::Forward);
        match verdict {
            Verdict::Forward => return verdict,
            Verdict::Drop if was_dropped => return verdict,
            Verdict::Drop => {}
            Verdict::Reset | Verdict::ResetBoth if is_rst => return Verdict::Drop,
            Verdict::Reset | Verdict::ResetBoth => self.reset[from].store(true, Ordering::Release),
        }
        world.faults.notify_waiters();
        verdict
    }
}

impl World {
    pub(crate) fn add_idle_timer(&self, timer: IdleTimer) -> IdleTimerHandle {
        let b = Arc::new(IdleBox::new(timer));
        let handle = IdleTimerHandle {
            counters: b.counters.clone(),
        };
        self.lock().idle_boxes.push(b);
        handle
    }

    /// The idle timers' state for a connection from `client` to `server`
    /// about to be opened, registered for the accepting end; `None` when no
    /// box is crossed.
    pub(super) fn open_idle_link(
        &self,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Option<Arc<IdleLink>> {
        let mut st = self.lock();
        if st.idle_boxes.is_empty() {
            return None;
        }
        let flows: Vec<IdleFlow> = st
            .idle_boxes
            .iter()
            .filter_map(|b| b.track(client, server))
            .collect();
        if flows.is_empty() {
            return None;
        }
        let link = Arc::new(IdleLink {
            flows,
            reset: [AtomicBool::new(false), AtomicBool::new(false)],
            fin: [AtomicBool::new(false), AtomicBool::new(false)],
        });
        st.idle_pending.insert((client, server), link.clone());
        Some(link)
    }

    /// The accepting end takes the state the connect registered (or the
    /// connect, when it failed, forgets it).
    pub(super) fn take_idle_link(
        &self,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Option<Arc<IdleLink>> {
        let mut st = self.lock();
        if st.idle_pending.is_empty() {
            return None;
        }
        st.idle_pending.remove(&(client, server))
    }
}
