//! The idle-timer middlebox on the real backend (loopback kernel sockets,
//! real time): the behaviours of `idle_timer.rs` (sim), with a 200 ms box
//! instead of 350 s. Bounds are generous; the only sleeps wait for the
//! box's timer to run out.
//!
//! Facts: incidents.md A4 (AWS NLB / NAT gateway answer a packet of a
//! forgotten flow with a RST, Azure LB and AWS Network Firewall drop it
//! silently); envoy-istio-facts.md §11 row (b) (a silent drop is noticed
//! only through TCP keepalive, an idle timeout or the kernel's
//! retransmission give-up) and §13 point 8 (kernel timers).

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::clock::{Instant, sleep, timeout};
use meshsim_net::{
    IdleEventKind, IdleTimer, IdleTimerHandle, IdleTimerStats, Keepalive, Net, NetError, NetStream,
    OnExpiry, RealConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IDLE: Duration = Duration::from_millis(200);
/// Past the box's timer, with room for a late timer.
const PAST_IDLE: Duration = Duration::from_millis(300);
/// How long a stalled operation is watched before it counts as stalled.
const STALL: Duration = Duration::from_millis(300);
/// A give-up short enough to wait out.
const GIVE_UP: Duration = Duration::from_millis(500);
/// The most any one step may take on a loaded machine.
const BOUND: Duration = Duration::from_secs(5);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A loopback network with a 200 ms box in front of the client 10.0.0.1.
fn boxed(on_expiry: OnExpiry) -> (Net, IdleTimerHandle) {
    let net = Net::real_with(RealConfig {
        retransmission_give_up: GIVE_UP,
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
    let l = net.stack(ip("10.0.0.2")).listen(80).await.unwrap();
    let c = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:80"), BOUND)
        .await
        .unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// One request/answer exchange of one byte each way.
async fn exchange(c: &mut NetStream, s: &mut NetStream) -> std::io::Result<()> {
    let mut b = [0u8; 1];
    c.write_all(b"q").await?;
    s.read_exact(&mut b).await?;
    s.write_all(b"a").await?;
    c.read_exact(&mut b).await?;
    Ok(())
}

/// Reads one byte, failing the test if nothing happens within [`BOUND`].
async fn read_err(s: &mut NetStream) -> std::io::Error {
    let mut b = [0u8; 1];
    match timeout(BOUND, s.read(&mut b)).await {
        Ok(r) => r.unwrap_err(),
        Err(_) => panic!("the read never ended"),
    }
}

async fn stalls(s: &mut NetStream) -> bool {
    let mut b = [0u8; 1];
    timeout(STALL, s.read(&mut b)).await.is_err()
}

#[tokio::test]
async fn an_idle_flow_past_the_timer_is_reset_on_its_next_packet_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    sleep(PAST_IDLE).await;
    assert_eq!(
        handle.stats().expired,
        0,
        "expiry is seen on the next packet"
    );
    c.write_all(b"q").await.unwrap();
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::ConnectionReset);
    assert!(stalls(&mut s).await, "the server heard the forgotten flow");
    assert_eq!(handle.stats().resets, 1);
}

#[tokio::test]
async fn the_far_end_of_a_reset_flow_is_reset_when_it_sends_on_loopback() {
    let (net, _handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    sleep(PAST_IDLE).await;
    s.write_all(b"late").await.unwrap();
    assert_eq!(read_err(&mut s).await.kind(), ErrorKind::ConnectionReset);
    assert!(stalls(&mut c).await, "the client heard the forgotten flow");
}

/// What makes pooled connections fail after a NAT timeout: the server
/// closes its idle end after the box forgot the flow; the box answers the
/// FIN, so the client never sees it and its next request is reset.
#[tokio::test]
async fn a_close_after_expiry_never_reaches_the_other_end_on_loopback() {
    let (net, _handle) = boxed(OnExpiry::Reset);
    let (mut c, s) = pair(&net).await;
    sleep(PAST_IDLE).await;
    drop(s);
    assert!(stalls(&mut c).await, "the client saw the server's close");
    c.write_all(b"q").await.unwrap();
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn a_flow_with_traffic_more_often_than_the_timer_is_never_expired_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    for _ in 0..10 {
        sleep(IDLE / 4).await;
        exchange(&mut c, &mut s).await.unwrap();
    }
    assert_eq!(handle.stats().expired, 0);
}

/// DR `tcp.tcpKeepalive` below the box's timer (fact sheet §4.2, §11 (b)):
/// the emulated probes are packets the box sees.
#[tokio::test]
async fn keepalive_keeps_an_idle_timer_flow_alive_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    c.set_keepalive(Some(Keepalive {
        time: Duration::from_millis(100),
        interval: Duration::from_millis(50),
        probes: 3,
    }))
    .unwrap();
    sleep(IDLE * 5).await;
    exchange(&mut c, &mut s).await.unwrap();
    assert_eq!(handle.stats().expired, 0);
}

#[tokio::test]
async fn keepalive_probes_longer_than_the_timer_meet_the_reset_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, _s) = pair(&net).await;
    let ka = Keepalive {
        time: Duration::from_millis(300),
        interval: Duration::from_millis(50),
        probes: 3,
    };
    c.set_keepalive(Some(ka)).unwrap();
    let start = Instant::now();
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::ConnectionReset);
    assert!(start.elapsed() >= ka.time, "{:?}", start.elapsed());
    assert_eq!(handle.stats().resets, 1);
}

