//! Circuit breakers per cluster (fact sheet §1.3, §4.2, §5.1, §9.3): the
//! connection, pending-request and request limits, the retry breaker and the
//! retry budget, end to end.

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::{Instant, sleep};
use meshsim_sidecar::{Discovery, PoolSettings, RetryBudget, SidecarConfig};

use crate::support::*;

const HOST: &str = "api";
const UP: &str = "10.0.4.1:80";
const OVERFLOW_BODY: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: overflow";

/// One STATIC host behind a route with `policy`, the cluster's pool settings
/// shaped by `f`.
fn config(f: impl FnOnce(&mut PoolSettings), policy: &str, retries: u32) -> SidecarConfig {
    let mut c = cluster(
        "outbound|80||api",
        Discovery::Static {
            endpoints: vec![addr(UP)],
        },
    );
    f(&mut c.pool);
    routed(HOST, c, Some(self::policy(policy, retries)), None)
}

/// A GET sent `after` the start.
async fn get_at(w: &World, after: Duration, id: u64) -> (Resp, Instant) {
    sleep(after).await;
    let r = w.get(UP, HOST, id).await;
    (r, Instant::now())
}

/// Fact sheet §4.2, §5.1: past `max_pending_requests` the request gets 503
/// `UO`, reset reason `overflow`, `x-envoy-overloaded: true`, and is never
/// retried, whatever `retry_on` says.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_pending_requests_overflow_is_503_uo_with_x_envoy_overloaded_and_never_retried() {
    let cfg = config(
        |p| {
            p.max_connections = 1;
            p.max_pending_requests = 1;
        },
        "5xx,reset,connect-failure,reset-before-request",
        3,
    );
    let w = World::start(cfg).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |_, _| {
        Action::RespondAfter(Duration::from_millis(100), 200, "ok")
    })
    .await;
    // A holds the only connection; B waits pending; C finds the queue full.
    let (a, b, c) = tokio::join!(
        get_at(&w, Duration::ZERO, 1),
        get_at(&w, Duration::from_millis(10), 2),
        get_at(&w, Duration::from_millis(20), 3),
    );
    assert_eq!((a.0.status, b.0.status), (200, 200));
    let c = c.0;
    assert_eq!((c.status, c.body_text().as_str()), (503, OVERFLOW_BODY));
    assert_eq!(c.header("x-envoy-overloaded"), Some("true"));
    assert_eq!(c.header("server"), Some("envoy"));
    let entry = w.log.take(3).unwrap();
    assert_eq!(
        entry.flags,
        ResponseFlags::UO,
        "no URX: overflow is never retriable"
    );
    assert_eq!(
        entry.details,
        "upstream_reset_before_response_started{overflow}"
    );
    assert_eq!(entry.attempts, 1);
    assert_eq!(up.requests().len(), 2, "C never reached the upstream");
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_pending_overflow, 1);
    assert_eq!(stats.upstream_rq_retry, 0);
}

/// Fact sheet §4.1, §4.2 (Envoy `tryCreateNewConnection`): at
/// `max_connections` a request is not failed: it waits as a pending request
/// and takes the next connection freed; `upstream_cx_overflow` counts it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_connections_reached_queues_the_request_as_pending_instead_of_failing_it() {
    let w = World::start(config(|p| p.max_connections = 1, "5xx", 1)).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |_, _| {
        Action::RespondAfter(Duration::from_millis(100), 200, "ok")
    })
    .await;
    let start = Instant::now();
    let (a, b) = tokio::join!(
        get_at(&w, Duration::ZERO, 1),
        get_at(&w, Duration::from_millis(10), 2),
    );
    assert_eq!((a.0.status, b.0.status), (200, 200));
    // B waited for A's connection: served from ~100 ms, done at ~200 ms.
    let b_done = b.1 - start;
    assert!(
        b_done >= Duration::from_millis(200) && b_done < Duration::from_millis(210),
        "{b_done:?}"
    );
    let conns: Vec<usize> = up.requests().iter().map(|s| s.conn).collect();
    assert_eq!(conns, vec![0, 0], "one connection served both");
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_cx_total, 1);
    assert_eq!(stats.upstream_cx_overflow, 1);
    assert_eq!(stats.upstream_rq_pending_overflow, 0);
}

