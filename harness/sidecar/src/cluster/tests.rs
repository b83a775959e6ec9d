use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_core::SimRng;
use meshsim_net::{Net, SimConfig};

use super::*;
use crate::config::RetryOn;

fn env() -> Arc<Env> {
    let net = Net::sim(SimConfig::default());
    Env::new(net.stack("10.0.0.1".parse().unwrap()), SimRng::new(3))
}

fn cluster(discovery: Discovery) -> Cluster {
    Cluster {
        name: "c".into(),
        discovery,
        lb_policy: crate::config::LbPolicy::RoundRobin,
        ..Cluster::default()
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn policy(previous_hosts: bool, reselect: u32) -> RetryPolicy {
    RetryPolicy {
        retry_on: vec![RetryOn::ConnectFailure],
        num_retries: 2,
        per_try_timeout: None,
        retriable_status_codes: vec![],
        previous_hosts_predicate: previous_hosts,
        host_selection_retry_max_attempts: reselect,
        base_interval: Duration::from_millis(25),
        max_interval: Duration::from_millis(250),
        ..RetryPolicy::default()
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn original_dst_picks_the_downstream_destination_whatever_was_tried() {
    let c = ClusterState::new(cluster(Discovery::OriginalDst), env());
    let dst = addr("52.1.1.10:443");
    let p = policy(true, 5);
    let t = c.pick(dst, &[dst], Some(&p)).unwrap();
    assert_eq!(t.connect_to, dst);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn round_robin_visits_every_static_endpoint_in_turn() {
    let eps = vec![
        addr("10.0.1.1:80"),
        addr("10.0.1.2:80"),
        addr("10.0.1.3:80"),
    ];
    let c = ClusterState::new(
        cluster(Discovery::Static {
            endpoints: eps.clone(),
        }),
        env(),
    );
    let picks: Vec<SocketAddr> = (0..6)
        .map(|_| c.pick(addr("1.1.1.1:80"), &[], None).unwrap().connect_to)
        .collect();
    for ep in &eps {
        assert_eq!(picks.iter().filter(|p| *p == ep).count(), 2);
    }
    assert_ne!(picks[0], picks[1]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn previous_hosts_predicate_avoids_tried_hosts_and_gives_up_after_max_attempts() {
    let eps = vec![addr("10.0.1.1:80"), addr("10.0.1.2:80")];
    let c = ClusterState::new(
        cluster(Discovery::Static {
            endpoints: eps.clone(),
        }),
        env(),
    );
    let with = policy(true, 5);
    for _ in 0..4 {
        assert_eq!(
            c.pick(eps[0], &[eps[0]], Some(&with)).unwrap().connect_to,
            eps[1]
        );
    }
    // Everything tried: the last pick is used anyway.
    assert!(c.pick(eps[0], &eps, Some(&with)).is_some());
    // Without the predicate round robin goes on regardless of what was tried.
    let without = policy(false, 5);
    let picks: Vec<_> = (0..4)
        .map(|_| {
            c.pick(eps[0], &[eps[0]], Some(&without))
                .unwrap()
                .connect_to
        })
        .collect();
    assert!(picks.contains(&eps[0]));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn strict_dns_every_address_is_a_host_and_an_empty_answer_leaves_none() {
    let c = ClusterState::new(
        cluster(Discovery::StrictDns {
            hostname: "api".into(),
            port: 443,
        }),
        env(),
    );
    assert!(c.pick(addr("1.1.1.1:80"), &[], None).is_none());
    c.update_hosts(&ips(&["52.1.1.10", "52.1.1.11", "52.1.1.10"]), 443);
    assert_eq!(
        c.hosts(),
        vec![addr("52.1.1.10:443"), addr("52.1.1.11:443")]
    );
    c.update_hosts(&[], 443);
    assert!(c.pick(addr("1.1.1.1:80"), &[], None).is_none());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn strict_dns_drops_the_pools_of_removed_hosts() {
    let c = ClusterState::new(
        cluster(Discovery::StrictDns {
            hostname: "api".into(),
            port: 443,
        }),
        env(),
    );
    c.update_hosts(&ips(&["52.1.1.10"]), 443);
    let old = c.pick(addr("1.1.1.1:80"), &[], None).unwrap().pool;
    c.update_hosts(&ips(&["52.1.1.11"]), 443);
    assert!(c.pool_of(addr("52.1.1.10:443")).is_none());
    assert_eq!(old.idle_len(), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn logical_dns_uses_the_first_address_for_new_connections_and_ignores_empty_answers() {
    let c = ClusterState::new(
        cluster(Discovery::LogicalDns {
            hostname: "api".into(),
            port: 443,
        }),
        env(),
    );
    c.update_hosts(&ips(&["52.1.1.10", "52.1.1.11"]), 443);
    let a = c.pick(addr("1.1.1.1:80"), &[], None).unwrap();
    assert_eq!(a.connect_to, addr("52.1.1.10:443"));
    c.update_hosts(&ips(&["52.1.1.12"]), 443);
    let b = c.pick(addr("1.1.1.1:80"), &[], None).unwrap();
    assert_eq!(b.connect_to, addr("52.1.1.12:443"));
    assert!(
        Arc::ptr_eq(&a.pool, &b.pool),
        "one logical host, one pool, never drained"
    );
    c.update_hosts(&[], 443);
    assert_eq!(
        c.pick(addr("1.1.1.1:80"), &[], None).unwrap().connect_to,
        addr("52.1.1.12:443")
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dns_clusters_wait_for_their_first_answer_bounded_by_the_connect_timeout() {
    let c = ClusterState::new(
        cluster(Discovery::StrictDns {
            hostname: "api".into(),
            port: 443,
        }),
        env(),
    );
    let start = meshsim_net::clock::Instant::now();
    assert!(!c.wait_ready().await);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    c.mark_ready();
    assert!(c.wait_ready().await);
}
