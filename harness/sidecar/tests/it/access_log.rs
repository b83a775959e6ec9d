//! The access log (fact sheet §5.4): one Istio TEXT line per HTTP request
//! and per TCP connection, outbound and inbound, from the virtual clock.

use std::time::Duration;

use meshsim_net::InboundCapture;
use meshsim_sidecar::{
    AccessLogConfig, AccessLogEncoding, Discovery, InboundConfig, InboundPort,
    OutboundTrafficPolicy, SidecarConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const API: &str = "api.partner.example";
const CLUSTER: &str = "outbound|80||api.partner.example";

/// Access log on, with the run's epoch at 2026-01-01T00:00:00Z.
fn logged(mut config: SidecarConfig) -> SidecarConfig {
    config.access_log = Some(AccessLogConfig {
        epoch: Duration::from_secs(1_767_225_600),
        ..AccessLogConfig::default()
    });
    config
}

fn api_config(endpoint: &str, retries: Option<u32>) -> SidecarConfig {
    let endpoints = vec![addr(endpoint)];
    let c = cluster(CLUSTER, Discovery::Static { endpoints });
    logged(routed(
        API,
        c,
        retries.map(|n| policy("connect-failure", n)),
        None,
    ))
}

/// Waits (yielding, no time passes) until the sidecar wrote `n` lines.
async fn lines(w: &World, n: usize) -> Vec<String> {
    for _ in 0..1000 {
        let lines = w.sidecar.access_log();
        if lines.len() >= n {
            return lines;
        }
        tokio::task::yield_now().await;
    }
    panic!(
        "{n} access log lines expected, got {:?}",
        w.sidecar.access_log()
    );
}

async fn get(w: &World, dst: &str, host: &str, path: &str) -> Resp {
    let head = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: curl/8.5.0\r\n");
    w.dial(dst).await.send(&head, 7).await
}

/// Fact sheet §5.4: access logging is off by default (mesh `accessLogFile`
/// empty), so a sidecar without `access_log` writes nothing.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_is_off_by_default_like_istio() {
    let w = World::start(SidecarConfig::default()).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "ok").await;
    assert_eq!(get(&w, "10.0.2.1:80", "10.0.2.1", "/").await.status, 200);
    assert!(w.sidecar.access_log_handle().is_none());
    assert!(w.sidecar.access_log().is_empty());
}

/// Fact sheet §5.4: a proxied 200 prints `via_upstream`, the bytes each
/// way, the duration and upstream service time in ms, the upstream host,
/// the sidecar's upstream local address, the cluster and the route.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_200_is_istios_default_text_format() {
    let w = World::start(api_config("10.0.2.1:80", None)).await;
    let _up = Upstream::spawn(&w.net, addr("10.0.2.1:80"), None, |_, _| {
        Action::RespondAfter(Duration::from_millis(12), 200, "hello")
    })
    .await;
    meshsim_net::clock::sleep(Duration::from_secs(5)).await;
    let resp = get(&w, "10.0.2.1:80", API, "/charge?x=1").await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        lines(&w, 1).await,
        vec![
            "[2026-01-01T00:00:05.000Z] \"GET /charge?x=1 HTTP/1.1\" 200 - via_upstream - \"-\" 0 5 15 15 \
             \"-\" \"curl/8.5.0\" \"7\" \"api.partner.example\" \"10.0.2.1:80\" outbound|80||api.partner.example \
             10.0.0.1:32769 10.0.2.1:80 10.0.0.1:32768 - r\n"
        ]
    );
}

/// Fact sheet §5.1, §5.4: an upstream that closes before answering gives
/// `503 UC` with `upstream_reset_before_response_started{connection_termination}`
/// and the 95-byte body as `%BYTES_SENT%`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_503_uc() {
    let w = World::start(api_config("10.0.2.1:80", None)).await;
    let _up = Upstream::spawn(&w.net, addr("10.0.2.1:80"), None, |_, _| Action::Close).await;
    assert_eq!(get(&w, "10.0.2.1:80", API, "/").await.status, 503);
    assert_eq!(
        lines(&w, 1).await,
        vec![
            "[2026-01-01T00:00:00.000Z] \"GET / HTTP/1.1\" 503 UC \
             upstream_reset_before_response_started{connection_termination} - \"-\" 0 95 3 - \"-\" \
             \"curl/8.5.0\" \"7\" \"api.partner.example\" \"10.0.2.1:80\" outbound|80||api.partner.example \
             - 10.0.2.1:80 10.0.0.1:32768 - r\n"
        ]
    );
}

