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

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use meshsim_core::{ProxyLogEntry, ResponseFlags};
use meshsim_net::clock::Instant;

pub(crate) use body::ProxyBody;

use crate::access_log::AccessLogSample;
use crate::access_log::http::{LogFacts, LoggedBody, PendingLine, Sinks};
use crate::access_log::proxy_log_entry;
use crate::attempt::{self, Attempt, AttemptResult, ResetReason};
use crate::circuit::{Permit, Resource};
use crate::cluster::ClusterState;
use crate::config::{RetryPolicy, Route};
use crate::error::SidecarError;
use crate::fault;
use crate::local_reply::LocalReply;
use crate::retry::{self, BackOff, RetryDecision};
use crate::route::{self, RouteMatch};
use crate::runtime::Sidecar;
use crate::stats::ClusterStats;
use body::UpstreamBody;

/// The downstream connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Downstream {
    /// Where the application meant to connect.
    pub(crate) original_dst: SocketAddr,
    /// Outbound (15001, from the pod's app) or inbound (15006, from a peer).
    pub(crate) direction: Direction,
    /// The downstream peer (`%DOWNSTREAM_REMOTE_ADDRESS%`).
    pub(crate) peer: SocketAddr,
}

/// Which listener a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The outbound capture listener: the pod's application calling out.
    Outbound,
    /// The inbound capture listener: a peer calling the pod's application.
    Inbound,
}

impl Direction {
    /// The `server` header the connection manager writes on every response:
    /// Istio leaves `server_name` unset on outbound listeners (`envoy`) and sets
    /// `istio-envoy` on inbound ones (fact sheet §5.2).
    pub(crate) fn server_header(self) -> &'static str {
        match self {
            Direction::Outbound => "envoy",
            Direction::Inbound => "istio-envoy",
        }
    }
}

/// A complete downstream request.
struct DownstreamRequest {
    parts: http::request::Parts,
    body: Bytes,
    down: Downstream,
    /// When the request was fully received.
    received: Instant,
}

/// The response, its proxy-log entry and the access log's other facts.
struct Reply {
    response: Response<ProxyBody>,
    log: ProxyLogEntry,
    facts: LogFacts,
}

/// Serves one request of the application.
pub(crate) async fn handle(
    sc: Arc<Sidecar>,
    down: Downstream,
    req: Request<Incoming>,
) -> Result<Response<LoggedBody>, SidecarError> {
    let (parts, body) = req.into_parts();
    let addrs = (down.original_dst, down.peer);
    let mut line = sc
        .access_log
        .is_some()
        .then(|| PendingLine::start(sc.log_sinks(), &parts, addrs, Instant::now()));
    // With the file log off, the report's sample may still want this line:
    // built after the reply, only for a key it has no line for.
    let arrived = (line.is_none() && sc.env.access_log_sample.get().is_some()).then(Instant::now);
    let body = body
        .collect()
        .await
        .map_err(|source| SidecarError::DownstreamBody { source })?
        .to_bytes();
    if let Some(line) = line.as_mut() {
        line.bytes_received(body.len() as u64);
    }
    sc.env.stats.bump(|s| s.downstream_rq_total += 1);
    let mut req = DownstreamRequest {
        parts,
        body,
        down,
        received: Instant::now(),
    };
    let reply = dispatch(&sc, &mut req).await;
    // The proxy log is the pod's app's view of its own calls: inbound requests
    // carry a peer's request ids and stay out of it.
    if req.down.direction == Direction::Outbound
        && let Some(id) = headers::request_id(&req.parts.headers)
    {
        sc.proxy_log.record(id, reply.log.clone());
    }
    if let Some(at) = arrived {
        line = sample_line(sc.env.access_log_sample.get(), &req, &reply.log, at);
    }
    if let Some(line) = line.as_mut() {
        let service_time = headers::service_time(reply.response.headers());
        line.respond(&reply.log, reply.facts, service_time);
    }
    let (parts, body) = reply.response.into_parts();
    Ok(Response::from_parts(parts, LoggedBody::new(body, line)))
}

