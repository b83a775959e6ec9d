//! The router: one application request from route to response.
//!
//! `handle` reads the whole request (Envoy buffers it for retries; the route
//! timeout and `x-envoy-upstream-service-time` start when it is complete),
//! then [`dispatch`] routes it, [`forward`] runs the attempts under the route
//! timeout, and `finish` turns the last attempt into the upstream response or
//! a local reply. The proxy-log entry is recorded before the response is
//! written.

mod body;
mod headers;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use meshsim_core::{ProxyLogEntry, ResponseFlags};
use tokio::time::Instant;

pub(crate) use body::ProxyBody;

use crate::access_log::proxy_log_entry;
use crate::attempt::{self, Attempt, AttemptResult};
use crate::cluster::ClusterState;
use crate::config::{RetryPolicy, Route};
use crate::error::SidecarError;
use crate::local_reply::LocalReply;
use crate::retry::{self, BackOff, RetryDecision};
use crate::route::{self, RouteMatch};
use crate::runtime::Sidecar;
use body::UpstreamBody;

/// The downstream connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Downstream {
    /// Where the application meant to connect.
    pub(crate) original_dst: SocketAddr,
}

/// A complete downstream request.
struct DownstreamRequest {
    parts: http::request::Parts,
    body: Bytes,
    down: Downstream,
    /// When the request was fully received.
    received: Instant,
}

/// The response and its proxy-log entry.
struct Reply {
    response: Response<ProxyBody>,
    log: ProxyLogEntry,
}

/// Serves one request of the application.
pub(crate) async fn handle(
    sc: Arc<Sidecar>,
    down: Downstream,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, SidecarError> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|source| SidecarError::DownstreamBody { source })?
        .to_bytes();
    sc.env.stats.bump(|s| s.downstream_rq_total += 1);
    let req = DownstreamRequest {
        parts,
        body,
        down,
        received: Instant::now(),
    };
    let reply = dispatch(&sc, &req).await;
    if let Some(id) = headers::request_id(&req.parts.headers) {
        sc.proxy_log.record(id, reply.log);
    }
    Ok(reply.response)
}

/// Route selection and what follows from it.
async fn dispatch(sc: &Sidecar, req: &DownstreamRequest) -> Reply {
    let host = headers::authority(&req.parts);
    let port = req.down.original_dst.port();
    match route::select(&sc.config, port, host, req.parts.uri.path()) {
        RouteMatch::Route { route, .. } => forward(sc, req, route).await,
        RouteMatch::Passthrough => forward(sc, req, &sc.passthrough_route).await,
        RouteMatch::NoRoute => local(sc, LocalReply::route_not_found(), 0, None),
        RouteMatch::BlockAll => local(sc, LocalReply::registry_only_block(), 0, None),
    }
}

/// The retry state of one request.
struct RetryRun<'a> {
    policy: Option<&'a RetryPolicy>,
    retries_left: u32,
    attempts: u32,
    tried: Vec<SocketAddr>,
    last_host: Option<SocketAddr>,
    backoff: Option<BackOff>,
    flags: ResponseFlags,
}

/// How the attempts ended.
enum End {
    Attempt(Attempt),
    NoHealthyUpstream,
    RouteTimeout,
}

/// Runs the attempts of `route` under its route timeout.
async fn forward(sc: &Sidecar, req: &DownstreamRequest, route: &Route) -> Reply {
    let Some(cluster) = sc.clusters.get(&route.cluster) else {
        return local(sc, LocalReply::cluster_not_found(), 0, None);
    };
    let policy = route.retry_policy.as_ref();
    let mut run = RetryRun {
        policy,
        retries_left: policy.map_or(0, |p| p.num_retries),
        attempts: 0,
        tried: Vec::new(),
        last_host: None,
        backoff: policy.map(|p| BackOff::new(p.base_interval, p.max_interval)),
        flags: ResponseFlags::NONE,
    };
    let deadline = route
        .timeout
        .filter(|t| !t.is_zero())
        .map(|t| req.received + t);
    let end = match deadline {
        Some(d) => tokio::time::timeout_at(d, attempts(sc, req, cluster, &mut run))
            .await
            .unwrap_or(End::RouteTimeout),
        None => attempts(sc, req, cluster, &mut run).await,
    };
    finish(sc, req, run, end, route)
}

