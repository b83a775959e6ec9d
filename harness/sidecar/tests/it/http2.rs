//! HTTP/2 to upstreams that speak it (fact sheet §4.1, §4.2, §1.1, §5.1,
//! §5.3): streams multiplexed on one connection, REFUSED_STREAM, GOAWAY,
//! per-try timeouts that reset only the stream. The upstream is the
//! `meshsim-upstream` fake in HTTP/2 mode (h2c with prior knowledge).

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use meshsim_upstream::Http2Mode;

use crate::support::*;

const HOST: &str = "api";
const UP: &str = "10.0.6.1:80";
const SLOW: Duration = Duration::from_millis(100);

async fn get(w: &World, path: &str, id: u64) -> Resp {
    w.dial(UP).await.get(HOST, path, id).await
}

/// Fact sheet §4.1/§4.2 (`http.maxConcurrentStreams`; Envoy's multiplexed
/// pool): streams to one host share a connection up to
/// `max_concurrent_streams`, then a new connection opens; five concurrent
/// requests with a limit of 2 need three connections and finish together.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn streams_of_one_host_share_one_h2_connection_up_to_max_concurrent_streams() {
    let w = World::start(routed(HOST, h2_cluster(UP, 2), None, None)).await;
    let up = h2_upstream(&w.net, UP, Http2Mode::default(), SLOW).await;
    let start = Instant::now();
    let (a, b, c, d, e) = tokio::join!(
        get(&w, "/slow", 1),
        get(&w, "/slow", 2),
        get(&w, "/slow", 3),
        get(&w, "/slow", 4),
        get(&w, "/slow", 5),
    );
    // One route latency plus connection set-up: the streams ran at once.
    let took = start.elapsed();
    assert!(took >= SLOW && took < SLOW * 2, "took {took:?}");
    for r in [&a, &b, &c, &d, &e] {
        assert_eq!((r.status, r.body_text().as_str()), (200, "ok"));
        assert_eq!(r.header("server"), Some("envoy"));
    }
    assert_eq!(up.stats().connections, 3);
    assert_eq!(up.stats().requests, 5);
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_cx_http2_total, 3);
    assert_eq!(stats.upstream_cx_total, 3);
    // Later requests reuse the open connections (no new one).
    assert_eq!(get(&w, "/", 6).await.status, 200);
    assert_eq!(up.stats().connections, 3);
    up.shutdown().await;
}

/// Fact sheet §1.1 (`refused-stream`; Istio's default policy has it) and
/// §5.3: an upstream RST_STREAM REFUSED_STREAM is retried under
/// `refused-stream`, and the retry succeeds.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn refused_stream_is_retried_under_istio_default_refused_stream() {
    let policy = istio_default_policy();
    let w = World::start(routed(HOST, h2_cluster(UP, 100), Some(policy), None)).await;
    let mode = Http2Mode {
        refuse_every_nth: Some(2),
        ..Http2Mode::default()
    };
    let up = h2_upstream(&w.net, UP, mode, SLOW).await;
    assert_eq!(get(&w, "/", 1).await.status, 200);
    let r = get(&w, "/", 2).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "ok"));
    assert_eq!(w.log.take(2).unwrap().flags, ResponseFlags::NONE);
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_retry, 1);
    assert_eq!(stats.upstream_rq_rx_reset, 1);
    assert_eq!(up.stats().streams_refused, 1);
    assert_eq!(
        up.stats().connections,
        1,
        "a refused stream keeps the connection"
    );
    up.shutdown().await;
}

/// Fact sheet §5.1 (`remote refused stream reset` -> 503 `UR`) and §1.1: with
/// no retry policy a refused stream is a local reply with the exact body;
/// with retries that keep being refused, `retried and the latest` and
/// `URX` are added.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn refused_stream_without_retry_is_503_ur_remote_refused_stream_reset() {
    let w = World::start(routed(HOST, h2_cluster(UP, 100), None, None)).await;
    let mode = Http2Mode {
        refuse_every_nth: Some(1),
        ..Http2Mode::default()
    };
    let up = h2_upstream(&w.net, UP, mode, SLOW).await;
    let r = get(&w, "/", 1).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body_text(),
        "upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset"
    );
    assert_eq!(w.log.take(1).unwrap().flags, ResponseFlags::UR);
    up.shutdown().await;

    let policy = istio_default_policy();
    let w = World::start(routed(HOST, h2_cluster(UP, 100), Some(policy), None)).await;
    let up = h2_upstream(&w.net, UP, mode_refuse_all(), SLOW).await;
    let r = get(&w, "/", 1).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body_text(),
        "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote refused stream reset"
    );
    assert_eq!(
        w.log.take(1).unwrap().flags,
        ResponseFlags::UR | ResponseFlags::URX
    );
    assert_eq!(up.stats().streams_refused, 3, "1 try + 2 retries");
    up.shutdown().await;
}

fn mode_refuse_all() -> Http2Mode {
    Http2Mode {
        refuse_every_nth: Some(1),
        ..Http2Mode::default()
    }
}

