//! One simulated TCP connection: two directed byte pipes with FIN, RST,
//! latency and black-hole stalls.
//!
//! A drop (black hole) on the path starts at an instant `S`: whatever reached
//! a socket by `S` can still be read; whatever arrives later waits until the
//! drop is lifted (TCP retransmits it), unless the writer gives up first.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::clock::{Instant, Sleep};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::futures::OwnedNotified;

use super::idle::IdleFlow;
use super::world::World;
use crate::Keepalive;
use crate::firewall::FwFlow;
use crate::middlebox::Verdict;

mod idle;
mod keepalive;

/// Bytes on their way: when they were written and when they reach the reader.
struct Chunk {
    sent: Instant,
    at: Instant,
    data: Bytes,
}

/// One direction of a connection.
#[derive(Default)]
struct Pipe {
    chunks: VecDeque<Chunk>,
    /// When the writer's FIN reaches the reader.
    fin_at: Option<Instant>,
    /// The writer has shut down (no more writes).
    write_closed: bool,
    /// The reading end is closed: later data is answered with RST.
    reader_gone: bool,
    reader_waker: Option<Waker>,
    /// Arrival time of the last segment queued (data or FIN), kept after it
    /// is read: the keepalive's idle clock.
    last_arrival: Option<Instant>,
}

impl Pipe {
    /// Arrival time of the last thing queued (data or FIN): a later segment
    /// cannot overtake it.
    fn last_at(&self) -> Option<Instant> {
        let chunk = self.chunks.back().map(|c| c.at);
        match (chunk, self.fin_at) {
            (Some(c), Some(f)) => Some(c.max(f)),
            (c, f) => c.or(f),
        }
    }
}

/// Both directions of a connection plus its reset state.
pub(crate) struct Conn {
    world: Arc<World>,
    /// `[client, server]` addresses.
    ends: [SocketAddr; 2],
    /// `dirs[s]` carries bytes written by side `s`.
    dirs: [Mutex<Pipe>; 2],
    /// A RST sent by side `.0`, reaching the other side at `.1`.
    reset: Mutex<Option<(usize, Instant)>>,
    /// The idle-timer middleboxes the flow crosses, in path order.
    idle: Vec<IdleFlow>,
    /// The DNS-learning firewalls the flow crosses, after the idle timers.
    fw: Vec<FwFlow>,
    /// `box_resets[s]`: when a middlebox's RST reaches side `s`.
    box_resets: Mutex<[Option<Instant>; 2]>,
}

impl Conn {
    pub(crate) fn new(world: Arc<World>, client: SocketAddr, server: SocketAddr) -> Arc<Conn> {
        let idle = world.idle_flows(client, server);
        let fw = world.fw_flows(client, server);
        Arc::new(Conn {
            world,
            ends: [client, server],
            dirs: [Mutex::new(Pipe::default()), Mutex::new(Pipe::default())],
            reset: Mutex::new(None),
            idle,
            fw,
            box_resets: Mutex::new([None; 2]),
        })
    }

    fn dir(&self, side: usize) -> MutexGuard<'_, Pipe> {
        self.dirs[side].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reset_state(&self) -> Option<(usize, Instant)> {
        *self.reset.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Since when the path drops everything, if it does: a black hole, or a
    /// middlebox that forgot the flow.
    fn dropped_since(&self) -> Option<Instant> {
        let world = self.world.flow_dropped(self.ends[0], self.ends[1]);
        if self.idle.is_empty() && self.fw.is_empty() {
            return world;
        }
        self.idle
            .iter()
            .filter_map(IdleFlow::dropped_since)
            .chain(self.fw.iter().filter_map(FwFlow::dropped_since))
            .chain(world)
            .min()
    }

    fn one_way(&self, from: usize) -> Duration {
        self.world
            .latency(self.ends[from].ip(), self.ends[1 - from].ip())
    }

    /// Side `from` sends a RST that leaves `delay` from now and never
    /// overtakes what `from` sent before it. A RST sent into a drop is lost
    /// for good (it is never retransmitted).
    fn send_reset(&self, from: usize, delay: Duration) {
        if self.idle_verdict(from, true) != Verdict::Forward || self.dropped_since().is_some() {
            return;
        }
        let at = Instant::now() + delay;
        let at = self.dir(from).last_at().map_or(at, |last| at.max(last));
        {
            let mut r = self.reset.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_none() {
                *r = Some((from, at));
            }
        }
        if let Some(w) = self.dir(from).reader_waker.take() {
            w.wake();
        }
    }
}

/// One end of a simulated TCP connection.
pub struct SimStream {
    conn: Arc<Conn>,
    side: usize,
    original_dst: Option<SocketAddr>,
    timer: Option<Pin<Box<Sleep>>>,
    /// Woken when the network's faults change (a drop starts or ends).
    faults: Option<Pin<Box<OwnedNotified>>>,
    /// This end has failed (retransmission or keepalive give-up).
    failed: Option<io::ErrorKind>,
    closed: bool,
    /// TCP keepalive, when switched on: its settings and its timer.
    keepalive: Option<keepalive::Timer>,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream")
            .field("local", &self.local_addr())
            .field("peer", &self.peer_addr())
            .finish()
    }
}

