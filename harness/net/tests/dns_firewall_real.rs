//! The DNS-learning egress firewall on the real backend (loopback kernel
//! sockets, real time): the behaviours of `dns_firewall.rs` (sim), as far
//! as loopback sockets can express them. TTLs are short and bounds
//! generous; the only sleeps wait for a TTL to run out.
//!
//! Fact sheet: envoy-istio-facts.md §11 row (b) ("DNS-aware firewall forgets
//! IP after TTL and drops/blocks long-lived flows": a RST or a silent drop);
//! incidents.md INC-04 (snooping) and INC-05 (own resolver).

use std::io::ErrorKind;
use std::time::Duration;

use meshsim_net::clock::{Instant, sleep, timeout};
use meshsim_net::{DnsFirewall, FirewallHandle, Learning, Net, NetStream, OnExpired, OnUnknown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Long enough for a test's traffic, short enough to wait out.
#[path = "support/firewall.rs"]
mod support;
use support::{API, CLIENT, DNS, NAME, addr, answer, exchange, ip, listen};

const TTL: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a stalled operation is watched before it counts as stalled.
const STALL: Duration = Duration::from_millis(300);

/// A loopback network with a firewall in front of `CLIENT`; the cluster
/// range 10.0.0.0/8 does not cross it. Learning is the firewall's own
/// unless `cfg` says otherwise.
fn firewalled(cfg: DnsFirewall) -> (Net, FirewallHandle) {
    let net = Net::real();
    let fw = net
        .add_dns_firewall(DnsFirewall {
            clients: vec![ip(CLIENT)],
            inside: vec!["10.0.0.0/8".parse().unwrap()],
            ..cfg
        })
        .unwrap();
    (net, fw)
}

fn own(cfg: DnsFirewall) -> DnsFirewall {
    DnsFirewall {
        learning: Learning::Own,
        ..cfg
    }
}

fn learn(fw: &FirewallHandle, ttl: Duration) {
    fw.learn(NAME, &[addr(API).ip()], ttl);
}

async fn connect(net: &Net, within: Duration) -> std::io::Result<NetStream> {
    net.stack(ip(CLIENT)).connect(addr(API), within).await
}

/// An established connection from `CLIENT` to the API: (client, server).
async fn established(net: &Net) -> (NetStream, NetStream) {
    let l = listen(net).await;
    let c = connect(net, CONNECT_TIMEOUT).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// envoy-istio-facts.md is silent on egress firewalls; the fact is
/// incidents.md INC-04: a connection to an address the firewall learned is
/// admitted.
#[tokio::test]
async fn a_connection_to_a_learned_address_is_admitted_on_loopback() {
    let (net, fw) = firewalled(own(DnsFirewall::default()));
    learn(&fw, Duration::from_secs(30));
    let (mut c, mut s) = established(&net).await;
    assert_eq!(exchange(&mut c, &mut s).await.unwrap(), b'a');
    let st = fw.stats();
    assert_eq!((st.learned, st.admitted, st.denied), (1, 1, 0));
}

/// INC-04: a resetting firewall refuses a connect to an unlearned address
/// at once.
#[tokio::test]
async fn a_connect_to_an_unlearned_address_is_refused_at_once_by_a_resetting_firewall_on_loopback()
{
    let (net, fw) = firewalled(own(DnsFirewall {
        on_unknown: OnUnknown::Reset,
        ..DnsFirewall::default()
    }));
    let _l = listen(&net).await;
    let start = Instant::now();
    let err = connect(&net, CONNECT_TIMEOUT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "no SYN retry wait"
    );
    assert_eq!(fw.stats().denied, 1);
}

/// INC-04: a dropping firewall makes a connect to an unlearned address run
/// into the client's connect timeout.
#[tokio::test]
async fn a_connect_to_an_unlearned_address_times_out_behind_a_dropping_firewall_on_loopback() {
    let (net, fw) = firewalled(own(DnsFirewall::default()));
    let _l = listen(&net).await;
    let within = Duration::from_millis(300);
    let start = Instant::now();
    let err = connect(&net, within).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(start.elapsed() >= within, "{:?}", start.elapsed());
    assert_eq!(fw.stats().denied, 1);
}

/// Linux retransmits a dropped SYN after 1 s: the copy meets an address
/// learned meanwhile and passes.
#[tokio::test]
async fn a_retransmitted_syn_passes_once_the_address_is_learned_meanwhile_on_loopback() {
    let (net, fw) = firewalled(own(DnsFirewall::default()));
    let l = listen(&net).await;
    let start = Instant::now();
    let learner = {
        let fw = fw.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(200)).await;
            learn(&fw, Duration::from_secs(30));
        })
    };
    let c = connect(&net, CONNECT_TIMEOUT).await;
    learner.await.unwrap();
    assert!(c.is_ok(), "{c:?}");
    assert!(l.accept().await.is_ok());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    let st = fw.stats();
    assert_eq!((st.denied, st.admitted), (1, 1));
}

