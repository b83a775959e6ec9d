//! The accept loop and one client connection of the proxy.
//!
//! Each client connection is one task running hyper's HTTP/1.1 server with
//! upgrades on (for `CONNECT`), without a `date` header (runs stay
//! byte-identical) and without timers: a client connection lives until the
//! client closes it or the proxy stops. Bytes that are not HTTP get hyper's
//! `400` and a close.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meshsim_net::{NetListener, NetStream};

use crate::proxy::reply::Body;
use crate::proxy::upstream::Upstreams;
use crate::proxy::{Proxy, bump, forward, tunnel};
use crate::tasks::stopped;

/// Pause after a failed accept (real mode: out of file descriptors) so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Accepts client connections until the proxy stops, one task each; the
/// listener closes when it returns. One connection's failure never stops it.
pub(crate) async fn accept_loop(listener: NetListener, proxy: Arc<Proxy>) {
    loop {
        let mut stop = proxy.stop.clone();
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _peer)) => {
                bump(&proxy.counters.connections);
                proxy.tasks.spawn(connection(stream, proxy.clone()));
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
            Err(e) => {
                tracing::warn!(error = %e, "proxy accept failed");
                meshsim_net::clock::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// One client connection, served until the client closes it, hyper gives up
/// on its bytes, or the proxy stops. Its upstream connections close with it.
async fn connection(stream: NetStream, proxy: Arc<Proxy>) {
    let upstreams = Arc::new(Upstreams::default());
    let service_proxy = proxy.clone();
    let service = service_fn(move |req| {
        let proxy = service_proxy.clone();
        let upstreams = upstreams.clone();
        async move { Ok::<_, Infallible>(route(&proxy, &upstreams, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .auto_date_header(false)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut stop = proxy.stop.clone();
    tokio::select! {
        biased;
        () = stopped(&mut stop) => {}
        r = conn => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "proxy connection ended with an error");
            }
        }
    }
}

/// A tunnel for `CONNECT`, a forwarded request otherwise.
async fn route(proxy: &Proxy, upstreams: &Upstreams, req: Request<Incoming>) -> Response<Body> {
    if req.method() == Method::CONNECT {
        tunnel::open(proxy, req).await
    } else {
        forward::forward(proxy, upstreams, req).await
    }
}
