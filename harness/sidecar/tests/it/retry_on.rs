//! Retry conditions and retry headers end to end (fact sheet §1.1, §1.2,
//! §1.4, §5.2): `retriable-headers`, gRPC tokens, the attempt count and the
//! stripped retry headers, the retry buffer limit, both back-off formulas.

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_sidecar::{BackOffFormula, Discovery, HeaderMatch, HeaderMatcher, SidecarConfig};

use crate::support::*;

const HOST: &str = "api";
const UP: &str = "10.0.4.1:80";

fn static_up() -> meshsim_sidecar::Cluster {
    cluster(
        "outbound|80||api",
        Discovery::Static {
            endpoints: vec![addr(UP)],
        },
    )
}

fn with_policy(tokens: &str, retries: u32) -> SidecarConfig {
    routed(HOST, static_up(), Some(policy(tokens, retries)), None)
}

/// Fact sheet §1.4, §5.2: the upstream sees `x-envoy-attempt-count` 1, 2, 3
/// across retries, and never the retry-steering request headers.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retries_carry_attempt_count_1_2_3_and_retry_headers_never_reach_the_upstream() {
    let w = World::start(with_policy("reset", 2)).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |_, _| Action::Reset).await;
    let steering = [
        ("x-envoy-retry-on", "reset"),
        ("x-envoy-retry-grpc-on", "unavailable"),
        ("x-envoy-max-retries", "2"),
        ("x-envoy-retriable-status-codes", "503"),
        ("x-envoy-retriable-header-names", "x-foo"),
        ("x-envoy-upstream-rq-per-try-timeout-ms", "5000"),
        ("x-envoy-hedge-on-per-try-timeout", "true"),
        ("x-envoy-attempt-count", "7"),
    ];
    let extra: String = steering
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut conn = w.dial(UP).await;
    let r = conn.send_with("GET", HOST, 1, &extra, b"").await.unwrap();
    assert_eq!(r.status, 503);
    let seen = up.requests();
    let counts: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-envoy-attempt-count").unwrap_or("-"))
        .collect();
    assert_eq!(counts, vec!["1", "2", "3"]);
    for s in &seen {
        for (name, _) in &steering[..7] {
            assert_eq!(s.header(name), None, "{name} reached the upstream");
        }
        assert_eq!(s.header("x-request-id"), Some("1"));
    }
}

/// Fact sheet §1.4: a request body over the retry buffer limit (listener
/// `per_connection_buffer_limit_bytes`, default 1 MiB) is not retried;
/// `retry_or_shadow_abandoned` counts it. At the limit it still is.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_body_over_the_retry_buffer_limit_is_not_retried() {
    let mut cfg = with_policy("reset", 2);
    cfg.per_connection_buffer_limit_bytes = 16;
    let w = World::start(cfg).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |_, _| Action::Reset).await;
    let r = w
        .dial(UP)
        .await
        .send_with("POST", HOST, 1, "", &[b'x'; 17])
        .await
        .unwrap();
    assert_eq!(r.status, 503);
    assert!(!r.body_text().contains("retried"));
    assert_eq!(
        w.log.take(1).unwrap().flags,
        ResponseFlags::UC,
        "no URX: no policy"
    );
    assert_eq!(up.requests().len(), 1);
    assert_eq!(w.sidecar.stats().retry_or_shadow_abandoned, 1);
    let r = w
        .dial(UP)
        .await
        .send_with("POST", HOST, 2, "", &[b'x'; 16])
        .await
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(up.requests().len(), 4, "16 bytes fit: 1 + 2 retries");
    assert_eq!(w.sidecar.stats().retry_or_shadow_abandoned, 1);
}

#[test]
fn the_default_retry_buffer_limit_is_envoys_1_mib() {
    assert_eq!(
        SidecarConfig::default().per_connection_buffer_limit_bytes,
        1024 * 1024
    );
}

