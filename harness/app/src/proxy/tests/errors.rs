//! The proxy's own answers, and its resilience to bad clients.

use std::time::Duration;

use meshsim_net::{Capture, Cidr};
use tokio::io::AsyncWriteExt;

use super::support::*;
use crate::proxy::{ProxyConfig, serve_proxy};

/// Whether `reply` is the proxy's own answer with `status`, its body
/// containing `text`.
fn own(reply: &Reply, status: u16, text: &str) -> bool {
    let body = String::from_utf8_lossy(&reply.body);
    reply.status == status
        && reply.head.contains("\r\nx-meshsim-proxy: error\r\n")
        && body.starts_with("meshsim proxy: ")
        && body.contains(text)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unresolvable_name_gets_a_502_marked_as_the_proxys_own() {
    let w = world(Fake::Ok).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(&mut c, "GET http://nowhere.example/ HTTP/1.1\r\n\r\n").await;
    assert!(
        own(&reply, 502, "cannot resolve nowhere.example: dns_nxdomain"),
        "{reply:?}"
    );
    assert!(w.sidecar.seen().is_empty());
    // The connection stays usable.
    let reply = exchange(&mut c, "GET http://api.partner.example/ HTTP/1.1\r\n\r\n").await;
    assert_eq!(reply.status, 200);
    assert_eq!(w.proxy.stats().bad_gateway, 1);
}

/// Fact sheet §6.2 / DESIGN §2: while the sidecar has not bound 15001, the
/// app's captured connect is refused; the proxy says so instead of hiding it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nothing_listening_on_15001_gets_a_502_naming_connection_refused() {
    let net = sim();
    let dns = dns(&net).await;
    let handle = proxy(&net, Some(&dns), ProxyConfig::default()).await;
    let mut c = client(&net, &handle).await;
    let reply = exchange(&mut c, "GET http://api.partner.example/ HTTP/1.1\r\n\r\n").await;
    let refused = format!("connect to {API}:80 failed: connection refused");
    assert!(own(&reply, 502, &refused), "{reply:?}");
}

/// A destination the capture excludes is dialled directly; a silent drop
/// there waits the profile's whole connect timeout.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connect_timeout_gets_a_502_after_the_profiles_connect_timeout() {
    let net = sim();
    let capture = Capture {
        exclude_ranges: vec!["10.9.0.0/16".parse::<Cidr>().unwrap()],
        ..Capture::default()
    };
    let pod = net.pod_stack(ip(POD), capture);
    net.set_blackhole(ip("10.9.0.1"), true);
    let mut config = ProxyConfig::default();
    config.profile.connect_timeout = 5 * SEC;
    let listener = pod.listen(3128).await.unwrap();
    let handle = serve_proxy(listener, pod, config, meshsim_core::SimRng::new(1));
    let mut c = client(&net, &handle).await;
    let started = meshsim_net::clock::Instant::now();
    let reply = exchange(&mut c, "GET http://10.9.0.1/ HTTP/1.1\r\n\r\n").await;
    assert!(
        own(&reply, 502, "connect to 10.9.0.1:80 timed out after 5s"),
        "{reply:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= 5 * SEC && took < 5 * SEC + Duration::from_millis(50),
        "{took:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_host_name_without_a_dns_server_gets_a_502() {
    let net = sim();
    fake_sidecar(&net, Fake::Ok).await;
    let handle = proxy(&net, None, ProxyConfig::default()).await;
    let mut c = client(&net, &handle).await;
    let reply = exchange(&mut c, "GET http://api.partner.example/ HTTP/1.1\r\n\r\n").await;
    assert!(own(&reply, 502, "no dns server"), "{reply:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_origin_form_request_gets_a_400_saying_to_use_an_absolute_uri() {
    let w = world(Fake::Ok).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(
        &mut c,
        "GET /charge HTTP/1.1\r\nhost: api.partner.example\r\n\r\n",
    )
    .await;
    assert!(own(&reply, 400, "absolute URI"), "{reply:?}");
    assert!(w.sidecar.seen().is_empty());
    assert_eq!(w.proxy.stats().bad_request, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn garbage_bytes_get_a_400_and_the_proxy_keeps_accepting() {
    let w = world(Fake::Ok).await;
    let mut bad = client(&w.net, &w.proxy).await;
    bad.write_all(b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n")
        .await
        .unwrap();
    let reply = read_reply(&mut bad).await.expect("hyper's 400");
    assert_eq!(reply.status, 400);
    let mut good = client(&w.net, &w.proxy).await;
    let reply = exchange(
        &mut good,
        "GET http://api.partner.example/ HTTP/1.1\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(w.proxy.stats().connections, 2);
}

/// The proxy's stop closes every client connection, tunnel and upstream
/// connection: no task of it is left alive.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_leaves_no_task_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let w = world(Fake::Ok).await;
    // Baseline: DNS server and fake sidecar tasks, the proxy's accept loop.
    let before = metrics.num_alive_tasks() - 1;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(&mut c, "GET http://api.partner.example/ HTTP/1.1\r\n\r\n").await;
    assert_eq!(reply.status, 200);
    let mut t = client(&w.net, &w.proxy).await;
    let reply = exchange(&mut t, "CONNECT other.example:443 HTTP/1.1\r\n\r\n").await;
    assert_eq!(reply.status, 200);
    assert!(metrics.num_alive_tasks() > before + 3);
    let stats = w.proxy.shutdown().await;
    assert_eq!((stats.forwarded, stats.tunnels), (1, 1));
    // The fake sidecar's two connection tasks end once they see the close.
    w.sidecar.wait_closed(2).await;
    assert_eq!(metrics.num_alive_tasks(), before);
}
