//! The per-host HTTP/1.1 connection pool.
//!
//! One request at a time per connection (no pipelining, as Envoy's HTTP/1
//! pool). An attempt takes the most recently used idle connection (Envoy's
//! ready list is LIFO) or opens a new one. A connection goes back to the pool
//! when its response body has been read to the end; it is closed instead when
//! `max_requests_per_connection` is reached, when it outlived
//! `max_connection_duration`, when its host was removed (drain), or when the
//! attempt was abandoned mid-response.
//!
//! Each connection has a driver task ([`conn::drive`]) that runs hyper's
//! connection future and owns its timers: the upstream idle timeout, the
//! maximum duration, and closing on request. A FIN seen while the connection is
//! idle ends hyper's connection future, and the driver removes the connection
//! from the pool at once, so it is never reused.

mod conn;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::attempt::{AttemptFailure, ResetReason, classify_connect_error};
use crate::config::PoolSettings;
use crate::runtime::Env;
use conn::ConnCtl;

/// The pool of one upstream host (or one LOGICAL_DNS logical host).
pub(crate) struct Pool {
    env: Arc<Env>,
    settings: PoolSettings,
    connect_timeout: Duration,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    /// Idle connections, most recently used last.
    idle: Vec<Conn>,
    /// The host left its cluster: no connection goes back to idle.
    draining: bool,
    next_id: u64,
}

/// One upstream connection while it is not driving a request.
struct Conn {
    id: u64,
    sender: SendRequest<Full<Bytes>>,
    ctl: Arc<ConnCtl>,
    requests: u32,
    peer: SocketAddr,
}

impl Pool {
    /// An empty pool.
    pub(crate) fn new(
        env: Arc<Env>,
        settings: PoolSettings,
        connect_timeout: Duration,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            env,
            settings,
            connect_timeout,
            state: Mutex::new(PoolState::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leases an idle connection that is still open, or opens one to `connect_to`.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        connect_to: SocketAddr,
    ) -> Result<Lease, AttemptFailure> {
        while let Some(mut conn) = self.pop_idle() {
            if conn.sender.ready().await.is_ok() {
                return Ok(Lease {
                    pool: self.clone(),
                    conn: Some(conn),
                    reused: true,
                });
            }
            conn.ctl.close();
        }
        self.connect(connect_to).await
    }

    fn pop_idle(&self) -> Option<Conn> {
        let mut st = self.lock();
        while let Some(conn) = st.idle.pop() {
            if !conn.sender.is_closed() && conn.ctl.make_busy() {
                return Some(conn);
            }
            conn.ctl.close();
        }
        None
    }

    async fn connect(self: &Arc<Self>, addr: SocketAddr) -> Result<Lease, AttemptFailure> {
        self.env.stats.bump(|s| s.upstream_cx_total += 1);
        let stream = match self.env.stack.connect(addr, self.connect_timeout).await {
            Ok(stream) => stream,
            Err(e) => {
                let failure = classify_connect_error(&e);
                let timed_out = failure.reason == ResetReason::ConnectionTimeout;
                self.env.stats.bump(|s| {
                    s.upstream_cx_connect_fail += 1;
                    s.upstream_cx_connect_timeout += u64::from(timed_out);
                });
                return Err(failure);
            }
        };
        let io = TokioIo::new(stream);
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
        let driver = conn::drive(connection, ctl.clone(), self.clone(), id);
        self.env.tasks.spawn(driver);
        let conn = Conn {
            id,
            sender,
            ctl,
            requests: 0,
            peer: addr,
        };
        Ok(Lease {
            pool: self.clone(),
            conn: Some(conn),
            reused: false,
        })
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

    fn checkin(&self, conn: Conn) {
        let max = self.settings.max_requests_per_connection.filter(|m| *m > 0);
        let max_reached = max.is_some_and(|m| conn.requests >= m);
        let mut st = self.lock();
        let draining = st.draining;
        if max_reached || draining || conn.sender.is_closed() || !conn.ctl.make_idle() {
            drop(st);
            self.env.stats.bump(|s| {
                s.upstream_cx_max_requests += u64::from(max_reached);
                s.upstream_cx_drained += u64::from(draining && !max_reached);
            });
            conn.ctl.close();
            return;
        }
        st.idle.push(conn);
    }

    /// Drains the pool (its host left the cluster): idle connections close at
    /// once, busy ones close after their in-flight request.
    pub(crate) fn drain(&self) {
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
}

impl Lease {
    /// Whether the connection had served a request before.
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// The upstream address of the connection.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.conn
            .as_ref()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.peer)
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
