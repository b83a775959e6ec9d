//! What one end of a real-mode connection keeps about the in-process path
//! around its kernel socket: the idle timers it crosses, the timers the
//! kernel cannot run for faults it cannot see (keepalive, retransmission
//! give-up), and what it learned from them.
//!
//! **Black holes.** Data written while the path is black-holed (the
//! world's [`set_blackhole`](crate::Net::set_blackhole) or flow black hole,
//! a firewall's or an idle timer's drop) goes into the kernel, but the
//! reader stalls before reading while the hole lasts, so nothing crosses
//! it; when the hole ends the reader finds the data, as after a
//! retransmission. Until then the writer's clock runs: once
//! [`RealConfig::retransmission_give_up`](crate::RealConfig) has passed
//! since the first write the hole swallowed, the writer's stream fails with
//! `ETIMEDOUT` (a parked reader of that stream is woken for it), as Linux's
//! `tcp_retries2` does.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::clock::{Instant, Sleep};
use tokio::io::{AsyncRead, ReadBuf};

use super::fw::FwLink;
use super::idle::IdleLink;
use super::keepalive::{Emulation, ProbePath};
use super::{RealStream, World};
use crate::Keepalive;
use crate::middlebox::Verdict;

/// One end's in-process state.
pub(super) struct End {
    /// 0: the connecting end, 1: the accepting end.
    side: usize,
    /// The idle timers' state, shared with the other end, when the flow
    /// crosses one.
    pub(super) idle: Option<Arc<IdleLink>>,
    /// A box ate the peer's FIN or RST: the kernel socket has nothing more
    /// to give, reads only wait for the end's own timers.
    deaf: bool,
    /// The end gave up (`ETIMEDOUT`).
    failed: bool,
    /// When the first write the current black hole swallowed was made.
    held_since: Option<Instant>,
    /// The retransmission give-up timer, armed by a reader.
    give_up: Option<Pin<Box<Sleep>>>,
    /// The reset at expiry of an idle timer resetting both ends, armed by
    /// a reader: its moment and its timer.
    expiry: Option<(Instant, Pin<Box<Sleep>>)>,
    /// The stream's parked reader, woken when a write starts the give-up.
    read_waker: Option<Waker>,
    /// Emulated keepalive, when switched on.
    keepalive: Option<Emulation>,
}

impl End {
    pub(super) fn new(side: usize, idle: Option<Arc<IdleLink>>) -> End {
        End {
            side,
            idle,
            deaf: false,
            failed: false,
            held_since: None,
            give_up: None,
            expiry: None,
            read_waker: None,
            keepalive: None,
        }
    }

    /// The emulated keepalive's settings, when it is on.
    pub(super) fn keepalive(&self) -> Option<Keepalive> {
        self.keepalive.as_ref().map(|e| e.settings)
    }

    /// A read is parked: the give-up and the keepalive can wake it.
    pub(super) fn park(&mut self, cx: &Context<'_>) {
        if !self
            .read_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.read_waker = Some(cx.waker().clone());
        }
        if let Some(k) = &self.keepalive {
            k.shared.register(cx.waker());
        }
    }

    /// The end heard a segment now (an acknowledgement or the peer's data).
    fn heard(&self) {
        if let Some(k) = &self.keepalive {
            k.shared.heard();
        }
    }
}

/// What the in-process boxes do with a packet side `from` sends now: the
/// idle timers, then the firewalls; the first that does not forward it
/// decides. A RST (`is_rst`) only meets the idle timers, and anything but
/// [`Verdict::Forward`] means it is lost.
pub(super) fn path_verdict(
    world: &World,
    fw: Option<&FwLink>,
    idle: Option<&IdleLink>,
    from: usize,
    is_rst: bool,
) -> Verdict {
    if let Some(l) = idle {
        let v = l.packet(world, from, is_rst);
        if v != Verdict::Forward {
            return v;
        }
    }
    match fw {
        Some(f) if !is_rst => f.packet(world),
        _ => Verdict::Forward,
    }
}

/// The error of an end that gave up (retransmission or keepalive).
pub(super) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
}

fn box_reset() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection reset by a middlebox",
    )
}

// === impl RealStream (in-process path) ===

