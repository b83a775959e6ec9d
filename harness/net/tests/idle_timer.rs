//! The idle-timer middlebox of the simulated network (incidents.md A4: AWS
//! NLB / NAT gateway 350 s with RST, Azure LB 4 min silent drop, GCP Cloud
//! NAT 1200 s), on virtual time. The same behaviours on loopback sockets:
//! `idle_timer_real.rs`.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::clock::{Instant, sleep};
use meshsim_net::{
    IdleEventKind, IdleTimer, IdleTimerHandle, IdleTimerStats, Keepalive, Net, NetError, NetStream,
    OnExpiry, SimConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IDLE: Duration = Duration::from_secs(350);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// One-way latency 1 ms, so arrivals fall on whole milliseconds; a 350 s
/// box in front of the client 10.0.0.1.
fn boxed(on_expiry: OnExpiry) -> (Net, IdleTimerHandle) {
    let net = Net::sim(SimConfig {
        base_latency: Duration::from_millis(1),
        ..SimConfig::default()
    });
    let handle = net
        .add_idle_timer(IdleTimer {
            clients: vec![ip("10.0.0.1")],
            idle: IDLE,
            on_expiry,
        })
        .unwrap();
    (net, handle)
}

/// A connection from 10.0.0.1 to 10.0.0.2:80: (client, server).
async fn pair(net: &Net) -> (NetStream, NetStream) {
    let l = match net.stack(ip("10.0.0.2")).listen(80).await {
        Ok(l) => l,
        Err(e) => panic!("listen: {e}"),
    };
    let c = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:80"), Duration::from_secs(10))
        .await
        .unwrap();
    let (s, _) = l.accept().await.unwrap();
    drop(l);
    (c, s)
}

/// One request/answer exchange of one byte each way.
async fn exchange(c: &mut NetStream, s: &mut NetStream) {
    let mut b = [0u8; 1];
    c.write_all(b"q").await.unwrap();
    s.read_exact(&mut b).await.unwrap();
    s.write_all(b"a").await.unwrap();
    c.read_exact(&mut b).await.unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_idle_flow_past_the_timer_is_reset_on_its_next_packet() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await;
    sleep(IDLE + Duration::from_secs(1)).await;
    assert_eq!(
        handle.stats().expired,
        0,
        "expiry is seen on the next packet"
    );
    let start = Instant::now();
    c.write_all(b"q").await.unwrap();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(start.elapsed(), Duration::from_millis(1), "the box answers");
    // The server never saw the request and is not told.
    let r = meshsim_net::clock::timeout(Duration::from_secs(60), s.read(&mut b)).await;
    assert!(r.is_err(), "the server heard something: {r:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_far_end_of_a_reset_flow_is_reset_when_it_sends() {
    let (net, _handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    sleep(IDLE * 2).await;
    s.write_all(b"late").await.unwrap();
    let mut b = [0u8; 1];
    let err = s.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let r = meshsim_net::clock::timeout(Duration::from_secs(60), c.read(&mut b)).await;
    assert!(r.is_err(), "the client heard the forgotten flow: {r:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_flow_with_traffic_more_often_than_the_timer_is_never_expired() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    for _ in 0..20 {
        sleep(IDLE - Duration::from_secs(10)).await;
        exchange(&mut c, &mut s).await;
    }
    assert_eq!(handle.stats().expired, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keepalive_probes_shorter_than_the_timer_keep_an_idle_flow_alive() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    c.set_keepalive(Some(Keepalive {
        time: Duration::from_secs(300),
        interval: Duration::from_secs(75),
        probes: 9,
    }))
    .unwrap();
    sleep(Duration::from_secs(3600)).await;
    exchange(&mut c, &mut s).await;
    assert_eq!(handle.stats().expired, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keepalive_probes_longer_than_the_timer_meet_the_reset() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, _s) = pair(&net).await;
    c.set_keepalive(Some(Keepalive::LINUX_DEFAULT)).unwrap();
    let start = Instant::now();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let first_probe = Keepalive::LINUX_DEFAULT.time;
    assert_eq!(start.elapsed(), first_probe + Duration::from_millis(1));
    assert_eq!(handle.stats().resets, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_dropped_flow_hangs_and_keepalive_then_detects_it_as_with_a_black_hole() {
    let (net, handle) = boxed(OnExpiry::Drop);
    let (mut c, mut s) = pair(&net).await;
    let ka = Keepalive {
        time: Duration::from_secs(400),
        interval: Duration::from_secs(10),
        probes: 3,
    };
    c.set_keepalive(Some(ka)).unwrap();
    let start = Instant::now();
    let mut b = [0u8; 1];
    // The first probe, at 400 s, finds the flow forgotten: it and the next
    // two are lost, and the end is torn down 30 s later.
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), ka.give_up_after());
    let r = meshsim_net::clock::timeout(Duration::from_secs(60), s.read(&mut b)).await;
    assert!(r.is_err(), "the server heard the dropped flow: {r:?}");
    assert_eq!(handle.stats().dropped, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn data_into_a_dropped_flow_times_out_after_the_retransmission_give_up() {
    let (net, _handle) = boxed(OnExpiry::Drop);
    let (mut c, mut s) = pair(&net).await;
    sleep(IDLE).await;
    let start = Instant::now();
    c.write_all(b"q").await.unwrap();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), SimConfig::default().retransmission_give_up);
    let r = meshsim_net::clock::timeout(Duration::from_secs(1), s.read(&mut b)).await;
    assert!(r.is_err(), "the request crossed a dropped flow: {r:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_new_connection_after_expiry_works() {
    for on_expiry in [OnExpiry::Reset, OnExpiry::Drop] {
        let (net, _handle) = boxed(on_expiry);
        let (mut c, _s) = pair(&net).await;
        sleep(IDLE * 2).await;
        c.write_all(b"q").await.unwrap();
        let (mut c2, mut s2) = pair(&net).await;
        exchange(&mut c2, &mut s2).await;
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn flows_that_do_not_cross_the_box_are_not_tracked() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let l = net.stack(ip("10.0.0.3")).listen(80).await.unwrap();
    let mut c = net
        .stack(ip("10.0.0.2"))
        .connect(addr("10.0.0.3:80"), Duration::from_secs(10))
        .await
        .unwrap();
    let (mut s, _) = l.accept().await.unwrap();
    sleep(IDLE * 2).await;
    exchange(&mut c, &mut s).await;
    assert_eq!(handle.stats(), IdleTimerStats::default());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_counters_count_flows_expiries_resets_and_drops() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await;
    let (mut c2, _s2) = pair(&net).await;
    sleep(IDLE).await;
    c2.write_all(b"q").await.unwrap();
    let want = IdleTimerStats {
        tracked: 2,
        expired: 1,
        resets: 1,
        dropped: 0,
    };
    assert_eq!(handle.stats(), want);
    let (dropping, dh) = boxed(OnExpiry::Drop);
    let (mut d, _ds) = pair(&dropping).await;
    sleep(IDLE).await;
    d.write_all(b"q").await.unwrap();
    d.write_all(b"q").await.unwrap();
    let want = IdleTimerStats {
        tracked: 1,
        expired: 1,
        resets: 0,
        dropped: 1,
    };
    assert_eq!(dh.stats(), want);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_zero_idle_time_is_an_error() {
    let net = Net::sim(SimConfig::default());
    let err = net
        .add_idle_timer(IdleTimer {
            clients: vec![ip("10.0.0.1")],
            idle: Duration::ZERO,
            on_expiry: OnExpiry::Reset,
        })
        .unwrap_err();
    assert!(matches!(err, NetError::ZeroIdleTime), "{err}");
}

/// hyper reads and writes one connection from one task: its read is parked
/// before the request is written into the forgotten flow.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reader_parked_before_a_write_into_a_dropped_flow_times_out_with_it() {
    let (net, _handle) = boxed(OnExpiry::Drop);
    let (c, _s) = pair(&net).await;
    let (mut r, mut w) = tokio::io::split(c);
    let reader = tokio::spawn(async move {
        let mut b = [0u8; 1];
        r.read(&mut b).await
    });
    sleep(IDLE * 2).await;
    let start = Instant::now();
    w.write_all(b"q").await.unwrap();
    let ended = meshsim_net::clock::timeout(Duration::from_secs(3600), reader).await;
    let err = ended
        .expect("the reader never gave up")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), SimConfig::default().retransmission_give_up);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_log_shows_when_a_flow_was_forgotten_and_when_the_box_reset_it() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await;
    let last = Instant::now();
    sleep(IDLE * 2).await;
    let _ = c.write_all(b"q").await;
    let mut b = [0u8; 1];
    let _ = c.read(&mut b).await;
    let (events, omitted) = handle.events();
    let kinds: Vec<IdleEventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [IdleEventKind::Expired, IdleEventKind::Reset]);
    assert_eq!(omitted, 0);
    // The server's answer was the flow's last packet, 1 ms before `last`.
    assert_eq!(events[0].at, last - Duration::from_millis(1) + IDLE);
    assert_eq!(events[1].at, last + IDLE * 2);
    let (inside, outside) = events[0].flow;
    assert_eq!(
        (inside.ip(), outside),
        (ip("10.0.0.1"), addr("10.0.0.2:80"))
    );
}

/// incidents.md A4 (Azure Load Balancer's "TCP reset on idle": RST to both
/// ends when the idle timeout is reached): two parked readers are reset at
/// the moment of expiry plus their one-way latency, with no packet sent.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_box_resetting_at_expiry_resets_both_parked_ends_when_the_flow_expires() {
    let (net, handle) = boxed(OnExpiry::ResetAtExpiry);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await;
    // The last packet (the server's answer) left the server 1 ms ago.
    let start = Instant::now();
    let (mut bc, mut bs) = ([0u8; 1], [0u8; 1]);
    let (rc, rs) = tokio::join!(c.read(&mut bc), s.read(&mut bs));
    assert_eq!(rc.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(rs.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(start.elapsed(), IDLE, "expiry (IDLE - 1 ms) + 1 ms");
    let stats = handle.stats();
    assert_eq!((stats.expired, stats.resets), (1, 2), "{stats:?}");
    let (events, _) = handle.events();
    let kinds: Vec<IdleEventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [IdleEventKind::Expired, IdleEventKind::Reset]);
    assert!(
        events
            .iter()
            .all(|e| e.at == start + IDLE - Duration::from_millis(1))
    );
}

/// incidents.md A4: the timer restarts with every packet, so a flow with
/// traffic more often than the timer is never reset; once quiet it is.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn traffic_more_often_than_the_timer_moves_the_reset_at_expiry_later() {
    let (net, handle) = boxed(OnExpiry::ResetAtExpiry);
    let (mut c, mut s) = pair(&net).await;
    let reader = tokio::spawn(async move {
        let mut b = [0u8; 16];
        let mut got = 0;
        loop {
            match s.read(&mut b).await {
                Ok(n) => got += n,
                Err(e) => return (got, e.kind(), Instant::now()),
            }
        }
    });
    for _ in 0..5 {
        c.write_all(b"q").await.unwrap();
        sleep(IDLE - Duration::from_secs(10)).await;
    }
    let last = Instant::now() - (IDLE - Duration::from_secs(10));
    let (got, kind, at) = reader.await.unwrap();
    assert_eq!((got, kind), (5, ErrorKind::ConnectionReset));
    assert_eq!(at, last + IDLE + Duration::from_millis(1));
    assert_eq!(handle.stats().expired, 1);
}

/// A flow both ends closed (FIN each way) before the timer ran out is gone
/// from the box: nothing is reset or counted.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_flow_closed_before_it_expires_is_never_reset_at_expiry() {
    let (net, handle) = boxed(OnExpiry::ResetAtExpiry);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await;
    c.shutdown().await.unwrap();
    s.shutdown().await.unwrap();
    sleep(IDLE * 2).await;
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).await.unwrap(), 0, "EOF, not a reset");
    assert_eq!(s.read(&mut b).await.unwrap(), 0, "EOF, not a reset");
    let stats = handle.stats();
    assert_eq!((stats.expired, stats.resets), (0, 0), "{stats:?}");
}
