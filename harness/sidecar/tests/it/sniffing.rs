//! Protocol selection on the outbound listener (fact sheet §7): ports whose
//! protocol is undeclared are sniffed (`http_inspector`), declared TCP ports
//! are not, and HTTP sent to a TCP port is only bytes.

use std::time::Duration;

use meshsim_net::NetStream;
use meshsim_net::clock::Instant;
use meshsim_sidecar::{Discovery, SidecarConfig, TcpProxySettings, TcpRoute};
use meshsim_upstream::MYSQL_GREETING;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// The service's VIP (nothing listens there) and its one pod.
const VIP: &str = "10.96.0.9";
const POD_B: &str = "10.1.0.5";
const CLUSTER: &str = "outbound|80||svc-b";

/// Service `svc-b` on port 80 whose port is undeclared: an HTTP route by
/// host and a TCP listener on its VIP, both to the pod; port 80 sniffed.
fn sniffed(timeout: Option<Duration>) -> SidecarConfig {
    let endpoints = vec![addr(&format!("{POD_B}:80"))];
    let base = routed(
        "svc-b",
        cluster(CLUSTER, Discovery::Static { endpoints }),
        None,
        None,
    );
    SidecarConfig {
        http_ports: Vec::new(),
        sniffed_ports: vec![80],
        protocol_detection_timeout: timeout,
        tcp_routes: vec![tcp_route(80)],
        ..base
    }
}

/// The same service with its port declared `tcp`: only the TCP listener.
fn declared_tcp() -> SidecarConfig {
    SidecarConfig {
        sniffed_ports: Vec::new(),
        ..sniffed(None)
    }
}

fn tcp_route(port: u16) -> TcpRoute {
    TcpRoute {
        port,
        addresses: vec![ip(VIP)],
        cluster: CLUSTER.into(),
        settings: TcpProxySettings::default(),
    }
}

/// A server-first fake upstream (a MySQL greeting, then echo) at `at`.
async fn server_first(w: &World, at: &str) -> meshsim_upstream::UpstreamHandle {
    let at = addr(at);
    let config = meshsim_upstream::UpstreamConfig {
        server_first: true,
        ..Default::default()
    };
    meshsim_upstream::spawn(config, w.net.stack(at.ip()), at.port())
        .await
        .unwrap()
}

/// Waits up to `within` (virtual) for the server's greeting; `None` if it
/// never came.
async fn greeting(c: &mut NetStream, within: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; MYSQL_GREETING.len()];
    meshsim_net::clock::timeout(within, c.read_exact(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf)
}

/// Fact sheet §7.2: on an undeclared port the first bytes decide; an
/// HTTP/1.1 request line takes the HTTP chain, so the request is routed by
/// its `Host` (to svc-b's pod, not the VIP dialled), at once.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unnamed_port_sniffs_an_http_request_and_routes_it_by_host() {
    let w = World::start(sniffed(None)).await;
    let b = Upstream::ok(&w.net, addr(&format!("{POD_B}:80")), "b").await;
    let start = Instant::now();
    let r = w.get(&format!("{VIP}:80"), "svc-b", 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "b"));
    assert_eq!(r.header("server"), Some("envoy"), "through the HTTP chain");
    assert_eq!(b.requests().len(), 1);
    assert!(
        start.elapsed() < Duration::from_millis(20),
        "no detection delay"
    );
    let s = w.sidecar.stats();
    assert_eq!(
        (s.http_inspector_http_found, s.tcp_downstream_cx_total),
        (1, 0)
    );
}