/// Attempt, decide, back off, again.
async fn attempts(
    sc: &Sidecar,
    req: &DownstreamRequest,
    cluster: &ClusterState,
    run: &mut RetryRun<'_>,
) -> End {
    cluster.wait_ready().await;
    let per_try_timeout = run.policy.and_then(|p| p.per_try_timeout);
    loop {
        let Some(target) = cluster.pick(req.down.original_dst, &run.tried, run.policy) else {
            return End::NoHealthyUpstream;
        };
        run.attempts += 1;
        let upstream_req =
            headers::upstream_request(&req.parts, &req.body, run.attempts, &sc.config);
        let attempt = attempt::send(
            &sc.env,
            &target.pool,
            target.connect_to,
            upstream_req,
            per_try_timeout,
        )
        .await;
        cluster.report(target, &attempt);
        tracing::debug!(attempt = run.attempts, host = %attempt.host, reused = attempt.reused, "attempt done");
        run.tried.push(attempt.host);
        run.last_host = Some(attempt.host);
        match retry::decide(run.policy, run.retries_left, &attempt.event()) {
            RetryDecision::Retry => {
                run.retries_left -= 1;
                sc.env.stats.bump(|s| s.upstream_rq_retry += 1);
                attempt.discard();
                let wait = match run.backoff.as_mut() {
                    Some(b) => sc.env.draw(|rng| b.next_backoff(rng)),
                    None => std::time::Duration::ZERO,
                };
                tokio::time::sleep(wait).await;
            }
            RetryDecision::NoRetry => {
                sc.env
                    .stats
                    .bump(|s| s.upstream_rq_retry_success += u64::from(run.attempts > 1));
                return End::Attempt(attempt);
            }
            RetryDecision::LimitExceeded => {
                sc.env
                    .stats
                    .bump(|s| s.upstream_rq_retry_limit_exceeded += 1);
                run.flags.insert(ResponseFlags::URX);
                return End::Attempt(attempt);
            }
        }
    }
}

/// The upstream response, or the local reply that replaces it.
fn finish(
    sc: &Sidecar,
    req: &DownstreamRequest,
    run: RetryRun<'_>,
    end: End,
    route: &Route,
) -> Reply {
    let retried = run.attempts > 1;
    let with_flags = |mut reply: LocalReply| {
        reply.flags.insert(run.flags);
        reply
    };
    match end {
        End::Attempt(Attempt {
            host,
            result: AttemptResult::Headers(resp, lease),
            ..
        }) => {
            let elapsed = req.received.elapsed();
            let (mut parts, incoming) = (*resp).into_parts();
            headers::prepare_response(&mut parts.headers, elapsed);
            let log = proxy_log_entry(
                parts.status.as_u16(),
                run.flags,
                "via_upstream",
                run.attempts,
                Some(host),
            );
            let deadline = route
                .timeout
                .filter(|t| !t.is_zero())
                .map(|t| (req.received + t, t));
            let body = UpstreamBody::new(incoming, lease, deadline);
            Reply {
                response: Response::from_parts(parts, ProxyBody::Upstream(body)),
                log,
            }
        }
        End::Attempt(Attempt {
            host,
            result: AttemptResult::Failed(f),
            ..
        }) => {
            let reply = if f.per_try_timeout {
                LocalReply::per_try_timeout()
            } else {
                LocalReply::upstream_reset(&f, retried)
            };
            local(sc, with_flags(reply), run.attempts, Some(host))
        }
        End::NoHealthyUpstream => local(
            sc,
            with_flags(LocalReply::no_healthy_upstream()),
            run.attempts,
            run.last_host,
        ),
        End::RouteTimeout => {
            sc.env.stats.bump(|s| s.upstream_rq_timeout += 1);
            local(
                sc,
                with_flags(LocalReply::route_timeout()),
                run.attempts,
                run.last_host,
            )
        }
    }
}

/// A local reply and its log entry.
fn local(sc: &Sidecar, reply: LocalReply, attempts: u32, host: Option<SocketAddr>) -> Reply {
    sc.env.stats.local_reply(reply.flags);
    let log = proxy_log_entry(reply.status, reply.flags, &reply.details, attempts, host);
    Reply {
        response: reply.to_response(),
        log,
    }
}
