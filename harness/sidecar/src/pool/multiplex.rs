//! The per-host HTTP/2 connection pool (Envoy's multiplexed pool,
//! `MultiplexedActiveClientBase` over `ConnPoolImplBase`).
//!
//! Streams share a connection: a request takes the newest connection that
//! still has stream capacity, where a connection's capacity is the lowest of
//! the cluster's `http2.max_concurrent_streams`, the peer's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` (once received, as Envoy's `onSettings`)
//! and the streams left under `max_requests_per_connection` (which counts
//! streams). Finding none, it waits as a pending request (FIFO) and the pool
//! opens a new connection when the pending requests outnumber the stream
//! capacity of the connections being opened (Envoy's
//! `connecting_stream_capacity_`). The circuit breakers apply as for
//! HTTP/1.1: `max_requests` bounds streams, `max_pending_requests` the queue,
//! `max_connections` the connections. A connect failure fails every pending
//! request.
//!
//! A connection stops taking streams (drains) when the peer sent GOAWAY
//! (`upstream_cx_close_notify`), when `max_requests_per_connection` streams
//! were opened on it, when `max_connection_duration` passed, or when its host
//! left the cluster; it closes when its last stream ends. The upstream idle
//! timeout counts from the moment a connection has no stream. Abandoning a
//! stream (per-try timeout, route timeout, the application going away)
//! resets that stream only (RST_STREAM CANCEL); the connection stays.

mod driver;
mod stream;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::oneshot;

use super::conn::ConnCtl;
use crate::attempt::AttemptFailure;
use crate::circuit::{CircuitBreaker, Permit, Resource};
use crate::config::{Http2Options, PoolSettings};
use crate::runtime::Env;

pub(crate) use stream::{H2Body, StreamLease, StreamResult, send};

/// The HTTP/2 pool of one upstream host.
pub(crate) struct H2Pool {
    env: Arc<Env>,
    settings: PoolSettings,
    http2: Http2Options,
    connect_timeout: Duration,
    breaker: Arc<CircuitBreaker>,
    /// How connections to the host are secured; `None`: plaintext.
    pub(super) tls: Option<crate::tls::Connector>,
    state: Mutex<H2State>,
}

#[derive(Default)]
struct H2State {
    /// Open connections by id (the newest last).
    conns: BTreeMap<u64, H2Conn>,
    /// Requests waiting for a stream, oldest first.
    pending: VecDeque<Waiter>,
    /// Stream capacity of the connections being opened.
    connecting_capacity: u64,
    /// Connections open or being opened (for `max_connections`).
    count: usize,
    /// Where the latest request wanted a new connection to go.
    connect_to: Option<SocketAddr>,
    /// The host left its cluster.
    draining: bool,
    next_id: u64,
    next_waiter: u64,
}

/// One open HTTP/2 connection.
struct H2Conn {
    sender: SendRequest<Bytes>,
    ctl: Arc<ConnCtl>,
    /// Streams open on it now.
    active: u32,
    /// Streams ever opened on it.
    streams: u32,
    /// Takes no new stream; closes when its last stream ends.
    draining: bool,
    /// The peer's GOAWAY was counted.
    goaway: bool,
    peer: SocketAddr,
}

/// A stream granted to a request.
pub(crate) struct Grant {
    id: u64,
    sender: SendRequest<Bytes>,
    peer: SocketAddr,
    reused: bool,
    _permit: Permit,
}

struct Waiter {
    id: u64,
    tx: oneshot::Sender<Result<Grant, AttemptFailure>>,
    _pending: Permit,
}

