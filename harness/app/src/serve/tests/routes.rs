//! Routes, keep-alive and capacity of one app server.

use std::time::Duration;

use super::support::*;
use crate::serve::{Capacity, RouteSpec};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_first_matching_route_answers_its_status_and_body_after_its_latency() {
    let net = sim();
    let slow = RouteSpec {
        body_bytes: 5,
        ..route("/slow", 201, 2 * SEC)
    };
    let app = start(&net, "10.0.0.2", config(vec![slow, route("/", 200, SEC)])).await;
    let (reply, took) = get(&net, addr("10.0.0.2:80"), "/slow/x").await;
    assert_eq!((reply.status, reply.body.as_slice()), (201, &b"okoko"[..]));
    assert!(about(took, 2 * SEC), "{took:?}");
    let (reply, took) = get(&net, addr("10.0.0.2:80"), "/other").await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok"[..]));
    assert!(about(took, SEC), "{took:?}");
    let stats = app.handle.shutdown().await;
    assert_eq!(stats.by_status.get(&201), Some(&1));
    assert_eq!((stats.served, stats.connections), (2, 2));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_path_no_route_matches_gets_404() {
    let net = sim();
    let _app = start(&net, "10.0.0.2", config(vec![route("/api", 200, SEC)])).await;
    let (reply, took) = get(&net, addr("10.0.0.2:80"), "/health").await;
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (404, &b"not found"[..])
    );
    assert!(about(took, Duration::ZERO), "{took:?}");
}

/// Runs are byte-identical only if nothing depends on the wall clock: the
/// response carries no `date` header.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn responses_carry_no_date_header() {
    let net = sim();
    let _app = start(&net, "10.0.0.2", config(vec![route("/", 200, SEC)])).await;
    let (reply, _) = get(&net, addr("10.0.0.2:80"), "/").await;
    assert_eq!(reply.head, "http/1.1 200 ok\r\ncontent-length: 2");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keep_alive_serves_every_request_on_one_connection() {
    let net = sim();
    let app = start(&net, "10.0.0.2", config(vec![route("/", 200, SEC)])).await;
    let mut s = connect(&net, addr("10.0.0.2:80")).await;
    for _ in 0..3 {
        send(&mut s, "/", "").await;
        assert_eq!(read_reply(&mut s).await.unwrap().status, 200);
    }
    let stats = app.handle.stats();
    assert_eq!((stats.connections, stats.served), (1, 3));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_with_connection_close_is_answered_then_the_connection_closed() {
    let net = sim();
    let _app = start(&net, "10.0.0.2", config(vec![route("/", 200, SEC)])).await;
    let mut s = connect(&net, addr("10.0.0.2:80")).await;
    send(&mut s, "/", "connection: close\r\n").await;
    let reply = read_reply(&mut s).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.head.contains("connection: close"), "{}", reply.head);
    read_to_end(&mut s).await.expect("FIN after the response");
}

/// incidents.md A2: a server closes an idle keep-alive connection after its
/// keep-alive timeout (Node's `keepAliveTimeout` 5 s), counted from the end
/// of the last response: the half of the 503 UC race (fact sheet §4.1) that
/// the app owns.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let net = sim();
    let mut node = config(vec![route("/", 200, SEC)]);
    node.idle_timeout = Some(5 * SEC);
    let _app = start(&net, "10.0.0.2", node).await;
    let mut s = connect(&net, addr("10.0.0.2:80")).await;
    send(&mut s, "/", "").await;
    read_reply(&mut s).await.unwrap();
    let answered = meshsim_net::clock::Instant::now();
    read_to_end(&mut s).await.expect("a FIN, not a reset");
    assert!(
        about(answered.elapsed(), 5 * SEC),
        "{:?}",
        answered.elapsed()
    );
}

/// incidents.md A2: Go's `net/http` server has no idle timeout by default:
/// an idle connection stays open until the client closes it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_an_idle_timeout_a_keep_alive_connection_stays_open() {
    let net = sim();
    let _app = start(
        &net,
        "10.0.0.2",
        config(vec![route("/", 200, Duration::ZERO)]),
    )
    .await;
    let mut s = connect(&net, addr("10.0.0.2:80")).await;
    send(&mut s, "/", "").await;
    read_reply(&mut s).await.unwrap();
    let closed = meshsim_net::clock::timeout(3600 * SEC, read_to_end(&mut s)).await;
    assert!(closed.is_err(), "closed after {closed:?}");
    send(&mut s, "/", "").await;
    assert_eq!(read_reply(&mut s).await.unwrap().status, 200);
}

