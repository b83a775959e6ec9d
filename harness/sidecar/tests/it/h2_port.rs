//! A Service port declared `http2` / `grpc` in front of an HTTP/1.1-only
//! application (fact sheet §7.1, last point): the inbound cluster speaks
//! HTTP/2 with prior knowledge, the app answers the h2 preface with
//! `HTTP/1.1 400` and closes, and Envoy's HTTP/2 codec calls that a protocol
//! error: `502 UPE`, `reset reason: protocol error`, on every request.

use std::time::Duration;

use bytes::Bytes;
use meshsim_net::InboundCapture;
use meshsim_sidecar::{AccessLogConfig, InboundConfig, InboundPort, RetryPolicy, SidecarConfig};

use crate::support::*;

const PROTOCOL_ERROR: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: protocol error";

/// A pod serving port 8080 behind its inbound listener, the inbound cluster
/// speaking HTTP/2 when `h2`, with the access log on.
fn serving(h2: bool, retry_policy: Option<RetryPolicy>) -> SidecarConfig {
    SidecarConfig {
        inbound: Some(InboundConfig {
            ports: vec![InboundPort {
                port: 8080,
                http: true,
                retry_policy,
            }],
            http2_ports: if h2 { vec![8080] } else { Vec::new() },
            ..InboundConfig::default()
        }),
        access_log: Some(AccessLogConfig::default()),
        ..SidecarConfig::default()
    }
}

/// The HTTP/1.1-only app at the pod's 8080 (meshsim-upstream's byte-level
/// server: `400` and a close for bytes that are not an HTTP/1.1 request).
async fn http1_app(w: &World) -> meshsim_upstream::UpstreamHandle {
    let at = addr("10.0.0.1:8080");
    meshsim_upstream::spawn(
        meshsim_upstream::UpstreamConfig::default(),
        w.net.stack(at.ip()),
        at.port(),
    )
    .await
    .unwrap()
}

/// A peer's HTTP/1.1 GET to the pod's 8080, through the inbound capture.
async fn peer_get(w: &World) -> Resp {
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let peer = w.net.stack(ip("10.0.9.9"));
    let stream = peer
        .connect(addr("10.0.0.1:8080"), Duration::from_secs(1))
        .await
        .unwrap();
    AppConnExt::wrap(stream).get("b", "/", 1).await
}

/// Fact sheet §7.1 (`http2`/`grpc` ports make Envoy speak h2c upstream; an
/// HTTP/1-only server rejects the preface) and §5.1/§5.3 (Envoy's router:
/// a `ProtocolError` reset is `502`, flag `UPE`, `reset reason: protocol
/// error`). Each request opens a new connection (the failed one is
/// closed), which the app answers `400` (counted as a request by the fake).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_http1_app_behind_a_port_named_http2_fails_every_request_with_a_protocol_error() {
    let w = World::start(serving(true, None)).await;
    let app = http1_app(&w).await;
    for _ in 0..3 {
        let resp = peer_get(&w).await;
        assert_eq!(resp.status, 502);
        assert_eq!(resp.header("server"), Some("istio-envoy"));
        assert_eq!(resp.body_text(), PROTOCOL_ERROR);
    }
    assert_eq!(app.stats().connections, 3);
    let line = w.sidecar.access_log().remove(0);
    assert!(
        line.contains(" 502 UPE upstream_reset_before_response_started{protocol_error} "),
        "{line}"
    );
}

/// Fact sheet §2.2 (inbound `reset-before-request`, Istio >= 1.24) and §1.1
/// (`reset-before-request` only retries a reset before the request was
/// sent): the HTTP/2 request went out with the preface, so the inbound
/// route's default policy does not retry the protocol error.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_inbound_reset_before_request_policy_does_not_retry_the_protocol_error() {
    let w = World::start(serving(true, Some(policy("reset-before-request", 2)))).await;
    let app = http1_app(&w).await;
    let resp = peer_get(&w).await;
    assert_eq!(
        (resp.status, resp.body_text().as_str()),
        (502, PROTOCOL_ERROR)
    );
    assert_eq!(w.sidecar.stats().upstream_rq_retry, 0);
    assert_eq!(app.stats().connections, 1);
}

/// Fact sheet §1.1: `reset` retries any reset, the protocol error included;
/// every attempt fails the same way, so the last one's reply carries
/// `retried and the latest` and the flags `URX,UPE` (Envoy's flag order).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reset_retry_policy_retries_the_protocol_error_to_no_avail() {
    let w = World::start(serving(true, Some(policy("reset", 2)))).await;
    let app = http1_app(&w).await;
    let resp = peer_get(&w).await;
    assert_eq!(resp.status, 502);
    assert_eq!(
        resp.body_text(),
        "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: protocol error"
    );
    assert_eq!(w.sidecar.stats().upstream_rq_retry, 2);
    assert_eq!(app.stats().connections, 3);
    let line = w.sidecar.access_log().remove(0);
    assert!(line.contains(" 502 URX,UPE "), "{line}");
}

/// Fact sheet §7.1: a port declared `http` keeps HTTP/1.1 on the inbound
/// cluster, so the same app answers.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_port_named_http_keeps_http1_to_the_same_app() {
    let w = World::start(serving(false, None)).await;
    let app = http1_app(&w).await;
    for _ in 0..3 {
        assert_eq!(peer_get(&w).await.status, 200);
    }
    assert_eq!(app.stats().requests, 3);
}

/// A peer's HTTP/2 GET (h2c prior knowledge, as a client sidecar whose
/// cluster speaks HTTP/2 sends it) to the pod's 8080: the response status
/// and its `server` header.
async fn peer_h2_get(w: &World) -> (u16, String) {
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let peer = w.net.stack(ip("10.0.9.9"));
    let stream = peer
        .connect(addr("10.0.0.1:8080"), Duration::from_secs(1))
        .await
        .unwrap();
    let (mut send, conn) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("http://b.default.svc.cluster.local:8080/items")
        .body(())
        .unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    let server = resp.headers()["server"].to_str().unwrap().to_owned();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        let _: Bytes = chunk.unwrap();
    }
    (status, server)
}

/// Envoy's listeners use `codec_type: AUTO`: the inbound listener takes the
/// h2c preface of a peer sidecar (its cluster speaks HTTP/2 to a port
/// declared `http2`) and, on a port declared `http`, forwards HTTP/1.1 to
/// the app with `:authority` as the `Host` header. The access log's
/// `%PROTOCOL%` is Envoy's `HTTP/2`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_inbound_listener_takes_h2c_and_gives_an_http1_app_the_authority_as_host() {
    let w = World::start(serving(false, None)).await;
    let app = Upstream::ok(&w.net, addr("10.0.0.1:8080"), "hello").await;
    assert_eq!(peer_h2_get(&w).await, (200, "istio-envoy".to_owned()));
    let seen = app.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("host"),
        Some("b.default.svc.cluster.local:8080")
    );
}

/// Fact sheet §7.1: with the port declared `http2` and an app that does
/// speak h2c, HTTP/2 goes end to end and the request succeeds.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_h2c_app_behind_a_port_named_http2_answers() {
    let w = World::start(serving(true, None)).await;
    let mode = meshsim_upstream::Http2Mode::default();
    let app = h2_upstream(&w.net, "10.0.0.1:8080", mode, Duration::ZERO).await;
    assert_eq!(peer_h2_get(&w).await, (200, "istio-envoy".to_owned()));
    assert_eq!(app.stats().requests, 1);
}
