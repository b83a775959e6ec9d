//! Retry policy behaviour end to end.

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use meshsim_sidecar::{Discovery, RetryPolicy, SidecarConfig};

use crate::support::*;

const HOST: &str = "api.partner.example";

fn strict_dns(port: u16) -> meshsim_sidecar::Cluster {
    cluster(
        "outbound|80||api",
        Discovery::StrictDns {
            hostname: HOST.into(),
            port,
        },
    )
}

fn static_one(ep: &str) -> meshsim_sidecar::Cluster {
    cluster(
        "outbound|80||api",
        Discovery::Static {
            endpoints: vec![addr(ep)],
        },
    )
}

async fn world(config: SidecarConfig) -> World {
    World::start(config).await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_failure_retry_on_strict_dns_moves_to_the_live_host_with_previous_hosts() {
    let config = routed(
        HOST,
        strict_dns(80),
        Some(policy("connect-failure", 2)),
        None,
    );
    let resolver = meshsim_sidecar::ScriptedResolver::new();
    // .20 is dead (nothing listens: refused), .21 is live.
    resolver.set(
        HOST,
        vec![ip("52.1.1.20"), ip("52.1.1.21")],
        Duration::from_secs(60),
    );
    let w = World::start_with(config, resolver).await;
    let live = Upstream::ok(&w.net, addr("52.1.1.21:80"), "live").await;
    for id in 1..=4 {
        let r = w.get("52.1.1.20:80", HOST, id).await;
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (200, "live"),
            "request {id}"
        );
        assert_eq!(
            w.log.take(id).unwrap().upstream_host,
            Some(addr("52.1.1.21:80"))
        );
    }
    let counts: Vec<_> = live
        .requests()
        .iter()
        .map(|s| s.header("x-envoy-attempt-count").unwrap().to_string())
        .collect();
    assert!(
        counts.contains(&"2".to_string()),
        "a retried request reached the live host on attempt 2: {counts:?}"
    );
    assert!(
        !counts.contains(&"3".to_string()),
        "previous_hosts never re-picks the dead host: {counts:?}"
    );
    let stats = w.sidecar.stats();
    assert!(stats.upstream_rq_retry >= 1);
    assert_eq!(stats.upstream_rq_retry, stats.upstream_cx_connect_fail);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn istio_default_policy_does_not_retry_a_uc() {
    let config = routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(istio_default_policy()),
        None,
    );
    let w = world(config).await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, _| Action::Reset).await;
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    assert_eq!(r.status, 503);
    assert!(
        r.body_text()
            .ends_with("reset reason: connection termination")
    );
    assert!(!r.body_text().contains("retried"));
    assert_eq!(up.requests().len(), 1);
    assert_eq!(
        w.log.take(1).unwrap().flags,
        ResponseFlags::UC,
        "no URX: it was never retriable"
    );
    assert_eq!(w.sidecar.stats().upstream_rq_retry, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn reset_policy_retries_a_uc_and_says_retried_and_the_latest() {
    let config = routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(policy("reset", 2)),
        None,
    );
    let w = world(config).await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, _| Action::Reset).await;
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body_text(),
        "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: \
         connection termination"
    );
    assert_eq!(up.requests().len(), 3, "1 + num_retries attempts");
    let entry = w.log.take(1).unwrap();
    assert_eq!(entry.flags, ResponseFlags::UC | ResponseFlags::URX);
    assert_eq!(entry.attempts, 3);
    assert_eq!(w.sidecar.stats().upstream_rq_retry_limit_exceeded, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn exhausted_5xx_retries_return_the_last_upstream_response_with_urx() {
    let config = routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(policy("5xx", 2)),
        None,
    );
    let w = world(config).await;
    // A retried response with a body is reset (Envoy resets an incomplete
    // upstream response before retrying), so every attempt is a new connection.
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |c, _| {
        Action::Respond(503, if c < 2 { "early" } else { "last" })
    })
    .await;
    let start = Instant::now();
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (503, "last"));
    assert_eq!(up.requests().len(), 3);
    let entry = w.log.take(1).unwrap();
    assert_eq!(
        (entry.flags, entry.details.as_str()),
        (ResponseFlags::URX, "via_upstream")
    );
    // Back-offs: [0,25) then [0,50) ms.
    assert!(
        start.elapsed() < Duration::from_millis(76),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retriable_status_codes_retry_a_real_upstream_503_but_never_a_local_503() {
    let mut p = policy("retriable-status-codes", 1);
    p.retriable_status_codes = vec![503];
    let config = routed(HOST, static_one("10.0.4.1:80"), Some(p), None);
    let w = world(config).await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |c, i| match (c, i) {
        (0, _) => Action::Respond(503, "busy"),
        (_, 0) => Action::Respond(200, "ok"),
        _ => Action::Reset,
    })
    .await;
    assert_eq!(w.get("10.0.4.1:80", HOST, 1).await.status, 200);
    assert_eq!(up.requests().len(), 2);
    // The reused connection is now reset: a local 503 UC, which the status rule does not see.
    let r = w.get("10.0.4.1:80", HOST, 2).await;
    assert_eq!(r.status, 503);
    assert_eq!(w.log.take(2).unwrap().flags, ResponseFlags::UC);
    assert_eq!(up.requests().len(), 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_retry_after_response_headers_were_sent_downstream() {
    let config = routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(policy("reset,5xx", 3)),
        None,
    );
    let w = world(config).await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, _| {
        Action::TruncateThenReset
    })
    .await;
    let mut conn = w.dial("10.0.4.1:80").await;
    let r = conn.try_get(HOST, "/", 1).await;
    assert!(
        r.is_none(),
        "headers went out, then the body was cut: the app sees a broken response"
    );
    assert_eq!(
        up.requests().len(),
        1,
        "never retried once headers were forwarded"
    );
    assert_eq!(w.log.take(1).unwrap().response_code, 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn route_timeout_is_504_ut_covers_all_attempts_and_is_never_retried() {
    let config = routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(policy("5xx,reset,gateway-error", 3)),
        Some(Duration::from_secs(2)),
    );
    let w = world(config).await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, _| Action::Hang).await;
    let start = Instant::now();
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (504, "upstream request timeout")
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2010),
        "{elapsed:?}"
    );
    assert_eq!(up.requests().len(), 1);
    let entry = w.log.take(1).unwrap();
    assert_eq!(
        (entry.flags, entry.details.as_str()),
        (ResponseFlags::UT, "response_timeout")
    );
    assert_eq!(w.sidecar.stats().upstream_rq_timeout, 1);
}

