//! The TCP proxy's connect attempts and timers (Envoy `tcp_proxy`: fact
//! sheet §7.3, §4.2 `tcp.idleTimeout` / `tcp.maxConnectionDuration`, §5.3
//! flags `UF`, `URX`, `DT`).

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use meshsim_net::{Keepalive, Net, NetListener};
use meshsim_sidecar::{
    Cluster, Discovery, LbPolicy, PoolSettings, SidecarConfig, TcpProxySettings, TcpRoute,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::support::*;

/// Echoes every connection accepted on `listener` until its peer closes.
fn echo(listener: NetListener) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

async fn echo_on(net: &Net, at: &str) -> JoinHandle<()> {
    let a = addr(at);
    echo(net.stack(a.ip()).listen(a.port()).await.unwrap())
}

/// A TCP listener for port 5432 to a STATIC round-robin cluster `db`.
fn db_config(endpoints: &[&str], settings: TcpProxySettings) -> SidecarConfig {
    let cluster = Cluster {
        name: "outbound|5432||db".to_string(),
        discovery: Discovery::Static {
            endpoints: endpoints.iter().map(|e| addr(e)).collect(),
        },
        lb_policy: LbPolicy::RoundRobin,
        ..Cluster::default()
    };
    SidecarConfig {
        tcp_routes: vec![TcpRoute {
            port: 5432,
            addresses: vec![ip("10.96.0.20")],
            cluster: cluster.name.clone(),
            settings,
        }],
        clusters: vec![cluster],
        ..SidecarConfig::default()
    }
}

async fn dial(w: &World, dst: &str) -> meshsim_net::NetStream {
    w.app
        .connect(addr(dst), Duration::from_secs(1))
        .await
        .unwrap()
}

/// Fact sheet §7.3 and §5.3: with Envoy's default `max_connect_attempts` 1
/// a failed upstream connect closes the downstream connection without a
/// byte; the access log carries `UF,URX` and the cluster counts
/// `upstream_cx_connect_attempts_exceeded`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failed_upstream_connect_closes_the_downstream_without_data_flagged_uf_urx() {
    let w = World::start(SidecarConfig::default()).await;
    let mut c = dial(&w, "10.0.5.1:5432").await;
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).await.unwrap(), 0);
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_cx_connect_fail, 1);
    assert_eq!(stats.upstream_cx_connect_attempts_exceeded, 1);
    let flags = ResponseFlags::UF | ResponseFlags::URX;
    assert_eq!(stats.tcp_response_flags.get(&flags), Some(&1));
}

/// Fact sheet §7.3: `max_connect_attempts` retries a failed connect on a
/// host picked again (round robin: the other one).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_connect_attempts_retries_the_connect_on_another_host_of_the_cluster() {
    let settings = TcpProxySettings {
        max_connect_attempts: 2,
        ..TcpProxySettings::default()
    };
    let config = db_config(&["10.0.5.1:5432", "10.0.5.2:5432"], settings);
    let w = World::start(config).await;
    let _echo = echo_on(&w.net, "10.0.5.2:5432").await;
    for _ in 0..2 {
        let mut c = dial(&w, "10.96.0.20:5432").await;
        c.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
    }
    let stats = w.sidecar.stats();
    assert_eq!(
        stats.upstream_cx_connect_fail, 1,
        "one pick hit the dead host"
    );
    assert_eq!(stats.upstream_cx_connect_attempts_exceeded, 0);
}

/// Fact sheet §7.3: every attempt failing ends with `UF,URX` after
/// `max_connect_attempts` connects.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn running_out_of_connect_attempts_counts_every_failure_and_flags_urx() {
    let settings = TcpProxySettings {
        max_connect_attempts: 3,
        ..TcpProxySettings::default()
    };
    let w = World::start(db_config(&["10.0.5.1:5432", "10.0.5.3:5432"], settings)).await;
    let mut c = dial(&w, "10.96.0.20:5432").await;
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).await.unwrap(), 0);
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_cx_connect_fail, 3);
    assert_eq!(stats.upstream_cx_connect_attempts_exceeded, 1);
    let flags = ResponseFlags::UF | ResponseFlags::URX;
    assert_eq!(stats.tcp_response_flags.get(&flags), Some(&1));
}

