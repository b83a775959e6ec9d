//! Configuration pushes (`SidecarHandle::apply`): RDS swaps for new requests,
//! CDS keeps unchanged clusters, replaces changed ones and drains what left
//! (Envoy's `ClusterManagerImpl::addOrUpdateCluster` and the thread-local
//! `ClusterEntry` destructor's `drainConnPools`; fact sheet §3.1, where a
//! config push replaces the whole cluster).

use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_sidecar::{Discovery, Endpoint, SidecarConfig, SidecarError};

use crate::support::*;

const HOST: &str = "api.mesh";
const VIP: &str = "10.96.0.10:80";

fn static_cluster(name: &str, ep: &str) -> meshsim_sidecar::Cluster {
    cluster(
        name,
        Discovery::Static {
            endpoints: vec![addr(ep)],
        },
    )
}

/// `routed(HOST, a)` plus cluster `b` (unrouted).
fn two_clusters(route_to: &str) -> SidecarConfig {
    let (a, b) = (
        static_cluster("a", "10.1.0.1:80"),
        static_cluster("b", "10.1.0.2:80"),
    );
    let mut cfg = routed(HOST, a.clone(), None, None);
    cfg.clusters = vec![a, b];
    cfg.virtual_hosts[0].routes[0].cluster = route_to.into();
    cfg
}

/// RDS: a push changes the route of requests that start after it; a request
/// in flight finishes on the route (and cluster) it matched.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_pushed_route_serves_new_requests_while_one_in_flight_keeps_its_route() {
    let w = World::start(two_clusters("a")).await;
    let slow = Duration::from_secs(1);
    let _a = Upstream::spawn(&w.net, addr("10.1.0.1:80"), None, move |_, _| {
        Action::RespondAfter(slow, 200, "a")
    })
    .await;
    let _b = Upstream::ok(&w.net, addr("10.1.0.2:80"), "b").await;
    let push_then_get = async {
        meshsim_net::clock::sleep(Duration::from_millis(100)).await;
        w.sidecar.apply(two_clusters("b")).unwrap();
        w.get(VIP, HOST, 2).await
    };
    let (first, second) = tokio::join!(w.get(VIP, HOST, 1), push_then_get);
    assert_eq!((first.status, first.body_text().as_str()), (200, "a"));
    assert_eq!((second.status, second.body_text().as_str()), (200, "b"));
    let s = w.sidecar.stats();
    assert_eq!(s.cds_update_success, 1);
    assert_eq!(
        (s.cluster_added, s.cluster_modified, s.cluster_removed),
        (0, 0, 0)
    );
}

/// CDS: a cluster whose configuration is unchanged is the same cluster after
/// the push: its pooled connection is reused, nothing is drained.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unchanged_cluster_keeps_its_pooled_connections_across_a_push() {
    let c = static_cluster("a", "10.1.0.1:80");
    let w = World::start(routed(HOST, c.clone(), None, None)).await;
    let up = Upstream::ok(&w.net, addr("10.1.0.1:80"), "a").await;
    assert_eq!(w.get(VIP, HOST, 1).await.status, 200);
    let mut next = routed(HOST, c, None, Some(Duration::from_secs(5)));
    next.virtual_hosts[0].routes[0].name = "r2".into();
    w.sidecar.apply(next).unwrap();
    assert_eq!(w.get(VIP, HOST, 2).await.status, 200);
    let seen = up.requests();
    assert_eq!((seen[1].conn, seen[1].index_on_conn), (0, 1));
    assert_eq!(up.closed_by_peer(), [None]);
    let s = w.sidecar.stats();
    assert_eq!((s.cluster_modified, s.upstream_cx_drained), (0, 0));
}

/// CDS: a changed cluster is replaced. The old cluster's idle connection is
/// closed at the push, its busy one right after its in-flight request
/// (which completes); new requests open connections in the new cluster.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_changed_cluster_is_replaced_and_the_old_ones_connections_drained() {
    let c = static_cluster("a", "10.1.0.1:80");
    let w = World::start(routed(HOST, c.clone(), None, None)).await;
    let slow = Duration::from_secs(1);
    let up = Upstream::spawn(&w.net, addr("10.1.0.1:80"), None, move |_, i| match i {
        1 => Action::RespondAfter(slow, 200, "slow"),
        _ => Action::Respond(200, "a"),
    })
    .await;
    let (r1, r2) = tokio::join!(w.get(VIP, HOST, 1), w.get(VIP, HOST, 2));
    assert_eq!((r1.status, r2.status), (200, 200));
    let mut changed = c;
    changed.pool.max_requests_per_connection = Some(100);
    let push = async {
        meshsim_net::clock::sleep(Duration::from_millis(100)).await;
        let at = Instant::now();
        w.sidecar.apply(routed(HOST, changed, None, None)).unwrap();
        at
    };
    let (busy, pushed_at) = tokio::join!(w.get(VIP, HOST, 3), push);
    assert_eq!(busy.body_text(), "slow");
    assert_eq!(w.get(VIP, HOST, 4).await.status, 200);
    let closed = up.closed_by_peer();
    let mut at: Vec<Duration> = closed[..2].iter().map(|c| c.unwrap() - pushed_at).collect();
    at.sort();
    assert!(
        at[0] < Duration::from_millis(5),
        "idle closed at the push: {at:?}"
    );
    assert!(
        at[1] >= Duration::from_millis(850),
        "busy closed after its request: {at:?}"
    );
    assert_eq!(
        up.requests()[3].conn,
        2,
        "a new connection in the new cluster"
    );
    let s = w.sidecar.stats();
    assert_eq!((s.cluster_modified, s.upstream_cx_drained), (1, 2));
}

