//! Serving behaviour over the simulated network with a paused clock:
//! keep-alive, pipelining, bodies, routes, idle close, limits, bad bytes.

#[path = "support/client.rs"]
mod client;

use std::collections::BTreeMap;
use std::time::Duration;

use client::{Client, sim};
use meshsim_net::clock::Instant;
use meshsim_upstream::{RouteSpec, UpstreamConfig, spawn};

fn route(prefix: &str, status: u16, body_bytes: usize, latency_ms: u64) -> RouteSpec {
    RouteSpec {
        prefix: prefix.to_owned(),
        status,
        body_bytes,
        latency: Duration::from_millis(latency_ms),
    }
}

fn with_routes(routes: Vec<RouteSpec>) -> UpstreamConfig {
    UpstreamConfig {
        routes,
        ..UpstreamConfig::default()
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keep_alive_connection_is_reused_for_several_requests() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    for _ in 0..3 {
        let r = c.get("/").await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        assert_eq!(r.header("connection"), None);
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    let stats = server.stats();
    assert_eq!(
        (stats.connections, stats.active_connections, stats.requests),
        (1, 1, 3)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn http10_request_is_answered_then_closed() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.send(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let r = c.read_response().await.unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert_eq!(c.read_to_close().await.unwrap(), b"");
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn http10_keep_alive_request_keeps_the_connection() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    for _ in 0..2 {
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let r = c.read_response().await.unwrap();
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
    assert_eq!(server.stats().connections, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connection_close_request_is_answered_then_fin() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let r = c.read_response().await.unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert_eq!(
        c.read_to_close().await.unwrap(),
        b"",
        "FIN after the response"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pipelined_requests_are_answered_in_order() {
    let (_net, server_stack, client_stack) = sim();
    let config = with_routes(vec![route("/slow", 201, 1, 100), route("/fast", 503, 3, 0)]);
    let server = spawn(config, server_stack, 80).await.unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.send(b"GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\nGET /slow HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let statuses = [
        c.read_response().await.unwrap().status,
        c.read_response().await.unwrap().status,
        c.read_response().await.unwrap().status,
    ];
    assert_eq!(statuses, [201, 503, 201]);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn request_bodies_are_consumed_before_the_next_request() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.send(b"POST / HTTP/1.1\r\ncontent-length: 11\r\n\r\nhello world")
        .await
        .unwrap();
    assert_eq!(c.read_response().await.unwrap().status, 200);
    c.send(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(c.read_response().await.unwrap().status, 200);
    assert_eq!(c.get("/").await.unwrap().status, 200);
    assert_eq!(server.stats().requests, 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn route_latency_delays_the_response_by_its_latency() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(with_routes(vec![route("/", 200, 2, 250)]), server_stack, 80)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    let start = Instant::now();
    c.get("/").await.unwrap();
    // 250 ms of route latency plus one round trip of the sim network (two
    // 50 µs hops, each rounded up to tokio's 1 ms timer tick).
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed <= Duration::from_millis(252),
        "{elapsed:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn unmatched_path_gets_404_and_route_body_has_configured_length() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(
        with_routes(vec![route("/api", 200, 7, 0)]),
        server_stack,
        80,
    )
    .await
    .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    let r = c.get("/api/charge").await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"okokoko"[..]));
    let r = c.get("/other").await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"not found"[..]));
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn head_request_gets_headers_without_body() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.send(b"HEAD / HTTP/1.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let raw = c.read_to_close().await.unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"));
    assert!(
        raw.ends_with(b"connection: close\r\n\r\n"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn idle_connection_is_closed_after_exactly_keepalive_timeout() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    let answered = Instant::now();
    assert_eq!(c.read_to_close().await.unwrap(), b"");
    // The ALB's 60 s idle timeout, counted from the response: the FIN and the
    // response cross the same path, so the client sees exactly 60 s between them.
    assert_eq!(answered.elapsed(), Duration::from_secs(60));
    assert_eq!(server.stats().active_connections, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn request_before_keepalive_expiry_restarts_the_idle_clock() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    meshsim_net::clock::sleep(Duration::from_secs(59)).await;
    c.get("/").await.unwrap();
    let answered = Instant::now();
    assert_eq!(c.read_to_close().await.unwrap(), b"");
    assert_eq!(answered.elapsed(), Duration::from_secs(60));
    assert_eq!(server.stats().connections, 1);
    server.shutdown().await;
}

/// The keep-alive race behind Envoy's `503 UC` ("upstream connect error or
/// disconnect/reset before headers. reset reason: connection termination"):
/// a pooled client writes a request just as the server's idle timeout closes
/// the connection, and gets the close instead of a response.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn request_racing_the_idle_close_gets_no_response() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 443)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    // The client read the response one (1 ms-rounded) hop after the server
    // wrote it, so this wakes the client at the very tick the server's idle
    // timer fires: request and FIN cross on the wire, the client still
    // believing the connection idle and reusable.
    meshsim_net::clock::sleep(Duration::from_secs(60) - Duration::from_millis(1)).await;
    c.send(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("the write itself succeeds");
    let err = c.read_response().await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    assert_eq!(
        server.stats().requests,
        1,
        "the raced request never reached the server"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_requests_per_connection_closes_after_n_responses() {
    let (_net, server_stack, client_stack) = sim();
    let config = UpstreamConfig {
        max_requests_per_connection: Some(2),
        ..UpstreamConfig::default()
    };
    let server = spawn(config, server_stack, 80).await.unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    assert_eq!(c.get("/").await.unwrap().header("connection"), None);
    assert_eq!(
        c.get("/").await.unwrap().header("connection"),
        Some("close")
    );
    assert_eq!(c.read_to_close().await.unwrap(), b"");
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_keepalive_timeout_keeps_idle_connections_forever() {
    let (_net, server_stack, client_stack) = sim();
    let config = UpstreamConfig {
        keepalive_timeout: None,
        ..UpstreamConfig::default()
    };
    let server = spawn(config, server_stack, 80).await.unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    c.get("/").await.unwrap();
    meshsim_net::clock::sleep(Duration::from_secs(24 * 3600)).await;
    assert_eq!(c.get("/").await.unwrap().status, 200);
    assert_eq!(server.stats().connections, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn malformed_request_gets_400_then_close_and_server_keeps_accepting() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut bad = Client::connect(&client_stack, server.addr()).await.unwrap();
    bad.send(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n")
        .await
        .unwrap();
    let r = bad.read_response().await.unwrap();
    assert_eq!((r.status, r.header("connection")), (400, Some("close")));
    assert_eq!(bad.read_to_close().await.unwrap(), b"");
    let mut good = Client::connect(&client_stack, server.addr()).await.unwrap();
    assert_eq!(good.get("/").await.unwrap().status, 200);
    assert_eq!(server.stats().requests, 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn client_reset_mid_request_does_not_stop_the_server() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut gone = Client::connect(&client_stack, server.addr()).await.unwrap();
    gone.send(b"GET / HTTP/1.1\r\nhost:").await.unwrap();
    meshsim_net::clock::sleep(Duration::from_millis(1)).await;
    gone.stream.reset();
    meshsim_net::clock::sleep(Duration::from_millis(10)).await;
    assert_eq!(server.stats().active_connections, 0);
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    assert_eq!(c.get("/").await.unwrap().status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn attempt_counts_are_recorded_per_request() {
    let (_net, server_stack, client_stack) = sim();
    let server = spawn(UpstreamConfig::default(), server_stack, 80)
        .await
        .unwrap();
    let mut c = Client::connect(&client_stack, server.addr()).await.unwrap();
    for header in [
        "x-envoy-attempt-count: 1\r\n",
        "x-envoy-attempt-count: 2\r\n",
        "",
    ] {
        c.send(format!("GET / HTTP/1.1\r\n{header}\r\n").as_bytes())
            .await
            .unwrap();
        c.read_response().await.unwrap();
    }
    assert_eq!(
        server.stats().by_attempt_count,
        BTreeMap::from([(1, 2), (2, 1)])
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn spawn_rejects_invalid_config_as_invalid_input() {
    let (_net, server_stack, _) = sim();
    let config = with_routes(vec![route("/", 1000, 0, 0)]);
    let err = spawn(config, server_stack, 80).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("invalid status 1000"), "{err}");
}
