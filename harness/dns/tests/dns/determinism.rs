//! The same seed gives the same run on the simulated network.

use meshsim_core::SimRng;
use meshsim_dns::{Behaviour, CachePolicy, Resolver, ResolverConfig};

use super::{CLIENT_IP, example_zones, ip, secs, sim_server};

/// A small incident: lookups every 7 s while the record changes and the
/// server misbehaves; returns what the client saw, with virtual timestamps.
async fn run(seed: u64) -> (Vec<String>, meshsim_dns::DnsStats) {
    let zones = example_zones();
    let (net, server) = sim_server(&zones).await;
    let config = ResolverConfig {
        servers: vec![server.addr()],
        cache: CachePolicy::HonourTtl,
        ..Default::default()
    };
    let r = Resolver::new(net.stack(ip(CLIENT_IP)), config, SimRng::fork(seed, "dns"));
    let start = meshsim_net::clock::Instant::now();
    let mut seen = Vec::new();
    for step in 0..30u64 {
        match step {
            5 => zones.set_a("api.example.com", vec![ip("10.0.0.6")], secs(10)),
            12 => zones.set_behaviour("api.example.com", Behaviour::Delay(secs(6))),
            18 => zones.set_behaviour("api.example.com", Behaviour::Drop),
            24 => zones.clear_behaviour("api.example.com"),
            _ => {}
        }
        let result = r.lookup_ip("api.example.com").await;
        seen.push(format!("{:?} {result:?}", start.elapsed()));
        meshsim_net::clock::sleep(secs(7)).await;
    }
    let stats = server.stats();
    server.shutdown().await;
    (seen, stats)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_same_seed_gives_a_byte_identical_run() {
    let first = run(42).await;
    let second = run(42).await;
    assert_eq!(first, second);
    assert!(
        first.1.dropped > 0 && first.1.delayed > 0,
        "the incident happened: {:?}",
        first.1
    );
}
