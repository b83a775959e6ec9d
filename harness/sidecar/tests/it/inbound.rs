//! The inbound side (15006): a peer's captured connection reaches the pod's
//! application through the pod's sidecar.

use meshsim_net::{Bind, InboundCapture};
use meshsim_sidecar::{InboundConfig, InboundForward, InboundPort, RetryPolicy, SidecarConfig};

use crate::support::*;

/// A pod at `POD` serving HTTP on 8080 behind its sidecar's inbound listener.
fn serving(retry_policy: Option<RetryPolicy>) -> SidecarConfig {
    SidecarConfig {
        inbound: Some(InboundConfig {
            ports: vec![InboundPort {
                port: 8080,
                http: true,
                retry_policy,
            }],
            ..InboundConfig::default()
        }),
        ..SidecarConfig::default()
    }
}

/// [`serving`] with the inbound cluster forwarding to `forward_to`.
fn forwarding(forward_to: InboundForward) -> SidecarConfig {
    let mut config = serving(None);
    if let Some(i) = config.inbound.as_mut() {
        i.forward_to = forward_to;
    }
    config
}

/// A peer's GET to the pod's 8080, through the inbound capture.
async fn peer_get(w: &World) -> Resp {
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let peer = w.net.stack(ip("10.0.9.9"));
    let stream = peer
        .connect(addr("10.0.0.1:8080"), std::time::Duration::from_secs(1))
        .await
        .unwrap();
    AppConnExt::wrap(stream).get("b", "/", 1).await
}

/// The reply to a refused connect to the app: `503 UF` from `istio-envoy`.
fn assert_refused_by_the_app(resp: &Resp) {
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("server"), Some("istio-envoy"));
    assert_eq!(
        resp.body_text(),
        "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: 111"
    );
}

/// incidents.md INC-15 (Istio 1.10 upgrade notes): since 1.10 the inbound
/// sidecar forwards to the pod's address, so an app listening on
/// `localhost` only is refused: `503 UF`, `delayed connect error: 111`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_app_bound_to_localhost_is_refused_by_an_inbound_forwarding_to_the_pod_ip() {
    let w = World::start(forwarding(InboundForward::PodIp)).await;
    let _app = (w.net.stack(ip(POD)).listen_bound(8080, Bind::Loopback))
        .await
        .unwrap();
    assert_refused_by_the_app(&peer_get(&w).await);
}

/// incidents.md INC-15: before Istio 1.10 the inbound cluster was
/// `127.0.0.1:port` (STATIC): an app on every address answers there...
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_inbound_forwarding_to_localhost_reaches_an_app_listening_on_every_address() {
    let w = World::start(forwarding(InboundForward::Localhost)).await;
    let app = Upstream::ok(&w.net, addr("10.0.0.1:8080"), "hello").await;
    let resp = peer_get(&w).await;
    assert_eq!((resp.status, resp.body_text().as_str()), (200, "hello"));
    assert_eq!(app.requests().len(), 1);
}

/// ... and an app bound to the pod's address only is refused (the reverse
/// of the 1.10 surprise).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_app_bound_to_the_pod_ip_is_refused_by_an_inbound_forwarding_to_localhost() {
    let w = World::start(forwarding(InboundForward::Localhost)).await;
    let _app = (w.net.stack(ip(POD)).listen_bound(8080, Bind::Host))
        .await
        .unwrap();
    assert_refused_by_the_app(&peer_get(&w).await);
}

/// Fact sheet §5.2: inbound listeners write `server: istio-envoy`; §6.1: the
/// inbound capture sends a peer's connection to 15006 and Istio ≥ 1.10 reaches
/// the app at `pod-ip:port`. The attempt count stays the caller sidecar's
/// business: the inbound route does not add `x-envoy-attempt-count`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn inbound_request_reaches_the_app_at_the_pod_address_with_server_istio_envoy() {
    let w = World::start(serving(None)).await;
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let app = Upstream::ok(&w.net, addr("10.0.0.1:8080"), "hello").await;
    let peer = w.net.stack(ip("10.0.9.9"));
    let stream = peer
        .connect(addr("10.0.0.1:8080"), std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let resp = AppConnExt::wrap(stream)
        .get("b.default.svc.cluster.local", "/", 41)
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_text(), "hello");
    assert_eq!(resp.header("server"), Some("istio-envoy"));
    assert!(resp.header("x-envoy-upstream-service-time").is_some());
    let seen = app.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-envoy-attempt-count"), None);
    assert_eq!(seen[0].header("x-request-id"), Some("41"));
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.inbound_downstream_cx_total, stats.downstream_cx_total),
        (1, 0)
    );
    assert!(
        w.log.is_empty(),
        "inbound requests stay out of the app's proxy log"
    );
}

/// Fact sheet §2.2 (inbound default, Istio ≥ 1.24): `reset-before-request`
/// with 2 retries on the inbound route, so an app that refuses connections is
/// tried three times before the peer gets `503 UF,URX` from `istio-envoy`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn inbound_reset_before_request_retries_an_app_that_refuses_twice() {
    let w = World::start(serving(Some(policy("reset-before-request", 2)))).await;
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let peer = w.net.stack(ip("10.0.9.9"));
    let stream = peer
        .connect(addr("10.0.0.1:8080"), std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let resp = AppConnExt::wrap(stream).get("b", "/", 1).await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("server"), Some("istio-envoy"));
    assert!(
        resp.body_text()
            .starts_with("upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure"),
        "{}",
        resp.body_text()
    );
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_retry, 2);
    assert_eq!(stats.upstream_cx_connect_fail, 3);
}

/// Fact sheet §7.3: a port the pod does not declare as HTTP is TCP-proxied to
/// the application, bytes unchanged (no HTTP handling, no `server` rewrite).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn inbound_undeclared_port_is_tcp_proxied_to_the_app() {
    let w = World::start(serving(None)).await;
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let app = Upstream::ok(&w.net, addr("10.0.0.1:9000"), "raw").await;
    let peer = w.net.stack(ip("10.0.9.9"));
    let stream = peer
        .connect(addr("10.0.0.1:9000"), std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let resp = AppConnExt::wrap(stream).get("b", "/", 1).await;
    assert_eq!((resp.status, resp.body_text().as_str()), (200, "raw"));
    assert_eq!(
        resp.header("server"),
        Some("upstream"),
        "a TCP proxy does not rewrite the app's server header"
    );
    assert_eq!(app.requests().len(), 1);
    assert_eq!(w.sidecar.stats().tcp_downstream_cx_total, 1);
}