/// Fact sheet §4.2 (`tcp.idleTimeout` → `tcp_proxy.idle_timeout`): no byte
/// either way for the idle timeout closes the connection pair.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_idle_timeout_closes_a_proxied_connection_with_no_traffic() {
    let settings = TcpProxySettings {
        idle_timeout: Some(Duration::from_secs(10)),
        ..TcpProxySettings::default()
    };
    let w = World::start(db_config(&["10.0.5.2:5432"], settings)).await;
    let _echo = echo_on(&w.net, "10.0.5.2:5432").await;
    let mut c = dial(&w, "10.96.0.20:5432").await;
    c.write_all(b"hi").await.unwrap();
    let mut b = [0u8; 2];
    c.read_exact(&mut b).await.unwrap();
    let last_byte = Instant::now();
    assert_eq!(c.read(&mut b).await.unwrap(), 0, "closed by the proxy");
    let idle = last_byte.elapsed();
    assert!(
        idle >= Duration::from_secs(10) && idle < Duration::from_millis(10_010),
        "closed after {idle:?}"
    );
    assert_eq!(w.sidecar.stats().tcp_idle_timeout, 1);
}

/// Fact sheet §4.2 (`tcp.maxConnectionDuration` →
/// `tcp_proxy.max_downstream_connection_duration`) and §5.3 (`DT`): a busy
/// connection is closed when it reaches the maximum duration.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_downstream_connection_duration_closes_a_busy_connection_flagged_dt() {
    let settings = TcpProxySettings {
        max_downstream_connection_duration: Some(Duration::from_secs(30)),
        ..TcpProxySettings::default()
    };
    let w = World::start(db_config(&["10.0.5.2:5432"], settings)).await;
    let _echo = echo_on(&w.net, "10.0.5.2:5432").await;
    let start = Instant::now();
    let mut c = dial(&w, "10.96.0.20:5432").await;
    let mut b = [0u8; 1];
    let closed_at = loop {
        if c.write_all(b"x").await.is_err() {
            break start.elapsed();
        }
        match c.read(&mut b).await {
            Ok(1) => meshsim_net::clock::sleep(Duration::from_secs(5)).await,
            _ => break start.elapsed(),
        }
    };
    assert!(closed_at >= Duration::from_secs(30) && closed_at < Duration::from_secs(31));
    let stats = w.sidecar.stats();
    assert_eq!(stats.tcp_max_downstream_connection_duration, 1);
    assert_eq!(stats.tcp_response_flags.get(&ResponseFlags::DT), Some(&1));
}

/// Fact sheet §4.2: the cluster's `tcp_keepalive` is set on TCP proxy
/// upstream connections too: a silently dropped flow fails with
/// `ETIMEDOUT` after `time + interval × probes`, and the proxy closes the
/// downstream connection.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keepalive_ends_a_proxied_connection_whose_upstream_flow_was_dropped() {
    let ka = Keepalive {
        time: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        probes: 3,
    };
    let passthrough = Cluster {
        pool: PoolSettings {
            tcp_keepalive: Some(ka),
            ..Cluster::passthrough().pool
        },
        ..Cluster::passthrough()
    };
    let config = SidecarConfig {
        passthrough,
        ..SidecarConfig::default()
    };
    let w = World::start(config).await;
    let upstream = w.net.stack(ip("10.0.5.2")).listen(5432).await.unwrap();
    let mut c = dial(&w, "10.0.5.2:5432").await;
    let (s, peer) = upstream.accept().await.unwrap();
    w.net.set_flow_blackhole(peer, s.local_addr(), true);
    let start = Instant::now();
    let mut b = [0u8; 1];
    assert_eq!(
        c.read(&mut b).await.unwrap(),
        0,
        "the proxy closed the downstream"
    );
    assert_eq!(start.elapsed(), ka.give_up_after());
}
