//! Resolver tries: server order, attempts, TCP fallback, response checks.

use std::net::SocketAddr;

use meshsim_core::SimRng;
use meshsim_core::outcome::DnsFailure;
use meshsim_dns::{
    Behaviour, CachePolicy, DnsError, Resolver, ResolverConfig, ZoneSet, handle_query, spawn,
};
use meshsim_net::clock::Instant;
use meshsim_net::{Net, NetUdp, SimConfig};

use super::{CLIENT_IP, example_zones, ip, resolver, secs, sim_server};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_next_server_is_tried_when_the_first_is_silent() {
    let (net, good) = sim_server(&example_zones()).await;
    let silent: SocketAddr = "10.0.0.99:53".parse().unwrap(); // nobody there
    let r = resolver(&net, vec![silent, good.addr()], CachePolicy::None);
    let start = Instant::now();
    assert_eq!(
        r.lookup_ip("api.example.com").await.unwrap().addrs,
        vec![ip("10.0.0.5")]
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed >= secs(5) && elapsed < secs(6),
        "one timeout, then the answer: {elapsed:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn servfail_from_every_server_and_attempt_is_reported_as_servfail() {
    let zones = example_zones();
    zones.set_behaviour("example.com", Behaviour::ServFail);
    let (net, first) = sim_server(&zones).await;
    let second = spawn(zones.clone(), &net.stack(ip("10.0.0.54")), 53)
        .await
        .unwrap();
    let r = resolver(
        &net,
        vec![first.addr(), second.addr()],
        CachePolicy::HonourTtl,
    );
    let err = r.lookup_ip("api.example.com").await.unwrap_err();
    assert_eq!(err.failure(), DnsFailure::ServFail);
    assert_eq!((first.stats().queries, second.stats().queries), (2, 2));
    assert_eq!(r.cache_len(), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_name_outside_the_zones_fails_as_refused() {
    let (net, server) = sim_server(&example_zones()).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    assert_eq!(
        r.lookup_ip("www.example.org").await.unwrap_err().failure(),
        DnsFailure::Refused
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_truncated_answer_is_retried_over_tcp() {
    let zones = example_zones();
    let addrs = (1..=40).map(|i| ip(&format!("10.1.0.{i}"))).collect();
    zones.set_a("big.example.com", addrs, secs(60));
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    assert_eq!(
        r.lookup_ip("big.example.com").await.unwrap().addrs.len(),
        40
    );
    let stats = server.stats();
    assert_eq!(
        (stats.truncated, stats.tcp_queries, stats.queries),
        (1, 1, 2)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_late_answer_to_an_earlier_try_completes_the_lookup() {
    let zones = example_zones();
    zones.set_behaviour("api.example.com", Behaviour::Delay(secs(6)));
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    let start = Instant::now();
    r.lookup_ip("api.example.com").await.unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= secs(6) && elapsed < secs(7), "{elapsed:?}");
}

/// A UDP server that first answers with the wrong id, then from the right
/// socket with the right answer; it records the ids it saw.
async fn tricky_server(
    net: &Net,
    zones: ZoneSet,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<u16>>) {
    let udp: NetUdp = net.stack(ip("10.0.0.60")).bind_udp(53).await.unwrap();
    let addr = udp.local_addr();
    let task = tokio::spawn(async move {
        let mut ids = Vec::new();
        let mut buf = [0u8; 512];
        let (n, from) = udp.recv_from(&mut buf).await.unwrap();
        ids.push(u16::from_be_bytes([buf[0], buf[1]]));
        let answer = handle_query(&zones, &buf[..n]).unwrap();
        let mut wrong = answer.clone();
        wrong[1] ^= 0xff;
        udp.send_to(&wrong, from).await.unwrap();
        udp.send_to(&answer, from).await.unwrap();
        ids
    });
    (addr, task)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn answers_with_a_wrong_id_are_ignored() {
    let net = Net::sim(SimConfig::default());
    let (addr, task) = tricky_server(&net, example_zones()).await;
    let r = resolver(&net, vec![addr], CachePolicy::None);
    let start = Instant::now();
    assert_eq!(
        r.lookup_ip("api.example.com").await.unwrap().addrs,
        vec![ip("10.0.0.5")]
    );
    assert!(start.elapsed() < secs(1));
    assert_eq!(task.await.unwrap().len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn query_ids_come_from_the_seeded_rng() {
    let mut seen = Vec::new();
    for seed in [5, 5, 6] {
        let net = Net::sim(SimConfig::default());
        let (addr, task) = tricky_server(&net, example_zones()).await;
        let config = ResolverConfig {
            servers: vec![addr],
            ..ResolverConfig::default()
        };
        let r = Resolver::new(net.stack(ip(CLIENT_IP)), config, SimRng::new(seed));
        r.lookup_ip("api.example.com").await.unwrap();
        seen.push(task.await.unwrap()[0]);
    }
    assert_eq!(seen[0], seen[1], "same seed, same id");
    assert_ne!(seen[0], seen[2], "another seed, another id");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_ip_literal_is_returned_without_a_query() {
    let (net, server) = sim_server(&example_zones()).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    assert_eq!(
        r.lookup_ip("52.1.1.10").await.unwrap().addrs,
        vec![ip("52.1.1.10")]
    );
    assert_eq!(server.stats().queries, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_invalid_name_is_rejected_before_any_query() {
    let (net, server) = sim_server(&example_zones()).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    let err = r.lookup_ip("bad..name").await.unwrap_err();
    assert!(matches!(err, DnsError::InvalidName { .. }), "{err}");
    assert_eq!(err.failure(), DnsFailure::Malformed);
    assert_eq!(server.stats().queries, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_resolver_without_servers_fails_at_once() {
    let net = Net::sim(SimConfig::default());
    let r = resolver(&net, vec![], CachePolicy::None);
    let err = r.lookup_ip("api.example.com").await.unwrap_err();
    assert!(matches!(err, DnsError::NoServers { .. }));
}

#[test]
fn errors_name_the_query_name_and_map_onto_core_failures() {
    let server: SocketAddr = "10.0.0.53:53".parse().unwrap();
    let cases = [
        (
            DnsError::NxDomain {
                name: "a.example".into(),
            },
            DnsFailure::NxDomain,
        ),
        (
            DnsError::NoData {
                name: "a.example".into(),
            },
            DnsFailure::NoData,
        ),
        (
            DnsError::ServFail {
                name: "a.example".into(),
                server,
            },
            DnsFailure::ServFail,
        ),
        (
            DnsError::Refused {
                name: "a.example".into(),
                server,
            },
            DnsFailure::Refused,
        ),
        (
            DnsError::Timeout {
                name: "a.example".into(),
                attempts: 2,
                timeout: secs(5),
                servers: 1,
            },
            DnsFailure::Timeout,
        ),
    ];
    for (err, failure) in cases {
        assert_eq!(err.failure(), failure);
        assert!(err.to_string().contains("a.example"), "{err}");
        assert_eq!(err.name(), "a.example");
    }
}

#[test]
fn lookups_spawn_and_shutdown_are_send_futures_usable_from_many_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let net = Net::sim(SimConfig::default());
        let stack = net.stack(ip("10.0.0.53"));
        let spawning = spawn(example_zones(), &stack, 53);
        assert_send(&spawning);
        let server = spawning.await.unwrap();
        let r = resolver(&net, vec![server.addr()], CachePolicy::None);
        let lookup = r.lookup_ip("api.example.com");
        assert_send(&lookup);
        assert!(lookup.await.is_ok());
        let stopping = server.shutdown();
        assert_send(&stopping);
        stopping.await;
    });
}
