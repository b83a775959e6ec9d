//! One HTTP/2 connection: connect and handshake, its control block, and the
//! driver task that runs `h2`'s connection and owns its timers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::tls::UpstreamIo;
use bytes::Bytes;
use h2::client::{Connection, SendRequest};

use super::super::conn::{ConnCtl, DriverPool, run};
use super::{H2Conn, H2Pool};
use crate::attempt::{AttemptFailure, ResetReason, classify_connect_error};
use crate::circuit::Permit;
use crate::stats::Counters;

/// Whether the peer's GOAWAY reached this connection: `h2` then refuses to
/// open streams on it.
pub(super) fn peer_went_away(sender: &mut SendRequest<Bytes>) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    matches!(sender.poll_ready(&mut cx), Poll::Ready(Err(e)) if e.is_go_away())
}

/// Connects to `addr` and runs the HTTP/2 handshake (client preface and
/// SETTINGS; h2c with prior knowledge). The driver task is spawned here.
pub(super) async fn connect(
    pool: &Arc<H2Pool>,
    addr: SocketAddr,
    slot: Permit,
) -> Result<(u64, H2Conn), AttemptFailure> {
    let deadline = meshsim_net::clock::Instant::now() + pool.connect_timeout;
    let stream = match pool.env.stack.connect(addr, pool.connect_timeout).await {
        Ok(mut stream) => {
            // Envoy's `upstream_connection_options.tcp_keepalive`, as on
            // HTTP/1.1 connections.
            if let Err(e) = stream.set_keepalive(pool.settings.tcp_keepalive) {
                tracing::debug!(%addr, error = %e, "setting tcp keepalive failed");
            }
            stream
        }
        Err(e) => {
            let failure = classify_connect_error(&e);
            let timed_out = failure.reason == ResetReason::ConnectionTimeout;
            pool.env.stats.bump(|s| {
                s.upstream_cx_connect_fail += 1;
                s.upstream_cx_connect_timeout += u64::from(timed_out);
            });
            return Err(failure);
        }
    };
    let stream = crate::tls::secure(&pool.env, pool.tls.as_ref(), stream, deadline).await?;
    let (sender, connection) = h2::client::Builder::new()
        .initial_max_send_streams(initial_streams(pool))
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|_| AttemptFailure {
            reason: ResetReason::LocalConnectionFailure,
            transport_failure: None,
            request_sent: false,
            per_try_timeout: false,
        })?;
    let ctl = Arc::new(ConnCtl::default());
    ctl.make_idle();
    let id = {
        let mut st = pool.lock();
        st.next_id += 1;
        st.next_id
    };
    let driver = drive(connection, ctl.clone(), pool.clone(), id, slot);
    pool.env.tasks.spawn(driver);
    let conn = H2Conn {
        sender,
        ctl,
        active: 0,
        streams: 0,
        draining: false,
        goaway: false,
        peer: addr,
    };
    Ok((id, conn))
}

/// Streams the client may open before the peer's SETTINGS arrive: Envoy
/// assumes its own limit until then (a peer with a lower one may refuse the
/// extra streams).
fn initial_streams(pool: &H2Pool) -> usize {
    usize::try_from(pool.http2.max_concurrent_streams).unwrap_or(usize::MAX)
}

impl DriverPool for H2Pool {
    fn idle_timer_fired(&self, id: u64) -> bool {
        self.take_if_idle(id)
    }

    /// Streams in flight finish first: the connection closes once unused.
    fn max_duration_reached(&self, id: u64) -> bool {
        let mut st = self.lock();
        self.close_if_unused(&mut st, id);
        false
    }

    fn counters(&self) -> &Counters {
        &self.env.stats
    }
}

/// The HTTP/2 driver: runs `h2`'s connection in the pools' shared loop
/// ([`run`]). Dropping the connection drops the socket (FIN) and gives back
/// its `max_connections` `slot`.
async fn drive(
    connection: Connection<UpstreamIo, Bytes>,
    ctl: Arc<ConnCtl>,
    pool: Arc<H2Pool>,
    id: u64,
    slot: Permit,
) {
    let mut connection = Box::pin(connection);
    run(connection.as_mut(), &ctl, &pool.settings, &*pool, id).await;
    drop(connection);
    drop(slot);
    pool.conn_closed(id);
}
