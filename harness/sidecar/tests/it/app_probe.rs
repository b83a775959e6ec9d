//! pilot-agent's application probers (incidents.md INC-14: Istio's probe
//! rewrite; fact sheet §6.1: the status port 15020 is excluded from inbound
//! capture; §8: STRICT has no plaintext chain). The kubelet has no
//! certificate: its probe of the application port meets the sidecar, while
//! the rewritten probe reaches the agent, which asks the application itself.

use std::collections::BTreeMap;
use std::time::Duration;

use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::{Bind, InboundCapture, Net, SimConfig};
use meshsim_sidecar::tls::{MtlsMode, PeerAuthn};
use meshsim_sidecar::{
    AdminConfig, AppProbe, AppProbers, InboundConfig, InboundForward, InboundPort, ProbeAction,
    SidecarConfig, SidecarDeps, SidecarHandle, spawn,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const POD: &str = "10.1.0.5";
const KUBELET: &str = "10.0.255.254";
const READYZ: &str = "/app-health/orders/readyz";

/// The pod's sidecar under `mode`, with the injector's probers.
async fn pod(net: &Net, mode: MtlsMode, probes: BTreeMap<String, AppProbe>) -> SidecarHandle {
    let admin = AdminConfig {
        app_probers: AppProbers {
            destination: InboundForward::PodIp,
            probes,
        },
        ..AdminConfig::default()
    };
    let config = SidecarConfig {
        inbound: Some(InboundConfig {
            ports: vec![InboundPort {
                port: 8080,
                http: true,
                retry_policy: None,
            }],
            peer_authn: PeerAuthn {
                mode,
                ..PeerAuthn::default()
            },
            ..InboundConfig::default()
        }),
        admin: Some(admin),
        ..SidecarConfig::default()
    };
    let deps = SidecarDeps {
        rng: SimRng::new(3),
        proxy_log: ProxyLog::new(),
        identity: None,
    };
    let sidecar = spawn(config, net.stack(ip(POD)), deps).await.unwrap();
    net.set_inbound_capture(ip(POD), Some(InboundCapture::default()));
    sidecar
}

fn http_probe(path: &str, port: u16) -> BTreeMap<String, AppProbe> {
    probe(ProbeAction::HttpGet {
        path: path.into(),
        port,
    })
}

fn probe(action: ProbeAction) -> BTreeMap<String, AppProbe> {
    let probe = AppProbe {
        action,
        timeout: Duration::from_secs(1),
    };
    BTreeMap::from([(READYZ.to_string(), probe)])
}

/// The kubelet's GET from the node: the status, `None` when the
/// connection broke before a status line (its probe then fails).
async fn kubelet_get(net: &Net, port: u16, path: &str) -> Option<u16> {
    let answer = kubelet_answer(net, port, path).await?;
    answer.split(' ').nth(1)?.parse().ok()
}

/// The whole answer to the kubelet's GET of `path` on `port`; `None` when
/// the connect failed.
async fn kubelet_answer(net: &Net, port: u16, path: &str) -> Option<String> {
    let dst = addr(&format!("{POD}:{port}"));
    let mut s = net
        .stack(ip(KUBELET))
        .connect(dst, Duration::from_secs(1))
        .await
        .ok()?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {dst}\r\nUser-Agent: kube-probe/1.30\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// A pod with a rewritten `tcpSocket` probe of port 8080.
async fn tcp_probed_pod(net: &Net) -> SidecarHandle {
    let tcp = probe(ProbeAction::TcpSocket { port: 8080 });
    pod(net, MtlsMode::Permissive, tcp).await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn under_strict_the_kubelets_probe_of_the_app_port_gets_no_response_but_the_rewritten_one_passes()
 {
    let net = Net::sim(SimConfig::default());
    let _sidecar = pod(&net, MtlsMode::Strict, http_probe("/healthz", 8080)).await;
    let app = Upstream::ok(&net, addr(&format!("{POD}:8080")), "ok").await;
    assert_eq!(kubelet_get(&net, 8080, "/healthz").await, None);
    assert!(app.requests().is_empty(), "STRICT let plaintext through");
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(200));
    let seen = app.requests();
    assert_eq!(seen.len(), 1, "the agent asks the app once per probe");
    assert_eq!(seen[0].header("host"), Some("10.1.0.5:8080"));
    assert_eq!(seen[0].header("user-agent"), Some("kube-probe/1.30"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_agent_answers_with_the_apps_status_and_turns_a_redirect_into_200() {
    let net = Net::sim(SimConfig::default());
    let _sidecar = pod(&net, MtlsMode::Permissive, http_probe("/healthz", 8080)).await;
    let statuses = [503u16, 302, 404];
    let _app = Upstream::spawn(&net, addr(&format!("{POD}:8080")), None, move |conn, _| {
        Action::Respond(statuses[conn % 3], "")
    })
    .await;
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(503));
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(200));
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(404));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_probe_path_the_injector_did_not_hand_over_is_400() {
    let net = Net::sim(SimConfig::default());
    let _sidecar = pod(&net, MtlsMode::Permissive, http_probe("/healthz", 8080)).await;
    let status = kubelet_get(&net, 15020, "/app-health/other/livez").await;
    assert_eq!(status, Some(400));
    let body = kubelet_answer(&net, 15020, "/app-health/other/livez")
        .await
        .unwrap();
    assert!(
        body.ends_with("app prober config does not exists for /app-health/other/livez"),
        "{body}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_app_slower_than_the_probe_timeout_is_500_at_the_timeout() {
    let net = Net::sim(SimConfig::default());
    let _sidecar = pod(&net, MtlsMode::Permissive, http_probe("/healthz", 8080)).await;
    let slow = Duration::from_secs(5);
    let _app = Upstream::spawn(&net, addr(&format!("{POD}:8080")), None, move |_, _| {
        Action::RespondAfter(slow, 200, "")
    })
    .await;
    let start = meshsim_net::clock::Instant::now();
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(500));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1100),
        "{took:?}"
    );
}

/// Istio's docs: with redirection "all TCP ports appear open", so a plain
/// `tcpSocket` probe passes while the sidecar runs; the rewritten one dials
/// the app's port around the sidecar.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_tcp_probe_of_a_dead_app_passes_through_the_sidecar_and_fails_when_rewritten() {
    let net = Net::sim(SimConfig::default());
    let _sidecar = tcp_probed_pod(&net).await;
    let kubelet = net.stack(ip(KUBELET));
    let plain = kubelet
        .connect(addr(&format!("{POD}:8080")), Duration::from_secs(1))
        .await;
    assert!(plain.is_ok(), "the sidecar's inbound listener accepted");
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(500));
    let _app = Upstream::ok(&net, addr(&format!("{POD}:8080")), "ok").await;
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(200));
}

/// Istio sends rewritten probes to the pod's address (as the kubelet
/// would): an app bound to 127.0.0.1 only fails them (INC-15's mirror).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_app_on_localhost_only_fails_a_probe_sent_to_the_pod_address() {
    let net = Net::sim(SimConfig::default());
    let _sidecar = tcp_probed_pod(&net).await;
    let _local = net
        .stack(ip(POD))
        .listen_bound(8080, Bind::Loopback)
        .await
        .unwrap();
    assert_eq!(kubelet_get(&net, 15020, READYZ).await, Some(500));
}