#[tokio::test]
async fn a_dropped_flow_hangs_and_keepalive_then_detects_it_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Drop);
    let (mut c, mut s) = pair(&net).await;
    let ka = Keepalive {
        time: Duration::from_millis(300),
        interval: Duration::from_millis(50),
        probes: 3,
    };
    c.set_keepalive(Some(ka)).unwrap();
    let start = Instant::now();
    // The first probe, at 300 ms, finds the flow forgotten: it and the
    // next two are lost, and the end is torn down 150 ms later.
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::TimedOut);
    assert!(
        start.elapsed() >= ka.give_up_after(),
        "{:?}",
        start.elapsed()
    );
    assert!(stalls(&mut s).await, "the server heard the dropped flow");
    assert_eq!(handle.stats().dropped, 1);
}

#[tokio::test]
async fn data_into_a_dropped_flow_times_out_after_the_retransmission_give_up_on_loopback() {
    let (net, _handle) = boxed(OnExpiry::Drop);
    let (mut c, mut s) = pair(&net).await;
    sleep(PAST_IDLE).await;
    let start = Instant::now();
    c.write_all(b"q").await.unwrap();
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::TimedOut);
    assert!(start.elapsed() >= GIVE_UP, "{:?}", start.elapsed());
    assert!(stalls(&mut s).await, "the request crossed a dropped flow");
    let err = c.write_all(b"q").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "writes fail too");
}

/// hyper reads and writes one connection from one task: its read is parked
/// before the request is written into the forgotten flow.
#[tokio::test]
async fn a_reader_parked_before_a_write_into_a_dropped_flow_times_out_with_it_on_loopback() {
    let (net, _handle) = boxed(OnExpiry::Drop);
    let (c, _s) = pair(&net).await;
    let (mut r, mut w) = tokio::io::split(c);
    let reader = tokio::spawn(async move {
        let mut b = [0u8; 1];
        r.read(&mut b).await
    });
    sleep(PAST_IDLE).await;
    let start = Instant::now();
    w.write_all(b"q").await.unwrap();
    let ended = timeout(BOUND, reader).await;
    let err = ended
        .expect("the reader never gave up")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(start.elapsed() >= GIVE_UP, "{:?}", start.elapsed());
}

#[tokio::test]
async fn a_new_connection_after_expiry_works_on_loopback() {
    for on_expiry in [OnExpiry::Reset, OnExpiry::Drop] {
        let (net, _handle) = boxed(on_expiry);
        let (mut c, _s) = pair(&net).await;
        sleep(PAST_IDLE).await;
        c.write_all(b"q").await.unwrap();
        let (mut c2, mut s2) = pair(&net).await;
        exchange(&mut c2, &mut s2).await.unwrap();
    }
}

#[tokio::test]
async fn flows_that_do_not_cross_the_box_are_not_tracked_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let l = net.stack(ip("10.0.0.3")).listen(80).await.unwrap();
    let mut c = net
        .stack(ip("10.0.0.2"))
        .connect(addr("10.0.0.3:80"), BOUND)
        .await
        .unwrap();
    let (mut s, _) = l.accept().await.unwrap();
    sleep(PAST_IDLE).await;
    exchange(&mut c, &mut s).await.unwrap();
    assert_eq!(handle.stats(), IdleTimerStats::default());
}

#[tokio::test]
async fn the_counters_count_flows_expiries_resets_and_drops_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    let (mut c2, _s2) = pair(&net).await;
    sleep(PAST_IDLE).await;
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
    sleep(PAST_IDLE).await;
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