/// Fact sheet §4.1 and Envoy's `onGoAway` (`upstream_cx_close_notify`): a
/// GOAWAY drains the connection: the streams in flight finish, and the next
/// request opens a new connection.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn goaway_lets_in_flight_streams_finish_and_new_requests_open_a_new_connection() {
    let w = World::start(routed(HOST, h2_cluster(UP, 100), None, None)).await;
    let mode = Http2Mode {
        goaway_after_streams: Some(2),
        ..Http2Mode::default()
    };
    let up = h2_upstream(&w.net, UP, mode, SLOW).await;
    let (a, b) = tokio::join!(get(&w, "/slow", 1), get(&w, "/slow", 2));
    assert_eq!((a.status, b.status), (200, 200), "in-flight streams finish");
    assert_eq!(up.stats().goaways_sent, 1);
    let c = get(&w, "/", 3).await;
    assert_eq!(c.status, 200);
    assert_eq!(
        up.stats().connections,
        2,
        "the third request opened a new connection"
    );
    assert_eq!(up.stats().streams_refused, 0);
    assert_eq!(w.sidecar.stats().upstream_cx_close_notify, 1);
    up.shutdown().await;
}

/// Fact sheet §1.1 (`refused-stream`) with the HTTP/2 library's GOAWAY rule:
/// streams the upstream did not take before its GOAWAY are refused, so
/// Istio's default policy retries them on a new connection; without a
/// policy they fail 503 `UR`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn streams_above_goaway_last_stream_id_are_retried_as_refused_streams() {
    let policy = istio_default_policy();
    let w = World::start(routed(HOST, h2_cluster(UP, 100), Some(policy), None)).await;
    let mode = Http2Mode {
        goaway_after_streams: Some(1),
        ..Http2Mode::default()
    };
    let up = h2_upstream(&w.net, UP, mode.clone(), SLOW).await;
    let (a, b) = tokio::join!(get(&w, "/slow", 1), get(&w, "/slow", 2));
    assert_eq!((a.status, b.status), (200, 200));
    let refused = up.stats().streams_refused;
    assert!(refused >= 1, "a stream raced the GOAWAY");
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_retry, refused);
    assert!(stats.upstream_cx_close_notify >= 1);
    up.shutdown().await;

    let w = World::start(routed(HOST, h2_cluster(UP, 100), None, None)).await;
    let up = h2_upstream(&w.net, UP, mode, SLOW).await;
    let (a, b) = tokio::join!(get(&w, "/slow", 1), get(&w, "/slow", 2));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503]);
    let failed = if a.status == 503 { 1 } else { 2 };
    assert_eq!(w.log.take(failed).unwrap().flags, ResponseFlags::UR);
    up.shutdown().await;
}

/// Fact sheet §1.2 (`per_try_timeout` is a local reset of the attempt): on
/// HTTP/2 it resets the stream only; the connection carries the next
/// request.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn per_try_timeout_resets_only_the_h2_stream_not_the_connection() {
    let mut policy = policy("refused-stream", 0);
    policy.per_try_timeout = Some(Duration::from_millis(30));
    let w = World::start(routed(HOST, h2_cluster(UP, 100), Some(policy), None)).await;
    let up = h2_upstream(&w.net, UP, Http2Mode::default(), SLOW).await;
    let start = Instant::now();
    let r = get(&w, "/slow", 1).await;
    // The per-try timer starts once the stream is granted (after connect).
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(30) && took < SLOW,
        "took {took:?}"
    );
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (504, "upstream request timeout")
    );
    assert_eq!(w.log.take(1).unwrap().flags, ResponseFlags::UT);
    assert_eq!(get(&w, "/", 2).await.status, 200);
    assert_eq!(
        up.stats().connections,
        1,
        "the connection survived the reset"
    );
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_tx_reset, 1);
    assert_eq!(stats.upstream_rq_reused_cx, 1);
    up.shutdown().await;
}

/// Same seed, same result: an HTTP/2 GOAWAY race run twice gives the same
/// responses and counters.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn h2_goaway_race_is_deterministic() {
    async fn run() -> (Vec<u16>, meshsim_sidecar::SidecarStats, u64) {
        let policy = istio_default_policy();
        let w = World::start(routed(HOST, h2_cluster(UP, 3), Some(policy), None)).await;
        let mode = Http2Mode {
            goaway_after_streams: Some(2),
            ..Http2Mode::default()
        };
        let up = h2_upstream(&w.net, UP, mode, SLOW).await;
        let (a, b, c, d) = tokio::join!(
            get(&w, "/slow", 1),
            get(&w, "/slow", 2),
            get(&w, "/slow", 3),
            get(&w, "/", 4),
        );
        let refused = up.stats().streams_refused;
        up.shutdown().await;
        (
            vec![a.status, b.status, c.status, d.status],
            w.sidecar.stats(),
            refused,
        )
    }
    let first = run().await;
    assert_eq!(first.0, vec![200; 4]);
    assert_eq!(run().await, first);
}