/// Fact sheet §7.2: bytes that are not HTTP take the TCP chain (the
/// service's TCP listener), and the bytes read to decide are not lost.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unnamed_port_sends_non_http_bytes_to_tcp_proxy() {
    let w = World::start(sniffed(None)).await;
    let echo = server_first(&w, &format!("{POD_B}:80")).await;
    let mut c = w
        .app
        .connect(addr(&format!("{VIP}:80")), Duration::from_secs(1))
        .await
        .unwrap();
    // A client-first binary protocol: its first bytes are not a request line.
    c.write_all(b"\x00\x01ping").await.unwrap();
    let got = greeting(&mut c, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got, MYSQL_GREETING);
    let mut echoed = [0u8; 6];
    c.read_exact(&mut echoed).await.unwrap();
    assert_eq!(
        &echoed, b"\x00\x01ping",
        "the sniffed bytes reach the upstream"
    );
    let s = w.sidecar.stats();
    assert_eq!(
        (s.http_inspector_http_not_found, s.tcp_downstream_cx_total),
        (1, 1)
    );
    assert_eq!(echo.stats().connections, 1);
}

/// Fact sheet §7.2: with `protocolDetectionTimeout` 0s (Istio's default
/// since 1.8; the sheet says 1.9) the sidecar waits for the client's first
/// bytes forever, and a server-first client waits for the greeting: the
/// connection hangs, and the upstream is never even connected to.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_server_first_protocol_on_an_unnamed_port_hangs_with_istio_1_9_defaults() {
    let w = World::start(sniffed(None)).await;
    let mysql = server_first(&w, &format!("{POD_B}:80")).await;
    let mut c = w
        .app
        .connect(addr(&format!("{VIP}:80")), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(greeting(&mut c, Duration::from_secs(3600)).await, None);
    assert_eq!(mysql.stats().connections, 0);
    let s = w.sidecar.stats();
    assert_eq!((s.upstream_cx_total, s.downstream_pre_cx_timeout), (0, 0));
    assert_eq!(s.downstream_cx_active, 1, "still held by the inspector");
}

/// Fact sheet §7.2: Istio 1.7's 5 s detection timeout: a silent client is
/// taken as TCP when it expires (`continue_on_listener_filters_timeout`),
/// so a server-first protocol works, 5 s late on every connection.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_detection_timeout_turns_a_silent_client_into_tcp_after_it_expires() {
    let w = World::start(sniffed(Some(Duration::from_secs(5)))).await;
    let _mysql = server_first(&w, &format!("{POD_B}:80")).await;
    let start = Instant::now();
    let mut c = w
        .app
        .connect(addr(&format!("{VIP}:80")), Duration::from_secs(1))
        .await
        .unwrap();
    let got = greeting(&mut c, Duration::from_secs(60)).await;
    assert_eq!(got.as_deref(), Some(MYSQL_GREETING));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_millis(5050),
        "{waited:?}"
    );
    let s = w.sidecar.stats();
    assert_eq!(
        (s.downstream_pre_cx_timeout, s.http_inspector_http_not_found),
        (1, 1)
    );
    // The client speaks after the greeting: the pair is a plain TCP proxy.
    c.write_all(b"login").await.unwrap();
    let mut echoed = [0u8; 5];
    c.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"login");
}

/// Fact sheet §7.1, §7.2: a port declared `tcp` has no inspector: the
/// upstream is connected at once and its greeting reaches the client.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_port_named_tcp_is_not_sniffed_and_a_server_first_protocol_works() {
    let w = World::start(declared_tcp()).await;
    let _mysql = server_first(&w, &format!("{POD_B}:80")).await;
    let start = Instant::now();
    let mut c = w
        .app
        .connect(addr(&format!("{VIP}:80")), Duration::from_secs(1))
        .await
        .unwrap();
    let got = greeting(&mut c, Duration::from_secs(60)).await;
    assert_eq!(got.as_deref(), Some(MYSQL_GREETING));
    assert!(
        start.elapsed() < Duration::from_millis(20),
        "{:?}",
        start.elapsed()
    );
    let s = w.sidecar.stats();
    assert_eq!(
        s.http_inspector_http_found + s.http_inspector_http_not_found,
        0
    );
}

