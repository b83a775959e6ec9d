//! The capture listeners: outbound (15001) and inbound (15006). Accept, then
//! pick the protocol by the original destination port, as Istio's per-port
//! listeners and inbound filter chains do.
//!
//! Outbound, a destination port in `http_ports` gets an HTTP/1.1 connection manager
//! (hyper's server: no `date` header, so that runs are byte-identical, and no
//! header read timeout, as Istio's sidecar listeners have none); any other port
//! is TCP-proxied to the original destination. Inbound, a declared HTTP port
//! gets the connection manager with its inbound route; any other port is
//! TCP-proxied to the application (`inbound|PORT||` or
//! `InboundPassthroughCluster`). A connection without an original destination
//! (not captured) is closed.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use meshsim_net::{NetListener, NetStream};

use crate::router::{self, Direction, Downstream};
use crate::runtime::Env;
use crate::tcp_proxy;
use crate::xds::Live;

/// The accept loop. One connection's failure never stops it. Each
/// connection, then each request, takes the configuration current when it
/// starts (a push changes routes for new requests only).
pub(crate) async fn run(listener: NetListener, live: Arc<Live>, direction: Direction) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let sc = live.current();
                let active = ActiveConnection::open(sc.env.clone(), direction);
                let conn = serve(stream, live.clone(), direction);
                sc.env.tasks.spawn(async move {
                    conn.await;
                    drop(active);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// One accepted downstream connection, counted in `downstream_cx_total` and
/// in the `downstream_cx_active` gauge until dropped (when its task ends or
/// is aborted).
struct ActiveConnection {
    env: Arc<Env>,
    direction: Direction,
}

impl ActiveConnection {
    fn open(env: Arc<Env>, direction: Direction) -> ActiveConnection {
        env.stats.bump(|s| match direction {
            Direction::Outbound => {
                s.downstream_cx_total += 1;
                s.downstream_cx_active += 1;
            }
            Direction::Inbound => {
                s.inbound_downstream_cx_total += 1;
                s.inbound_downstream_cx_active += 1;
            }
        });
        ActiveConnection { env, direction }
    }
}

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.env.stats.bump(|s| match self.direction {
            Direction::Outbound => s.downstream_cx_active -= 1,
            Direction::Inbound => s.inbound_downstream_cx_active -= 1,
        });
    }
}

/// One downstream connection: HTTP or TCP by destination port.
async fn serve(stream: NetStream, live: Arc<Live>, direction: Direction) {
    let Some(original_dst) = stream.original_dst() else {
        return;
    };
    let sc = live.current();
    let port = original_dst.port();
    let http = match direction {
        Direction::Outbound => sc.config.http_ports.contains(&port),
        Direction::Inbound => sc.inbound_routes.contains_key(&port),
    };
    if http {
        let down = Downstream {
            original_dst,
            direction,
            peer: stream.peer_addr(),
        };
        drop(sc);
        serve_http(stream, down, live).await;
    } else {
        tcp_proxy::run(stream, original_dst, sc, direction).await;
    }
}

/// The HTTP/1.1 connection manager of one downstream connection. While the
/// sidecar drains, inbound responses carry `connection: close` and the
/// connection closes after them (Envoy's `drain_close` with Istio's
/// `immediate` drain strategy; outbound listeners are not drained).
async fn serve_http(stream: NetStream, down: Downstream, live: Arc<Live>) {
    let service = service_fn(move |req| {
        let sc = live.current();
        async move {
            let env = sc.env.clone();
            let mut resp = router::handle(sc, down, req).await?;
            if down.direction == Direction::Inbound && env.lifecycle.is_draining() {
                resp.headers_mut()
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, crate::error::SidecarError>(resp)
        }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .auto_date_header(false)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "downstream connection ended with an error");
    }
}