fn capped(limit: usize, queue_limit: Option<usize>) -> RouteSpec {
    RouteSpec {
        capacity: Some(Capacity { limit, queue_limit }),
        ..route("/", 200, SEC)
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_beyond_capacity_wait_their_turn_in_arrival_order() {
    let net = sim();
    let app = start(&net, "10.0.0.2", config(vec![capped(1, None)])).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let net = net.clone();
        clients.push(tokio::spawn(async move {
            get(&net, addr("10.0.0.2:80"), "/").await.1
        }));
        // Arrival order is the order of the sends.
        meshsim_net::clock::sleep(10 * MS).await;
    }
    let stats = app.handle.stats();
    assert_eq!((stats.in_flight, stats.queued), (1, 2));
    let mut took = Vec::new();
    for c in clients {
        took.push(c.await.unwrap());
    }
    for (n, t) in took.iter().enumerate() {
        let expected = SEC * (n as u32 + 1) - 10 * MS * n as u32;
        assert!(about(*t, expected), "request {n} took {t:?}");
    }
    assert_eq!(app.handle.stats().in_flight, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_saturated_app_answers_503_at_once_beyond_its_queue_limit() {
    let net = sim();
    let app = start(&net, "10.0.0.2", config(vec![capped(1, Some(1))])).await;
    let mut clients = Vec::new();
    for _ in 0..2 {
        let net = net.clone();
        clients.push(tokio::spawn(async move {
            get(&net, addr("10.0.0.2:80"), "/").await
        }));
        meshsim_net::clock::sleep(10 * MS).await;
    }
    let (rejected, took) = get(&net, addr("10.0.0.2:80"), "/").await;
    assert_eq!(rejected.status, 503);
    assert!(about(took, Duration::ZERO), "{took:?}");
    for c in clients {
        assert_eq!(c.await.unwrap().0.status, 200);
    }
    let stats = app.handle.stats();
    assert_eq!((stats.rejected, stats.by_status.get(&503)), (1, Some(&1)));
}

/// The same seed gives the same jittered latencies.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn latency_jitter_is_drawn_from_the_seed() {
    async fn latencies() -> Vec<Duration> {
        let net = sim();
        let jittery = RouteSpec {
            latency_jitter: SEC,
            ..route("/", 200, SEC)
        };
        let _app = start(&net, "10.0.0.2", config(vec![jittery])).await;
        let mut out = Vec::new();
        for _ in 0..5 {
            out.push(get(&net, addr("10.0.0.2:80"), "/").await.1);
        }
        out
    }
    let a = latencies().await;
    assert_eq!(a, latencies().await);
    assert!(
        a.iter().all(|d| *d >= SEC && *d < 2 * SEC + 20 * MS),
        "{a:?}"
    );
    assert!(a.windows(2).any(|w| w[0] != w[1]), "{a:?}");
}

/// Fact sheet §7.1 (an HTTP/1-only server behind a port named `http2` /
/// `grpc` rejects the h2 preface): the app answers `PRI * HTTP/2.0` as Go's
/// net/http does, `400 Bad Request` with `Connection: close`, then closes,
/// without serving a request.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_h2_preface_is_answered_400_and_the_connection_closed() {
    let net = sim();
    let app = start(&net, "10.0.0.2", config(vec![route("/", 200, SEC)])).await;
    let client = net.stack("10.0.0.9".parse().unwrap());
    let mut s = client.connect(addr("10.0.0.2:80"), SEC).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    let stats = app.handle.shutdown().await;
    assert_eq!((stats.served, stats.connections), (0, 1));
}

/// The first bytes read to tell the preface apart are given to the HTTP/1.1
/// server: a request line split over several writes is served.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_whose_first_bytes_arrive_apart_is_served() {
    let net = sim();
    let _app = start(&net, "10.0.0.2", config(vec![route("/", 200, SEC)])).await;
    let client = net.stack("10.0.0.9".parse().unwrap());
    let mut s = client.connect(addr("10.0.0.2:80"), SEC).await.unwrap();
    for part in [
        "P",
        "RI",
        "NT /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    ] {
        s.write_all(part.as_bytes()).await.unwrap();
        meshsim_net::clock::sleep(MS).await;
    }
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200 OK"),
        "{got:?}"
    );
}
