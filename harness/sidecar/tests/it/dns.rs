//! STRICT_DNS and LOGICAL_DNS clusters: refresh, drain, first resolution.

use std::sync::Arc;
use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use meshsim_sidecar::{Discovery, ScriptedResolver};

use crate::support::*;

const HOST: &str = "api.partner.example";

fn strict() -> meshsim_sidecar::Cluster {
    cluster(
        "outbound|80||api",
        Discovery::StrictDns {
            hostname: HOST.into(),
            port: 80,
        },
    )
}

fn logical() -> meshsim_sidecar::Cluster {
    cluster(
        "outbound|80||api",
        Discovery::LogicalDns {
            hostname: HOST.into(),
            port: 80,
        },
    )
}

async fn world(c: meshsim_sidecar::Cluster, first: &[&str], ttl_s: u64) -> World {
    let resolver = ScriptedResolver::new();
    resolver.set(
        HOST,
        first.iter().map(|s| ip(s)).collect(),
        Duration::from_secs(ttl_s),
    );
    World::start_with(routed(HOST, c, None, None), resolver).await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn strict_dns_drains_a_removed_hosts_idle_connections_at_the_next_refresh() {
    let w = world(strict(), &["52.1.1.10"], 5).await;
    let a = Upstream::ok(&w.net, addr("52.1.1.10:80"), "a").await;
    let b = Upstream::ok(&w.net, addr("52.1.1.11:80"), "b").await;
    let start = Instant::now();
    assert_eq!(w.get("52.1.1.10:80", HOST, 1).await.body_text(), "a");
    w.resolver
        .set(HOST, vec![ip("52.1.1.11")], Duration::from_secs(5));
    meshsim_net::clock::sleep(Duration::from_secs(6)).await;
    // Refreshed at TTL (5 s) + jitter < 100 ms: the idle connection to .10 was closed then.
    let closed = a.closed_by_peer()[0].expect("drained") - start;
    assert!(
        closed >= Duration::from_secs(5) && closed < Duration::from_millis(5101),
        "{closed:?}"
    );
    assert_eq!(w.get("52.1.1.10:80", HOST, 2).await.body_text(), "b");
    assert_eq!(b.requests().len(), 1);
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_cx_drained, 1);
    let dns = &stats.dns["outbound|80||api"];
    assert_eq!(
        (dns.update_attempt, dns.update_success, dns.hosts),
        (2, 2, 1)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn strict_dns_lets_a_busy_connection_of_a_removed_host_finish_then_closes_it() {
    let w = world(strict(), &["52.1.1.10"], 1).await;
    let a = Upstream::spawn(&w.net, addr("52.1.1.10:80"), None, |_, _| {
        Action::RespondAfter(Duration::from_secs(3), 200, "slow")
    })
    .await;
    let change = async {
        meshsim_net::clock::sleep(Duration::from_millis(500)).await;
        w.resolver
            .set(HOST, vec![ip("52.1.1.11")], Duration::from_secs(60));
    };
    let (r, ()) = tokio::join!(w.get("52.1.1.10:80", HOST, 1), change);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, "slow"),
        "in-flight request completes"
    );
    meshsim_net::clock::sleep(Duration::from_millis(10)).await;
    assert!(
        a.closed_by_peer()[0].is_some(),
        "closed after its in-flight request"
    );
    assert_eq!(w.sidecar.stats().upstream_cx_drained, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_empty_dns_answer_leaves_no_host_503_uh_no_healthy_upstream() {
    let w = world(strict(), &[], 5).await;
    let r = w.get("52.1.1.10:80", HOST, 1).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (503, "no healthy upstream")
    );
    let entry = w.log.take(1).unwrap();
    assert_eq!(
        (entry.flags, entry.details.as_str(), entry.attempts),
        (ResponseFlags::UH, "no_healthy_upstream", 0)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failed_refresh_keeps_the_hosts_and_counts_update_failure() {
    let w = world(strict(), &["52.1.1.10"], 5).await;
    let _a = Upstream::ok(&w.net, addr("52.1.1.10:80"), "a").await;
    meshsim_net::clock::sleep(Duration::from_millis(1)).await; // the first resolution ran
    w.resolver.fail(HOST);
    meshsim_net::clock::sleep(Duration::from_secs(6)).await;
    assert_eq!(w.get("52.1.1.10:80", HOST, 1).await.body_text(), "a");
    let dns = &w.sidecar.stats().dns["outbound|80||api"];
    assert_eq!((dns.update_success, dns.update_failure), (1, 1));
    // The failure retries at the refresh rate (60 s), not the old TTL.
    meshsim_net::clock::sleep(Duration::from_secs(30)).await;
    assert_eq!(w.sidecar.stats().dns["outbound|80||api"].update_attempt, 2);
    meshsim_net::clock::sleep(Duration::from_secs(31)).await;
    assert_eq!(w.sidecar.stats().dns["outbound|80||api"].update_attempt, 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn logical_dns_keeps_existing_connections_and_uses_the_new_first_address_for_new_ones() {
    let w = world(logical(), &["52.1.1.10", "52.1.1.11"], 5).await;
    let a = Upstream::ok(&w.net, addr("52.1.1.10:80"), "a").await;
    let c = Upstream::ok(&w.net, addr("52.1.1.12:80"), "c").await;
    assert_eq!(w.get("52.1.1.10:80", HOST, 1).await.body_text(), "a");
    w.resolver
        .set(HOST, vec![ip("52.1.1.12")], Duration::from_secs(5));
    meshsim_net::clock::sleep(Duration::from_secs(6)).await;
    // The pooled connection to .10 is not drained and is reused.
    assert_eq!(w.get("52.1.1.10:80", HOST, 2).await.body_text(), "a");
    assert!(a.closed_by_peer()[0].is_none());
    // Two at once: the second needs a new connection, which goes to .12.
    let (x, y) = tokio::join!(
        w.get("52.1.1.10:80", HOST, 3),
        w.get("52.1.1.10:80", HOST, 4)
    );
    let mut bodies = vec![x.body_text(), y.body_text()];
    bodies.sort();
    assert_eq!(bodies, vec!["a", "c"]);
    assert_eq!(c.requests().len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn logical_dns_an_empty_answer_is_an_update_failure_that_keeps_the_address_and_retries_at_the_refresh_rate()
 {
    // Envoy's LOGICAL_DNS accepts only a non-empty answer; anything else
    // counts update_failure and is rescheduled at dns_refresh_rate (60 s,
    // no jitter), not at the TTL.
    let w = world(logical(), &["52.1.1.10"], 5).await;
    let a = Upstream::ok(&w.net, addr("52.1.1.10:80"), "a").await;
    let dns = || w.sidecar.stats().dns["outbound|80||api"].clone();
    meshsim_net::clock::sleep(Duration::from_millis(1)).await; // the first resolution ran
    w.resolver.set(HOST, vec![], Duration::from_secs(5));
    // The second resolution (TTL 5 s + jitter < 100 ms) gets the empty answer.
    meshsim_net::clock::sleep(Duration::from_secs(6)).await;
    let d = dns();
    assert_eq!(
        (
            d.update_attempt,
            d.update_success,
            d.update_failure,
            d.hosts
        ),
        (2, 1, 1, 1)
    );
    // The address is kept: a new connection still goes to .10.
    assert_eq!(w.get("52.1.1.10:80", HOST, 1).await.body_text(), "a");
    assert_eq!(a.requests().len(), 1);
    // Next try at (5 s + jitter) + 60 s exactly: not yet at 64.9 s, done by 65.2 s.
    meshsim_net::clock::sleep(Duration::from_millis(58_900)).await;
    assert_eq!(dns().update_attempt, 2);
    meshsim_net::clock::sleep(Duration::from_millis(300)).await;
    let d = dns();
    assert_eq!((d.update_attempt, d.update_failure), (3, 2));
}

/// A resolver that answers after a delay.
struct SlowResolver(Duration, Arc<ScriptedResolver>);

impl meshsim_sidecar::Resolve for SlowResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> meshsim_sidecar::ResolveFuture<'a> {
        Box::pin(async move {
            meshsim_net::clock::sleep(self.0).await;
            self.1.resolve(name).await
        })
    }
}

async fn slow_world(delay: Duration) -> (meshsim_net::Net, meshsim_sidecar::SidecarHandle) {
    let net = meshsim_net::Net::sim(meshsim_net::SimConfig::default());
    let table = ScriptedResolver::new();
    table.set(HOST, vec![ip("52.1.1.10")], Duration::from_secs(60));
    let deps = meshsim_sidecar::SidecarDeps {
        rng: meshsim_core::SimRng::new(1),
        proxy_log: Default::default(),
        identity: None,
    };
    let resolver = Arc::new(SlowResolver(delay, table));
    let config = routed(HOST, strict(), None, None);
    let sc = meshsim_sidecar::spawn_with_resolver(config, net.stack(ip(POD)), deps, resolver)
        .await
        .unwrap();
    (net, sc)
}

async fn one_get(net: &meshsim_net::Net) -> Resp {
    let app = net.pod_stack(ip(POD), meshsim_net::Capture::default());
    let stream = app
        .connect(addr("52.1.1.10:80"), Duration::from_secs(1))
        .await
        .unwrap();
    crate::support::AppConnExt::wrap(stream)
        .get(HOST, "/", 1)
        .await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_before_the_first_dns_answer_waits_for_it() {
    let (net, _sc) = slow_world(Duration::from_secs(2)).await;
    let _a = Upstream::ok(&net, addr("52.1.1.10:80"), "a").await;
    let start = Instant::now();
    let r = one_get(&net).await;
    assert_eq!(r.status, 200);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2010),
        "{waited:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_wait_for_the_first_dns_answer_is_bounded_by_the_connect_timeout() {
    let (net, _sc) = slow_world(Duration::from_secs(30)).await;
    let start = Instant::now();
    let r = one_get(&net).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (503, "no healthy upstream")
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_millis(10_010),
        "{waited:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn strict_dns_follows_the_scenario_dns_server_at_its_ttl() {
    let net = meshsim_net::Net::sim(meshsim_net::SimConfig::default());
    let zones = meshsim_dns::ZoneSet::new();
    zones.add_zone("partner.example", Duration::from_secs(30));
    zones.set_a(HOST, vec![ip("52.1.1.10")], Duration::from_secs(30));
    let dns = meshsim_dns::spawn(zones.clone(), &net.stack(ip("10.0.0.53")), 53)
        .await
        .unwrap();
    let mut config = routed(HOST, strict(), None, None);
    config.dns_servers = vec![dns.addr()];
    let log = meshsim_core::ProxyLog::new();
    let deps = meshsim_sidecar::SidecarDeps {
        rng: meshsim_core::SimRng::new(1),
        proxy_log: log.clone(),
        identity: None,
    };
    let sc = meshsim_sidecar::spawn(config, net.stack(ip(POD)), deps)
        .await
        .unwrap();
    let a = Upstream::ok(&net, addr("52.1.1.10:80"), "a").await;
    let b = Upstream::ok(&net, addr("52.1.1.11:80"), "b").await;
    let get = || one_get(&net);
    assert_eq!(get().await.body_text(), "a");
    zones.set_a(HOST, vec![ip("52.1.1.11")], Duration::from_secs(30));
    meshsim_net::clock::sleep(Duration::from_secs(29)).await;
    assert_eq!(
        get().await.body_text(),
        "a",
        "before the TTL the old host stays"
    );
    meshsim_net::clock::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        get().await.body_text(),
        "b",
        "after TTL + jitter the new answer is used"
    );
    assert!(
        a.closed_by_peer()[0].is_some(),
        "the removed host's idle connection was drained"
    );
    assert_eq!(b.requests().len(), 1);
    // NXDOMAIN: the name is gone, the cluster has no host.
    zones.remove(HOST);
    meshsim_net::clock::sleep(Duration::from_secs(31)).await;
    assert_eq!(get().await.body_text(), "no healthy upstream");
    sc.shutdown().await;
    dns.shutdown().await;
}