impl RealStream {
    /// A read through the in-process path: it stalls across a black hole
    /// (until it ends, or this end's give-up), and what the kernel hands
    /// over is the peer's packet reaching the boxes.
    pub(super) fn poll_read_path(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if let Some(e) = self.known_error() {
                return Poll::Ready(Err(e));
            }
            if self.gave_up(Some(cx)) || self.expiry_passed(cx) {
                continue;
            }
            if self.read_stalled() {
                // Stalled until the faults change.
                if self.poll_faults(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            // A boxed flow also waits for a cut by the other end.
            if self.has_boxes() && self.poll_faults(cx).is_ready() {
                continue;
            }
            let before = buf.filled().len();
            let got = std::task::ready!(Pin::new(&mut self.tcp).poll_read(cx, buf));
            if let Some(r) = self.arrived(got, buf, before) {
                return Poll::Ready(r);
            }
        }
    }

    /// Whether the moment an idle timer resets both ends at expiry has come
    /// (read again: the reset is known); otherwise a parked read wakes at it.
    fn expiry_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(at) = self.end.idle.as_ref().and_then(|l| l.reset_at_expiry()) else {
            return false;
        };
        let (deadline, timer) = self
            .end
            .expiry
            .get_or_insert_with(|| (at, Box::pin(crate::clock::sleep_until(at))));
        if *deadline != at {
            *deadline = at;
            timer.as_mut().reset(at);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        if Instant::now() >= at {
            return true;
        }
        // The clock rounds so a timer never fires before its instant; were
        // it to, the read would neither spin nor lose its wake-up.
        timer.as_mut().reset(at);
        timer.as_mut().poll(cx).is_ready()
    }

    /// Switches the emulated keepalive on (settings floored at 1 ms) or off.
    pub(super) fn emulate_keepalive(&mut self, settings: Option<Keepalive>) {
        self.end.keepalive = settings.map(|k| {
            let floor = std::time::Duration::from_millis(1);
            let k = Keepalive {
                time: k.time.max(floor),
                interval: k.interval.max(floor),
                ..k
            };
            let path = ProbePath {
                world: self.world.clone(),
                local: self.local,
                peer: self.peer,
                side: self.end.side,
                fw: self.fw.clone(),
                idle: self.end.idle.clone(),
            };
            Emulation::start(path, k)
        });
    }

    /// Whether an in-process box sits on the path (its cuts wake readers).
    pub(super) fn has_boxes(&self) -> bool {
        self.fw.is_some() || self.end.idle.is_some()
    }

    /// This end's FIN went through the boxes.
    pub(super) fn sent_fin(&self) {
        self.fin_passed(self.end.side);
    }

    /// Side `side`'s FIN went through the boxes.
    fn fin_passed(&self, side: usize) {
        if let Some(l) = &self.end.idle {
            l.fin_passed(side);
        }
    }

    /// An error this end already knows of: its own give-up, a firewall's
    /// cut, an idle timer's RST.
    pub(super) fn known_error(&mut self) -> Option<io::Error> {
        if !self.end.failed
            && let Some(k) = &self.end.keepalive
            && k.shared.failed()
        {
            self.end.failed = true;
        }
        if self.end.failed {
            return Some(timed_out());
        }
        if self.fw_reset() {
            return Some(super::reset_error(self.peer));
        }
        let side = self.end.side;
        self.end
            .idle
            .as_ref()
            .filter(|l| l.is_reset(side))
            .map(|_| box_reset())
    }

    /// What the boxes do with a packet this end sends now.
    pub(super) fn send_verdict(&self) -> Verdict {
        let (fw, idle) = (self.fw.as_deref(), self.end.idle.as_deref());
        path_verdict(&self.world, fw, idle, self.end.side, false)
    }

    /// Whether reads must wait without asking the kernel: the path is
    /// black-holed, or the kernel has nothing more to give.
    pub(super) fn read_stalled(&self) -> bool {
        self.end.deaf || self.dropped()
    }

    /// A write the path carries now went into the kernel: `dropped` (it is
    /// held in a black hole, and the give-up clock starts) or acknowledged.
    pub(super) fn wrote(&mut self, dropped: bool) {
        if !dropped {
            self.end.heard();
            return;
        }
        if self.end.held_since.is_some() {
            return;
        }
        self.end.held_since = Some(Instant::now());
        if let Some(k) = &self.end.keepalive {
            k.shared.set_unacked(true);
        }
        if let Some(w) = self.end.read_waker.take() {
            w.wake();
        }
    }

    /// The retransmission give-up of data held in a black hole: true once
    /// it has passed (the end is failed). With `cx`, a reader waits on its
    /// timer. A hole that ended delivers the data and stops the clock.
    pub(super) fn gave_up(&mut self, cx: Option<&mut Context<'_>>) -> bool {
        let Some(since) = self.end.held_since else {
            return false;
        };
        if !self.dropped() {
            self.end.held_since = None;
            self.end.give_up = None;
            if let Some(k) = &self.end.keepalive {
                k.shared.set_unacked(false);
            }
            return false;
        }
        let deadline = since + self.world.config.retransmission_give_up;
        let passed = match cx {
            None => Instant::now() >= deadline,
            Some(cx) => {
                let timer = self
                    .end
                    .give_up
                    .get_or_insert_with(|| Box::pin(crate::clock::sleep_until(deadline)));
                timer.as_mut().poll(cx).is_ready()
            }
        };
        if passed {
            self.end.failed = true;
            if let Some(k) = &self.end.keepalive {
                k.shared.fail();
            }
        }
        passed
    }

    /// What a read got from the kernel is a packet of the peer reaching the
    /// boxes: `Some` result to return, or `None` when the boxes ate it
    /// (read again: more may come, or the read stalls).
    pub(super) fn arrived(
        &mut self,
        got: io::Result<()>,
        buf: &mut ReadBuf<'_>,
        before: usize,
    ) -> Option<io::Result<()>> {
        let peer = 1 - self.end.side;
        let (fw, idle) = (self.fw.as_deref(), self.end.idle.as_deref());
        let Err(e) = got else {
            let eof = buf.filled().len() == before;
            // A FIN the boxes judged at the peer's shutdown is not judged
            // again when it is read.
            let judged = eof && idle.is_some_and(|l| l.fin_seen(peer));
            if judged || path_verdict(&self.world, fw, idle, peer, false) == Verdict::Forward {
                if eof {
                    self.fin_passed(peer);
                }
                self.end.heard();
                return Some(Ok(()));
            }
            // Lost for good (a drop), or answered by a RST to the peer.
            buf.set_filled(before);
            self.end.deaf |= eof;
            return None;
        };
        let reset = matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
        );
        if reset
            && idle.is_some()
            && path_verdict(&self.world, None, idle, peer, true) != Verdict::Forward
        {
            // The peer's RST met a box that forgot the flow.
            self.end.deaf = true;
            return None;
        }
        Some(Err(e))
    }
}
