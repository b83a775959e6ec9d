//! The upstream HTTP/1.1 connection pool.

use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_sidecar::{Cluster, PoolSettings, SidecarConfig};

use crate::support::*;

fn passthrough_with(pool: PoolSettings) -> SidecarConfig {
    let passthrough = Cluster {
        pool,
        ..Cluster::passthrough()
    };
    SidecarConfig {
        passthrough,
        ..SidecarConfig::default()
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn idle_connections_are_reused_one_request_at_a_time() {
    let w = World::start(SidecarConfig::default()).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    for id in 0..3 {
        assert_eq!(w.get("52.1.1.10:80", "api", id).await.status, 200);
    }
    assert!(up.requests().iter().all(|s| s.conn == 0));
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.upstream_cx_total, stats.upstream_rq_reused_cx),
        (1, 2)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn concurrent_requests_open_one_connection_each() {
    let w = World::start(SidecarConfig::default()).await;
    let up = Upstream::spawn(&w.net, addr("52.1.1.10:80"), None, |_, _| {
        Action::RespondAfter(Duration::from_millis(100), 200, "ok")
    })
    .await;
    let (a, b) = tokio::join!(
        w.get("52.1.1.10:80", "api", 1),
        w.get("52.1.1.10:80", "api", 2)
    );
    assert_eq!((a.status, b.status), (200, 200));
    let conns: Vec<usize> = up.requests().iter().map(|s| s.conn).collect();
    assert_eq!(conns.len(), 2);
    assert_ne!(conns[0], conns[1], "no pipelining");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_fin_seen_while_idle_removes_the_connection_so_the_next_request_uses_a_fresh_one() {
    let w = World::start(SidecarConfig::default()).await;
    // The upstream closes connections idle for 1 s (a keep-alive timeout).
    let up = Upstream::spawn(
        &w.net,
        addr("52.1.1.10:80"),
        Some(Duration::from_secs(1)),
        |_, _| Action::Respond(200, "ok"),
    )
    .await;
    assert_eq!(w.get("52.1.1.10:80", "api", 1).await.status, 200);
    meshsim_net::clock::sleep(Duration::from_secs(2)).await;
    let r = w.get("52.1.1.10:80", "api", 2).await;
    assert_eq!(
        r.status, 200,
        "not a 503 UC: the closed connection had left the pool"
    );
    let seen = up.requests();
    assert_eq!((seen[0].conn, seen[1].conn), (0, 1));
    assert_eq!(w.sidecar.stats().upstream_rq_reused_cx, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn upstream_idle_timeout_closes_pooled_connections() {
    let pool = PoolSettings {
        idle_timeout: Some(Duration::from_secs(1)),
        ..PoolSettings::default()
    };
    let w = World::start(passthrough_with(pool)).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    let start = Instant::now();
    w.get("52.1.1.10:80", "api", 1).await;
    meshsim_net::clock::sleep(Duration::from_secs(3)).await;
    let closed = up.closed_by_peer()[0].expect("the sidecar closed its idle connection");
    let after = closed - start;
    assert!(
        after >= Duration::from_secs(1) && after < Duration::from_millis(1010),
        "{after:?}"
    );
    assert_eq!(w.sidecar.stats().upstream_cx_idle_timeout, 1);
}

/// The upstream idle timeout (fact sheet:
/// `common_http_protocol_options.idle_timeout`, per cluster) starts again
/// each time the connection goes idle: a connection reused 600 ms into a
/// 1 s timeout closes 1 s after its second response, not after its first.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn upstream_idle_timeout_counts_from_the_last_response_of_a_reused_connection() {
    let pool = PoolSettings {
        idle_timeout: Some(Duration::from_secs(1)),
        ..PoolSettings::default()
    };
    let w = World::start(passthrough_with(pool)).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    w.get("52.1.1.10:80", "api", 1).await;
    meshsim_net::clock::sleep(Duration::from_millis(600)).await;
    let second = Instant::now();
    w.get("52.1.1.10:80", "api", 2).await;
    meshsim_net::clock::sleep(Duration::from_secs(3)).await;
    let seen = up.requests();
    assert_eq!((seen[0].conn, seen[1].conn), (0, 0), "the second reused it");
    let closed = up.closed_by_peer()[0].expect("the sidecar closed its idle connection");
    let after = closed - second;
    assert!(
        after >= Duration::from_secs(1) && after < Duration::from_millis(1010),
        "{after:?} after the second request"
    );
    assert_eq!(w.sidecar.stats().upstream_cx_idle_timeout, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_requests_per_connection_one_disables_keep_alive() {
    let pool = PoolSettings {
        max_requests_per_connection: Some(1),
        ..PoolSettings::default()
    };
    let w = World::start(passthrough_with(pool)).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    let mut conn = w.dial("52.1.1.10:80").await;
    for id in 0..3 {
        assert_eq!(conn.get("api", "/", id).await.status, 200);
    }
    let conns: Vec<usize> = up.requests().iter().map(|s| s.conn).collect();
    assert_eq!(conns, vec![0, 1, 2]);
    assert_eq!(w.sidecar.stats().upstream_cx_max_requests, 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_connection_duration_drains_then_closes_when_idle() {
    let pool = PoolSettings {
        max_connection_duration: Some(Duration::from_secs(10)),
        ..PoolSettings::default()
    };
    let w = World::start(passthrough_with(pool)).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    let start = Instant::now();
    w.get("52.1.1.10:80", "api", 1).await;
    meshsim_net::clock::sleep(Duration::from_secs(5)).await;
    w.get("52.1.1.10:80", "api", 2).await;
    meshsim_net::clock::sleep(Duration::from_secs(6)).await;
    let closed = up.closed_by_peer()[0].expect("closed at max duration") - start;
    assert!(
        closed >= Duration::from_secs(10) && closed < Duration::from_millis(10_010),
        "{closed:?}"
    );
    w.get("52.1.1.10:80", "api", 3).await;
    let conns: Vec<usize> = up.requests().iter().map(|s| s.conn).collect();
    assert_eq!(conns, vec![0, 0, 1]);
    assert_eq!(w.sidecar.stats().upstream_cx_max_duration_reached, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn upstream_closing_a_reused_connection_instead_of_answering_is_a_503_uc() {
    // The keep-alive race as Envoy sees it: the request was written on a
    // pooled connection, then the upstream's close arrived instead of a response.
    let w = World::start(SidecarConfig::default()).await;
    let up = Upstream::spawn(&w.net, addr("52.1.1.10:80"), None, |_, i| {
        if i == 0 {
            Action::Respond(200, "ok")
        } else {
            Action::Close
        }
    })
    .await;
    let mut conn = w.dial("52.1.1.10:80").await;
    assert_eq!(conn.get("api", "/", 1).await.status, 200);
    let r = conn.get("api", "/", 2).await;
    assert_eq!(r.status, 503);
    assert!(
        r.body_text()
            .ends_with("reset reason: connection termination"),
        "{}",
        r.body_text()
    );
    assert_eq!(up.requests().len(), 2);
}
