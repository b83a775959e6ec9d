//! Istio mutual TLS between two sidecars (fact sheet §8): real rustls
//! handshakes with certificates from a mesh CA, PeerAuthentication modes on
//! the server's inbound listener, auto mTLS and DestinationRule modes on the
//! client's cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::{InboundCapture, Net, SimConfig};
use meshsim_sidecar::tls::{
    ClusterTls, MeshCa, MtlsMode, PeerAuthn, TLS_MODE_ISTIO, TLS_MODE_LABEL, WorkloadIdentity,
};
use meshsim_sidecar::{
    AccessLogConfig, Discovery, Endpoint, InboundConfig, InboundPort, ScriptedResolver,
    SidecarConfig, SidecarDeps, SidecarHandle, spawn_with_resolver,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const SERVER: &str = "10.1.0.5";
const SERVER_APP: &str = "10.1.0.5:8080";
const HOST: &str = "httpbin.default.svc.cluster.local";
const CLUSTER: &str = "outbound|8080||httpbin.default.svc.cluster.local";

/// The server pod: the app on 8080 behind a sidecar whose inbound listener
/// enforces `authn`, holding `identity`, with its access log on.
struct ServerPod {
    sidecar: SidecarHandle,
    app: Upstream,
}

async fn server_pod(
    net: &Net,
    authn: PeerAuthn,
    identity: Option<Arc<WorkloadIdentity>>,
) -> ServerPod {
    let config = SidecarConfig {
        inbound: Some(InboundConfig {
            ports: vec![InboundPort {
                port: 8080,
                http: true,
                retry_policy: None,
            }],
            peer_authn: authn,
            ..InboundConfig::default()
        }),
        access_log: Some(AccessLogConfig::default()),
        ..SidecarConfig::default()
    };
    let deps = SidecarDeps {
        rng: SimRng::new(11),
        proxy_log: ProxyLog::new(),
        identity,
    };
    let stack = net.stack(ip(SERVER));
    let resolver = ScriptedResolver::new();
    let sidecar = spawn_with_resolver(config, stack, deps, resolver)
        .await
        .unwrap();
    net.set_inbound_capture(ip(SERVER), Some(InboundCapture::default()));
    let app = Upstream::ok(net, addr(SERVER_APP), "hello").await;
    ServerPod { sidecar, app }
}

fn strict() -> PeerAuthn {
    PeerAuthn {
        mode: MtlsMode::Strict,
        ..PeerAuthn::default()
    }
}

fn mode(mode: MtlsMode) -> PeerAuthn {
    PeerAuthn {
        mode,
        ..PeerAuthn::default()
    }
}

/// The client pod's sidecar: `httpbin` on port 8080 routed to an EDS
/// cluster originating `tls`.
fn client_config(tls: ClusterTls) -> SidecarConfig {
    let mut c = cluster(
        CLUSTER,
        Discovery::Eds {
            service: CLUSTER.into(),
        },
    );
    c.tls = tls;
    let mut config = routed(HOST, c, None, Some(Duration::from_secs(15)));
    config.virtual_hosts[0].port = 8080;
    config.http_ports = vec![8080];
    config
}

fn auto() -> ClusterTls {
    ClusterTls::Auto {
        sni: ClusterTls::sni(8080, "", HOST),
    }
}

/// The server's endpoint, labelled as injection labels a pod with a
/// sidecar (or not).
fn endpoint(with_sidecar: bool) -> Endpoint {
    let mut labels = BTreeMap::new();
    if with_sidecar {
        labels.insert(TLS_MODE_LABEL.to_string(), TLS_MODE_ISTIO.to_string());
    }
    Endpoint {
        labels,
        ..Endpoint::new(addr(SERVER_APP))
    }
}

async fn client(net: Net, tls: ClusterTls, id: Arc<WorkloadIdentity>, labelled: bool) -> World {
    let w = World::start_secured(net, client_config(tls), id).await;
    w.sidecar
        .update_endpoints(CLUSTER, vec![endpoint(labelled)])
        .unwrap();
    w
}

/// A connection to the server's app from a pod without a sidecar
/// (plaintext, captured by the server's inbound listener).
async fn plaintext_dial(net: &Net) -> meshsim_net::NetStream {
    net.stack(ip("10.0.9.9"))
        .connect(addr(SERVER_APP), Duration::from_secs(1))
        .await
        .unwrap()
}

async fn call(w: &World) -> Resp {
    w.get(SERVER_APP, HOST, 1).await
}

/// A mesh and its two workloads' identities.
fn mesh() -> (MeshCa, Arc<WorkloadIdentity>, Arc<WorkloadIdentity>) {
    let ca = MeshCa::new("cluster.local").unwrap();
    let sleep = ca.issue("default", "sleep").unwrap();
    let httpbin = ca.issue("default", "httpbin").unwrap();
    (ca, sleep, httpbin)
}

/// Fact sheet §8: auto mTLS sends Istio mTLS to an endpoint labelled
/// `security.istio.io/tlsMode: istio`, and a STRICT server accepts it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_mesh_client_reaches_a_strict_workload_over_mutual_tls() {
    let net = Net::sim(SimConfig::default());
    let (_ca, sleep, httpbin) = mesh();
    assert_eq!(
        httpbin.spiffe_id(),
        "spiffe://cluster.local/ns/default/sa/httpbin"
    );
    let server = server_pod(&net, strict(), Some(httpbin)).await;
    let w = client(net, auto(), sleep, true).await;
    let resp = call(&w).await;
    assert_eq!((resp.status, resp.body_text().as_str()), (200, "hello"));
    assert_eq!(w.sidecar.stats().ssl_handshake, 1);
    let s = server.sidecar.stats();
    assert_eq!((s.inbound_ssl_handshake, s.no_filter_chain_match), (1, 0));
    assert_eq!(server.app.requests().len(), 1);
}