/// INC-04: an established flow whose address expired is reset at both
/// ends on its next packet; the server end, parked in a read, is woken.
#[tokio::test]
async fn an_established_flow_whose_address_expired_is_reset_at_both_ends_on_loopback() {
    let (net, fw) = firewalled(own(DnsFirewall::default()));
    learn(&fw, TTL);
    let (mut c, mut s) = established(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    let server = tokio::spawn(async move {
        let mut b = [0u8; 1];
        s.read(&mut b).await
    });
    sleep(TTL).await;
    // The write is accepted by the kernel; the firewall answers it.
    c.write_all(b"q").await.unwrap();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let parked = timeout(Duration::from_secs(2), server).await;
    let err = parked.expect("the parked server read is woken").unwrap();
    assert_eq!(err.unwrap_err().kind(), ErrorKind::ConnectionReset);
    let st = fw.stats();
    assert_eq!((st.expired, st.flows_reset), (1, 1));
}

/// INC-04 (black-holing flavour): an expired flow's packets vanish, so
/// reads at both ends stall while writes still succeed.
#[tokio::test]
async fn a_blackholed_flow_stalls_on_loopback() {
    let (net, fw) = firewalled(own(DnsFirewall {
        on_expired: OnExpired::Blackhole,
        ..DnsFirewall::default()
    }));
    learn(&fw, TTL);
    let (mut c, mut s) = established(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    sleep(TTL).await;
    c.write_all(b"q").await.unwrap();
    let mut b = [0u8; 1];
    assert!(
        timeout(STALL, s.read(&mut b)).await.is_err(),
        "server stalls"
    );
    s.write_all(b"a").await.unwrap();
    assert!(
        timeout(STALL, c.read(&mut b)).await.is_err(),
        "client stalls"
    );
    assert_eq!(fw.stats().flows_blackholed, 1);
}

/// Firewalls that check only at connection setup keep an established flow
/// past its address's expiry and deny new connections.
#[tokio::test]
async fn a_firewall_that_checks_only_at_setup_keeps_established_flows_on_loopback() {
    let (net, fw) = firewalled(own(DnsFirewall {
        on_unknown: OnUnknown::Reset,
        on_expired: OnExpired::Keep,
        ..DnsFirewall::default()
    }));
    learn(&fw, TTL);
    let (mut c, mut s) = established(&net).await;
    sleep(TTL).await;
    assert_eq!(exchange(&mut c, &mut s).await.unwrap(), b'a');
    let err = connect(&net, CONNECT_TIMEOUT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let st = fw.stats();
    assert_eq!((st.flows_reset, st.flows_blackholed, st.denied), (0, 0, 1));
}

/// INC-04 (Cilium's DNS proxy): a DNS answer that reaches a client teaches
/// a snooping firewall the address, so the client's connect is admitted.
#[tokio::test]
async fn a_snooped_dns_answer_admits_the_connection_on_loopback() {
    let (net, fw) = firewalled(DnsFirewall {
        on_unknown: OnUnknown::Reset,
        ..DnsFirewall::default()
    });
    let l = listen(&net).await;
    assert!(
        connect(&net, CONNECT_TIMEOUT).await.is_err(),
        "not yet learned"
    );
    let server = net.stack(addr(DNS).ip()).bind_udp(53).await.unwrap();
    let sock = net.stack(ip(CLIENT)).bind_udp(0).await.unwrap();
    let ttl = Duration::from_secs(30);
    server
        .send_to(&answer(addr(API).ip(), ttl), sock.local_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    sock.recv_from(&mut buf).await.unwrap();
    assert!(connect(&net, CONNECT_TIMEOUT).await.is_ok());
    assert!(l.accept().await.is_ok());
    let st = fw.stats();
    assert_eq!((st.learned, st.admitted, st.denied), (1, 1, 1));
}

/// The cluster's own traffic does not go through the egress firewall.
#[tokio::test]
async fn traffic_to_the_inside_ranges_never_crosses_the_firewall_on_loopback() {
    let (net, fw) = firewalled(own(DnsFirewall {
        on_unknown: OnUnknown::Reset,
        ..DnsFirewall::default()
    }));
    let l = net.stack(ip("10.0.7.7")).listen(80).await.unwrap();
    let c = net
        .stack(ip(CLIENT))
        .connect(addr("10.0.7.7:80"), CONNECT_TIMEOUT)
        .await;
    assert!(c.is_ok(), "{c:?}");
    assert!(l.accept().await.is_ok());
    assert_eq!(fw.stats(), Default::default());
}

/// With `keep_active`, a flow carrying packets is kept past its address's
/// expiry; once it goes quiet for the window, its next packet is reset.
#[tokio::test]
async fn an_active_flow_is_kept_past_the_expiry_until_it_goes_quiet_on_loopback() {
    let window = Duration::from_secs(1);
    let (net, fw) = firewalled(own(DnsFirewall {
        keep_active: Some(window),
        ..DnsFirewall::default()
    }));
    learn(&fw, TTL);
    let (mut c, mut s) = established(&net).await;
    // A packet every 100 ms carries the flow across the expiry (gaps of a
    // whole second would be needed to cut it).
    for _ in 0..15 {
        sleep(Duration::from_millis(100)).await;
        exchange(&mut c, &mut s).await.unwrap();
    }
    assert_eq!(fw.stats().flows_kept, 1);
    sleep(window).await;
    let err = exchange(&mut c, &mut s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(fw.stats().flows_reset, 1);
}