/// CDS: a removed cluster is drained (its idle connection closed), an added
/// one starts; the counters say which.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_push_adds_and_removes_clusters_draining_the_removed_ones() {
    let w = World::start(routed(HOST, static_cluster("a", "10.1.0.1:80"), None, None)).await;
    let a = Upstream::ok(&w.net, addr("10.1.0.1:80"), "a").await;
    let _b = Upstream::ok(&w.net, addr("10.1.0.2:80"), "b").await;
    assert_eq!(w.get(VIP, HOST, 1).await.body_text(), "a");
    let before = Instant::now();
    let next = routed(HOST, static_cluster("b", "10.1.0.2:80"), None, None);
    w.sidecar.apply(next).unwrap();
    assert_eq!(w.get(VIP, HOST, 2).await.body_text(), "b");
    let closed = a.closed_by_peer()[0].expect("the removed cluster's connection is closed");
    assert!(closed - before < Duration::from_millis(5));
    let s = w.sidecar.stats();
    assert_eq!((s.cluster_added, s.cluster_removed), (1, 1));
}

/// Cluster warming: a replaced EDS cluster serves with the old one's latest
/// assignment (Istio re-sends it; Envoy keeps the old cluster until the new
/// one is warm), so requests do not wait for a new EDS push.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_replaced_eds_cluster_keeps_its_latest_assignment() {
    let name = "outbound|80||api.mesh";
    let eds = cluster(
        name,
        Discovery::Eds {
            service: name.into(),
        },
    );
    let w = World::start(routed(HOST, eds.clone(), None, None)).await;
    let _up = Upstream::ok(&w.net, addr("10.1.0.1:80"), "a").await;
    let endpoints = vec![Endpoint::new(addr("10.1.0.1:80"))];
    w.sidecar.update_endpoints(name, endpoints).unwrap();
    let mut changed = eds;
    changed.connect_timeout = Duration::from_secs(2);
    w.sidecar.apply(routed(HOST, changed, None, None)).unwrap();
    let start = Instant::now();
    let r = w.get(VIP, HOST, 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "a"));
    assert!(
        start.elapsed() < Duration::from_millis(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(w.sidecar.stats().cluster_modified, 1);
}

/// LDS is not modelled: a push that would add an HTTP listener port is
/// refused, and the sidecar keeps serving its old configuration.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_push_that_changes_the_listeners_is_refused_as_not_modelled() {
    let c = static_cluster("a", "10.1.0.1:80");
    let w = World::start(routed(HOST, c.clone(), None, None)).await;
    let _up = Upstream::ok(&w.net, addr("10.1.0.1:80"), "a").await;
    let mut next = routed(HOST, c, None, None);
    next.http_ports.push(8080);
    let err = w.sidecar.apply(next).unwrap_err();
    assert!(
        matches!(err, SidecarError::ListenerChangeNotModelled { .. }),
        "{err}"
    );
    assert_eq!(w.get(VIP, HOST, 1).await.body_text(), "a");
    assert_eq!(w.sidecar.stats().cds_update_success, 0);
}

/// Envoy's router looks the route's cluster up by name again before every
/// retry (`Filter::doRetry`: "clusters can technically get removed by CDS
/// during a retry"): a request whose first attempt is still connecting when
/// a push replaces its cluster retries on the new cluster's hosts.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_retry_after_a_push_replaced_the_cluster_goes_to_the_new_cluster() {
    let retry = Some(policy("connect-failure", 2));
    let mut old = static_cluster("a", "10.1.0.1:80");
    old.connect_timeout = Duration::from_secs(1);
    let mut new = static_cluster("a", "10.1.0.2:80");
    new.connect_timeout = Duration::from_secs(1);
    let w = World::start(routed(HOST, old, retry.clone(), None)).await;
    w.net.set_blackhole(ip("10.1.0.1"), true);
    let _b = Upstream::ok(&w.net, addr("10.1.0.2:80"), "b").await;
    let push = async {
        meshsim_net::clock::sleep(Duration::from_millis(500)).await;
        w.sidecar.apply(routed(HOST, new, retry, None)).unwrap();
    };
    let (r, ()) = tokio::join!(w.get(VIP, HOST, 1), push);
    assert_eq!((r.status, r.body_text().as_str()), (200, "b"));
    let s = w.sidecar.stats();
    assert_eq!((s.cluster_modified, s.upstream_rq_retry), (1, 1));
}

/// The same lookup after a push that removed the cluster finds nothing:
/// Envoy answers the retry with `no healthy upstream` (503 `UH`).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_retry_after_a_push_removed_the_cluster_is_503_no_healthy_upstream() {
    let retry = Some(policy("connect-failure", 2));
    let mut old = static_cluster("a", "10.1.0.1:80");
    old.connect_timeout = Duration::from_secs(1);
    let w = World::start(routed(HOST, old, retry, None)).await;
    w.net.set_blackhole(ip("10.1.0.1"), true);
    let mut only_b = two_clusters("b");
    only_b.clusters.retain(|c| c.name == "b");
    let push = async {
        meshsim_net::clock::sleep(Duration::from_millis(500)).await;
        w.sidecar.apply(only_b).unwrap();
    };
    let (r, ()) = tokio::join!(w.get(VIP, HOST, 1), push);
    assert_eq!(r.status, 503);
    assert_eq!(r.body_text(), "no healthy upstream");
    assert_eq!(w.sidecar.stats().cluster_removed, 1);
}