/// Fact sheet §1.1: `retriable-headers` retries a real upstream response
/// carrying a header that matches the policy's `retriable_headers`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retriable_headers_retry_a_response_with_a_matching_header() {
    let mut p = policy("retriable-headers", 1);
    p.retriable_headers = vec![HeaderMatcher {
        name: "x-upstream-state".into(),
        matches: HeaderMatch::Prefix("draining".into()),
        invert: false,
        treat_missing_as_empty: false,
    }];
    let w = World::start(routed(HOST, static_up(), Some(p), None)).await;
    // The first attempt, whether or not its connection is reused after it.
    let up = Upstream::spawn(&w.net, addr(UP), None, |c, i| {
        if c + i == 0 {
            Action::RespondWith(200, "x-upstream-state: draining-now\r\n", "old")
        } else {
            Action::Respond(200, "new")
        }
    })
    .await;
    let r = w.get(UP, HOST, 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "new"));
    assert_eq!(up.requests().len(), 2);
    assert_eq!(w.sidecar.stats().upstream_rq_retry, 1);
}

/// Fact sheet §1.1: names in the request's `x-envoy-retriable-header-names`
/// are matched by presence, for that request only.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn request_retriable_header_names_make_a_response_header_retriable() {
    let w = World::start(with_policy("retriable-headers", 1)).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |_, _| {
        Action::RespondWith(200, "x-try-elsewhere: 1\r\n", "no")
    })
    .await;
    // Without the request header the policy has no matcher: no retry.
    assert_eq!(w.get(UP, HOST, 1).await.status, 200);
    assert_eq!(up.requests().len(), 1);
    let extra = "x-envoy-retriable-header-names: x-try-elsewhere\r\n";
    let r = w
        .dial(UP)
        .await
        .send_with("GET", HOST, 2, extra, b"")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(up.requests().len(), 3, "retried once, then URX");
    assert_eq!(w.log.take(2).unwrap().flags, ResponseFlags::URX);
}

/// Fact sheet §1.1: gRPC tokens read `grpc-status` from response headers
/// (a trailers-only response): `unavailable` retries 14, not 13.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grpc_unavailable_in_response_headers_is_retried_and_internal_is_not() {
    let w = World::start(with_policy("unavailable", 1)).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |c, i| match c + i {
        0 => Action::RespondWith(200, "grpc-status: 14\r\n", ""),
        1 => Action::RespondWith(200, "grpc-status: 13\r\n", ""),
        _ => Action::Respond(200, "late"),
    })
    .await;
    let r = w.get(UP, HOST, 1).await;
    assert_eq!(r.header("grpc-status"), Some("13"), "the retry's answer");
    assert_eq!(up.requests().len(), 2);
    assert_eq!(w.sidecar.stats().upstream_rq_retry, 1);
}

/// The gaps between consecutive attempts of one request: its back-offs
/// (connects and answers take no virtual time here).
async fn backoff_gaps(formula: BackOffFormula) -> Vec<Duration> {
    let mut cfg = with_policy("5xx", 4);
    cfg.backoff_formula = formula;
    let w = World::start(cfg).await;
    let up = Upstream::spawn(&w.net, addr(UP), None, |_, _| Action::Respond(503, "")).await;
    assert_eq!(w.get(UP, HOST, 1).await.status, 503);
    let at: Vec<_> = up.requests().iter().map(|s| s.at).collect();
    assert_eq!(at.len(), 5);
    at.windows(2).map(|p| p[1] - p[0]).collect()
}

/// Fact sheet §1.2: with the default formula (current Envoy code) retry N
/// waits below 25, 50, 100, 200 ms.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn current_code_backoff_waits_stay_below_25_50_100_200_ms() {
    let gaps = backoff_gaps(BackOffFormula::CurrentCode).await;
    for (gap, ceiling) in gaps.iter().zip([25, 50, 100, 200]) {
        assert!(*gap < Duration::from_millis(ceiling), "{gaps:?}");
    }
}

/// Fact sheet §1.2: with the documented formula retry N waits below
/// `(2^N - 1)·25 ms`, capped at 250 ms.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn documented_backoff_waits_stay_below_25_75_175_then_250_ms() {
    let gaps = backoff_gaps(BackOffFormula::Documented).await;
    for (gap, ceiling) in gaps.iter().zip([25, 75, 175, 251]) {
        assert!(*gap < Duration::from_millis(ceiling), "{gaps:?}");
    }
    assert_ne!(gaps, backoff_gaps(BackOffFormula::CurrentCode).await);
}
