//! One request to a serving application, top to bottom:
//! `route -> capacity gate -> latency -> downstream calls -> answer`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use meshsim_core::{ErrorKind, Outcome};
use meshsim_net::clock::Instant;

use crate::request::call_once;
use crate::serve::config::CallMode;
use crate::serve::gate::{Admission, Permit};
use crate::serve::plan::RoutePlan;
use crate::serve::state::Server;

/// Body of the `404` sent when no route matches.
const NOT_FOUND_BODY: &[u8] = b"not found";

/// hyper's service: answers one request. Never fails: every outcome is a
/// response.
pub(crate) async fn handle(
    server: Arc<Server>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let route = server.plan.route_for(req.uri().path());
    // The whole request is read before the handler runs, as frameworks do.
    if req.into_body().collect().await.is_err() {
        return Ok(reply(StatusCode::BAD_REQUEST, Bytes::new()));
    }
    let (status, body, rejected) = match route {
        None => (
            StatusCode::NOT_FOUND,
            Bytes::from_static(NOT_FOUND_BODY),
            false,
        ),
        Some(i) => match admit(&server, i).await {
            Some(_permit) => (
                serve_route(&server, i).await,
                server.plan.routes[i].body.clone(),
                false,
            ),
            None => (StatusCode::SERVICE_UNAVAILABLE, Bytes::new(), true),
        },
    };
    server.count_response(status, rejected);
    Ok(reply(status, body))
}

/// A place in service on route `i`, after waiting in its queue if need be;
/// `None` when the queue is full (or the server is going away).
async fn admit(server: &Server, i: usize) -> Option<Permit> {
    match server.gates[i].admit() {
        Admission::Now(p) => Some(p),
        Admission::Queued(rx) => rx.await.ok(),
        Admission::Rejected => None,
    }
}

/// Route `i` in service: its latency, then its calls; returns its status.
async fn serve_route(server: &Server, i: usize) -> StatusCode {
    let route = &server.plan.routes[i];
    let now = server.effective(i);
    meshsim_net::clock::sleep(now.latency + server.jitter(i)).await;
    if let Some(forced) = now.status {
        return forced;
    }
    match run_calls(server, route).await {
        None => route.status,
        Some(failed) => route.on_error.unwrap_or(failed),
    }
}

/// Runs the route's calls; returns the status to propagate when one failed
/// (the first failed in route order).
async fn run_calls(server: &Server, route: &RoutePlan) -> Option<StatusCode> {
    match route.mode {
        CallMode::Sequential => {
            for &(index, id) in &route.calls {
                if let Some(failed) = one_call(server, index, id).await {
                    return Some(failed);
                }
            }
            None
        }
        CallMode::Parallel => {
            let calls = route
                .calls
                .iter()
                .map(|&(index, id)| one_call(server, index, id));
            join_all(calls.collect()).await.into_iter().flatten().next()
        }
    }
}

/// One downstream call through the application's client: a fresh
/// `x-request-id` from the pod's source, one record to the sink. Returns the
/// status to propagate when it failed: its HTTP status, else `502`.
async fn one_call(server: &Server, index: usize, call: usize) -> Option<StatusCode> {
    let client = &server.client;
    let at = Instant::now() - client.start;
    let mut record = call_once(client, index, server.ids.issue(), at).await;
    record.call = call;
    let outcome = record.outcome;
    server.count_downstream_call();
    (client.sink)(record);
    match outcome {
        Outcome::Ok { .. } => None,
        Outcome::Error(ErrorKind::Http { status, .. }) => {
            Some(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
        }
        Outcome::Error(_) => Some(StatusCode::BAD_GATEWAY),
    }
}

/// Polls every future in the same task until all are done; outputs in input
/// order. (In-task, so a connection closed mid-fan-out drops every call, and
/// polling order, hence every id and record, is deterministic.)
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}
