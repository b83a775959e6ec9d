//! TCP keepalive on the simulated backend: what only a simulated network can
//! show (black holes, lost peers), on virtual time. Fact sheet §4.2
//! (`tcp.tcpKeepalive` → `SO_KEEPALIVE`) and §13 point 8 (kernel timers).

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_net::{Keepalive, Net, NetStream, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// time 10 s, interval 2 s, 3 probes: a dead flow goes after 16 s idle.
const KA: Keepalive = Keepalive {
    time: Duration::from_secs(10),
    interval: Duration::from_secs(2),
    probes: 3,
};

/// One-way latency 1 ms, so arrivals fall on whole milliseconds.
fn net() -> Net {
    Net::sim(SimConfig {
        base_latency: Duration::from_millis(1),
        ..SimConfig::default()
    })
}

/// A connection from 10.0.0.1 to 10.0.0.2:80: (client, server).
async fn pair(net: &Net) -> (NetStream, NetStream) {
    let l = net.stack(ip("10.0.0.2")).listen(80).await.unwrap();
    let c = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:80"), Duration::from_secs(10))
        .await
        .unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keepalive_tears_down_an_idle_black_holed_flow_after_time_plus_interval_times_probes() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    let start = Instant::now();
    net.set_blackhole(ip("10.0.0.2"), true);
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), KA.give_up_after());
    let err = c.write(b"x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "writes fail too");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_keepalive_an_idle_black_holed_flow_hangs() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    let mut b = [0u8; 1];
    let r = meshsim_net::clock::timeout(Duration::from_secs(7200), c.read(&mut b)).await;
    assert!(r.is_err(), "an idle flow without keepalive ended: {r:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keepalive_is_torn_down_at_the_next_read_even_when_nobody_was_reading() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    net.set_blackhole(ip("10.0.0.2"), true);
    meshsim_net::clock::sleep(Duration::from_secs(60)).await;
    net.set_blackhole(ip("10.0.0.2"), false);
    let mut b = [0u8; 1];
    assert_eq!(
        c.read(&mut b).await.unwrap_err().kind(),
        ErrorKind::TimedOut
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_segment_heard_restarts_the_keepalive_idle_clock() {
    let net = net();
    let (mut c, mut s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    meshsim_net::clock::sleep(Duration::from_secs(5)).await;
    s.write_all(b"x").await.unwrap();
    let written = Instant::now();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).await.unwrap();
    net.set_blackhole(ip("10.0.0.2"), true);
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // Heard 1 ms after the write, dead 16 s later.
    let expected = Duration::from_millis(1) + KA.give_up_after();
    assert_eq!(written.elapsed(), expected);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_torn_down_end_tells_the_peer_nothing_and_resets_its_next_segment() {
    let net = net();
    let (mut c, mut s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    net.set_blackhole(ip("10.0.0.2"), true);
    let mut b = [0u8; 1];
    assert_eq!(
        c.read(&mut b).await.unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    drop(c); // close(2) of a connection the kernel already gave up: nothing sent
    net.set_blackhole(ip("10.0.0.2"), false);
    let quiet = meshsim_net::clock::timeout(Duration::from_secs(60), s.read(&mut b)).await;
    assert!(quiet.is_err(), "the peer heard of the teardown: {quiet:?}");
    s.write_all(b"late").await.unwrap();
    assert_eq!(
        s.read(&mut b).await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_probe_reaching_a_host_whose_socket_is_gone_is_answered_with_a_reset() {
    let net = net();
    let (mut c, s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    let start = Instant::now();
    // The server's process dies during a drop: its RST is lost.
    net.set_blackhole(ip("10.0.0.2"), true);
    s.reset();
    meshsim_net::clock::sleep(Duration::from_secs(5)).await;
    net.set_blackhole(ip("10.0.0.2"), false);
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    // The first probe at 10 s, its RST back one round trip later.
    assert_eq!(start.elapsed(), KA.time + Duration::from_millis(2));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keepalive_does_not_probe_while_data_is_unacknowledged() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    net.set_blackhole(ip("10.0.0.2"), true);
    let start = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // The retransmission timer ends it (tcp_retries2), not the keepalive.
    assert_eq!(start.elapsed(), SimConfig::default().retransmission_give_up);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn switching_keepalive_off_stops_the_probes() {
    let net = net();
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    c.set_keepalive(None).unwrap();
    net.set_blackhole(ip("10.0.0.2"), true);
    let mut b = [0u8; 1];
    let r = meshsim_net::clock::timeout(Duration::from_secs(3600), c.read(&mut b)).await;
    assert!(
        r.is_err(),
        "keepalive switched off still ended the flow: {r:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_flow_black_hole_stalls_one_connection_and_lets_new_ones_pass() {
    let net = net();
    let (mut c, s) = pair(&net).await;
    c.set_keepalive(Some(KA)).unwrap();
    net.set_flow_blackhole(c.local_addr(), s.local_addr(), true);
    let start = Instant::now();
    let mut b = [0u8; 1];
    assert_eq!(
        c.read(&mut b).await.unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    assert_eq!(start.elapsed(), KA.give_up_after());
    // Another connection between the same hosts is not affected.
    let l = net.stack(ip("10.0.0.2")).listen(81).await.unwrap();
    let mut c2 = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:81"), Duration::from_secs(1))
        .await
        .unwrap();
    let (mut s2, _) = l.accept().await.unwrap();
    c2.write_all(b"y").await.unwrap();
    s2.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"y");
}