/// Fact sheet §5.1, §5.3: refused connects retried until the retries run
/// out give `503 UF,URX`, the transport failure reason
/// `delayed connect error: 111`, and a duration covering the back-offs.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_503_uf_urx_after_retries() {
    let w = World::start(api_config("10.0.2.9:80", Some(2))).await;
    assert_eq!(get(&w, "10.0.2.9:80", API, "/").await.status, 503);
    let line = lines(&w, 1).await.remove(0);
    let expected_start = "[2026-01-01T00:00:00.000Z] \"GET / HTTP/1.1\" 503 UF,URX \
         upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_111} - \
         \"delayed connect error: 111\" 0 175 56 - ";
    assert!(line.starts_with(expected_start), "{line}");
    assert!(
        line.ends_with(
            "\"-\" \"curl/8.5.0\" \"7\" \"api.partner.example\" \"10.0.2.9:80\" \
             outbound|80||api.partner.example - 10.0.2.9:80 10.0.0.1:32768 - r\n"
        ),
        "{line}"
    );
}

/// Fact sheet §5.1: a virtual host with no matching route answers `404 NR`
/// `route_not_found`, with no cluster and no route name.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_404_nr() {
    let mut config = api_config("10.0.2.1:80", None);
    config.virtual_hosts[0].routes[0].prefix = "/api".into();
    let w = World::start(config).await;
    assert_eq!(get(&w, "10.0.2.1:80", API, "/").await.status, 404);
    assert_eq!(
        lines(&w, 1).await,
        vec![
            "[2026-01-01T00:00:00.000Z] \"GET / HTTP/1.1\" 404 NR route_not_found - \"-\" 0 0 0 - \"-\" \
             \"curl/8.5.0\" \"7\" \"api.partner.example\" \"-\" - - 10.0.2.1:80 10.0.0.1:32768 - -\n"
        ]
    );
}

/// Fact sheet §3.4, §5.1: under `REGISTRY_ONLY` an unknown HTTP host gets
/// Istio's `block_all` direct response: 502, no flag, `direct_response`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_registry_only_502() {
    let config = logged(SidecarConfig {
        outbound_traffic_policy: OutboundTrafficPolicy::RegistryOnly,
        ..SidecarConfig::default()
    });
    let w = World::start(config).await;
    assert_eq!(
        get(&w, "10.0.2.1:80", "unknown.example", "/").await.status,
        502
    );
    assert_eq!(
        lines(&w, 1).await,
        vec![
            "[2026-01-01T00:00:00.000Z] \"GET / HTTP/1.1\" 502 - direct_response - \"-\" 0 0 0 - \"-\" \
             \"curl/8.5.0\" \"7\" \"unknown.example\" \"-\" - - 10.0.2.1:80 10.0.0.1:32768 - block_all\n"
        ]
    );
}

/// Fact sheet §3.4, §5.4: an unknown host under `ALLOW_ANY` goes through
/// `PassthroughCluster` on Istio's `allow_any` route.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_passthrough_request_names_passthrough_cluster_and_allow_any() {
    let w = World::start(logged(SidecarConfig::default())).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "ok").await;
    assert_eq!(get(&w, "10.0.2.1:80", "10.0.2.1", "/").await.status, 200);
    let line = lines(&w, 1).await.remove(0);
    assert!(
        line.ends_with(
            "\"10.0.2.1:80\" PassthroughCluster 10.0.0.1:32769 10.0.2.1:80 10.0.0.1:32768 - allow_any\n"
        ),
        "{line}"
    );
}

/// Fact sheet §5.4 (TCP proxy): one line per connection, `"- - -"` and code
/// 0, bytes each way, the duration, the upstream host and
/// `PassthroughCluster`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_tcp_connection() {
    let w = World::start(logged(SidecarConfig::default())).await;
    let listener = w.net.stack(ip("10.0.5.1")).listen(5432).await.unwrap();
    let echo = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        meshsim_net::clock::sleep(Duration::from_millis(30)).await;
        s.write_all(b"hello, world").await.unwrap();
    });
    let mut c = w
        .app
        .connect(addr("10.0.5.1:5432"), Duration::from_secs(1))
        .await
        .unwrap();
    c.write_all(b"hello").await.unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    drop(c);
    echo.await.unwrap();
    assert_eq!(
        lines(&w, 1).await,
        vec![
            "[2026-01-01T00:00:00.000Z] \"- - -\" 0 - - - \"-\" 5 12 33 - \"-\" \"-\" \"-\" \"-\" \
             \"10.0.5.1:5432\" PassthroughCluster 10.0.0.1:32769 10.0.5.1:5432 10.0.0.1:32768 - -\n"
        ]
    );
}

