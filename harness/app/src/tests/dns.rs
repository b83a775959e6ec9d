//! The public `drive` against `meshsim_dns`'s server and stub resolver: the
//! profile's cache policy decides when a new IP is seen.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{Collector, MitigationResult, ProxyLog, SimRng};
use meshsim_dns::{DnsHandle, ZoneSet, spawn};
use meshsim_net::Net;
use meshsim_net::clock::Instant;

use super::fixture::*;
use crate::{AppConfig, AppDeps, ClientProfile, DriveStats, drive};

const OLD: &str = "10.0.0.10";
const NEW: &str = "10.0.0.11";

/// A DNS server for `alb.example` (A `OLD`, TTL 60 s) and two HTTP servers.
async fn world(net: &Net) -> (ZoneSet, DnsHandle) {
    let zones = ZoneSet::new();
    zones.add_zone("example", Duration::from_secs(30));
    zones.set_a("alb.example", vec![ip(OLD)], Duration::from_secs(60));
    let dns = spawn(zones.clone(), &net.stack(ip("10.0.0.53")), 53)
        .await
        .unwrap();
    serve(net, format!("{OLD}:80").parse().unwrap(), Script::default()).await;
    serve(net, format!("{NEW}:80").parse().unwrap(), Script::default()).await;
    (zones, dns)
}

/// Drives `profile` at `rate` for `secs`; the name moves to `NEW` at 5 s.
async fn rotate(profile: ClientProfile, rate: &str, secs: u64) -> (MitigationResult, DriveStats) {
    let net = sim();
    let (zones, dns) = world(&net).await;
    let config = AppConfig {
        profile,
        calls: vec![call("http://alb.example/", rate, crate::Arrival::Constant)],
        dns_servers: vec![dns.addr()],
    };
    let load_for = Duration::from_secs(secs);
    let deps = AppDeps {
        rng: SimRng::new(3),
        proxy_log: ProxyLog::new(),
        start: Instant::now(),
        load_for,
        drain_for: 10 * SEC,
    };
    let collector = Arc::new(Mutex::new(Collector::new(SEC)));
    let flip = async {
        meshsim_net::clock::sleep(5 * SEC).await;
        zones.set_a("alb.example", vec![ip(NEW)], Duration::from_secs(60));
    };
    let (stats, ()) = tokio::join!(
        drive(config, net.stack(ip("10.0.0.1")), deps, collector.clone()),
        flip
    );
    dns.shutdown().await;
    let result = collector.lock().unwrap().finish("t", load_for);
    (result, stats.unwrap())
}

fn served(result: &MitigationResult, host: &str) -> u64 {
    let host: IpAddr = ip(host);
    result
        .served_by
        .iter()
        .find(|h| h.host == format!("{host}:80"))
        .map_or(0, |h| h.count)
}

/// INC-02 through a real DNS server: Go never re-resolves a pooled connection.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn go_keeps_its_pooled_connection_on_the_old_ip_after_the_record_changes() {
    let (result, stats) = rotate(ClientProfile::named("go").unwrap(), "10/s", 20).await;
    assert_eq!(result.requests, 200);
    assert_eq!((served(&result, OLD), served(&result, NEW)), (200, 0));
    assert_eq!((stats.dns_lookups, stats.connections_opened), (1, 1));
}

/// INC-03: a JVM caching for 30 s keeps dialling the old IP until its cache
/// entry expires, then moves, even without keep-alive.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn jvm_without_keepalive_moves_to_the_new_ip_when_its_30s_cache_expires() {
    let mut jvm = ClientProfile::named("jvm").unwrap();
    jvm.keep_alive = false;
    let (result, stats) = rotate(jvm, "1/s", 40).await;
    assert_eq!(result.errors, 0);
    // The answer was cached when it arrived, a few ms after 0 s, so the
    // request at 30 s still hits it; the one at 31 s asks again.
    assert_eq!((served(&result, OLD), served(&result, NEW)), (31, 9));
    assert_eq!((stats.dns_lookups, stats.dns_cache_hits), (40, 38));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn go_without_keepalive_sees_the_new_ip_at_the_next_dial() {
    let mut go = ClientProfile::named("go").unwrap();
    go.keep_alive = false;
    let (result, stats) = rotate(go, "1/s", 10).await;
    assert_eq!((served(&result, OLD), served(&result, NEW)), (5, 5));
    assert_eq!((stats.dns_lookups, stats.dns_cache_hits), (10, 0));
}
