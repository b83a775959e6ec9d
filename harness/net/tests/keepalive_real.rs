//! TCP keepalive and the retransmission give-up on the real backend
//! (loopback kernel sockets, real time), across the black holes the
//! backend keeps in the process, which the kernel's own probes never see:
//! the behaviours of `keepalive.rs` (sim) with 100 ms timers. Bounds are
//! generous and nothing sleeps to synchronise.
//!
//! Facts: envoy-istio-facts.md §4.2 (`tcp.tcpKeepalive` → `SO_KEEPALIVE`,
//! probes / time / interval), §11 row (b) (a silent drop is noticed only
//! through TCP keepalive, an idle timeout or the kernel's retransmission
//! give-up) and §13 point 8 (the kernel timers: `crate::keepalive` and
//! `tcp_retries2`).

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::clock::{Instant, timeout};
use meshsim_net::{DnsFirewall, Keepalive, Learning, Net, NetStream, OnExpired, RealConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// time 100 ms, interval 50 ms, 3 probes: a dead flow goes after 250 ms idle.
const KA: Keepalive = Keepalive {
    time: Duration::from_millis(100),
    interval: Duration::from_millis(50),
    probes: 3,
};
/// A give-up short enough to wait out.
const GIVE_UP: Duration = Duration::from_millis(500);
/// How long a stalled operation is watched before it counts as stalled.
const STALL: Duration = Duration::from_millis(300);
/// The most any one step may take on a loaded machine.
const BOUND: Duration = Duration::from_secs(5);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn net() -> Net {
    Net::real_with(RealConfig {
        retransmission_give_up: GIVE_UP,
    })
}

/// A connection from 10.0.0.1 to 10.0.0.2:80: (client, server).
async fn pair(net: &Net) -> (NetStream, NetStream) {
    let l = net.stack(ip("10.0.0.2")).listen(80).await.unwrap();
    let c = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:80"), BOUND)
        .await
        .unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// Reads one byte, failing the test if nothing happens within [`BOUND`].
async fn read_err(s: &mut NetStream) -> std::io::Error {
    let mut b = [0u8; 1];
    match timeout(BOUND, s.read(&mut b)).await {
        Ok(r) => r.unwrap_err(),
        Err(_) => panic!("the read never ended"),
    }
}

#[tokio::test]
async fn keepalive_tears_down_an_in_process_black_holed_idle_flow_with_etimedout_on_loopback() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    let start = Instant::now();
    net.set_blackhole(ip("10.0.0.2"), true);
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::TimedOut);
    assert!(
        start.elapsed() >= KA.give_up_after(),
        "{:?}",
        start.elapsed()
    );
    let err = c.write(b"x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "writes fail too");
}

#[tokio::test]
async fn keepalive_tears_down_a_flow_black_hole_with_etimedout_on_loopback() {
    let net = net();
    let (mut c, s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    net.set_flow_blackhole(c.local_addr(), s.local_addr(), true);
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::TimedOut);
}

#[tokio::test]
async fn keepalive_to_a_live_peer_keeps_an_idle_flow_open_on_loopback() {
    let net = net();
    let (mut c, mut s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    let mut b = [0u8; 1];
    let idle = timeout(KA.give_up_after() * 3, c.read(&mut b)).await;
    assert!(idle.is_err(), "an idle flow to a live peer ended: {idle:?}");
    s.write_all(b"x").await.unwrap();
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"x");
}

#[tokio::test]
async fn without_keepalive_an_idle_black_holed_flow_hangs_on_loopback() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    let mut b = [0u8; 1];
    let r = timeout(KA.give_up_after() * 3, c.read(&mut b)).await;
    assert!(r.is_err(), "an idle flow without keepalive ended: {r:?}");
}

#[tokio::test]
async fn a_write_into_a_black_holed_flow_fails_with_etimedout_after_the_give_up_on_loopback() {
    let net = net();
    let (mut c, mut s) = pair(&net).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    let start = Instant::now();
    c.write_all(b"q").await.unwrap();
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::TimedOut);
    assert!(start.elapsed() >= GIVE_UP, "{:?}", start.elapsed());
    let mut b = [0u8; 1];
    let r = timeout(STALL, s.read(&mut b)).await;
    assert!(r.is_err(), "the request crossed the black hole: {r:?}");
}

/// The kernel retransmits what a black hole swallowed: once the hole ends
/// before the give-up, the data arrives and the connection goes on.
#[tokio::test]
async fn data_held_in_a_black_hole_arrives_when_it_ends_on_loopback() {
    let net = net();
    let (mut c, mut s) = pair(&net).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    c.write_all(b"q").await.unwrap();
    let mut b = [0u8; 1];
    let r = timeout(STALL / 3, s.read(&mut b)).await;
    assert!(r.is_err(), "the request crossed the black hole: {r:?}");
    net.set_blackhole(ip("10.0.0.2"), false);
    timeout(BOUND, s.read_exact(&mut b)).await.unwrap().unwrap();
    assert_eq!(&b, b"q");
    s.write_all(b"a").await.unwrap();
    let got = timeout(GIVE_UP * 2, c.read_exact(&mut b)).await;
    assert!(matches!(got, Ok(Ok(_))), "the client gave up: {got:?}");
    assert_eq!(&b, b"a");
}

#[tokio::test]
async fn keepalive_settings_read_back_as_given_on_loopback() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    assert_eq!(c.keepalive().unwrap(), Some(KA), "not rounded to seconds");
    c.set_keepalive(None).unwrap();
    assert_eq!(c.keepalive().unwrap(), None);
}

/// DESIGN.md §10: every task is gone when a run returns.
#[tokio::test]
async fn dropping_both_ends_of_a_keepalive_emulated_stream_leaves_no_task_running_on_loopback() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let net = net();
    let before = metrics.num_alive_tasks();
    let (mut c, mut s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    s.set_keepalive(Some(KA)).unwrap();
    assert_eq!(metrics.num_alive_tasks(), before + 2, "one task per end");
    drop((c, s));
    // Aborted tasks are freed when the scheduler next runs them.
    for _ in 0..100 {
        if metrics.num_alive_tasks() == before {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(metrics.num_alive_tasks(), before);
}

/// Fact sheet §11 (b): a DNS-aware firewall that black-holes a flow whose
/// address expired is noticed through keepalive; the probes are packets
/// the firewall sees.
#[tokio::test]
async fn keepalive_tears_down_a_flow_a_firewall_black_holed_with_etimedout_on_loopback() {
    let net = net();
    let fw = net
        .add_dns_firewall(DnsFirewall {
            clients: vec![ip("10.0.0.1")],
            learning: Learning::Own,
            min_ttl: Duration::ZERO,
            on_expired: OnExpired::Blackhole,
            ..DnsFirewall::default()
        })
        .unwrap();
    let ttl = Duration::from_millis(300);
    fw.learn("api.example", &[ip("10.0.0.2")], ttl);
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    let start = Instant::now();
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::TimedOut);
    assert!(start.elapsed() >= ttl, "{:?}", start.elapsed());
    assert_eq!(fw.stats().flows_blackholed, 1);
}

/// `crate::keepalive`: no probe goes while the end's own data is
/// unacknowledged; the retransmission give-up ends the flow instead.
#[tokio::test]
async fn keepalive_sends_no_probe_while_data_is_held_in_a_black_hole_on_loopback() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    net.set_blackhole(ip("10.0.0.2"), true);
    let start = Instant::now();
    c.write_all(b"q").await.unwrap();
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::TimedOut);
    let took = start.elapsed();
    assert!(took >= GIVE_UP, "torn down by keepalive after {took:?}");
}
