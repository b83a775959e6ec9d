//! The pool's pending-request queue, as Envoy's `ConnPoolImplBase`: a request
//! with no ready connection waits (FIFO) for the next connection to become
//! ready, whichever it is, and a connect failure purges the queue.

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::{Instant, sleep};
use meshsim_sidecar::{Cluster, Discovery, SidecarConfig};

use crate::support::*;

const UP: &str = "52.1.1.10:80";

/// The x-request-id of every request the upstream saw, with its connection.
fn served(up: &Upstream) -> Vec<(String, usize)> {
    up.requests()
        .iter()
        .map(|s| (s.header("x-request-id").unwrap_or("").to_string(), s.conn))
        .collect()
}

fn ids(v: &[(&str, usize)]) -> Vec<(String, usize)> {
    v.iter().map(|(id, c)| (id.to_string(), *c)).collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn envoy_on_upstream_ready_serves_a_pending_request_on_a_connection_freed_before_its_own_connect_finished()
 {
    let w = World::start(SidecarConfig::default()).await;
    // 25 ms each way: a connect takes 50 ms.
    w.net
        .set_host_latency(ip("52.1.1.10"), Duration::from_millis(25));
    let up = Upstream::spawn(&w.net, addr(UP), None, |conn, i| {
        if (conn, i) == (0, 0) {
            Action::RespondAfter(Duration::from_millis(10), 200, "a")
        } else {
            Action::Respond(200, "b")
        }
    })
    .await;
    let start = Instant::now();
    // A opens connection 0 (ready at ~51 ms) and holds it until ~113 ms.
    let a = w.get(UP, "api", 1);
    // B arrives at 80 ms: no ready connection, so it is pending and opens
    // connection 1 (ready at ~131 ms); connection 0 frees at ~113 ms first.
    let b = async {
        sleep(Duration::from_millis(80)).await;
        let t = Instant::now();
        let r = w.get(UP, "api", 2).await;
        (r, t.elapsed())
    };
    let (a, (b, b_elapsed)) = tokio::join!(a, b);
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(served(&up), ids(&[("1", 0), ("2", 0)]));
    // Served at ~113 ms + one round trip (~85 ms after it arrived); on its
    // own connection it would have taken ~103 ms.
    assert!(
        b_elapsed >= Duration::from_millis(80) && b_elapsed < Duration::from_millis(95),
        "{b_elapsed:?}"
    );
    let stats = w.sidecar.stats();
    assert_eq!(
        stats.upstream_rq_reused_cx, 1,
        "B's attempt reused connection 0"
    );
    assert_eq!(
        (stats.upstream_rq_pending_total, stats.upstream_cx_total),
        (2, 2)
    );
    // Connection 1 still connected and waits idle in the pool.
    sleep(Duration::from_millis(100)).await;
    assert_eq!(up.closed_by_peer(), vec![None, None]);
    assert!(start.elapsed() < Duration::from_millis(300));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connect_failure_fails_the_pending_request_with_503_uf_remote_connection_failure() {
    let w = World::start(SidecarConfig::default()).await;
    // Nothing listens on UP: the connect is refused.
    let r = w.get(UP, "api", 3).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body_text(),
        "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, \
         transport failure reason: delayed connect error: 111"
    );
    let entry = w.log.take(3).unwrap();
    assert_eq!(entry.flags, ResponseFlags::UF);
    let stats = w.sidecar.stats();
    assert_eq!(
        (
            stats.upstream_rq_pending_total,
            stats.upstream_rq_pending_failure_eject,
            stats.upstream_cx_connect_fail,
        ),
        (1, 1, 1)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pending_requests_are_served_fifo_the_oldest_gets_the_first_ready_connection() {
    let w = World::start(SidecarConfig::default()).await;
    w.net
        .set_host_latency(ip("52.1.1.10"), Duration::from_millis(25));
    let up = Upstream::spawn(&w.net, addr(UP), None, |conn, i| {
        if (conn, i) == (0, 0) {
            Action::RespondAfter(Duration::from_millis(40), 200, "w")
        } else {
            Action::Respond(200, "x")
        }
    })
    .await;
    // W holds connection 0 until ~140 ms. A, B, C arrive at 100, 105 and
    // 110 ms and open connections 1, 2, 3 (ready at ~150, ~155, ~160 ms).
    let at = |ms: u64, id: u64| {
        let w = &w;
        async move {
            sleep(Duration::from_millis(ms)).await;
            w.get(UP, "api", id).await.status
        }
    };
    let statuses = tokio::join!(at(0, 10), at(100, 11), at(105, 12), at(110, 13));
    assert_eq!(statuses, (200, 200, 200, 200));
    // The freed connection 0 went to the oldest (A), then connections 1 and
    // 2 to B and C in their arrival order; connection 3 went idle.
    assert_eq!(
        served(&up),
        ids(&[("10", 0), ("11", 0), ("12", 1), ("13", 2)])
    );
    let stats = w.sidecar.stats();
    assert_eq!(
        (
            stats.upstream_rq_pending_total,
            stats.upstream_cx_total,
            stats.upstream_rq_reused_cx
        ),
        (4, 4, 1)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn envoy_purge_pending_streams_one_connect_timeout_fails_every_pending_request() {
    // Envoy's onConnectionEvent purges all pending streams when a connecting
    // connection fails, even those other connections still being opened
    // would have served.
    let passthrough = Cluster {
        connect_timeout: Duration::from_millis(100),
        ..Cluster::passthrough()
    };
    let config = SidecarConfig {
        passthrough,
        ..SidecarConfig::default()
    };
    let w = World::start(config).await;
    let up = Upstream::ok(&w.net, addr(UP), "ok").await;
    // A's connect needs 120 ms: it times out at 100 ms.
    w.net
        .set_host_latency(ip("52.1.1.10"), Duration::from_millis(60));
    let later = |id: u64| {
        let w = &w;
        async move {
            sleep(Duration::from_millis(50)).await;
            // B and C's connects need 60 ms: they would be ready at ~110 ms.
            w.net
                .set_host_latency(ip("52.1.1.10"), Duration::from_millis(30));
            w.get(UP, "api", id).await
        }
    };
    let start = Instant::now();
    let (a, b, c) = tokio::join!(w.get(UP, "api", 1), later(2), later(3));
    for r in [&a, &b, &c] {
        assert_eq!(r.status, 503);
        assert!(r.body_text().ends_with("reset reason: connection timeout"));
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_millis(105),
        "all three failed at A's connect timeout: {elapsed:?}"
    );
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_pending_failure_eject, 3);
    assert_eq!(stats.upstream_cx_connect_timeout, 1);
    // B's and C's connections still connect and go idle; the next request
    // takes one of them without opening another.
    sleep(Duration::from_millis(50)).await;
    assert_eq!(w.get(UP, "api", 4).await.status, 200);
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.upstream_cx_total, stats.upstream_rq_reused_cx),
        (3, 0)
    );
    assert_eq!(up.closed_by_peer().len(), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_pending_request_cancelled_by_the_route_timeout_leaves_the_queue() {
    let static_up = cluster(
        "outbound|80||api",
        Discovery::Static {
            endpoints: vec![addr(UP)],
        },
    );
    let config = routed("api", static_up, None, Some(Duration::from_millis(50)));
    let w = World::start(config).await;
    // The upstream drops SYNs: the connect runs to the 10 s connect timeout.
    w.net.set_blackhole(ip("52.1.1.10"), true);
    let r = w.get(UP, "api", 1).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (504, "upstream request timeout")
    );
    assert_eq!(w.sidecar.stats().upstream_rq_cancelled, 1);
    // The connection keeps connecting (CancelPolicy::Default) and fails
    // with nobody left to purge.
    sleep(Duration::from_secs(11)).await;
    let stats = w.sidecar.stats();
    assert_eq!(
        (
            stats.upstream_cx_connect_timeout,
            stats.upstream_rq_pending_failure_eject
        ),
        (1, 0)
    );
}