fn per_try(tokens: &str) -> RetryPolicy {
    let mut p = policy(tokens, 2);
    p.per_try_timeout = Some(Duration::from_secs(1));
    p
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn per_try_timeout_is_retried_under_5xx() {
    let w = world(routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(per_try("5xx")),
        None,
    ))
    .await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, _| Action::Hang).await;
    let start = Instant::now();
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (504, "upstream request timeout")
    );
    let elapsed = start.elapsed();
    // Three 1 s tries plus back-offs under 25 + 50 ms.
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_millis(3080),
        "{elapsed:?}"
    );
    assert_eq!(up.requests().len(), 3);
    let entry = w.log.take(1).unwrap();
    assert_eq!(entry.flags, ResponseFlags::UT | ResponseFlags::URX);
    assert_eq!(entry.details, "upstream_per_try_timeout");
    assert_eq!(w.sidecar.stats().upstream_rq_per_try_timeout, 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn per_try_timeout_is_not_retried_under_connect_failure() {
    let w = world(routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(per_try("connect-failure")),
        None,
    ))
    .await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, _| Action::Hang).await;
    let start = Instant::now();
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    assert_eq!(r.status, 504);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1010),
        "{elapsed:?}"
    );
    assert_eq!(up.requests().len(), 1);
    assert_eq!(w.log.take(1).unwrap().flags, ResponseFlags::UT);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn reset_before_request_does_not_retry_a_request_already_written_on_a_reused_connection() {
    let w = world(routed(
        HOST,
        static_one("10.0.4.1:80"),
        Some(policy("reset-before-request", 2)),
        None,
    ))
    .await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, i| {
        if i == 0 {
            Action::Respond(200, "ok")
        } else {
            Action::Reset
        }
    })
    .await;
    assert_eq!(w.get("10.0.4.1:80", HOST, 1).await.status, 200);
    let r = w.get("10.0.4.1:80", HOST, 2).await;
    assert_eq!(r.status, 503);
    assert_eq!(w.log.take(2).unwrap().flags, ResponseFlags::UC);
    assert_eq!(up.requests().len(), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn single_host_cluster_retries_go_to_the_same_address() {
    // ORIGINAL_DST style: one host, so previous_hosts gives up and reuses it.
    let c = cluster("svc", Discovery::OriginalDst);
    let w = world(routed(HOST, c, Some(policy("5xx", 1)), None)).await;
    let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |c, _| {
        if c == 0 {
            Action::Respond(500, "no")
        } else {
            Action::Respond(200, "yes")
        }
    })
    .await;
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "yes"));
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("x-envoy-attempt-count"), Some("2"));
    assert_eq!(
        w.log.take(1).unwrap().upstream_host,
        Some(addr("10.0.4.1:80"))
    );
    assert_eq!(w.sidecar.stats().upstream_rq_retry_success, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn same_seed_gives_the_same_retry_timings() {
    async fn run() -> Vec<Duration> {
        let w = World::start(routed(
            HOST,
            static_one("10.0.4.1:80"),
            Some(policy("5xx", 4)),
            None,
        ))
        .await;
        let up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, |_, _| {
            Action::Respond(503, "x")
        })
        .await;
        let start = Instant::now();
        w.get("10.0.4.1:80", HOST, 1).await;
        up.requests().iter().map(|s| s.at - start).collect()
    }
    let a = run().await;
    assert_eq!(a.len(), 5);
    assert_eq!(a, run().await);
}