/// What a read finds, looking at what has arrived by the visibility horizon.
enum ReadStep {
    Data,
    Eof,
    Error(io::ErrorKind),
    /// Something arrives at this time.
    WaitUntil(Instant),
    /// Nothing is on its way.
    Wait,
}

impl SimStream {
    pub(crate) fn new(conn: Arc<Conn>, side: usize, original_dst: Option<SocketAddr>) -> Self {
        SimStream {
            conn,
            side,
            original_dst,
            timer: None,
            faults: None,
            failed: None,
            closed: false,
            keepalive: None,
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.conn.ends[self.side]
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.conn.ends[1 - self.side]
    }

    pub(crate) fn original_dst(&self) -> Option<SocketAddr> {
        self.original_dst
    }

    /// Switches TCP keepalive on (with these settings) or off. A zero `time`
    /// or `interval` counts as 1 ms.
    pub(crate) fn set_keepalive(&mut self, settings: Option<Keepalive>) {
        self.keepalive = settings.map(|k| {
            let floor = Duration::from_millis(1);
            let k = Keepalive {
                time: k.time.max(floor),
                interval: k.interval.max(floor),
                ..k
            };
            keepalive::Timer::start(self.conn.clone(), self.side, k)
        });
    }

    /// The keepalive settings, when keepalive is on.
    pub(crate) fn keepalive(&self) -> Option<Keepalive> {
        self.keepalive.as_ref().map(|t| t.settings)
    }

    /// Takes on the error a keepalive give-up left.
    fn sync_keepalive(&mut self) {
        if self.failed.is_none() {
            self.failed = self.keepalive.as_ref().and_then(|t| t.shared.failed());
        }
    }

    pub(crate) fn reset(mut self) {
        self.closed = true;
        self.conn
            .send_reset(self.side, self.conn.one_way(self.side));
        self.conn.dir(1 - self.side).reader_gone = true;
    }

    /// Waits on the stream's timer until `at`; returns true if it already passed.
    fn wait_until(&mut self, cx: &mut Context<'_>, at: Instant) -> bool {
        match &mut self.timer {
            Some(t) => t.as_mut().reset(at),
            None => self.timer = Some(Box::pin(crate::clock::sleep_until(at))),
        }
        let t = self.timer.as_mut().expect("timer set above");
        t.as_mut().poll(cx).is_ready()
    }

    /// Registers for a wake-up when the faults change; true if they already did.
    fn watch_faults(&mut self, cx: &mut Context<'_>) -> bool {
        let watch = self
            .faults
            .get_or_insert_with(|| Box::pin(self.conn.world.faults().notified_owned()));
        if watch.as_mut().poll(cx).is_ready() {
            self.faults = None;
            return true;
        }
        false
    }

    /// An error this end already knows of: its own failure, or a RST that has
    /// reached it.
    fn known_error(&self, now: Instant) -> Option<io::ErrorKind> {
        if let Some(k) = self.failed {
            return Some(k);
        }
        match self.conn.reset_to(self.side) {
            Some(at) if at <= now => Some(io::ErrorKind::ConnectionReset),
            _ => None,
        }
    }

    /// Retransmission give-up across a drop that started at `since`: the
    /// first of our segments that had not arrived by then is retransmitted
    /// until `retransmission_give_up` after its first transmission.
    fn give_up_deadline(&self, since: Instant) -> Option<Instant> {
        let out = self.conn.dir(self.side);
        let first = out.chunks.iter().find(|c| c.at > since)?;
        Some(first.sent + self.conn.world.config.retransmission_give_up)
    }

    /// True when our own data is still on its way (a drop would stall it).
    fn has_data_in_flight(&self) -> bool {
        !self.conn.dir(self.side).chunks.is_empty()
    }

    /// Reads what has arrived by `horizon` (now, or the start of a drop).
    fn read_step(&self, buf: &mut ReadBuf<'_>, horizon: Instant, cx: &Context<'_>) -> ReadStep {
        // Before the pipe's lock: the reset of a box at expiry reads both pipes.
        let reset_at = self.conn.reset_to(self.side);
        let mut inp = self.conn.dir(1 - self.side);
        // A FIN that has arrived and been drained reads as EOF even if a RST
        // follows (Linux returns 0 once the FIN is queued).
        let fin_arrived = inp.fin_at.is_some_and(|f| f <= horizon);
        if let Some(at) = reset_at
            && at <= horizon
        {
            // Data sent after the RST never arrives; data that arrived before
            // it is still read first (a prompt reader would have had it).
            inp.chunks.retain(|c| c.at <= at);
            if inp.chunks.is_empty() && !fin_arrived {
                return ReadStep::Error(io::ErrorKind::ConnectionReset);
            }
        }
        if let Some(front) = inp.chunks.front() {
            if front.at > horizon {
                return ReadStep::WaitUntil(earliest(front.at, reset_at));
            }
            while let Some(chunk) = inp.chunks.front_mut() {
                if chunk.at > horizon || buf.remaining() == 0 {
                    break;
                }
                let take = chunk.data.len().min(buf.remaining());
                buf.put_slice(&chunk.data.split_to(take));
                if chunk.data.is_empty() {
                    inp.chunks.pop_front();
                }
            }
            return ReadStep::Data;
        }
        if fin_arrived {
            return ReadStep::Eof;
        }
        inp.reader_waker = Some(cx.waker().clone());
        match (inp.fin_at, reset_at) {
            (Some(f), r) => ReadStep::WaitUntil(earliest(f, r)),
            (None, Some(r)) => ReadStep::WaitUntil(r),
            (None, None) => ReadStep::Wait,
        }
    }

    /// Nothing more crosses the dropped path: park until the faults change or
    /// our unacknowledged data gives up.
    fn poll_stalled(&mut self, cx: &mut Context<'_>, since: Instant) -> Poll<io::Result<()>> {
        if self.watch_faults(cx) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(deadline) = self.give_up_deadline(since)
            && self.wait_until(cx, deadline)
        {
            self.failed = Some(io::ErrorKind::TimedOut);
            return Poll::Ready(Err(err(io::ErrorKind::TimedOut)));
        }
        Poll::Pending
    }
}

fn earliest(a: Instant, b: Option<Instant>) -> Instant {
    b.map_or(a, |b| a.min(b))
}

fn err(kind: io::ErrorKind) -> io::Error {
    let msg = match kind {
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::TimedOut => "connection timed out",
        io::ErrorKind::BrokenPipe => "broken pipe",
        _ => "connection error",
    };
    io::Error::new(kind, msg)
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync_keepalive();
        let poll = this.poll_read_inner(cx, buf);
        if poll.is_pending()
            && let Some(t) = &this.keepalive
        {
            t.shared.register(cx.waker());
        }
        poll
    }
}