/// Fact sheet §5.3, §5.4 (TCP proxy): a refused connect logs `UF,URX` with
/// the transport failure reason.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_a_refused_tcp_connection_is_uf_urx() {
    let w = World::start(logged(SidecarConfig::default())).await;
    w.connect_and_see_it_closed("10.0.5.1:5432").await;
    assert_eq!(
        lines(&w, 1).await,
        vec![
            "[2026-01-01T00:00:00.000Z] \"- - -\" 0 UF,URX - - \"delayed connect error: 111\" 0 0 1 - \
             \"-\" \"-\" \"-\" \"-\" \"10.0.5.1:5432\" PassthroughCluster - 10.0.5.1:5432 10.0.0.1:32768 - -\n"
        ]
    );
}

/// Fact sheet §5.4: Envoy logs the inbound listener too; its HTTP lines name
/// Istio's inbound cluster `inbound|PORT||` and the `default` route.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_an_inbound_request_names_the_inbound_cluster() {
    let config = logged(SidecarConfig {
        inbound: Some(InboundConfig {
            ports: vec![InboundPort {
                port: 8080,
                http: true,
                retry_policy: None,
            }],
            ..InboundConfig::default()
        }),
        ..SidecarConfig::default()
    });
    let w = World::start(config).await;
    w.net
        .set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    let _app = Upstream::ok(&w.net, addr("10.0.0.1:8080"), "hello").await;
    let peer = w.net.stack(ip("10.0.9.9"));
    let stream = peer
        .connect(addr("10.0.0.1:8080"), Duration::from_secs(1))
        .await
        .unwrap();
    let resp = AppConnExt::wrap(stream)
        .get("b.default.svc.cluster.local", "/", 41)
        .await;
    assert_eq!(resp.status, 200);
    let line = lines(&w, 1).await.remove(0);
    assert!(
        line.ends_with("\"10.0.0.1:8080\" inbound|8080|| 10.0.0.1:32768 10.0.0.1:8080 10.0.9.9:32768 - default\n"),
        "{line}"
    );
}

/// Istio's JSON encoding (`EnvoyJSONLogFormatIstio`): the same facts as
/// typed JSON values under snake_case keys, missing ones `null`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn json_encoding_writes_istios_default_json_keys() {
    let mut config = api_config("10.0.2.1:80", None);
    config.access_log.as_mut().unwrap().encoding = AccessLogEncoding::Json;
    let w = World::start(config).await;
    let _up = Upstream::spawn(&w.net, addr("10.0.2.1:80"), None, |_, _| Action::Close).await;
    assert_eq!(get(&w, "10.0.2.1:80", API, "/").await.status, 503);
    let line = lines(&w, 1).await.remove(0);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["response_code"], 503);
    assert_eq!(v["response_flags"], "UC");
    assert_eq!(v["bytes_sent"], 95);
    assert_eq!(v["upstream_cluster"], CLUSTER);
    assert_eq!(v["route_name"], "r");
    assert_eq!(v["x_forwarded_for"], serde_json::Value::Null);
    assert_eq!(v.as_object().unwrap().len(), 24);
}

/// Fact sheet §5.4: Envoy's `%ROUTE_NAME%` is absent for a route without a
/// name (a VirtualService `http` route with no `name`), so the line ends in
/// `-`, never in an empty field.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn access_log_line_of_an_unnamed_route_ends_with_a_dash() {
    let mut config = api_config("10.0.2.1:80", None);
    for vh in &mut config.virtual_hosts {
        for r in &mut vh.routes {
            r.name = String::new();
        }
    }
    let w = World::start(config).await;
    let _up = Upstream::ok(&w.net, addr("10.0.2.1:80"), "ok").await;
    assert_eq!(get(&w, "10.0.2.1:80", API, "/").await.status, 200);
    let line = lines(&w, 1).await.remove(0);
    assert!(line.ends_with(" - -\n"), "{line}");
}