/// The line of a request for the report's sample alone (the file log off),
/// when the sample has no line for its response's key yet.
fn sample_line(
    sample: Option<&AccessLogSample>,
    req: &DownstreamRequest,
    log: &ProxyLogEntry,
    arrived: Instant,
) -> Option<PendingLine> {
    let sample = sample.filter(|s| s.wants(log.response_code, log.flags, &log.details))?;
    let sinks = Sinks {
        writer: None,
        sample: Some(sample.clone()),
    };
    let addrs = (req.down.original_dst, req.down.peer);
    let mut line = PendingLine::start(sinks, &req.parts, addrs, arrived);
    line.bytes_received(req.body.len() as u64);
    Some(line)
}

/// Route selection and what follows from it: the fault filter, then the
/// router. Inbound, the port's inbound route takes everything.
async fn dispatch(sc: &Sidecar, req: &mut DownstreamRequest) -> Reply {
    let port = req.down.original_dst.port();
    if req.down.direction == Direction::Inbound {
        return match sc.inbound_routes.get(&port) {
            Some(route) => forward(sc, req, route).await,
            None => local(sc, req, LocalReply::route_not_found(), 0, None),
        };
    }
    let view = route::RequestView {
        method: req.parts.method.as_str(),
        authority: headers::authority(&req.parts),
        path: req.parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &req.parts.headers,
    };
    match route::select_indexed(&sc.config, &sc.vhost_index, port, &view) {
        RouteMatch::Route { route, .. } => match &route.fault {
            Some(f) => fault_then_forward(sc, req, route, f).await,
            None => forward(sc, req, route).await,
        },
        RouteMatch::Passthrough => forward(sc, req, &sc.passthrough_route).await,
        RouteMatch::NoRoute => local(sc, req, LocalReply::route_not_found(), 0, None),
        RouteMatch::BlockAll => {
            let mut reply = local(sc, req, LocalReply::registry_only_block(), 0, None);
            reply.facts.route = Some(BLOCK_ALL_ROUTE.to_string());
            reply
        }
    }
}

/// Istio's `REGISTRY_ONLY` catch-all route (`%ROUTE_NAME%` of its 502).
const BLOCK_ALL_ROUTE: &str = "block_all";

/// The fault filter ahead of the router: an abort is a local reply (never
/// retried); after a delay the router sees the request only now, so the route
/// timeout and `x-envoy-upstream-service-time` start after the delay.
async fn fault_then_forward(
    sc: &Sidecar,
    req: &mut DownstreamRequest,
    route: &Route,
    f: &fault::FaultInjection,
) -> Reply {
    let injected = fault::inject(&sc.env, f).await;
    if let Some(abort) = injected.abort {
        // The connection manager resolved the route (and its cluster) before
        // the fault filter ran.
        let mut reply = local(sc, req, abort, 0, None);
        reply.facts.route = Some(route.name.clone());
        let known = sc.clusters.contains_key(&route.cluster);
        reply.facts.cluster = known.then(|| route.cluster.clone());
        return reply;
    }
    req.received = Instant::now();
    let mut reply = forward(sc, req, route).await;
    reply.log.flags.insert(injected.flags);
    reply
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
    /// The retry-breaker slot of the retry in progress; given back when the
    /// retried attempt's outcome is decided on (Envoy's `resetRetry`).
    retry_slot: Option<Permit>,
}

/// How the attempts ended.
enum End {
    Attempt(Attempt),
    NoHealthyUpstream,
    RouteTimeout,
}