/// Fact sheet §8: under STRICT a plaintext client finds no filter chain:
/// the connection is closed with no HTTP response (curl's exit 56,
/// "connection reset by peer"), `NR` with `filter_chain_not_found` in the
/// server sidecar's access log, and the app never sees the request.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_plaintext_client_of_a_strict_workload_is_reset_and_logged_nr() {
    let net = Net::sim(SimConfig::default());
    let (_ca, _sleep, httpbin) = mesh();
    let server = server_pod(&net, strict(), Some(httpbin)).await;
    let mut c = plaintext_dial(&net).await;
    c.write_all(b"GET / HTTP/1.1\r\nhost: httpbin\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = c.read(&mut buf).await;
    assert_eq!(
        read.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset),
        "no response, a reset"
    );
    assert_eq!(server.sidecar.stats().no_filter_chain_match, 1);
    assert!(server.app.requests().is_empty());
    let log = server.sidecar.access_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].contains("\"- - -\" 0 NR filter_chain_not_found"),
        "{}",
        log[0]
    );
}

/// Fact sheet §8: PERMISSIVE (Istio's default) serves plaintext and mTLS
/// clients alike.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn permissive_serves_plaintext_and_mutual_tls_clients() {
    let net = Net::sim(SimConfig::default());
    let (_ca, sleep, httpbin) = mesh();
    let server = server_pod(&net, PeerAuthn::default(), Some(httpbin)).await;
    let plain = AppConnExt::wrap(plaintext_dial(&net).await)
        .get(HOST, "/", 2)
        .await;
    assert_eq!(plain.status, 200);
    let w = client(net, auto(), sleep, true).await;
    assert_eq!(call(&w).await.status, 200);
    let s = server.sidecar.stats();
    assert_eq!((s.inbound_ssl_handshake, s.no_filter_chain_match), (1, 0));
    assert_eq!(server.app.requests().len(), 2);
}

/// Fact sheet §8: auto mTLS sends plaintext to an endpoint without the
/// `istio` TLS mode label (istiod marks it so when a DestinationRule or
/// PeerAuthentication DISABLE applies); a STRICT server resets it, and the
/// client sidecar answers `503 UC` (connection termination).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn plaintext_from_a_mesh_client_to_a_strict_workload_is_a_503_uc() {
    let net = Net::sim(SimConfig::default());
    let (_ca, sleep, httpbin) = mesh();
    let server = server_pod(&net, strict(), Some(httpbin)).await;
    let w = client(net, auto(), sleep, false).await;
    let resp = call(&w).await;
    assert_eq!(resp.status, 503);
    assert_eq!(
        resp.body_text(),
        "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
    );
    assert_eq!(w.sidecar.stats().ssl_handshake, 0);
    assert_eq!(server.sidecar.stats().no_filter_chain_match, 1);
}

/// Fact sheet §5.1, §8: a server certificate from another mesh root fails
/// the client's verification: Envoy closes the connection itself (`local
/// connection failure`, `UF`) with BoringSSL's CERTIFICATE_VERIFY_FAILED.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_server_certificate_from_another_root_fails_with_certificate_verify_failed() {
    let net = Net::sim(SimConfig::default());
    let (_ca, sleep, _httpbin) = mesh();
    let other = MeshCa::new("cluster.local").unwrap();
    let foreign = other.issue("default", "httpbin").unwrap();
    let server = server_pod(&net, strict(), Some(foreign)).await;
    let w = client(net, auto(), sleep, true).await;
    let resp = call(&w).await;
    assert_eq!(resp.status, 503);
    assert_eq!(
        resp.body_text(),
        "upstream connect error or disconnect/reset before headers. reset reason: local connection failure, transport failure reason: TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end"
    );
    assert_eq!(w.sidecar.stats().ssl_connection_error, 1);
    assert!(server.app.requests().is_empty());
}

/// Fact sheet §8: a DISABLE workload has plaintext chains only; a client
/// forced to mTLS (DestinationRule `ISTIO_MUTUAL`) sends its ClientHello to
/// the HTTP chain, whose answer is no TLS record: WRONG_VERSION_NUMBER, `UF`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn istio_mutual_to_a_disable_workload_fails_with_wrong_version_number() {
    let net = Net::sim(SimConfig::default());
    let (_ca, sleep, httpbin) = mesh();
    let _server = server_pod(&net, mode(MtlsMode::Disable), Some(httpbin)).await;
    let forced = ClusterTls::IstioMutual {
        sni: ClusterTls::sni(8080, "", HOST),
    };
    let w = client(net, forced, sleep, true).await;
    let resp = call(&w).await;
    assert_eq!(resp.status, 503);
    let body = resp.body_text();
    assert!(
        body.contains("remote connection failure, transport failure reason: TLS_error:|268435703:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end"),
        "{body}"
    );
}

/// Fact sheet §8: `portLevelMtls` overrides the workload's mode for one
/// container port: a PERMISSIVE port of a STRICT workload serves plaintext.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_permissive_port_of_a_strict_workload_serves_plaintext() {
    let net = Net::sim(SimConfig::default());
    let (_ca, _sleep, httpbin) = mesh();
    let authn = PeerAuthn {
        mode: MtlsMode::Strict,
        ports: BTreeMap::from([(8080, MtlsMode::Permissive)]),
    };
    let server = server_pod(&net, authn, Some(httpbin)).await;
    let stream = plaintext_dial(&net).await;
    assert_eq!(AppConnExt::wrap(stream).get(HOST, "/", 3).await.status, 200);
    assert_eq!(server.sidecar.stats().no_filter_chain_match, 0);
}
