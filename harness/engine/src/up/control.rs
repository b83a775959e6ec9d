//! The control endpoint of `meshsim up`: HTTP/1.1 on 127.0.0.1 (bound
//! through the Net seam), one request per connection.
//!
//! - `POST /apply`, body: one timeline action in the scenario's YAML syntax
//!   (`host.stop: { name: alb-node-a, how: reset }`): validated as the
//!   loader validates a timeline entry, `400` with the loader's message
//!   (key path included) when it is not valid, else carried out by the
//!   world and answered `200` with `{"applied": [...]}`;
//! - `GET /stats`: [`UpStats`] as JSON;
//! - `GET /endpoints`: [`Endpoints`] as JSON;
//! - `POST /stop`: answered `200`, then the world stops (as Ctrl-C).
//!
//! The connections do not touch the world: they send [`Command`]s to the
//! task that owns it, which answers each in arrival order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meshsim_net::{NetListener, NetStream};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::Stopper;
use super::endpoints::Endpoints;
use super::session::{AppliedAction, UpStats};
use crate::scenario::{Action, Scenario};

/// The largest action text accepted (an `istio.push` with a few
/// resources fits easily).
const MAX_BODY: usize = 256 * 1024;

/// What a connection asks of the task that owns the world.
pub(super) enum Command {
    /// Carry out these (validated) actions, in order.
    Apply {
        actions: Vec<Action>,
        reply: oneshot::Sender<Vec<AppliedAction>>,
    },
    /// The figures so far.
    Stats { reply: oneshot::Sender<UpStats> },
}

/// What every connection shares.
pub(super) struct Shared {
    pub(super) scenario: Arc<Scenario>,
    pub(super) endpoints: Endpoints,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) stopper: Stopper,
}

/// The running endpoint: its accept loop owns every connection's task.
pub(super) struct ControlHandle {
    task: tokio::task::JoinHandle<()>,
}

impl ControlHandle {
    /// Stops accepting and ends every connection; the socket is closed when
    /// it returns.
    pub(super) async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Serves `listener` until [`ControlHandle::shutdown`].
pub(super) fn spawn(listener: NetListener, shared: Shared) -> ControlHandle {
    let shared = Arc::new(shared);
    let task = tokio::spawn(async move {
        // Dropped with the task: aborts every connection still open.
        let mut conns = tokio::task::JoinSet::new();
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    conns.spawn(serve(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control accept failed");
                    meshsim_net::clock::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
            while conns.try_join_next().is_some() {}
        }
    });
    ControlHandle { task }
}

/// One connection, one request (no keep-alive); a `POST /stop` stops the
/// world once its answer is written.
async fn serve(stream: NetStream, shared: Arc<Shared>) {
    let stop_after = Arc::new(AtomicBool::new(false));
    let (s, flag) = (shared.clone(), stop_after.clone());
    let service = service_fn(move |req: Request<Incoming>| {
        let (s, flag) = (s.clone(), flag.clone());
        async move { Ok::<_, std::convert::Infallible>(answer(req, &s, &flag).await) }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "control connection ended with an error");
    }
    if stop_after.load(Ordering::SeqCst) {
        shared.stopper.stop();
    }
}

async fn answer(
    req: Request<Incoming>,
    s: &Shared,
    stop_after: &AtomicBool,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    // A web page open in a local browser can POST to loopback; browsers
    // always send `Origin` then, `meshsim ctl` and curl never do.
    if req.headers().contains_key(hyper::header::ORIGIN) {
        return text(
            StatusCode::FORBIDDEN,
            "requests from a web page (with an Origin header) are refused; use meshsim ctl".into(),
        );
    }
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/endpoints") => json(&s.endpoints),
        (Method::GET, "/stats") => stats(s).await,
        (Method::POST, "/apply") => apply(req, s).await,
        (Method::POST, "/stop") => {
            stop_after.store(true, Ordering::SeqCst);
            json(&serde_json::json!({ "stopping": true }))
        }
        (_, "/endpoints" | "/stats" | "/apply" | "/stop") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET /endpoints, GET /stats, POST /apply, POST /stop".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            format!("no endpoint {path}; use GET /endpoints, GET /stats, POST /apply, POST /stop"),
        ),
    }
}

async fn stats(s: &Shared) -> Response<Full<Bytes>> {
    let (reply, rx) = oneshot::channel();
    if s.commands.send(Command::Stats { reply }).await.is_err() {
        return stopping();
    }
    match rx.await {
        Ok(stats) => json(&stats),
        Err(_) => stopping(),
    }
}

async fn apply(req: Request<Incoming>, s: &Shared) -> Response<Full<Bytes>> {
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the action: {e}"),
            );
        }
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return text(
            StatusCode::BAD_REQUEST,
            "the action is not UTF-8 text".into(),
        );
    };
    let actions = match s.scenario.parse_action(body) {
        Ok(a) => a,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let (reply, rx) = oneshot::channel();
    if s.commands
        .send(Command::Apply { actions, reply })
        .await
        .is_err()
    {
        return stopping();
    }
    match rx.await {
        Ok(applied) => json(&serde_json::json!({ "applied": applied })),
        Err(_) => stopping(),
    }
}

fn stopping() -> Response<Full<Bytes>> {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the world is stopping".into(),
    )
}

fn json(value: &impl Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string_pretty(value) {
        Ok(mut body) => {
            body.push('\n');
            reply(StatusCode::OK, "application/json", body)
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn text(status: StatusCode, mut message: String) -> Response<Full<Bytes>> {
    message.push('\n');
    reply(status, "text/plain; charset=utf-8", message)
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