/// Fact sheet §7.3: HTTP sent to a port treated as TCP goes through
/// `tcp_proxy`: one upstream for the connection's whole life, whatever the
/// `Host`, and an upstream 503 reaches the app as it is: no retry, no
/// `server: envoy`, no routing by host.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn http_on_a_tcp_port_is_pinned_to_one_upstream_and_not_retried() {
    let pods = ["10.1.0.5:80", "10.1.0.6:80"];
    let endpoints = pods.iter().map(|p| addr(p)).collect();
    let c = cluster(CLUSTER, Discovery::Static { endpoints });
    let retry = Some(policy("5xx,connect-failure", 3));
    let config = SidecarConfig {
        sniffed_ports: Vec::new(),
        ..SidecarConfig {
            tcp_routes: vec![tcp_route(80)],
            http_ports: Vec::new(),
            ..routed("svc-b", c, retry, None)
        }
    };
    let w = World::start(config).await;
    let a = Upstream::spawn(&w.net, addr(pods[0]), None, |_, _| {
        Action::Respond(503, "busy")
    })
    .await;
    let b = Upstream::spawn(&w.net, addr(pods[1]), None, |_, _| {
        Action::Respond(503, "busy")
    })
    .await;
    let mut conn = w.dial(&format!("{VIP}:80")).await;
    for (id, host) in [(1, "svc-b"), (2, "svc-c"), (3, "svc-b")] {
        let r = conn.get(host, "/", id).await;
        assert_eq!((r.status, r.header("server")), (503, Some("upstream")));
        assert!(r.header("x-envoy-upstream-service-time").is_none());
    }
    let (na, nb) = (a.requests().len(), b.requests().len());
    assert_eq!(na + nb, 3, "one attempt per request: never retried");
    assert!(na == 0 || nb == 0, "pinned to one upstream: {na} + {nb}");
    let s = w.sidecar.stats();
    assert_eq!((s.upstream_rq_retry, s.downstream_rq_total), (0, 0));
    assert_eq!((s.tcp_downstream_cx_total, s.upstream_cx_total), (1, 1));
}

/// Fact sheet §7.2 (inbound): a pod's port with an undeclared protocol is
/// sniffed on 15006 too: HTTP goes through the inbound HTTP chain (`server:
/// istio-envoy`), other bytes are TCP-proxied to the application, bytes
/// intact.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unnamed_inbound_port_sniffs_http_and_proxies_other_bytes_to_the_app() {
    use meshsim_net::InboundCapture;
    use meshsim_sidecar::{InboundConfig, InboundPort};
    let inbound = InboundConfig {
        ports: vec![InboundPort {
            port: 8080,
            http: true,
            retry_policy: None,
        }],
        sniffed_ports: vec![8080],
        ..InboundConfig::default()
    };
    let w = World::start(SidecarConfig {
        inbound: Some(inbound),
        ..SidecarConfig::default()
    })
    .await;
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let app = Upstream::ok(&w.net, addr("10.0.0.1:8080"), "hello").await;
    let peer = w.net.stack(ip("10.0.9.9"));
    let dial = || peer.connect(addr("10.0.0.1:8080"), Duration::from_secs(1));
    let resp = AppConnExt::wrap(dial().await.unwrap())
        .get("b", "/", 1)
        .await;
    assert_eq!(
        (resp.status, resp.header("server")),
        (200, Some("istio-envoy"))
    );
    let mut raw = dial().await.unwrap();
    // Not a TLS record either (a ClientHello would be waited for whole by
    // the TLS inspector that PERMISSIVE puts first, fact sheet §8).
    raw.write_all(b"\x00\x03\x01 not http\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).await.unwrap();
    // The app got bytes it cannot parse and answers nothing: only the TCP
    // proxy's idle timeout (1 h) ends the pair, so it was a TCP pair.
    assert!(reply.is_empty());
    assert_eq!(w.sidecar.stats().tcp_idle_timeout, 1);
    assert_eq!(app.requests().len(), 1);
    let s = w.sidecar.stats();
    assert_eq!(
        (s.http_inspector_http_found, s.http_inspector_http_not_found),
        (1, 1)
    );
    assert_eq!(s.tcp_downstream_cx_total, 1);
}