impl SimStream {
    fn poll_read_inner(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self;
        loop {
            // A RST that arrived is handled by read_step: a FIN queued before it
            // still reads as EOF.
            if let Some(k) = this.failed {
                return Poll::Ready(Err(err(k)));
            }
            let now = Instant::now();
            let since = this.conn.dropped_since();
            let horizon = since.map_or(now, |s| s.min(now));
            let step = this.read_step(buf, horizon, cx);
            match (step, since) {
                (ReadStep::Data | ReadStep::Eof, _) => return Poll::Ready(Ok(())),
                (ReadStep::Error(k), _) => return Poll::Ready(Err(err(k))),
                (_, Some(s)) => return this.poll_stalled(cx, s),
                (ReadStep::WaitUntil(at), None) => {
                    // A drop starting while we wait must be noticed if our
                    // own data could then stall.
                    if this.has_data_in_flight() && this.watch_faults(cx) {
                        continue;
                    }
                    if !this.wait_until(cx, at) {
                        return Poll::Pending;
                    }
                }
                (ReadStep::Wait, None) => {
                    if this.has_data_in_flight() && this.watch_faults(cx) {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.sync_keepalive();
        let now = Instant::now();
        if let Some(k) = this.known_error(now) {
            return Poll::Ready(Err(err(k)));
        }
        if let Some(since) = this.conn.dropped_since()
            && this.give_up_deadline(since).is_some_and(|d| d <= now)
        {
            this.failed = Some(io::ErrorKind::TimedOut);
            return Poll::Ready(Err(err(io::ErrorKind::TimedOut)));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.conn.idle_verdict(this.side, false) == Verdict::Reset {
            // A middlebox forgot the flow: it answers instead of the peer.
            this.conn.box_reset(this.side);
            return Poll::Ready(Ok(buf.len()));
        }
        let latency = this.conn.one_way(this.side);
        let mut out = this.conn.dir(this.side);
        if out.write_closed {
            return Poll::Ready(Err(err(io::ErrorKind::BrokenPipe)));
        }
        if out.reader_gone {
            // The peer has closed: its kernel answers the data with a RST,
            // which comes back one round trip later.
            drop(out);
            let rtt = latency + this.conn.one_way(1 - this.side);
            this.conn.send_reset(1 - this.side, rtt);
            return Poll::Ready(Ok(buf.len()));
        }
        let at = now + latency;
        let at = out.last_at().map_or(at, |last| at.max(last));
        out.last_arrival = Some(at);
        out.chunks.push_back(Chunk {
            sent: now,
            at,
            data: Bytes::copy_from_slice(buf),
        });
        let waker = out.reader_waker.take();
        drop(out);
        if let Some(w) = waker {
            w.wake();
        }
        if this.conn.dropped_since().is_some() {
            // Our data now stalls: a reader of this end parked before (hyper
            // reads and writes from one task) must start the give-up timer.
            let own_reader = this.conn.dir(1 - this.side).reader_waker.take();
            if let Some(w) = own_reader {
                w.wake();
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.send_fin();
        Poll::Ready(Ok(()))
    }
}

impl SimStream {
    fn send_fin(&mut self) {
        if self.conn.dir(self.side).write_closed {
            return;
        }
        let verdict = self.conn.idle_verdict(self.side, false);
        let latency = self.conn.one_way(self.side);
        let mut out = self.conn.dir(self.side);
        out.write_closed = true;
        if verdict == Verdict::Reset {
            drop(out);
            self.conn.box_reset(self.side);
            return;
        }
        let at = Instant::now() + latency;
        let at = out.last_at().map_or(at, |last| at.max(last));
        out.fin_at = Some(at);
        out.last_arrival = Some(at);
        if let Some(w) = out.reader_waker.take() {
            drop(out);
            w.wake();
        }
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        self.sync_keepalive();
        if self.failed == Some(io::ErrorKind::TimedOut) {
            // The kernel already gave the connection up: close(2) sends
            // nothing, and the peer's next segment is answered with a RST.
            self.conn.dir(1 - self.side).reader_gone = true;
            return;
        }
        let now = Instant::now();
        let (arrived_unread, last_in_flight) = {
            let inp = self.conn.dir(1 - self.side);
            let arrived = inp.chunks.front().is_some_and(|c| c.at <= now);
            (
                arrived,
                inp.chunks.back().map(|c| c.at).filter(|at| *at > now),
            )
        };
        let already_reset =
            self.conn.reset_state().is_some() || self.conn.sent_reset_to(self.side).is_some();
        if arrived_unread && !already_reset {
            // close(2) with unread received data sends a RST.
            self.conn
                .send_reset(self.side, self.conn.one_way(self.side));
        } else {
            self.send_fin();
            if let Some(at) = last_in_flight {
                // Data still on its way reaches a closed socket, whose kernel
                // answers with a RST after the FIN.
                let back = (at - now) + self.conn.one_way(self.side);
                self.conn.send_reset(self.side, back);
            }
        }
        self.conn.dir(1 - self.side).reader_gone = true;
    }
}
