//! The per-host HTTP/1.1 connection pool.
//!
//! One request at a time per connection (no pipelining, as Envoy's HTTP/1
//! pool). As Envoy's `ConnPoolImplBase`: a request takes the most recently
//! used idle connection (the ready list is LIFO); finding none, it becomes a
//! *pending request* ([`pending`], FIFO) and the pool opens a new connection
//! when the pending requests outnumber the connections being opened (one per
//! pending request), within the cluster's circuit breakers ([`crate::circuit`]:
//! `max_connections`, `max_pending_requests`, `max_requests`; Istio leaves
//! them at 2^32-1). At `max_connections` the request stays pending and takes
//! the next connection freed, as in Envoy; a closed connection makes room for
//! a new one when requests are still pending. Any
//! connection that becomes ready, a new one finishing its connect or a busy
//! one whose response completed, goes to the oldest pending request, so a
//! request can be served by a connection freed before its own new connection
//! finished connecting. A connect failure or connect timeout fails every
//! pending request with that failure (`purgePendingStreams`); connections
//! still connecting then go idle when they connect.
//!
//! A connection goes back to the pool when its response body has been read to
//! the end; it is closed instead when `max_requests_per_connection` is
//! reached, when it outlived `max_connection_duration`, when its host was
//! removed (drain), or when the attempt was abandoned mid-response.
//!
//! Each connection has a driver task ([`conn::drive`]) that runs hyper's
//! connection future and owns its timers: the upstream idle timeout, the
//! maximum duration, and closing on request. A FIN seen while the connection is
//! idle ends hyper's connection future, and the driver removes the connection
//! from the pool at once, so it is never reused; so does a read error on an
//! idle connection, such as the `ETIMEDOUT` of a TCP keepalive
//! (`PoolSettings::tcp_keepalive`) whose probes went unanswered (Envoy counts
//! both as `upstream_cx_destroy_remote`).

mod conn;
pub(crate) mod multiplex;
mod pending;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::attempt::{AttemptFailure, ResetReason, classify_connect_error};
use crate::circuit::{CircuitBreaker, Permit, Resource};
use crate::config::{Cluster, PoolSettings, UpstreamProtocol};
use crate::runtime::Env;
use crate::stats::ClusterStats;
use crate::tls::Connector;
use conn::ConnCtl;
use pending::{Queued, Waiter};

/// The pool of one upstream host (or one LOGICAL_DNS logical host).
pub(crate) struct Pool {
    env: Arc<Env>,
    settings: PoolSettings,
    connect_timeout: Duration,
    /// The cluster's breakers (shared with the other hosts' pools).
    breaker: Arc<CircuitBreaker>,
    state: Mutex<PoolState>,
    /// The cluster's name, for its `cluster.<name>.*` counters (set once by
    /// the cluster; a pool without one counts only sidecar-wide).
    cluster: std::sync::OnceLock<String>,
    /// The HTTP/2 pool of an HTTP/2 cluster's host (then this HTTP/1.1 pool
    /// stays empty).
    h2: Option<Arc<multiplex::H2Pool>>,
    /// How connections to the host are secured; `None`: plaintext.
    tls: Option<Connector>,
}

#[derive(Default)]
struct PoolState {
    /// Idle connections, most recently used last.
    idle: Vec<Conn>,
    /// Requests waiting for a connection, oldest first.
    pending: VecDeque<Waiter>,
    /// Connections being opened (Envoy's connecting stream capacity).
    connecting: usize,
    /// Connections of this pool, open or being opened.
    conns: usize,
    /// Where the latest request wanted a new connection to go.
    connect_to: Option<SocketAddr>,
    /// The host left its cluster: no connection goes back to idle.
    draining: bool,
    next_id: u64,
    next_waiter: u64,
}

/// One upstream connection while it is not driving a request.
struct Conn {
    id: u64,
    sender: SendRequest<Full<Bytes>>,
    ctl: Arc<ConnCtl>,
    requests: u32,
    peer: SocketAddr,
    /// The sidecar's end of the connection (`%UPSTREAM_LOCAL_ADDRESS%`).
    local: SocketAddr,
}

/// Where [`Pool::take_or_queue`] left a request.
enum Take {
    /// An idle connection, with the request's `max_requests` slot.
    Idle(Conn, Permit),
    /// In the pending queue.
    Queued(Queued),
}

