//! Client cache policies, counted through the server's query counter on a
//! paused clock.

use std::time::Duration;

use meshsim_core::outcome::DnsFailure;
use meshsim_dns::{CachePolicy, Resolver, ResolverConfig};

use super::{CLIENT_IP, example_zones, ip, resolver, secs, sim_server};

/// Sleeps until `at` after `start`.
async fn at(start: meshsim_net::clock::Instant, offset: Duration) {
    meshsim_net::clock::sleep_until(start + offset).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn honour_ttl_does_not_query_again_at_59s_and_does_at_61s() {
    let (net, server) = sim_server(&example_zones()).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::HonourTtl);
    let start = meshsim_net::clock::Instant::now();
    assert!(!r.lookup_ip("api.example.com").await.unwrap().from_cache);
    at(start, secs(59)).await;
    let hit = r.lookup_ip("api.example.com").await.unwrap();
    assert!(hit.from_cache);
    // About 1 s remains (the clock's millisecond timer granularity aside).
    assert!(
        hit.ttl > Duration::from_millis(990) && hit.ttl < Duration::from_millis(1010),
        "remaining {:?}",
        hit.ttl
    );
    assert_eq!(server.stats().queries, 1);
    at(start, secs(61)).await;
    let miss = r.lookup_ip("api.example.com").await.unwrap();
    assert!(!miss.from_cache);
    assert_eq!(miss.ttl, secs(60));
    assert_eq!(server.stats().queries, 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_cache_policy_sends_every_lookup_to_the_network() {
    let (net, server) = sim_server(&example_zones()).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    for _ in 0..3 {
        assert!(!r.lookup_ip("api.example.com").await.unwrap().from_cache);
    }
    assert_eq!(server.stats().queries, 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn fixed_ttl_keeps_answers_for_the_fixed_time_whatever_the_record_ttl() {
    let zones = example_zones();
    zones.set_ttl("api.example.com", secs(5));
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::FixedTtl(secs(30)));
    let start = meshsim_net::clock::Instant::now();
    r.lookup_ip("api.example.com").await.unwrap();
    zones.set_a("api.example.com", vec![ip("10.0.0.99")], secs(5));
    at(start, secs(29)).await;
    let stale = r.lookup_ip("api.example.com").await.unwrap();
    assert_eq!(
        (stale.addrs.clone(), stale.from_cache),
        (vec![ip("10.0.0.5")], true)
    );
    at(start, secs(31)).await;
    assert_eq!(
        r.lookup_ip("api.example.com").await.unwrap().addrs,
        vec![ip("10.0.0.99")]
    );
    assert_eq!(server.stats().queries, 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn forever_keeps_the_first_answer_after_the_records_change() {
    let zones = example_zones();
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::Forever);
    r.lookup_ip("api.example.com").await.unwrap();
    zones.set_a("api.example.com", vec![ip("10.0.0.99")], secs(60));
    meshsim_net::clock::sleep(secs(86_400)).await;
    let hit = r.lookup_ip("api.example.com").await.unwrap();
    assert_eq!((hit.addrs, hit.from_cache), (vec![ip("10.0.0.5")], true));
    assert_eq!(server.stats().queries, 1);
    r.clear_cache();
    assert_eq!(
        r.lookup_ip("api.example.com").await.unwrap().addrs,
        vec![ip("10.0.0.99")]
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn honour_ttl_caches_nxdomain_for_the_soa_minimum() {
    let zones = example_zones();
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::HonourTtl);
    let start = meshsim_net::clock::Instant::now();
    assert_eq!(
        r.lookup_ip("new.example.com").await.unwrap_err().failure(),
        DnsFailure::NxDomain
    );
    zones.set_a("new.example.com", vec![ip("10.0.0.7")], secs(60));
    at(start, secs(29)).await;
    assert_eq!(
        r.lookup_ip("new.example.com").await.unwrap_err().failure(),
        DnsFailure::NxDomain
    );
    assert_eq!(server.stats().queries, 1);
    at(start, secs(31)).await;
    assert_eq!(
        r.lookup_ip("new.example.com").await.unwrap().addrs,
        vec![ip("10.0.0.7")]
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn negative_ttl_setting_overrides_the_soa_minimum() {
    let (net, server) = sim_server(&example_zones()).await;
    let config = ResolverConfig {
        servers: vec![server.addr()],
        cache: CachePolicy::HonourTtl,
        negative_ttl: Some(secs(2)),
        ..ResolverConfig::default()
    };
    let r = Resolver::new(
        net.stack(ip(CLIENT_IP)),
        config,
        meshsim_core::SimRng::new(3),
    );
    assert_eq!(r.lookup_ip("api.example.com").await.unwrap().ttl, secs(60));
    r.lookup_ip("x.example.com").await.unwrap_err();
    meshsim_net::clock::sleep(secs(3)).await;
    assert_eq!(
        r.lookup_ip("x.example.com").await.unwrap_err().failure(),
        DnsFailure::NxDomain
    );
    assert_eq!(server.stats().queries, 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn fixed_ttl_caches_negative_answers_for_ten_seconds_like_the_jvm() {
    let (net, server) = sim_server(&example_zones()).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::FixedTtl(secs(300)));
    let start = meshsim_net::clock::Instant::now();
    r.lookup_ip("gone.example.com").await.unwrap_err();
    at(start, secs(9)).await;
    r.lookup_ip("gone.example.com").await.unwrap_err();
    assert_eq!(server.stats().queries, 1);
    at(start, secs(11)).await;
    r.lookup_ip("gone.example.com").await.unwrap_err();
    assert_eq!(server.stats().queries, 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nodata_is_cached_and_reported_as_nodata() {
    let zones = example_zones();
    zones.set_a("v6only.example.com", vec![ip("fd00::1")], secs(60));
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::HonourTtl);
    for _ in 0..2 {
        assert_eq!(
            r.lookup_ip("v6only.example.com")
                .await
                .unwrap_err()
                .failure(),
            DnsFailure::NoData
        );
    }
    assert_eq!(server.stats().queries, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_ttl_of_a_cname_chain_is_its_smallest_record_ttl() {
    let zones = example_zones();
    zones.set_cname("www.example.com", "api.example.com", secs(20));
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::HonourTtl);
    let l = r.lookup_ip("www.example.com").await.unwrap();
    assert_eq!((l.addrs, l.ttl), (vec![ip("10.0.0.5")], secs(20)));
    meshsim_net::clock::sleep(secs(21)).await;
    r.lookup_ip("www.example.com").await.unwrap();
    assert_eq!(server.stats().queries, 2);
}