/// Runs the attempts of `route` under its route timeout.
async fn forward(sc: &Sidecar, req: &DownstreamRequest, route: &Route) -> Reply {
    // Weighted clusters draw from the seeded stream; a plain route draws nothing.
    let cluster_name = match route.weighted_clusters.is_empty() {
        true => route.cluster.as_str(),
        false => sc
            .env
            .draw(|rng| route::route_cluster(route, rng.next_u64())),
    };
    let Some(cluster) = sc.clusters.get(cluster_name) else {
        let mut reply = local(sc, req, LocalReply::cluster_not_found(), 0, None);
        reply.facts.route = Some(route.name.clone());
        return reply;
    };
    let policy = retry_policy_for(sc, req, route);
    let policy = policy.as_deref();
    let formula = sc.config.backoff_formula;
    let mut run = RetryRun {
        policy,
        retries_left: policy.map_or(0, |p| p.num_retries),
        attempts: 0,
        tried: Vec::new(),
        last_host: None,
        backoff: policy.map(|p| BackOff::with_formula(p.base_interval, p.max_interval, formula)),
        flags: ResponseFlags::NONE,
        retry_slot: None,
    };
    let deadline = route
        .timeout
        .filter(|t| !t.is_zero())
        .map(|t| req.received + t);
    let end = match deadline {
        Some(d) => meshsim_net::clock::timeout_at(d, attempts(sc, req, cluster, &mut run))
            .await
            .unwrap_or(End::RouteTimeout),
        None => attempts(sc, req, cluster, &mut run).await,
    };
    if matches!(end, End::RouteTimeout) {
        count(sc, cluster, |c| c.upstream_rq_timeout += 1);
    }
    let mut reply = finish(sc, req, run, end, route);
    reply.facts.route = Some(route.name.clone());
    reply.facts.cluster = Some(cluster_name.to_string());
    reply
}

/// The route's retry policy as this request runs it: with the request's
/// `x-envoy-retriable-header-names`, and dropped (`retry_or_shadow_abandoned`)
/// when the body is over the retry buffer limit, since Envoy stops buffering
/// it for retries.
fn retry_policy_for<'r>(
    sc: &Sidecar,
    req: &DownstreamRequest,
    route: &'r Route,
) -> Option<Cow<'r, RetryPolicy>> {
    let policy = retry::request_policy(route.retry_policy.as_ref(), &req.parts.headers)?;
    let limit = u64::from(sc.config.per_connection_buffer_limit_bytes);
    if req.body.len() as u64 > limit {
        sc.env.stats.bump(|s| s.retry_or_shadow_abandoned += 1);
        return None;
    }
    Some(policy)
}

/// Attempt, decide, back off, again.
async fn attempts(
    sc: &Sidecar,
    req: &DownstreamRequest,
    cluster: &Arc<ClusterState>,
    run: &mut RetryRun<'_>,
) -> End {
    cluster.wait_ready().await;
    let mut cluster = cluster.clone();
    let per_try_timeout = run.policy.and_then(|p| p.per_try_timeout);
    loop {
        let Some(target) = cluster.pick(req.down.original_dst, &run.tried, run.policy) else {
            return End::NoHealthyUpstream;
        };
        run.attempts += 1;
        let attempt_count = (req.down.direction == Direction::Outbound
            && sc.config.include_request_attempt_count)
            .then_some(run.attempts);
        let upstream_req = headers::upstream_request(&req.parts, &req.body, attempt_count);
        let attempt = attempt::send(
            &sc.env,
            &target.pool,
            target.connect_to,
            upstream_req,
            per_try_timeout,
        )
        .await;
        cluster.report(target, &attempt);
        count_attempt(sc, &cluster, &attempt);
        tracing::debug!(attempt = run.attempts, host = %attempt.host, reused = attempt.reused, "attempt done");
        run.tried.push(attempt.host);
        run.last_host = Some(attempt.host);
        // The previous retry's breaker slot is released before deciding.
        run.retry_slot = None;
        let decision = retry::decide(run.policy, run.retries_left, &attempt.event());
        match decision {
            RetryDecision::Retry => match retry_after_backoff(sc, &cluster, run, attempt).await {
                Ok(now) => cluster = now,
                Err(end) => return end,
            },
            RetryDecision::NoRetry => {
                if run.attempts > 1 {
                    sc.env.stats.bump(|s| s.upstream_rq_retry_success += 1);
                    count(sc, &cluster, |c| c.upstream_rq_retry_success += 1);
                }
                return End::Attempt(attempt);
            }
            RetryDecision::LimitExceeded => {
                sc.env
                    .stats
                    .bump(|s| s.upstream_rq_retry_limit_exceeded += 1);
                count(sc, &cluster, |c| c.upstream_rq_retry_limit_exceeded += 1);
                run.flags.insert(ResponseFlags::URX);
                return End::Attempt(attempt);
            }
        }
    }
}