impl Pool {
    /// An empty HTTP/1.1 pool.
    #[cfg(test)]
    pub(crate) fn new(
        env: Arc<Env>,
        settings: PoolSettings,
        connect_timeout: Duration,
        breaker: Arc<CircuitBreaker>,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            env,
            settings,
            connect_timeout,
            breaker,
            state: Mutex::new(PoolState::default()),
            cluster: std::sync::OnceLock::new(),
            h2: None,
            tls: None,
        })
    }

    /// The pool of one host of `cluster`, speaking the cluster's upstream
    /// protocol, counting into the cluster's `cluster.<name>.*` counters.
    /// `tls` secures its connections (`None`: plaintext).
    pub(crate) fn for_cluster(
        env: Arc<Env>,
        cluster: &Cluster,
        breaker: Arc<CircuitBreaker>,
        tls: Option<Connector>,
    ) -> Arc<Pool> {
        let h2 = (cluster.upstream_protocol == UpstreamProtocol::Http2).then(|| {
            multiplex::H2Pool::new(
                env.clone(),
                cluster.pool.clone(),
                cluster.http2.clone(),
                cluster.connect_timeout,
                breaker.clone(),
                tls.clone(),
            )
        });
        Arc::new(Pool {
            env,
            settings: cluster.pool.clone(),
            connect_timeout: cluster.connect_timeout,
            breaker,
            state: Mutex::new(PoolState::default()),
            cluster: std::sync::OnceLock::from(cluster.name.clone()),
            h2,
            tls,
        })
    }

    /// The HTTP/2 pool, for an HTTP/2 cluster.
    pub(crate) fn multiplexed(&self) -> Option<&Arc<multiplex::H2Pool>> {
        self.h2.as_ref()
    }

    /// Bumps the cluster's counters, when the pool has a cluster.
    fn count(&self, f: impl FnOnce(&mut ClusterStats)) {
        if let Some(name) = self.cluster.get() {
            self.env.stats.cluster(name, f);
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leases an idle connection that is still open, or waits as a pending
    /// request for the next connection to become ready (opening one to
    /// `connect_to` if the connections being opened do not cover the queue).
    /// Dropping the future cancels the pending request. A circuit breaker
    /// refusing the request fails it with reset reason `overflow`.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        connect_to: SocketAddr,
    ) -> Result<Lease, AttemptFailure> {
        loop {
            let (mut conn, permit, check) = match self.take_or_queue(connect_to)? {
                Take::Idle(conn, permit) => (conn, permit, true),
                Take::Queued(queued) => {
                    let (conn, permit) = queued.wait().await?;
                    // A fresh connection is used as it is; a freed one may
                    // have been closed by its peer since.
                    let check = conn.requests > 0;
                    (conn, permit, check)
                }
            };
            if !check || conn.sender.ready().await.is_ok() {
                return Ok(Lease {
                    pool: self.clone(),
                    reused: conn.requests > 0,
                    conn: Some(conn),
                    _request: Some(permit),
                    stream: None,
                });
            }
            conn.ctl.close();
        }
    }

    /// Envoy's `newStream`: the first usable idle connection (most recent
    /// first) within `max_requests`, else a new pending request within
    /// `max_pending_requests`.
    fn take_or_queue(self: &Arc<Self>, connect_to: SocketAddr) -> Result<Take, AttemptFailure> {
        let mut st = self.lock();
        st.connect_to = Some(connect_to);
        while let Some(conn) = st.idle.pop() {
            if conn.sender.is_closed() || !conn.ctl.usable() {
                conn.ctl.close();
                continue;
            }
            let Some(permit) = self.breaker.try_acquire(Resource::Request) else {
                st.idle.push(conn);
                return Err(self.overflow());
            };
            if conn.ctl.make_busy() {
                return Ok(Take::Idle(conn, permit));
            }
            conn.ctl.close();
        }
        let Some(permit) = self.breaker.try_acquire(Resource::Pending) else {
            return Err(self.overflow());
        };
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
        self.count(|c| c.upstream_rq_pending_total += 1);
        if let Some(slot) = opened {
            self.open(connect_to, slot);
        }
        Ok(Take::Queued(Queued {
            pool: self.clone(),
            id,
            rx,
            done: false,
        }))
    }

    /// Counts a request refused by `max_pending_requests` / `max_requests`.
    fn overflow(&self) -> AttemptFailure {
        self.env.stats.bump(|s| s.upstream_rq_pending_overflow += 1);
        AttemptFailure::overflow()
    }

    /// Envoy's `tryCreateNewConnection`: a connection slot when the pending
    /// requests outnumber the connections being opened and `max_connections`
    /// allows one (`upstream_cx_overflow` otherwise; a pool with no
    /// connection at all still gets one). Counted in `connecting`.
    fn try_open(&self, st: &mut PoolState) -> Option<Permit> {
        if st.pending.len() <= st.connecting {
            return None;
        }
        let slot = match self.breaker.try_acquire(Resource::Connection) {
            Some(slot) => slot,
            None => {
                self.env.stats.bump(|s| s.upstream_cx_overflow += 1);
                self.count(|c| c.upstream_cx_overflow += 1);
                if st.conns > 0 {
                    return None;
                }
                self.breaker.force(Resource::Connection)
            }
        };
        st.connecting += 1;
        st.conns += 1;
        Some(slot)
    }

    /// Starts opening a connection to `addr` holding `slot`.
    fn open(self: &Arc<Self>, addr: SocketAddr, slot: Permit) {
        self.env.stats.bump(|s| s.upstream_cx_total += 1);
        self.count(|c| c.upstream_cx_total += 1);
        let pool = self.clone();
        self.env.tasks.spawn(async move {
            let result = pool.connect(addr, slot).await;
            pool.connected(result);
        });
    }

    /// A connection of this pool is gone: its slot frees, and a request still
    /// pending may get a new connection.
    fn conn_closed(self: &Arc<Self>) {
        let mut st = self.lock();
        st.conns = st.conns.saturating_sub(1);
        let opened = self.try_open(&mut st);
        let addr = st.connect_to;
        drop(st);
        if let (Some(slot), Some(addr)) = (opened, addr) {
            self.open(addr, slot);
        }
    }

    async fn connect(
        self: &Arc<Self>,
        addr: SocketAddr,
        slot: Permit,
    ) -> Result<Conn, AttemptFailure> {
        let deadline = meshsim_net::clock::Instant::now() + self.connect_timeout;
        let mut stream = match self.env.stack.connect(addr, self.connect_timeout).await {
            Ok(stream) => stream,
            Err(e) => {
                let failure = classify_connect_error(&e);
                let timed_out = failure.reason == ResetReason::ConnectionTimeout;
                self.env.stats.bump(|s| {
                    s.upstream_cx_connect_fail += 1;
                    s.upstream_cx_connect_timeout += u64::from(timed_out);
                });
                self.count(|c| {
                    c.upstream_cx_connect_fail += 1;
                    c.upstream_cx_connect_timeout += u64::from(timed_out);
                });
                return Err(failure);
            }
        };
        if let Err(e) = stream.set_keepalive(self.settings.tcp_keepalive) {
            tracing::debug!(%addr, error = %e, "setting tcp keepalive failed");
        }
        let local = stream.local_addr();
        let io = crate::tls::secure(&self.env, self.tls.as_ref(), stream, deadline)
            .await
            .inspect_err(|_| self.count(|c| c.upstream_cx_connect_fail += 1))?;
        let io = TokioIo::new(io);
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|_| local_failure())?;
        let ctl = Arc::new(ConnCtl::default());
        let id = {
            let mut st = self.lock();
            st.next_id += 1;
            st.next_id
        };
        let driver = conn::drive(connection, ctl.clone(), self.clone(), id, slot);
        self.env.tasks.spawn(driver);
        Ok(Conn {
            id,
            sender,
            ctl,
            requests: 0,
            peer: addr,
            local,
        })
    }

    /// Envoy's `onConnectionEvent` for a connecting connection: connected, it
    /// serves the oldest pending request; failed, every pending request fails
    /// with its failure.
    fn connected(&self, result: Result<Conn, AttemptFailure>) {
        let mut st = self.lock();
        st.connecting = st.connecting.saturating_sub(1);
        match result {
            Ok(conn) => self.hand_over(st, conn),
            Err(failure) => {
                st.conns = st.conns.saturating_sub(1);
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

    /// Gives `conn` to the oldest pending request, else parks it idle (or
    /// closes it in a draining pool). Envoy's `attachStreamToClient`: a
    /// request past `max_requests` fails with `overflow` instead.
    fn hand_over(&self, mut st: MutexGuard<'_, PoolState>, mut conn: Conn) {
        while let Some(waiter) = st.pending.pop_front() {
            let Some(permit) = self.breaker.try_acquire(Resource::Request) else {
                // A receiver gone meanwhile was cancelled: nothing to fail.
                let _ = waiter.tx.send(Err(self.overflow()));
                continue;
            };
            match waiter.tx.send(Ok((conn, permit))) {
                Ok(()) => return,
                // Its request was being cancelled: try the next one.
                Err(Ok((back, _))) => conn = back,
                Err(Err(_)) => return,
            }
        }
        let draining = st.draining;
        if draining || conn.sender.is_closed() || !conn.ctl.make_idle() {
            drop(st);
            self.env
                .stats
                .bump(|s| s.upstream_cx_drained += u64::from(draining));
            conn.ctl.close();
            return;
        }
        st.idle.push(conn);
    }

    /// Passes on a connection granted to a request that was cancelled.
    fn offer(&self, conn: Conn) {
        let st = self.lock();
        self.hand_over(st, conn);
    }

    /// Removes pending request `id`; false when it is no longer queued.
    fn cancel_pending(&self, id: u64) -> bool {
        let mut st = self.lock();
        let Some(i) = st.pending.iter().position(|w| w.id == id) else {
            return false;
        };
        st.pending.remove(i);
        drop(st);
        self.env.stats.bump(|s| s.upstream_rq_cancelled += 1);
        true
    }

    /// Takes connection `id` out of the idle list; false when it is not idle.
    fn remove_idle(&self, id: u64) -> bool {
        let mut st = self.lock();
        match st.idle.iter().position(|c| c.id == id) {
            Some(i) => {
                st.idle.remove(i);
                true
            }
            None => false,
        }
    }

    /// A response completed: the connection serves the oldest pending request
    /// or goes idle, unless it must close.
    fn checkin(&self, conn: Conn) {
        let max = self.settings.max_requests_per_connection.filter(|m| *m > 0);
        let max_reached = max.is_some_and(|m| conn.requests >= m);
        let st = self.lock();
        let draining = st.draining;
        if max_reached || draining || conn.sender.is_closed() || !conn.ctl.usable() {
            drop(st);
            self.env.stats.bump(|s| {
                s.upstream_cx_max_requests += u64::from(max_reached);
                s.upstream_cx_drained += u64::from(draining && !max_reached);
            });
            conn.ctl.close();
            return;
        }
        self.hand_over(st, conn);
    }

    /// Connections of this pool, open or being opened (`cx_active`).
    pub(crate) fn open_conns(&self) -> usize {
        self.lock().conns
    }

    /// Drains the pool (its host left the cluster): idle connections close at
    /// once, busy ones close after their in-flight request.
    pub(crate) fn drain(&self) {
        if let Some(h2) = &self.h2 {
            h2.drain();
        }
        let idle = {
            let mut st = self.lock();
            st.draining = true;
            std::mem::take(&mut st.idle)
        };
        self.env
            .stats
            .bump(|s| s.upstream_cx_drained += idle.len() as u64);
        for conn in idle {
            conn.ctl.close();
        }
    }

    /// Idle connections in the pool.
    #[cfg(test)]
    pub(crate) fn idle_len(&self) -> usize {
        self.lock().idle.len()
    }

    /// Pending requests and connections being opened.
    #[cfg(test)]
    pub(crate) fn queue_len(&self) -> (usize, usize) {
        let st = self.lock();
        (st.pending.len(), st.connecting)
    }
}

fn local_failure() -> AttemptFailure {
    AttemptFailure {
        reason: ResetReason::LocalConnectionFailure,
        transport_failure: None,
        request_sent: false,
        per_try_timeout: false,
    }
}

/// A connection leased to one attempt. Dropped without [`Lease::release`], it
/// closes the connection (the response was abandoned).
pub(crate) struct Lease {
    pool: Arc<Pool>,
    conn: Option<Conn>,
    reused: bool,
    /// The request's `max_requests` slot, given back with the connection.
    _request: Option<Permit>,
    /// An HTTP/2 stream instead of a connection.
    stream: Option<Box<multiplex::StreamLease>>,
}

impl Lease {
    /// A lease of an HTTP/2 stream of `pool`.
    pub(crate) fn stream(pool: Arc<Pool>, stream: Box<multiplex::StreamLease>) -> Lease {
        Lease {
            pool,
            conn: None,
            reused: stream.reused(),
            _request: None,
            stream: Some(stream),
        }
    }

    /// Whether the connection had served a request before (a fresh
    /// connection that waited idle is not reused).
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// The upstream address of the connection.
    pub(crate) fn peer(&self) -> SocketAddr {
        if let Some(stream) = &self.stream {
            return stream.peer();
        }
        self.conn
            .as_ref()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.peer)
    }

    /// The sidecar's end of the connection.
    pub(crate) fn local(&self) -> Option<SocketAddr> {
        self.conn.as_ref().map(|c| c.local)
    }

    /// Sends a request; the future does not borrow the lease.
    pub(crate) fn send_request(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> impl Future<Output = hyper::Result<Response<Incoming>>> + Send + use<> {
        let conn = self
            .conn
            .as_mut()
            .expect("a lease holds its connection until released");
        conn.requests += 1;
        conn.sender.send_request(req)
    }

    /// Gives the connection back to the pool (its response is complete).
    pub(crate) fn release(mut self) {
        if let Some(stream) = self.stream.take() {
            stream.release();
        }
        self._request = None;
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(conn);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.ctl.close();
        }
    }
}

#[cfg(test)]
mod tests;