impl H2Pool {
    /// An empty pool.
    pub(crate) fn new(
        env: Arc<Env>,
        settings: PoolSettings,
        http2: Http2Options,
        connect_timeout: Duration,
        breaker: Arc<CircuitBreaker>,
        tls: Option<crate::tls::Connector>,
    ) -> Arc<H2Pool> {
        Arc::new(H2Pool {
            env,
            settings,
            http2,
            connect_timeout,
            breaker,
            tls,
            state: Mutex::new(H2State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, H2State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stream on a connection with capacity, or the first one to get
    /// capacity (opening a connection to `connect_to` when needed). A
    /// circuit breaker refusing the request fails it with `overflow`.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        connect_to: SocketAddr,
    ) -> Result<Grant, AttemptFailure> {
        let (id, rx) = {
            let mut st = self.lock();
            st.connect_to = Some(connect_to);
            if let Some(grant) = self.take_stream(&mut st)? {
                return Ok(grant);
            }
            let permit = self
                .breaker
                .try_acquire(Resource::Pending)
                .ok_or_else(|| self.overflow())?;
            let (tx, rx) = oneshot::channel();
            st.next_waiter += 1;
            let id = st.next_waiter;
            st.pending.push_back(Waiter {
                id,
                tx,
                _pending: permit,
            });
            let opened = self.try_open(&mut st);
            drop(st);
            self.env.stats.bump(|s| s.upstream_rq_pending_total += 1);
            if let Some(slot) = opened {
                self.open(connect_to, slot);
            }
            (id, rx)
        };
        let mut waiting = Waiting {
            pool: self,
            id,
            rx: Some(rx),
        };
        waiting.wait().await
    }

    /// The newest connection with capacity gives a stream.
    fn take_stream(&self, st: &mut H2State) -> Result<Option<Grant>, AttemptFailure> {
        let ids: Vec<u64> = st.conns.keys().rev().copied().collect();
        for id in ids {
            if !self.has_capacity(st, id) {
                continue;
            }
            let permit = self
                .breaker
                .try_acquire(Resource::Request)
                .ok_or_else(|| self.overflow())?;
            return Ok(Some(self.grant(st, id, permit)));
        }
        Ok(None)
    }

    /// Whether connection `id` can take one more stream now; notices a
    /// GOAWAY on the way.
    fn has_capacity(&self, st: &mut H2State, id: u64) -> bool {
        let max_streams = self.http2.max_concurrent_streams;
        let max_requests = self.settings.max_requests_per_connection.filter(|m| *m > 0);
        let Some(c) = st.conns.get_mut(&id) else {
            return false;
        };
        if !c.draining && driver::peer_went_away(&mut c.sender) {
            self.on_goaway(c);
        }
        if c.draining || !c.ctl.usable() {
            return false;
        }
        let peer_max = u32::try_from(c.sender.current_max_send_streams()).unwrap_or(u32::MAX);
        let under_requests = max_requests.is_none_or(|m| c.streams < m);
        c.active < max_streams.min(peer_max) && under_requests
    }

    /// Opens a stream on connection `id` for a request.
    fn grant(&self, st: &mut H2State, id: u64, permit: Permit) -> Grant {
        let max_requests = self.settings.max_requests_per_connection.filter(|m| *m > 0);
        let c = st
            .conns
            .get_mut(&id)
            .expect("granting on a known connection");
        let reused = c.streams > 0;
        c.active += 1;
        c.streams += 1;
        if c.active == 1 {
            c.ctl.make_busy();
        }
        if max_requests.is_some_and(|m| c.streams >= m) {
            c.draining = true;
            self.env.stats.bump(|s| s.upstream_cx_max_requests += 1);
        }
        if reused {
            self.env.stats.bump(|s| s.upstream_rq_reused_cx += 1);
        }
        Grant {
            id,
            sender: c.sender.clone(),
            peer: c.peer,
            reused,
            _permit: permit,
        }
    }

    /// The peer sent GOAWAY: the connection drains (Envoy's `onGoAway`).
    fn on_goaway(&self, c: &mut H2Conn) {
        c.draining = true;
        if !c.goaway {
            c.goaway = true;
            self.env.stats.bump(|s| s.upstream_cx_close_notify += 1);
        }
        if c.active == 0 {
            c.ctl.close();
        }
    }

    /// A stream of connection `id` saw the peer's GOAWAY.
    fn goaway_seen(&self, id: u64) {
        let mut st = self.lock();
        if let Some(c) = st.conns.get_mut(&id) {
            self.on_goaway(c);
        }
    }

    /// Counts a request refused by `max_pending_requests` / `max_requests`.
    fn overflow(&self) -> AttemptFailure {
        self.env.stats.bump(|s| s.upstream_rq_pending_overflow += 1);
        AttemptFailure::overflow()
    }

    /// Stream capacity of a new connection.
    fn new_capacity(&self) -> u64 {
        let max_requests = self.settings.max_requests_per_connection.filter(|m| *m > 0);
        let cap = max_requests.map_or(self.http2.max_concurrent_streams, |m| {
            m.min(self.http2.max_concurrent_streams)
        });
        u64::from(cap.max(1))
    }

    /// Envoy's `tryCreateNewConnection`: a connection slot when the pending
    /// requests outnumber the stream capacity being opened.
    fn try_open(&self, st: &mut H2State) -> Option<Permit> {
        if st.pending.len() as u64 <= st.connecting_capacity {
            return None;
        }
        let slot = match self.breaker.try_acquire(Resource::Connection) {
            Some(slot) => slot,
            None => {
                self.env.stats.bump(|s| s.upstream_cx_overflow += 1);
                if st.count > 0 {
                    return None;
                }
                self.breaker.force(Resource::Connection)
            }
        };
        st.connecting_capacity += self.new_capacity();
        st.count += 1;
        Some(slot)
    }

    /// Starts opening a connection to `addr` holding `slot`.
    fn open(self: &Arc<Self>, addr: SocketAddr, slot: Permit) {
        self.env.stats.bump(|s| {
            s.upstream_cx_total += 1;
            s.upstream_cx_http2_total += 1;
        });
        let pool = self.clone();
        self.env.tasks.spawn(async move {
            let result = driver::connect(&pool, addr, slot).await;
            pool.connected(result);
        });
    }

    /// A connection finished connecting: it serves the pending requests up to
    /// its capacity. A failure fails every pending request.
    fn connected(&self, result: Result<(u64, H2Conn), AttemptFailure>) {
        let mut st = self.lock();
        st.connecting_capacity = st.connecting_capacity.saturating_sub(self.new_capacity());
        match result {
            Ok((id, conn)) => {
                st.conns.insert(id, conn);
                if st.draining {
                    self.drain_conn(&mut st, id);
                }
                self.hand_out(&mut st, id);
                self.close_if_unused(&mut st, id);
            }
            Err(failure) => {
                st.count = st.count.saturating_sub(1);
                let purged = std::mem::take(&mut st.pending);
                drop(st);
                self.env
                    .stats
                    .bump(|s| s.upstream_rq_pending_failure_eject += purged.len() as u64);
                for waiter in purged {
                    // A receiver gone meanwhile was cancelled: nothing to fail.
                    let _ = waiter.tx.send(Err(failure.clone()));
                }
            }
        }
    }

    /// Gives streams of connection `id` to pending requests, oldest first.
    fn hand_out(&self, st: &mut H2State, id: u64) {
        while !st.pending.is_empty() && self.has_capacity(st, id) {
            let waiter = st.pending.pop_front().expect("checked non-empty");
            let Some(permit) = self.breaker.try_acquire(Resource::Request) else {
                let _ = waiter.tx.send(Err(self.overflow()));
                continue;
            };
            let grant = self.grant(st, id, permit);
            if let Err(Ok(back)) = waiter.tx.send(Ok(grant)) {
                // Its request was being cancelled: the stream was never used.
                self.stream_done(st, back.id, false);
            }
        }
    }

    /// A stream of connection `id` ended (`counted`: it was really opened).
    fn stream_done(&self, st: &mut H2State, id: u64, counted: bool) {
        let Some(c) = st.conns.get_mut(&id) else {
            return;
        };
        c.active = c.active.saturating_sub(1);
        if !counted {
            c.streams = c.streams.saturating_sub(1);
        }
        if c.active == 0 {
            c.ctl.make_idle();
        }
        self.hand_out(st, id);
        self.close_if_unused(st, id);
    }

    /// Closes connection `id` if it drains and has no stream left.
    fn close_if_unused(&self, st: &mut H2State, id: u64) {
        if let Some(c) = st.conns.get(&id)
            && c.active == 0
            && (c.draining || !c.ctl.usable())
        {
            c.ctl.close();
        }
    }

    /// Marks connection `id` draining (host removed).
    fn drain_conn(&self, st: &mut H2State, id: u64) {
        if let Some(c) = st.conns.get_mut(&id)
            && !c.draining
        {
            c.draining = true;
            self.env.stats.bump(|s| s.upstream_cx_drained += 1);
        }
        self.close_if_unused(st, id);
    }

    /// Takes connection `id` out of the pool if it has no stream (its idle
    /// timeout fired); false when a stream took it meanwhile.
    fn take_if_idle(&self, id: u64) -> bool {
        let mut st = self.lock();
        if st.conns.get(&id).is_some_and(|c| c.active == 0) {
            st.conns.remove(&id);
            return true;
        }
        false
    }

    /// A request stopped waiting for a stream (route timeout).
    fn cancel_pending(&self, id: u64) {
        let mut st = self.lock();
        if let Some(i) = st.pending.iter().position(|w| w.id == id) {
            st.pending.remove(i);
            drop(st);
            self.env.stats.bump(|s| s.upstream_rq_cancelled += 1);
        }
    }

    /// Connection `id` is gone: its slot frees, and pending requests may get
    /// a new connection.
    fn conn_closed(self: &Arc<Self>, id: u64) {
        let mut st = self.lock();
        if let Some(mut c) = st.conns.remove(&id)
            && !c.goaway
            && driver::peer_went_away(&mut c.sender)
        {
            self.env.stats.bump(|s| s.upstream_cx_close_notify += 1);
        }
        st.count = st.count.saturating_sub(1);
        let opened = self.try_open(&mut st);
        let addr = st.connect_to;
        drop(st);
        if let (Some(slot), Some(addr)) = (opened, addr) {
            self.open(addr, slot);
        }
    }

    /// Drains the pool (its host left the cluster): connections take no new
    /// stream and close after their last one.
    pub(crate) fn drain(&self) {
        let mut st = self.lock();
        st.draining = true;
        let ids: Vec<u64> = st.conns.keys().copied().collect();
        for id in ids {
            self.drain_conn(&mut st, id);
        }
    }
}

/// A pending request; dropped while waiting (route timeout), it leaves the
/// queue, or gives back the stream granted meanwhile.
struct Waiting<'a> {
    pool: &'a H2Pool,
    id: u64,
    rx: Option<oneshot::Receiver<Result<Grant, AttemptFailure>>>,
}

impl Waiting<'_> {
    async fn wait(&mut self) -> Result<Grant, AttemptFailure> {
        let rx = self.rx.as_mut().expect("waited once");
        let result = rx.await;
        self.rx = None;
        // A dropped sender means the pool went away (sidecar shutdown).
        result.unwrap_or_else(|_| Err(AttemptFailure::overflow()))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        self.pool.cancel_pending(self.id);
        if let Ok(Ok(grant)) = rx.try_recv() {
            let mut st = self.pool.lock();
            self.pool.stream_done(&mut st, grant.id, false);
        }
    }
}