/// Fact sheet §4.2 (Envoy `attachStreamToClient`): `max_requests` is checked
/// when a request is attached to a connection: a pending request whose new
/// connection comes up while the limit is reached fails with 503 `UO`, and
/// the connection stays in the pool.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_requests_is_checked_when_a_connection_is_attached_and_overflows_to_503_uo() {
    let w = World::start(config(|p| p.max_requests = 1, "5xx", 1)).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |_, _| {
        Action::RespondAfter(Duration::from_millis(100), 200, "ok")
    })
    .await;
    let (a, b) = tokio::join!(
        get_at(&w, Duration::ZERO, 1),
        get_at(&w, Duration::from_millis(10), 2),
    );
    assert_eq!(a.0.status, 200);
    assert_eq!((b.0.status, b.0.body_text().as_str()), (503, OVERFLOW_BODY));
    assert_eq!(w.log.take(2).unwrap().flags, ResponseFlags::UO);
    assert_eq!(up.requests().len(), 1);
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.upstream_rq_pending_overflow, stats.upstream_cx_total),
        (1, 2)
    );
    // B's connection went idle: the next request takes it without a connect.
    assert_eq!(w.get(UP, HOST, 3).await.status, 200);
    assert_eq!(w.sidecar.stats().upstream_cx_total, 2);
}

/// Upstream for the retry-breaker tests: the first attempt on connections 0
/// and 1 answers 503 after 100 ms; anything else answers 200 after 1 s.
async fn slow_retry_upstream(w: &World) -> Upstream {
    Upstream::spawn(&w.net, addr(UP), None, |conn, i| match (conn, i) {
        (0 | 1, 0) => Action::RespondAfter(Duration::from_millis(100), 503, "busy"),
        _ => Action::RespondAfter(Duration::from_secs(1), 200, "ok"),
    })
    .await
}

/// Fact sheet §1.3, §1.4: with `max_retries` retries already in progress on
/// the cluster a retry is not made; the request ends with its own failure
/// (here the upstream's 503) plus `UO`, and `upstream_rq_retry_overflow`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retry_breaker_full_returns_the_original_failure_with_uo_added() {
    let w = World::start(config(|p| p.max_retries = 1, "5xx", 2)).await;
    let up = slow_retry_upstream(&w).await;
    let (a, b) = tokio::join!(
        get_at(&w, Duration::ZERO, 1),
        get_at(&w, Duration::from_millis(10), 2),
    );
    assert_eq!((a.0.status, a.0.body_text().as_str()), (200, "ok"));
    // B's 503 arrived while A's retry held the only retry slot.
    assert_eq!((b.0.status, b.0.body_text().as_str()), (503, "busy"));
    assert_eq!(b.0.header("x-envoy-overloaded"), None);
    let entry = w.log.take(2).unwrap();
    assert_eq!(
        (entry.flags, entry.details.as_str(), entry.attempts),
        (ResponseFlags::UO, "via_upstream", 1)
    );
    assert_eq!(up.requests().len(), 3);
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.upstream_rq_retry, stats.upstream_rq_retry_overflow),
        (1, 1)
    );
}

/// Fact sheet §1.3: a retry budget replaces `max_retries` (here 0, which
/// alone would forbid every retry): `min_retry_concurrency` 1 lets one retry
/// run at a time on a lightly loaded cluster.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retry_budget_replaces_max_retries_and_its_floor_bounds_concurrent_retries() {
    let budget = RetryBudget {
        budget_percent: 20.0,
        min_retry_concurrency: 1,
    };
    let cfg = config(
        |p| {
            p.max_retries = 0;
            p.retry_budget = Some(budget);
        },
        "5xx",
        2,
    );
    let w = World::start(cfg).await;
    let _up = slow_retry_upstream(&w).await;
    let (a, b) = tokio::join!(
        get_at(&w, Duration::ZERO, 1),
        get_at(&w, Duration::from_millis(10), 2),
    );
    assert_eq!(a.0.status, 200, "the budget's floor allowed A's retry");
    assert_eq!(b.0.status, 503);
    assert_eq!(w.log.take(2).unwrap().flags, ResponseFlags::UO);
    assert_eq!(w.sidecar.stats().upstream_rq_retry_overflow, 1);
}

/// Fact sheet §1.3, §9.3: Istio's default thresholds (2^32 - 1) never bite:
/// concurrent requests and retries all go through.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn istio_default_circuit_breakers_never_bite() {
    let w = World::start(config(|_| {}, "5xx", 2)).await;
    let _up = slow_retry_upstream(&w).await;
    let (a, b) = tokio::join!(
        get_at(&w, Duration::ZERO, 1),
        get_at(&w, Duration::from_millis(10), 2),
    );
    assert_eq!((a.0.status, b.0.status), (200, 200));
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_retry, 2);
    assert_eq!(
        (
            stats.upstream_rq_retry_overflow,
            stats.upstream_rq_pending_overflow,
            stats.upstream_cx_overflow
        ),
        (0, 0, 0)
    );
}
