//! One simulated TCP connection: two directed byte pipes with FIN, RST,
//! latency and black-hole stalls.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::world::World;

/// One direction of a connection.
#[derive(Default)]
struct Pipe {
    /// Written bytes with the time they reach the reader.
    chunks: VecDeque<(Instant, Bytes)>,
    /// When the writer's FIN reaches the reader.
    fin_at: Option<Instant>,
    /// The writer has shut down (no more writes).
    write_closed: bool,
    /// The reading end is closed: later data is answered with RST.
    reader_gone: bool,
    /// Since when data has been waiting for the reader (retransmission clock).
    pending_since: Option<Instant>,
    reader_waker: Option<Waker>,
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
}

impl Conn {
    pub(crate) fn new(world: Arc<World>, client: SocketAddr, server: SocketAddr) -> Arc<Conn> {
        Arc::new(Conn {
            world,
            ends: [client, server],
            dirs: [Mutex::new(Pipe::default()), Mutex::new(Pipe::default())],
            reset: Mutex::new(None),
        })
    }

    fn dir(&self, side: usize) -> MutexGuard<'_, Pipe> {
        self.dirs[side].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reset_state(&self) -> Option<(usize, Instant)> {
        *self.reset.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dropped(&self) -> bool {
        self.world
            .path_dropped(self.ends[0].ip(), self.ends[1].ip())
    }

    fn one_way(&self, from: usize) -> std::time::Duration {
        self.world
            .latency(self.ends[from].ip(), self.ends[1 - from].ip())
    }

    /// Side `from` sends a RST; the other side learns of it `delay` later. A
    /// RST sent into a drop is lost for good (it is never retransmitted).
    fn send_reset(&self, from: usize, delay: std::time::Duration) {
        if self.dropped() {
            return;
        }
        let at = Instant::now() + delay;
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
    /// This end has failed (retransmission give-up) or closed abortively.
    failed: Option<io::ErrorKind>,
    closed: bool,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream")
            .field("local", &self.local_addr())
            .field("peer", &self.peer_addr())
            .finish()
    }
}

enum ReadStep {
    Data,
    Eof,
    Error(io::ErrorKind),
    WaitUntil(Instant),
    Wait,
}

impl SimStream {
    pub(crate) fn new(conn: Arc<Conn>, side: usize, original_dst: Option<SocketAddr>) -> Self {
        SimStream {
            conn,
            side,
            original_dst,
            timer: None,
            failed: None,
            closed: false,
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
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
        }
        let t = self.timer.as_mut().expect("timer set above");
        t.as_mut().poll(cx).is_ready()
    }

    /// An error this end already knows of: its own failure, or a RST that has
    /// reached it.
    fn known_error(&self, now: Instant) -> Option<io::ErrorKind> {
        if let Some(k) = self.failed {
            return Some(k);
        }
        match self.conn.reset_state() {
            Some((from, at)) if from != self.side && at <= now => {
                Some(io::ErrorKind::ConnectionReset)
            }
            _ => None,
        }
    }

    /// Retransmission give-up: our unacknowledged data has waited too long
    /// across a dropped path.
    fn give_up_deadline(&self) -> Option<Instant> {
        let since = self.conn.dir(self.side).pending_since?;
        Some(since + self.conn.world.config.retransmission_give_up)
    }

    fn read_step(&self, buf: &mut ReadBuf<'_>, now: Instant, cx: &Context<'_>) -> ReadStep {
        let mut inp = self.conn.dir(1 - self.side);
        let reset_at = match self.conn.reset_state() {
            Some((from, at)) if from != self.side => Some(at),
            _ => None,
        };
        // A FIN that has arrived and been drained reads as EOF even if a RST
        // follows (Linux returns 0 once the FIN is queued).
        let fin_arrived = inp.fin_at.is_some_and(|f| f <= now);
        if let Some(at) = reset_at
            && at <= now
            && !(fin_arrived && inp.chunks.is_empty())
        {
            inp.chunks.clear();
            return ReadStep::Error(io::ErrorKind::ConnectionReset);
        }
        if let Some(&(at, _)) = inp.chunks.front() {
            if at > now {
                return ReadStep::WaitUntil(earliest(at, reset_at));
            }
            while let Some((at, chunk)) = inp.chunks.front_mut() {
                if *at > now || buf.remaining() == 0 {
                    break;
                }
                let take = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk.split_to(take));
                if chunk.is_empty() {
                    inp.chunks.pop_front();
                }
            }
            if inp.chunks.is_empty() {
                inp.pending_since = None;
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
}

fn earliest(a: Instant, b: Option<Instant>) -> Instant {
    b.map_or(a, |b| a.min(b))
}

fn err(kind: io::ErrorKind) -> io::Error {
    let msg = match kind {
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::TimedOut => "connection timed out (retransmission give-up)",
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
        loop {
            let now = Instant::now();
            // A RST that arrived is handled by read_step: a FIN queued before it
            // still reads as EOF.
            if let Some(k) = this.failed {
                return Poll::Ready(Err(err(k)));
            }
            if this.conn.dropped() {
                // Nothing crosses the path; only timers end the wait.
                this.conn.world.park_stalled(cx.waker());
                if let Some(deadline) = this.give_up_deadline()
                    && this.wait_until(cx, deadline)
                {
                    this.failed = Some(io::ErrorKind::TimedOut);
                    continue;
                }
                return Poll::Pending;
            }
            match this.read_step(buf, now, cx) {
                ReadStep::Data | ReadStep::Eof => return Poll::Ready(Ok(())),
                ReadStep::Error(k) => return Poll::Ready(Err(err(k))),
                ReadStep::Wait => return Poll::Pending,
                ReadStep::WaitUntil(at) => {
                    if !this.wait_until(cx, at) {
                        return Poll::Pending;
                    }
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
        let now = Instant::now();
        if let Some(k) = this.known_error(now) {
            return Poll::Ready(Err(err(k)));
        }
        if let Some(deadline) = this.give_up_deadline()
            && this.conn.dropped()
            && deadline <= now
        {
            this.failed = Some(io::ErrorKind::TimedOut);
            return Poll::Ready(Err(err(io::ErrorKind::TimedOut)));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
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
        let at = out.chunks.back().map_or(at, |(last, _)| at.max(*last));
        out.chunks.push_back((at, Bytes::copy_from_slice(buf)));
        out.pending_since.get_or_insert(now);
        let waker = out.reader_waker.take();
        drop(out);
        if let Some(w) = waker {
            w.wake();
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
        let latency = self.conn.one_way(self.side);
        let mut out = self.conn.dir(self.side);
        if out.write_closed {
            return;
        }
        out.write_closed = true;
        let at = Instant::now() + latency;
        let at = out.chunks.back().map_or(at, |(last, _)| at.max(*last));
        out.fin_at = Some(at);
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
        let unread = !self.conn.dir(1 - self.side).chunks.is_empty();
        let already_reset = self.conn.reset_state().is_some();
        if unread && !already_reset {
            // close(2) with unread received data sends a RST.
            self.conn
                .send_reset(self.side, self.conn.one_way(self.side));
        } else {
            self.send_fin();
        }
        self.conn.dir(1 - self.side).reader_gone = true;
    }
}
