//! One pooled connection: its control block and its driver.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::Connection;
use hyper_util::rt::TokioIo;
use meshsim_net::NetStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Pool;
use crate::circuit::Permit;

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
    pub(super) fn make_idle(&self) -> bool {
        let ok = {
            let mut st = self.lock();
            st.idle_since = Some(Instant::now());
            !st.close && !st.expired
        };
        self.wake.notify_one();
        ok
    }

    /// What the driver acts on: asked to close; when the idle timer (of
    /// `idle_timeout`, if any) fires; past its maximum duration.
    pub(super) fn driver_view(
        &self,
        idle_timeout: Option<Duration>,
    ) -> (bool, Option<Instant>, bool) {
        let st = self.lock();
        let idle = st.idle_since.zip(idle_timeout).map(|(s, t)| s + t);
        (st.close, idle, st.expired)
    }

    /// Whether the pool asked the connection to close.
    pub(super) fn closing(&self) -> bool {
        self.lock().close
    }

    /// `max_connection_duration` reached: no new request or stream.
    pub(super) fn expire(&self) {
        self.lock().expired = true;
    }

    /// Resolves at the next [`ConnCtl::close`] or [`ConnCtl::make_idle`].
    pub(super) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }
}

/// The driver: runs hyper's connection and closes it on request, on the idle
/// timeout, or at the maximum duration once idle. Dropping the connection
/// drops the socket (FIN) and gives back its `max_connections` `slot`.
pub(super) async fn drive(
    connection: Connection<TokioIo<NetStream>, Full<Bytes>>,
    ctl: Arc<ConnCtl>,
    pool: Arc<Pool>,
    id: u64,
    slot: Permit,
) {
    let idle_timeout = pool.settings.idle_timeout.filter(|t| !t.is_zero());
    let max_deadline = pool
        .settings
        .max_connection_duration
        .map(|d| Instant::now() + d);
    let mut connection = Box::pin(connection);
    loop {
        let (close, idle_deadline, expired) = ctl.driver_view(idle_timeout);
        if close {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut connection => {
                // Not asked to close: the peer closed, or the socket failed.
                if !ctl.closing() {
                    pool.env.stats.bump(|s| s.upstream_cx_destroy_remote += 1);
                }
                break;
            }
            _ = ctl.woken() => {}
            _ = sleep_until(idle_deadline) => {
                if pool.remove_idle(id) {
                    pool.env.stats.bump(|s| s.upstream_cx_idle_timeout += 1);
                    break;
                }
            }
            _ = sleep_until(max_deadline), if !expired => {
                ctl.expire();
                pool.env.stats.bump(|s| s.upstream_cx_max_duration_reached += 1);
                if pool.remove_idle(id) {
                    break;
                }
            }
        }
    }
    pool.remove_idle(id);
    drop(connection);
    drop(slot);
    pool.conn_closed();
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
