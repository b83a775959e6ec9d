//! The pod's forward proxy (`meshsim_app::proxy`) in front of a real
//! sidecar: what `curl -x` sees in `meshsim up`. The proxy dials through the
//! pod's captured stack, so the sidecar handles the request as any captured
//! application request, and its local replies reach the client unchanged.

use std::net::IpAddr;
use std::time::Duration;

use meshsim_app::{ProxyConfig, ProxyHandle, serve_proxy};
use meshsim_core::{ProxyLog, SimRng};
use meshsim_dns::{DnsHandle, ZoneSet};
use meshsim_net::{Capture, Net, NetStream, SimConfig};
use meshsim_sidecar::{SidecarConfig, SidecarDeps, SidecarHandle};
use meshsim_upstream::{StopMode, UpstreamConfig, UpstreamHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const POD: &str = "10.0.0.1";
const SEC: Duration = Duration::from_secs(1);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A pod (sidecar + proxy), the scenario DNS server and the API host.
struct World {
    net: Net,
    proxy: ProxyHandle,
    api: UpstreamHandle,
    _sidecar: SidecarHandle,
    _dns: DnsHandle,
}

async fn world(net: Net) -> World {
    let zones = ZoneSet::new();
    zones.add_zone("example", 30 * SEC);
    zones.set_a("api.partner.example", vec![ip("52.1.1.10")], 60 * SEC);
    let dns = meshsim_dns::spawn(zones, &net.stack(ip("10.0.0.53")), 53)
        .await
        .unwrap();
    let api = meshsim_upstream::spawn(UpstreamConfig::default(), net.stack(ip("52.1.1.10")), 80)
        .await
        .unwrap();
    let deps = SidecarDeps {
        rng: SimRng::new(7),
        proxy_log: ProxyLog::new(),
        identity: None,
    };
    let sidecar = meshsim_sidecar::spawn(SidecarConfig::default(), net.stack(ip(POD)), deps)
        .await
        .unwrap();
    let pod = net.pod_stack(ip(POD), Capture::default());
    let listener = pod.listen(3128).await.unwrap();
    let config = ProxyConfig {
        dns_servers: vec![dns.addr()],
        ..ProxyConfig::default()
    };
    let proxy = serve_proxy(listener, pod, config, SimRng::new(8));
    World {
        net,
        proxy,
        api,
        _sidecar: sidecar,
        _dns: dns,
    }
}

/// `curl -x proxy http://api.partner.example/`: the whole answer as text
/// (the proxy relays `connection: close` as a close of its own).
async fn curl(client: &mut NetStream) -> String {
    let request = "GET http://api.partner.example/ HTTP/1.1\r\n\
                   host: api.partner.example\r\nuser-agent: curl/8\r\n\
                   proxy-connection: keep-alive\r\n\r\n";
    client.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = client.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .map_or(0, |v| v.trim().parse().unwrap());
            if body.len() >= len {
                return text;
            }
        }
    }
}

/// The acceptance of `meshsim up`'s proxy: the request reaches the API host
/// through the sidecar; once the host is stopped with a reset, the same
/// request shows Envoy's local reply (fact sheet §5.1: 503 UF with the
/// `upstream connect error or disconnect/reset before headers. reset reason:
/// remote connection failure` body; §5.2: `server: envoy`), not an error of
/// the proxy.
async fn reaches_the_upstream_then_shows_envoys_local_reply(net: Net) {
    let w = world(net).await;
    let stack = w.net.stack(ip("10.0.0.99"));
    let mut client = stack.connect(w.proxy.local_addr(), SEC).await.unwrap();
    let ok = curl(&mut client).await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("\r\nserver: envoy\r\n"), "{ok}");
    assert!(ok.contains("\r\nx-envoy-upstream-service-time: "), "{ok}");
    assert_eq!(w.api.stats().requests, 1);
    w.api.stop(StopMode::Reset).await;
    let mut client = stack.connect(w.proxy.local_addr(), SEC).await.unwrap();
    let failed = curl(&mut client).await;
    assert!(
        failed.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{failed}"
    );
    assert!(failed.contains("\r\nserver: envoy\r\n"), "{failed}");
    assert!(!failed.contains("x-meshsim-proxy"), "{failed}");
    let body = failed.split_once("\r\n\r\n").unwrap().1;
    // The host refuses new connects once stopped: the sidecar's new
    // connection fails (503 UF, §5.1's first row).
    assert_eq!(
        body,
        "upstream connect error or disconnect/reset before headers. reset reason: \
         remote connection failure, transport failure reason: delayed connect error: 111"
    );
    let stats = w.proxy.shutdown().await;
    assert_eq!((stats.forwarded, stats.bad_gateway), (2, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn curl_through_the_pods_proxy_shows_the_sidecars_local_reply_after_a_reset_in_sim() {
    reaches_the_upstream_then_shows_envoys_local_reply(Net::sim(SimConfig::default())).await;
}

#[tokio::test]
async fn curl_through_the_pods_proxy_shows_the_sidecars_local_reply_after_a_reset_on_loopback() {
    reaches_the_upstream_then_shows_envoys_local_reply(Net::real()).await;
}
