//! The capture listeners: outbound (15001) and inbound (15006). Accept, then
//! pick the protocol by the original destination port, as Istio's per-port
//! listeners and inbound filter chains do.
//!
//! Outbound, a destination port in `http_ports` gets an HTTP connection manager
//! (HTTP/1.1, or HTTP/2 when the client opens with the h2c preface)
//! (hyper's server: no `date` header, so that runs are byte-identical, and no
//! header read timeout, as Istio's sidecar listeners have none); any other port
//! is TCP-proxied to the original destination. Inbound, a declared HTTP port
//! gets the connection manager with its inbound route; any other port is
//! TCP-proxied to the application (`inbound|PORT||` or
//! `InboundPassthroughCluster`). A port in `sniffed_ports` (a service port
//! with an undeclared protocol; inbound, `InboundConfig::sniffed_ports`) is
//! given to the chain its first bytes pick (`sniff`). A connection without an original destination (not captured)
//! is closed.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use meshsim_net::{NetListener, NetStream};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::router::{self, Direction, Downstream};
use crate::runtime::Env;
use crate::sniff::{self, Detected, Rewind};
use crate::tcp_proxy;
use crate::tls::inbound::{self, Accepted};
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
                meshsim_net::clock::sleep(Duration::from_millis(1)).await;
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

/// A downstream connection's byte stream: the accepted socket, with the
/// bytes an inspector read given back, or its TLS session.
pub(crate) trait DownstreamIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> DownstreamIo for S {}

/// One downstream connection. Inbound, the transport comes first: the
/// workload's PeerAuthentication and the client's first bytes pick a
/// plaintext, mTLS or passthrough chain, or none (`tls::inbound`).
async fn serve(stream: NetStream, live: Arc<Live>, direction: Direction) {
    let Some(original_dst) = stream.original_dst() else {
        return;
    };
    let down = Downstream {
        original_dst,
        direction,
        peer: stream.peer_addr(),
    };
    if direction == Direction::Outbound {
        return chains(stream, down, live).await;
    }
    let sc = live.current();
    let port = original_dst.port();
    let sniffed = (sc.config.inbound.as_ref()).is_some_and(|i| i.sniffed_ports.contains(&port));
    let http = sniffed || sc.inbound_routes.contains_key(&port);
    let timeout = sc.config.protocol_detection_timeout;
    let accepted = inbound::accept(stream, original_dst, http, &sc, timeout).await;
    match accepted {
        Accepted::Plain(s) => chains(s, down, live).await,
        Accepted::Mtls(s) => chains(*s, down, live).await,
        Accepted::Passthrough(s) => tcp_proxy::run(s, down.peer, original_dst, sc, direction).await,
        Accepted::Closed => {}
    }
}

/// The chains of a connection whose transport is settled: HTTP or TCP by
/// destination port, or by its first bytes on a sniffed port.
async fn chains<S: DownstreamIo>(stream: S, down: Downstream, live: Arc<Live>) {
    let sc = live.current();
    let port = down.original_dst.port();
    let sniffed = match down.direction {
        Direction::Outbound => sc.config.sniffed_ports.contains(&port),
        Direction::Inbound => {
            (sc.config.inbound.as_ref()).is_some_and(|i| i.sniffed_ports.contains(&port))
        }
    };
    if sniffed {
        drop(sc);
        return serve_sniffed(stream, down, live).await;
    }
    let http = match down.direction {
        Direction::Outbound => sc.config.http_ports.contains(&port),
        Direction::Inbound => sc.inbound_routes.contains_key(&port),
    };
    if http {
        drop(sc);
        serve_http(stream, down, live).await;
    } else {
        tcp_proxy::run(stream, down.peer, down.original_dst, sc, down.direction).await;
    }
}

/// A connection to a sniffed port: the listener filter (`http_inspector`,
/// under `protocol_detection_timeout`) picks the chain, which gets the
/// client's first bytes before the rest (fact sheet §7.2).
async fn serve_sniffed<S: DownstreamIo>(mut stream: S, down: Downstream, live: Arc<Live>) {
    let env = live.current().env.clone();
    let timeout = live.current().config.protocol_detection_timeout;
    let Some(sniffed) = sniff::sniff(&mut stream, timeout).await else {
        return;
    };
    let http = sniffed.detected != Detected::Tcp;
    env.stats.bump(|s| {
        s.downstream_pre_cx_timeout += u64::from(sniffed.timed_out);
        match http {
            true => s.http_inspector_http_found += 1,
            false => s.http_inspector_http_not_found += 1,
        }
    });
    if http {
        serve_http(Rewind::new(sniffed.bytes, stream), down, live).await;
    } else {
        let sc = live.current();
        let (peer, dst) = (down.peer, down.original_dst);
        tcp_proxy::run_with(stream, peer, sniffed.bytes, dst, sc, down.direction).await;
    }
}

/// The HTTP connection manager of one downstream connection, with Envoy's
/// `codec_type: AUTO` (Istio's listeners): the h2c preface picks HTTP/2 (a
/// peer sidecar whose cluster speaks HTTP/2 to a port declared `http2` /
/// `grpc`), anything else HTTP/1.1. While the sidecar drains, inbound
/// HTTP/1.1 responses carry `connection: close` and the connection closes
/// after them (Envoy's `drain_close` with Istio's `immediate` drain
/// strategy; outbound listeners are not drained).
async fn serve_http<S>(stream: S, down: Downstream, live: Arc<Live>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let exec = TaskExec(live.current().env.clone());
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let sc = live.current();
        let h1 = req.version() != http::Version::HTTP_2;
        // Boxed: hyper moves the service's future into its dispatcher, and
        // the router's is large.
        let handled = Box::pin(router::handle(sc.clone(), down, req));
        async move {
            let env = sc.env.clone();
            let mut resp = handled.await?;
            if h1 && down.direction == Direction::Inbound && env.lifecycle.is_draining() {
                resp.headers_mut()
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, crate::error::SidecarError>(resp)
        }
    });
    let mut builder = auto::Builder::new(exec);
    builder
        .http1()
        .timer(TokioTimer::new())
        .auto_date_header(false)
        .header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .auto_date_header(false);
    let result = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "downstream connection ended with an error");
    }
}

/// Runs the HTTP/2 connection manager's per-stream tasks as the sidecar's
/// own tasks, so that shutdown ends them.
#[derive(Clone)]
struct TaskExec(Arc<crate::runtime::Env>);

impl<F> hyper::rt::Executor<F> for TaskExec
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.tasks.spawn(fut);
    }
}
