//! Kernel behaviours only the simulated backend has to model itself: latency,
//! retransmission give-up, RST on close with unread data, listener close.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_net::{Net, NetStream, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const T: Duration = Duration::from_secs(10);

/// A connection from 10.0.0.1 to a listener on 10.0.0.2:80: (client, server).
async fn pair(net: &Net) -> (NetStream, NetStream) {
    let l = net.stack(ip("10.0.0.2")).listen(80).await.unwrap();
    let c = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:80"), T)
        .await
        .unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_takes_one_round_trip_and_data_one_way() {
    let net = Net::sim(SimConfig {
        base_latency: Duration::from_millis(5),
        ..SimConfig::default()
    });
    let l = net.stack(ip("10.0.0.2")).listen(80).await.unwrap();
    let start = Instant::now();
    let mut c = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:80"), T)
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    let (mut s, _) = l.accept().await.unwrap();
    let sent = Instant::now();
    c.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(sent.elapsed(), Duration::from_millis(5));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn host_latency_adds_to_the_base_on_both_ends() {
    let net = Net::sim(SimConfig {
        base_latency: Duration::from_millis(1),
        ..SimConfig::default()
    });
    net.set_host_latency(ip("52.1.1.10"), Duration::from_millis(20));
    let _l = net.stack(ip("52.1.1.10")).listen(80).await.unwrap();
    let start = Instant::now();
    let _c = net
        .stack(ip("10.0.0.1"))
        .connect(addr("52.1.1.10:80"), T)
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(42));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn unacknowledged_data_across_a_drop_times_out_after_retransmission_give_up() {
    let net = Net::sim(SimConfig::default());
    let (mut c, _s) = pair(&net).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    let start = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), SimConfig::default().retransmission_give_up);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_idle_black_holed_flow_hangs_until_a_timer_ends_it() {
    let net = Net::sim(SimConfig::default());
    let (mut c, s) = pair(&net).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    s.reset(); // the RST is dropped too
    let mut b = [0u8; 1];
    let r = meshsim_net::clock::timeout(Duration::from_secs(3600), c.read(&mut b)).await;
    assert!(r.is_err(), "an idle flow across a drop must hang: {r:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn lifting_a_drop_delivers_what_was_written_meanwhile() {
    let net = Net::sim(SimConfig::default());
    let (mut c, mut s) = pair(&net).await;
    net.set_blackhole(ip("10.0.0.2"), true);
    c.write_all(b"late").await.unwrap();
    let net2 = net.clone();
    tokio::spawn(async move {
        meshsim_net::clock::sleep(Duration::from_secs(30)).await;
        net2.set_blackhole(ip("10.0.0.2"), false);
    });
    let start = Instant::now();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"late");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn closing_with_unread_data_sends_a_reset() {
    let net = Net::sim(SimConfig::default());
    let (mut c, s) = pair(&net).await;
    c.write_all(b"unread").await.unwrap();
    meshsim_net::clock::sleep(Duration::from_millis(1)).await; // let it arrive
    drop(s);
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn writing_to_a_closed_peer_succeeds_then_reads_eof() {
    // The keep-alive race: the server closed (FIN), the client still writes
    // its request; the write is accepted and the client reads EOF.
    let net = Net::sim(SimConfig::default());
    let (mut c, s) = pair(&net).await;
    drop(s);
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).await.unwrap(), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn closing_a_listener_refuses_new_connects_and_resets_unaccepted_ones() {
    let net = Net::sim(SimConfig::default());
    let l = net.stack(ip("10.0.0.2")).listen(80).await.unwrap();
    let client = net.stack(ip("10.0.0.1"));
    let mut pending = client.connect(addr("10.0.0.2:80"), T).await.unwrap();
    drop(l);
    let mut b = [0u8; 1];
    assert_eq!(
        pending.read(&mut b).await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    let err = client.connect(addr("10.0.0.2:80"), T).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn silent_drop_without_app_timeout_gives_up_at_syn_retries() {
    let net = Net::sim(SimConfig::default());
    net.set_blackhole(ip("10.0.0.2"), true);
    let start = Instant::now();
    let err = net
        .stack(ip("10.0.0.1"))
        .connect(addr("10.0.0.2:80"), Duration::from_secs(3600))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), Duration::from_secs(127));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn jitter_is_reproducible_for_a_seed() {
    async fn arrival(seed: u64) -> Duration {
        let net = Net::sim(SimConfig {
            seed,
            jitter: Duration::from_millis(10),
            ..SimConfig::default()
        });
        let _l = net.stack(ip("10.0.0.2")).listen(80).await.unwrap();
        let start = Instant::now();
        let _c = net
            .stack(ip("10.0.0.1"))
            .connect(addr("10.0.0.2:80"), T)
            .await
            .unwrap();
        start.elapsed()
    }
    let a = arrival(1).await;
    assert_eq!(a, arrival(1).await);
    let others: Vec<Duration> = futures_like_collect(&[2, 3, 4, 5]).await;
    assert!(others.iter().any(|d| *d != a), "jitter ignores the seed");

    async fn futures_like_collect(seeds: &[u64]) -> Vec<Duration> {
        let mut v = Vec::new();
        for s in seeds {
            v.push(Box::pin(arrival(*s)).await);
        }
        v
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn data_that_arrived_before_a_drop_can_still_be_read() {
    let net = Net::sim(SimConfig::default());
    let (mut c, mut s) = pair(&net).await;
    c.write_all(b"early").await.unwrap();
    meshsim_net::clock::sleep(Duration::from_millis(5)).await; // arrived, not read yet
    net.set_blackhole(ip("10.0.0.2"), true);
    let mut b = [0u8; 5];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"early");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reader_parked_before_a_drop_still_gives_up_on_its_unanswered_data() {
    // The client writes a request and waits for the answer; the drop starts
    // while the request is still on its way.
    let net = Net::sim(SimConfig {
        base_latency: Duration::from_millis(10),
        ..SimConfig::default()
    });
    let (mut c, _s) = pair(&net).await;
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let written = Instant::now();
    let net2 = net.clone();
    tokio::spawn(async move {
        meshsim_net::clock::sleep(Duration::from_millis(3)).await;
        net2.set_blackhole(ip("10.0.0.2"), true);
    });
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(
        written.elapsed(),
        SimConfig::default().retransmission_give_up
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reset_never_overtakes_the_response_sent_before_it() {
    let net = Net::sim(SimConfig {
        seed: 3,
        base_latency: Duration::from_millis(5),
        jitter: Duration::from_millis(20),
        ..SimConfig::default()
    });
    let (mut c, mut s) = pair(&net).await;
    for _ in 0..20 {
        s.write_all(b"x").await.unwrap();
    }
    s.reset();
    let mut got = Vec::new();
    let mut b = [0u8; 64];
    let err = loop {
        match c.read(&mut b).await {
            Ok(0) => panic!("EOF instead of RST"),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(got.len(), 20, "the RST overtook data sent before it");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn closing_with_data_still_in_flight_sends_fin_then_reset() {
    // The keep-alive race: the server closes an idle connection while the
    // client's next request is on the wire: the client reads EOF (the FIN
    // came first), and its later writes fail.
    let net = Net::sim(SimConfig {
        base_latency: Duration::from_millis(5),
        ..SimConfig::default()
    });
    let (mut c, s) = pair(&net).await;
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    drop(s); // the request has not arrived yet
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).await.unwrap(), 0, "FIN first");
    meshsim_net::clock::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        c.write(b"x").await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_reader_parked_before_a_write_into_a_drop_gives_up_with_the_write() {
    // hyper's connection task parks its read, then writes the request into
    // a path that is already black-holed.
    let net = Net::sim(SimConfig::default());
    let (c, _s) = pair(&net).await;
    let (mut r, mut w) = tokio::io::split(c);
    let reader = tokio::spawn(async move {
        let mut b = [0u8; 1];
        r.read(&mut b).await
    });
    tokio::task::yield_now().await;
    net.set_blackhole(ip("10.0.0.2"), true);
    let written = Instant::now();
    w.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let ended = meshsim_net::clock::timeout(Duration::from_secs(3600), reader).await;
    let err = ended
        .expect("the reader never gave up")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(
        written.elapsed(),
        SimConfig::default().retransmission_give_up
    );
}
