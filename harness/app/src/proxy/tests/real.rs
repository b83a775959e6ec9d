//! The proxy on real loopback sockets: what `curl -x` meets in `meshsim up`.

use meshsim_net::Net;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::*;
use crate::proxy::ProxyConfig;

/// Fact sheet §10: in real mode the captured connect carries the original
/// destination in a PROXY v2 header, which the sidecar's capture listener
/// reads; the client is a plain kernel socket on loopback.
#[tokio::test]
async fn a_real_client_gets_through_the_proxy_to_the_original_destination_on_loopback() {
    let net = Net::real();
    let dns = dns(&net).await;
    let sidecar = fake_sidecar(&net, Fake::Ok).await;
    let handle = proxy(&net, Some(&dns), ProxyConfig::default()).await;
    let at = net
        .real_addr(handle.local_addr())
        .expect("mapped on loopback");
    assert!(at.ip().is_loopback());
    let mut c = tokio::net::TcpStream::connect(at).await.unwrap();
    let request = "GET http://api.partner.example/charge HTTP/1.1\r\n\
                   host: api.partner.example\r\nconnection: close\r\n\r\n";
    c.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\r\nserver: envoy\r\n"), "{reply}");
    assert!(reply.ends_with(&format!("ok from {API}:80")), "{reply}");
    let seen = sidecar.seen();
    assert_eq!(
        seen[0].original_dst,
        Some(format!("{API}:80").parse().unwrap())
    );
    assert!(
        seen[0].head.starts_with("GET /charge HTTP/1.1\n"),
        "{}",
        seen[0].head
    );
    handle.shutdown().await;
    dns.shutdown().await;
}