/// Takes a retry: the retry breaker's slot (none left: the failed attempt
/// ends the request, flagged `UO`), the counters, the back-off wait; then
/// the cluster looked up again by name, as Envoy's `doRetry` does, since a
/// push may have replaced or removed it meanwhile (removed: no healthy
/// upstream).
async fn retry_after_backoff(
    sc: &Sidecar,
    cluster: &Arc<ClusterState>,
    run: &mut RetryRun<'_>,
    attempt: Attempt,
) -> Result<Arc<ClusterState>, End> {
    let Some(slot) = cluster.breaker.try_acquire(Resource::Retry) else {
        sc.env.stats.bump(|s| s.upstream_rq_retry_overflow += 1);
        count(sc, cluster, |c| c.upstream_rq_retry_overflow += 1);
        run.flags.insert(ResponseFlags::UO);
        return Err(End::Attempt(attempt));
    };
    run.retry_slot = Some(slot);
    run.retries_left -= 1;
    sc.env.stats.bump(|s| s.upstream_rq_retry += 1);
    count(sc, cluster, |c| c.upstream_rq_retry += 1);
    attempt.discard();
    let wait = match run.backoff.as_mut() {
        Some(b) => sc.env.draw(|rng| b.next_backoff(rng)),
        None => std::time::Duration::ZERO,
    };
    meshsim_net::clock::sleep(wait).await;
    sc.env
        .cluster_now(&cluster.config.name, cluster)
        .ok_or(End::NoHealthyUpstream)
}

/// Bumps `cluster`'s request counters.
fn count(sc: &Sidecar, cluster: &ClusterState, f: impl FnOnce(&mut ClusterStats)) {
    sc.env.stats.cluster(&cluster.config.name, f);
}

/// The per-cluster counters of one attempt.
fn count_attempt(sc: &Sidecar, cluster: &ClusterState, attempt: &Attempt) {
    count(sc, cluster, |c| {
        c.upstream_rq_total += 1;
        match &attempt.result {
            AttemptResult::Headers(resp, _) => {
                let class = usize::from(resp.status().as_u16() / 100).min(5);
                c.upstream_rq_by_class[class] += 1;
            }
            AttemptResult::Failed(f) if f.per_try_timeout => c.upstream_rq_per_try_timeout += 1,
            AttemptResult::Failed(f) if f.reason == ResetReason::Overflow => {
                c.upstream_rq_pending_overflow += 1;
            }
            AttemptResult::Failed(_) => {}
        }
    });
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
            let server = req.down.direction.server_header();
            headers::prepare_response(&mut parts.headers, elapsed, server);
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
            let facts = LogFacts {
                upstream_local: lease.local(),
                ..LogFacts::default()
            };
            let body = UpstreamBody::new(incoming, lease, deadline);
            Reply {
                response: Response::from_parts(parts, ProxyBody::Upstream(body)),
                log,
                facts,
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
            let mut reply = local(sc, req, with_flags(reply), run.attempts, Some(host));
            reply.facts.transport_failure = f.transport_failure;
            reply
        }
        End::NoHealthyUpstream => local(
            sc,
            req,
            with_flags(LocalReply::no_healthy_upstream()),
            run.attempts,
            run.last_host,
        ),
        End::RouteTimeout => {
            sc.env.stats.bump(|s| s.upstream_rq_timeout += 1);
            local(
                sc,
                req,
                with_flags(LocalReply::route_timeout()),
                run.attempts,
                run.last_host,
            )
        }
    }
}

/// A local reply and its log entry.
fn local(
    sc: &Sidecar,
    req: &DownstreamRequest,
    reply: LocalReply,
    attempts: u32,
    host: Option<SocketAddr>,
) -> Reply {
    sc.env.stats.local_reply(reply.flags);
    let log = proxy_log_entry(reply.status, reply.flags, &reply.details, attempts, host);
    Reply {
        response: reply.to_response(req.down.direction.server_header()),
        log,
        facts: LogFacts::default(),
    }
}
