//! One pooled connection: its control block and its driver.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::Connection;
use hyper_util::rt::TokioIo;
use meshsim_net::clock::Instant;
use tokio::sync::Notify;

use super::Pool;
use crate::circuit::Permit;
use crate::config::PoolSettings;
use crate::stats::Counters;

/// Shared between the pool (or a lease) and the connection's driver task;
/// the HTTP/1.1 and the HTTP/2 pool's drivers both use it (for HTTP/2,
/// "leased" means "has a stream").
#[derive(Debug, Default)]
pub(super) struct ConnCtl {
    state: Mutex<CtlState>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct CtlState {
    /// Since when the connection is idle in the pool; `None` while leased.
    idle_since: Option<Instant>,
    /// Close as soon as possible.
    close: bool,
    /// `max_connection_duration` reached: close when it next becomes idle.
    expired: bool,
}

impl ConnCtl {
    fn lock(&self) -> MutexGuard<'_, CtlState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the driver to close the connection.
    pub(super) fn close(&self) {
        self.lock().close = true;
        self.wake.notify_one();
    }

    /// Marks the connection leased; false when it must not be used.
    pub(super) fn make_busy(&self) -> bool {
        let mut st = self.lock();
        st.idle_since = None;
        !st.close && !st.expired
    }

    /// Whether the connection may serve another request (not asked to close,
    /// not past its maximum duration).
    pub(super) fn usable(&self) -> bool {
        let st = self.lock();
        !st.close && !st.expired
    }

    /// Marks the connection idle from now; false when it must close instead.
    /// The driver is not woken: its idle timer is always armed and, firing
    /// before the connection has been idle long enough, re-arms itself
    /// (a wake per response would cost a task poll per request).
    pub(super) fn make_idle(&self) -> bool {
        let mut st = self.lock();
        st.idle_since = Some(Instant::now());
        !st.close && !st.expired
    }

    /// What the driver acts on: asked to close; since when the connection
    /// is idle (`None` while leased); past its maximum duration.
    fn driver_view(&self) -> (bool, Option<Instant>, bool) {
        let st = self.lock();
        (st.close, st.idle_since, st.expired)
    }

    /// Whether the pool asked the connection to close.
    pub(super) fn closing(&self) -> bool {
        self.lock().close
    }

    /// `max_connection_duration` reached: no new request or stream.
    pub(super) fn expire(&self) {
        self.lock().expired = true;
    }

    /// Resolves at the next [`ConnCtl::close`].
    pub(super) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }
}

/// What the pool behind a connection's driver does when a timer fires.
pub(super) trait DriverPool {
    /// The idle timer fired: takes the connection out of the pool if it is
    /// still idle; true when the driver closes it.
    fn idle_timer_fired(&self, id: u64) -> bool;
    /// The maximum duration passed (the connection is marked expired): true
    /// when the driver closes it now rather than once it is unused.
    fn max_duration_reached(&self, id: u64) -> bool;
    /// The sidecar's counters.
    fn counters(&self) -> &Counters;
}

/// Why a driver's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DriveEnd {
    /// The protocol's connection future ended: the peer closed, or the
    /// socket failed (or, for HTTP/2, the pool asked `h2` to close).
    Connection,
    /// The pool asked to close, or a timer closed the connection.
    Local,
}

/// The loop both pools' drivers run around the protocol's connection
/// future: until it ends, the pool asks to close, the idle timeout takes the
/// idle connection, or the maximum duration closes it (Envoy's
/// `idle_timeout` and `max_connection_duration`).
///
/// The idle timer is armed for as long as the connection lives, at the
/// earliest instant the connection could have been idle for `idle_timeout`:
/// `idle_timeout` after it last went idle, or from now while it is leased.
/// Firing earlier than that (the connection was leased meanwhile), it is set
/// again; so it fires exactly `idle_timeout` after the connection last went
/// idle, without the pool waking the driver on every response.
pub(super) async fn run<F: Future>(
    mut connection: Pin<&mut F>,
    ctl: &ConnCtl,
    settings: &PoolSettings,
    pool: &impl DriverPool,
    id: u64,
) -> DriveEnd {
    let idle_timeout = settings.idle_timeout.filter(|t| !t.is_zero());
    let max_deadline = settings.max_connection_duration.map(|d| Instant::now() + d);
    let mut max_timer = std::pin::pin!(sleep_until(max_deadline));
    let first = idle_timeout.map(|t| Instant::now() + t);
    let mut idle_timer = std::pin::pin!(sleep_until(first));
    loop {
        let (close, _, expired) = ctl.driver_view();
        if close {
            return DriveEnd::Local;
        }
        tokio::select! {
            biased;
            _ = connection.as_mut() => return DriveEnd::Connection,
            _ = ctl.woken() => {}
            _ = idle_timer.as_mut() => {
                let now = Instant::now();
                let due = match ctl.driver_view().1 {
                    Some(since) => idle_timeout.map(|t| since + t),
                    None => idle_timeout.map(|t| now + t),
                };
                match due {
                    Some(at) if at > now => idle_timer.set(sleep_until(Some(at))),
                    _ if pool.idle_timer_fired(id) => {
                        pool.counters().bump(|s| s.upstream_cx_idle_timeout += 1);
                        return DriveEnd::Local;
                    }
                    // Leased between the view and the pool's look: the
                    // timer starts again from now.
                    _ => idle_timer.set(sleep_until(idle_timeout.map(|t| now + t))),
                }
            }
            _ = max_timer.as_mut(), if !expired => {
                ctl.expire();
                pool.counters().bump(|s| s.upstream_cx_max_duration_reached += 1);
                if pool.max_duration_reached(id) {
                    return DriveEnd::Local;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => meshsim_net::clock::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl DriverPool for Pool {
    fn idle_timer_fired(&self, id: u64) -> bool {
        self.remove_idle(id)
    }

    fn max_duration_reached(&self, id: u64) -> bool {
        self.remove_idle(id)
    }

    fn counters(&self) -> &Counters {
        &self.env.stats
    }
}

/// The HTTP/1.1 driver: runs hyper's connection in [`run`]. A connection
/// that ends without the pool asking counts `upstream_cx_destroy_remote`.
/// Dropping the connection drops the socket (FIN) and gives back its
/// `max_connections` `slot`.
pub(super) async fn drive(
    connection: Connection<TokioIo<crate::tls::UpstreamIo>, Full<Bytes>>,
    ctl: Arc<ConnCtl>,
    pool: Arc<Pool>,
    id: u64,
    slot: Permit,
) {
    let mut connection = Box::pin(connection);
    let end = run(connection.as_mut(), &ctl, &pool.settings, &*pool, id).await;
    // Not asked to close: the peer closed, or the socket failed.
    if end == DriveEnd::Connection && !ctl.closing() {
        pool.env.stats.bump(|s| s.upstream_cx_destroy_remote += 1);
    }
    pool.remove_idle(id);
    drop(connection);
    drop(slot);
    pool.conn_closed();
}
