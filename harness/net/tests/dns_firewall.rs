//! The DNS-learning egress firewall of the simulated network (incidents.md
//! INC-04: Cilium / FortiGate / Palo Alto FQDN rules forget an address when
//! its TTL runs out; INC-05: the firewall resolves on its own), on virtual
//! time.

use std::io::ErrorKind;
use std::time::Duration;

use meshsim_net::clock::{Instant, sleep};
use meshsim_net::{
    Cidr, DnsFirewall, FirewallEventKind, FirewallHandle, Learning, Net, NetStream, OnExpired,
    OnUnknown, SimConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/firewall.rs"]
mod support;
use support::{API, CLIENT, DNS, NAME, addr, answer, exchange, ip, listen};

const OTHER_CLIENT: &str = "10.0.0.3";
const TTL: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A network with 1 ms one-way latency and a firewall in front of both
/// clients; the cluster range 10.0.0.0/8 does not cross it.
fn firewalled(cfg: DnsFirewall) -> (Net, FirewallHandle) {
    let net = Net::sim(SimConfig {
        base_latency: Duration::from_millis(1),
        ..SimConfig::default()
    });
    let fw = net
        .add_dns_firewall(DnsFirewall {
            clients: vec![ip(CLIENT), ip(OTHER_CLIENT)],
            inside: vec!["10.0.0.0/8".parse().unwrap()],
            ..cfg
        })
        .unwrap();
    (net, fw)
}

/// The DNS server answers `client` (from port 53): what the firewall snoops.
async fn resolve(net: &Net, client: &str, ttl: Duration) {
    let server = net.stack(addr(DNS).ip()).bind_udp(53).await.unwrap();
    let sock = net.stack(ip(client)).bind_udp(0).await.unwrap();
    server
        .send_to(&answer(addr(API).ip(), ttl), sock.local_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    sock.recv_from(&mut buf).await.unwrap();
}

async fn connect(net: &Net, from: &str) -> std::io::Result<NetStream> {
    net.stack(ip(from))
        .connect(addr(API), CONNECT_TIMEOUT)
        .await
}

/// An established connection from `CLIENT` to the API: (client, server).
async fn established(net: &Net) -> (NetStream, NetStream) {
    let l = listen(net).await;
    let c = connect(net, CLIENT).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connection_to_an_address_learned_from_a_snooped_answer_is_admitted() {
    let (net, fw) = firewalled(DnsFirewall::default());
    resolve(&net, CLIENT, TTL).await;
    let (mut c, mut s) = established(&net).await;
    assert_eq!(exchange(&mut c, &mut s).await.unwrap(), b'a');
    let st = fw.stats();
    assert_eq!((st.learned, st.admitted, st.denied), (1, 1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connect_to_an_unlearned_address_is_dropped_until_the_connect_timeout() {
    let (net, fw) = firewalled(DnsFirewall::default());
    let _l = listen(&net).await;
    let start = Instant::now();
    let err = connect(&net, CLIENT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), CONNECT_TIMEOUT);
    assert_eq!(fw.stats().denied, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connect_to_an_unlearned_address_is_refused_at_once_by_a_resetting_firewall() {
    let (net, _fw) = firewalled(DnsFirewall {
        on_unknown: OnUnknown::Reset,
        ..DnsFirewall::default()
    });
    let _l = listen(&net).await;
    let start = Instant::now();
    let err = connect(&net, CLIENT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(start.elapsed() < Duration::from_millis(10));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_retransmitted_syn_passes_once_the_address_is_learned_meanwhile() {
    // Linux retransmits the SYN after 1 s, 3 s, 7 s...: the one at 3 s
    // meets an entry learned at 2 s.
    let (net, fw) = firewalled(DnsFirewall::default());
    let _l = listen(&net).await;
    let start = Instant::now();
    let learner = {
        let net = net.clone();
        tokio::spawn(async move {
            sleep(Duration::from_secs(2)).await;
            resolve(&net, OTHER_CLIENT, TTL).await;
        })
    };
    let c = connect(&net, CLIENT).await;
    learner.await.unwrap();
    assert!(c.is_ok(), "{c:?}");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    let st = fw.stats();
    assert_eq!((st.denied, st.admitted), (1, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_established_flow_whose_address_expired_is_reset_at_both_ends_on_its_next_packet() {
    let (net, fw) = firewalled(DnsFirewall::default());
    resolve(&net, CLIENT, TTL).await;
    let (mut c, mut s) = established(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    sleep(TTL).await;
    // The write is accepted by the kernel; the firewall answers it.
    c.write_all(b"q").await.unwrap();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    let err = s.read(&mut b).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::ConnectionReset,
        "the server end is reset too"
    );
    let st = fw.stats();
    assert_eq!((st.expired, st.flows_reset), (1, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_blackholed_flow_hangs_until_the_kernel_gives_up_retransmitting() {
    let (net, fw) = firewalled(DnsFirewall {
        on_expired: OnExpired::Blackhole,
        ..DnsFirewall::default()
    });
    resolve(&net, CLIENT, TTL).await;
    let (mut c, mut s) = established(&net).await;
    exchange(&mut c, &mut s).await.unwrap();
    sleep(TTL).await;
    let sent = Instant::now();
    c.write_all(b"q").await.unwrap();
    let mut b = [0u8; 1];
    let err = c.read(&mut b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // Linux tcp_retries2 = 15: 924.6 s after the first transmission.
    assert_eq!(sent.elapsed(), Duration::from_millis(924_600));
    assert_eq!(fw.stats().flows_blackholed, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_firewall_that_checks_only_at_setup_keeps_established_flows_and_denies_new_ones() {
    let (net, fw) = firewalled(DnsFirewall {
        on_expired: OnExpired::Keep,
        ..DnsFirewall::default()
    });
    resolve(&net, CLIENT, TTL).await;
    let (mut c, mut s) = established(&net).await;
    sleep(TTL * 3).await;
    assert_eq!(exchange(&mut c, &mut s).await.unwrap(), b'a');
    let err = connect(&net, CLIENT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let st = fw.stats();
    assert_eq!((st.flows_reset, st.flows_blackholed, st.denied), (0, 0, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_active_flow_is_kept_past_the_expiry_until_it_goes_quiet() {
    let window = Duration::from_secs(30);
    let (net, fw) = firewalled(DnsFirewall {
        keep_active: Some(window),
        ..DnsFirewall::default()
    });
    resolve(&net, CLIENT, TTL).await;
    let (mut c, mut s) = established(&net).await;
    // A packet every 10 s carries the flow across the expiry at 60 s.
    for _ in 0..12 {
        sleep(Duration::from_secs(10)).await;
        exchange(&mut c, &mut s).await.unwrap();
    }
    assert_eq!(fw.stats().flows_kept, 1);
    sleep(window).await;
    let err = exchange(&mut c, &mut s).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(fw.stats().flows_reset, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn another_clients_re_resolution_refreshes_the_entry_for_every_flow() {
    let (net, fw) = firewalled(DnsFirewall::default());
    resolve(&net, CLIENT, TTL).await;
    let (mut c, mut s) = established(&net).await;
    sleep(TTL / 2).await;
    resolve(&net, OTHER_CLIENT, TTL).await;
    sleep(TTL / 2 + Duration::from_secs(5)).await;
    assert_eq!(exchange(&mut c, &mut s).await.unwrap(), b'a');
    let st = fw.stats();
    assert_eq!((st.learned, st.refreshed, st.flows_reset), (1, 1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn min_ttl_and_grace_lengthen_a_short_ttl_and_max_ttl_shortens_a_long_one() {
    let (net, fw) = firewalled(DnsFirewall {
        min_ttl: Duration::from_secs(30),
        grace: Duration::from_secs(10),
        ..DnsFirewall::default()
    });
    resolve(&net, CLIENT, Duration::from_secs(5)).await;
    sleep(Duration::from_secs(39)).await;
    assert!(fw.admits(addr(API).ip()), "min 30 s + grace 10 s");
    sleep(Duration::from_secs(2)).await;
    assert!(!fw.admits(addr(API).ip()));

    let (net, fw) = firewalled(DnsFirewall {
        max_ttl: Some(Duration::from_secs(20)),
        ..DnsFirewall::default()
    });
    resolve(&net, CLIENT, Duration::from_secs(3600)).await;
    sleep(Duration::from_secs(21)).await;
    assert!(!fw.admits(addr(API).ip()), "capped at 20 s");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_firewall_with_its_own_resolver_ignores_the_clients_answers() {
    // INC-05: the client resolved the name to 52.1.1.10; the firewall's own
    // resolver saw 52.1.1.11 for it.
    let (net, fw) = firewalled(DnsFirewall {
        learning: Learning::Own,
        ..DnsFirewall::default()
    });
    resolve(&net, CLIENT, TTL).await;
    fw.learn(NAME, &[ip("52.1.1.11")], TTL);
    let _l = listen(&net).await;
    let err = connect(&net, CLIENT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    fw.learn(NAME, &[addr(API).ip()], TTL);
    assert!(connect(&net, CLIENT).await.is_ok());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn traffic_to_the_inside_ranges_never_crosses_the_firewall() {
    let (net, fw) = firewalled(DnsFirewall::default());
    let _l = net.stack(ip("10.0.7.7")).listen(80).await.unwrap();
    let c = net
        .stack(ip(CLIENT))
        .connect(addr("10.0.7.7:80"), CONNECT_TIMEOUT)
        .await;
    assert!(c.is_ok());
    assert_eq!(fw.stats(), Default::default());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_log_shows_learned_admitted_expired_and_reset_in_time_order() {
    let (net, fw) = firewalled(DnsFirewall::default());
    let t0 = Instant::now();
    resolve(&net, CLIENT, TTL).await;
    let (mut c, mut s) = established(&net).await;
    sleep(TTL * 2).await;
    let _ = exchange(&mut c, &mut s).await;
    let (events, omitted) = fw.events();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    use FirewallEventKind::*;
    assert_eq!(kinds, [Learned, Admitted, Expired, Reset]);
    assert_eq!(omitted, 0);
    let expired = &events[2];
    assert_eq!(expired.at - t0, TTL, "learned as the answer passes, at 0");
    assert_eq!(expired.name.as_deref(), Some(NAME));
    let (client, outside) = events[3].flow.unwrap();
    assert_eq!((client.ip(), outside), (ip(CLIENT), addr(API)));
}

#[test]
fn address_ranges_parse_and_match_by_prefix() {
    let c: Cidr = "10.0.0.0/8".parse().unwrap();
    assert!(c.contains(ip("10.200.1.1")));
    assert!(!c.contains(ip("11.0.0.1")));
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(ip("52.1.1.10")));
    let one: Cidr = "52.1.1.10".parse().unwrap();
    assert!(one.contains(ip("52.1.1.10")) && !one.contains(ip("52.1.1.11")));
    assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    assert!("ten/8".parse::<Cidr>().is_err());
}
