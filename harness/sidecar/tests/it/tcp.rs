//! TCP proxying of non-HTTP ports.

use std::time::Duration;

use meshsim_sidecar::{OutboundTrafficPolicy, SidecarConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn tcp_proxy_forwards_a_non_http_port_to_the_original_destination() {
    let w = World::start(SidecarConfig::default()).await;
    let listener = w.net.stack(ip("10.0.5.1")).listen(5432).await.unwrap();
    let echo = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let mut c = w
        .app
        .connect(addr("10.0.5.1:5432"), Duration::from_secs(1))
        .await
        .unwrap();
    c.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    echo.await.unwrap();
    // The upstream closed: the downstream sees EOF.
    assert_eq!(c.read(&mut buf).await.unwrap(), 0);
    assert_eq!(w.sidecar.stats().tcp_downstream_cx_total, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn tcp_proxy_upstream_connect_failure_closes_the_downstream() {
    let w = World::start(SidecarConfig::default()).await;
    w.connect_and_see_it_closed("10.0.5.1:5432").await;
    assert_eq!(w.sidecar.stats().upstream_cx_connect_fail, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn registry_only_closes_unknown_tcp_destinations_blackhole_cluster() {
    let config = SidecarConfig {
        outbound_traffic_policy: OutboundTrafficPolicy::RegistryOnly,
        ..SidecarConfig::default()
    };
    let w = World::start(config).await;
    let _l = w.net.stack(ip("10.0.5.1")).listen(5432).await.unwrap();
    w.connect_and_see_it_closed("10.0.5.1:5432").await;
    assert_eq!(w.sidecar.stats().upstream_cx_total, 0);
}