#[tokio::test]
async fn a_zero_idle_time_is_an_error_on_loopback() {
    let err = Net::real()
        .add_idle_timer(IdleTimer {
            clients: vec![ip("10.0.0.1")],
            idle: Duration::ZERO,
            on_expiry: OnExpiry::Reset,
        })
        .unwrap_err();
    assert!(matches!(err, NetError::ZeroIdleTime), "{err}");
}

#[tokio::test]
async fn the_log_shows_when_a_flow_was_forgotten_and_when_the_box_reset_it_on_loopback() {
    let (net, handle) = boxed(OnExpiry::Reset);
    let (mut c, mut s) = pair(&net).await;
    let first = Instant::now();
    exchange(&mut c, &mut s).await.unwrap();
    let last = Instant::now();
    sleep(PAST_IDLE).await;
    let sent = Instant::now();
    let _ = c.write_all(b"q").await;
    let _ = read_err(&mut c).await;
    let (events, omitted) = handle.events();
    let kinds: Vec<IdleEventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [IdleEventKind::Expired, IdleEventKind::Reset]);
    assert_eq!(omitted, 0);
    // Forgotten `idle` after the exchange's last packet; reset on the write.
    assert!(events[0].at >= first + IDLE && events[0].at <= last + IDLE);
    assert!(events[1].at >= sent, "{:?} {:?}", events[1].at, sent);
    let (inside, outside) = events[0].flow;
    assert_eq!(
        (inside.ip(), outside),
        (ip("10.0.0.1"), addr("10.0.0.2:80"))
    );
}

/// incidents.md A4 (Azure Load Balancer's "TCP reset on idle"): over
/// loopback too, two parked readers are reset once the flow has been quiet
/// for the box's timer, with no packet sent; both ends' later writes fail.
#[tokio::test]
async fn a_box_resetting_at_expiry_resets_both_parked_ends_when_the_flow_expires_on_loopback() {
    let (net, handle) = boxed(OnExpiry::ResetAtExpiry);
    let (mut c, mut s) = pair(&net).await;
    // The box's timer restarts at the exchange's last packet, after `start`.
    let start = Instant::now();
    exchange(&mut c, &mut s).await.unwrap();
    let (ec, es) = tokio::join!(read_err(&mut c), read_err(&mut s));
    assert_eq!(ec.kind(), ErrorKind::ConnectionReset);
    assert_eq!(es.kind(), ErrorKind::ConnectionReset);
    assert!(
        start.elapsed() >= IDLE,
        "reset before the box's timer ran out"
    );
    assert!(c.write_all(b"q").await.is_err());
    let stats = handle.stats();
    assert_eq!((stats.expired, stats.resets), (1, 2), "{stats:?}");
}

/// As `idle_timer.rs`'s `a_flow_closed_before_it_expires_is_never_reset_at_expiry`:
/// a flow both ends closed (FIN each way) before the box's timer ran out is
/// left alone; the ends read EOF, and nothing is counted.
#[tokio::test]
async fn a_flow_closed_before_it_expires_is_never_reset_at_expiry_on_loopback() {
    let (net, handle) = boxed(OnExpiry::ResetAtExpiry);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    c.shutdown().await.unwrap();
    s.shutdown().await.unwrap();
    sleep(PAST_IDLE).await;
    let mut b = [0u8; 1];
    let eof = |r: Result<std::io::Result<usize>, _>| r.expect("the read never ended");
    assert_eq!(
        eof(timeout(BOUND, c.read(&mut b)).await).unwrap(),
        0,
        "EOF, not a reset"
    );
    assert_eq!(
        eof(timeout(BOUND, s.read(&mut b)).await).unwrap(),
        0,
        "EOF, not a reset"
    );
    let stats = handle.stats();
    assert_eq!((stats.expired, stats.resets), (0, 0), "{stats:?}");
}

/// One end closed is not enough: the other end, still open, is reset when
/// the flow expires (as on the simulated path, only both FINs end it).
#[tokio::test]
async fn a_half_closed_flow_is_still_reset_at_expiry_on_loopback() {
    let (net, handle) = boxed(OnExpiry::ResetAtExpiry);
    let (mut c, mut s) = pair(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    c.shutdown().await.unwrap();
    let mut b = [0u8; 1];
    assert_eq!(s.read(&mut b).await.unwrap(), 0, "the client's FIN");
    assert_eq!(read_err(&mut c).await.kind(), ErrorKind::ConnectionReset);
    let stats = handle.stats();
    assert_eq!((stats.expired, stats.resets), (1, 2), "{stats:?}");
}
