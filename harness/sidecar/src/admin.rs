//! Envoy's admin interface (15000) and Istio's readiness endpoint (15021),
//! HTTP/1.1 GET only (fact sheet §6.1, §6.2).
//!
//! Admin: `/stats` (Envoy's text format, `?filter=REGEX`, `?format=json`),
//! `/clusters` (`cluster::host::stat::value` lines), `/config_dump` (the
//! effective configuration as JSON), `/ready` (`LIVE` or `INITIALIZING`).
//! Readiness: `/healthz/ready` answers 200 once the sidecar is initialized
//! (workers started, every cluster's initial fetch done: DNS clusters their
//! first resolution, EDS clusters their first assignment), else 503 with
//! the agent's message (`server is not live, current state is:
//! INITIALIZING`, or `DRAINING` once the agent drains). A sidecar from
//! `spawn` has its configuration and workers at start, so only the cluster
//! init wait can fail the probe; one from `boot` binds 15021 only when its
//! workers start (see `crate::agent`).

mod clusters;
mod config_dump;
mod stats;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meshsim_net::{NetListener, NetStream};

use crate::agent::Phase;
use crate::runtime::Sidecar;
use crate::xds::Live;

/// Which endpoint a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// Envoy admin.
    Admin,
    /// pilot-agent's readiness (`/healthz/ready`).
    Readiness,
}

/// The accept loop of one admin or readiness listener.
pub(crate) async fn run(listener: NetListener, live: Arc<Live>, port: Port) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let sc = live.current();
                let conn = serve(stream, live.clone(), port);
                sc.env.tasks.spawn(conn);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                meshsim_net::clock::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    }
}

/// Serves one connection; each request reads the generation current then
/// (a push changes what `/config_dump` and `/clusters` show).
async fn serve(stream: NetStream, live: Arc<Live>, port: Port) {
    let service = service_fn(move |req: Request<Incoming>| {
        let resp = answer(&live.current(), port, &req);
        async move { Ok::<_, std::convert::Infallible>(resp) }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .auto_date_header(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "admin connection ended with an error");
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

/// One admin or readiness request.
fn answer<B>(sc: &Sidecar, port: Port, req: &Request<B>) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=UTF-8";
    if req.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n".into());
    }
    let query = req.uri().query().unwrap_or("");
    match (port, req.uri().path()) {
        (Port::Readiness, "/healthz/ready") => match not_live(sc) {
            None => reply(StatusCode::OK, TEXT, String::new()),
            Some(state) => {
                let why = format!("server is not live, current state is: {state}");
                reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, why)
            }
        },
        (Port::Admin, "/stats") => stats::answer(sc, query),
        (Port::Admin, "/clusters") => reply(StatusCode::OK, TEXT, clusters::render(sc)),
        (Port::Admin, "/config_dump") => {
            let body = config_dump::render(&sc.config);
            reply(StatusCode::OK, "application/json", body)
        }
        (Port::Admin, "/ready") => match not_live(sc) {
            None => reply(StatusCode::OK, TEXT, "LIVE\n".into()),
            Some(state) => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{state}\n")),
        },
        _ => reply(StatusCode::NOT_FOUND, TEXT, "invalid path\n".into()),
    }
}

/// Envoy's server state when it is not LIVE, or `None` when it is: Envoy
/// is not LIVE until its workers started and every cluster's initial fetch
/// is done, and no longer once it drains (pilot-agent then logs `server is
/// not live, current state is: DRAINING`, istio#34855, istio#44690).
fn not_live(sc: &Sidecar) -> Option<&'static str> {
    match sc.env.lifecycle.phase() {
        Phase::Draining | Phase::Exited => Some("DRAINING"),
        Phase::Starting | Phase::AdminUp | Phase::ConfigReceived => Some("INITIALIZING"),
        Phase::Ready if sc.clusters.values().all(|c| c.is_ready()) => None,
        Phase::Ready => Some("INITIALIZING"),
    }
}
