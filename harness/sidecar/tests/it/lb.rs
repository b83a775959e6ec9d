//! Host selection: EDS assignments, load-balancing policies, outlier
//! detection and panic mode (fact sheet §3.1, §9.1, §9.2).

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use meshsim_sidecar::{
    Discovery, Endpoint, LbPolicy, OutlierDetection, SidecarConfig, SidecarError,
};

use crate::support::*;

const HOST: &str = "api.mesh";
const VIP: &str = "10.96.0.10:80";
const CLUSTER: &str = "outbound|80||api.mesh";

fn eds() -> meshsim_sidecar::Cluster {
    cluster(
        CLUSTER,
        Discovery::Eds {
            service: CLUSTER.into(),
        },
    )
}

/// A static cluster of `eps` with Istio-style outlier detection (every host
/// ejectable) and `panic` as the panic threshold.
fn detecting(eps: &[&str], panic: u32) -> meshsim_sidecar::Cluster {
    meshsim_sidecar::Cluster {
        outlier_detection: Some(OutlierDetection {
            max_ejection_percent: 100,
            ..OutlierDetection::default()
        }),
        healthy_panic_threshold: panic,
        ..cluster(
            CLUSTER,
            Discovery::Static {
                endpoints: eps.iter().map(|e| addr(e)).collect(),
            },
        )
    }
}

fn endpoints(list: &[&str]) -> Vec<Endpoint> {
    list.iter().map(|a| Endpoint::new(addr(a))).collect()
}

async fn world(c: meshsim_sidecar::Cluster) -> World {
    World::start(routed(HOST, c, None, None)).await
}

/// §3.1: an EDS cluster waits for its first assignment (like a DNS cluster
/// for its first answer), then routes to the assigned endpoints.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_eds_cluster_waits_for_its_first_assignment_then_uses_its_endpoints() {
    let w = world(eds()).await;
    let _a = Upstream::ok(&w.net, addr("10.1.0.1:8080"), "a").await;
    let start = Instant::now();
    let push = async {
        meshsim_net::clock::sleep(Duration::from_secs(2)).await;
        w.sidecar
            .update_endpoints(CLUSTER, endpoints(&["10.1.0.1:8080"]))
            .unwrap();
    };
    let (r, ()) = tokio::join!(w.get(VIP, HOST, 1), push);
    assert_eq!((r.status, r.body_text().as_str()), (200, "a"));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2010),
        "{waited:?}"
    );
}

/// §3.1 + §5.1: an empty assignment leaves no host: 503 `no healthy upstream` UH.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_empty_eds_assignment_gives_503_no_healthy_upstream_uh() {
    let w = world(eds()).await;
    w.sidecar.update_endpoints(CLUSTER, Vec::new()).unwrap();
    let r = w.get(VIP, HOST, 1).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (503, "no healthy upstream")
    );
    assert_eq!(w.log.take(1).unwrap().flags, ResponseFlags::UH);
}

/// §3.1: removed EDS endpoints are drained as STRICT_DNS removed hosts are:
/// idle connections closed at once, new requests to the remaining endpoints.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_removed_eds_endpoints_idle_connection_is_closed_at_once() {
    let w = world(eds()).await;
    let a = Upstream::ok(&w.net, addr("10.1.0.1:8080"), "a").await;
    let b = Upstream::ok(&w.net, addr("10.1.0.2:8080"), "b").await;
    w.sidecar
        .update_endpoints(CLUSTER, endpoints(&["10.1.0.1:8080"]))
        .unwrap();
    assert_eq!(w.get(VIP, HOST, 1).await.body_text(), "a");
    let at = Instant::now();
    w.sidecar
        .update_endpoints(CLUSTER, endpoints(&["10.1.0.2:8080"]))
        .unwrap();
    meshsim_net::clock::sleep(Duration::from_millis(5)).await;
    let closed = a.closed_by_peer()[0].expect("idle connection closed");
    assert!(closed - at <= Duration::from_millis(2), "{:?}", closed - at);
    assert_eq!(w.get(VIP, HOST, 2).await.body_text(), "b");
    assert_eq!(b.requests().len(), 1);
    assert_eq!(w.sidecar.stats().upstream_cx_drained, 1);
}

/// §3.1: a busy connection of a removed endpoint finishes its request, then closes.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_removed_eds_endpoints_busy_connection_finishes_its_request_then_closes() {
    let w = world(eds()).await;
    let a = Upstream::spawn(&w.net, addr("10.1.0.1:8080"), None, |_, _| {
        Action::RespondAfter(Duration::from_secs(3), 200, "slow")
    })
    .await;
    w.sidecar
        .update_endpoints(CLUSTER, endpoints(&["10.1.0.1:8080"]))
        .unwrap();
    let push = async {
        meshsim_net::clock::sleep(Duration::from_secs(1)).await;
        w.sidecar
            .update_endpoints(CLUSTER, endpoints(&["10.1.0.2:8080"]))
            .unwrap();
    };
    let (r, ()) = tokio::join!(w.get(VIP, HOST, 1), push);
    assert_eq!((r.status, r.body_text().as_str()), (200, "slow"));
    meshsim_net::clock::sleep(Duration::from_millis(10)).await;
    assert!(a.closed_by_peer()[0].is_some());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn update_endpoints_refuses_an_unknown_cluster_and_a_non_eds_cluster() {
    let w = world(eds()).await;
    let unknown = w.sidecar.update_endpoints("nope", Vec::new());
    assert!(matches!(unknown, Err(SidecarError::UnknownCluster { .. })));
    let passthrough = w.sidecar.update_endpoints("PassthroughCluster", Vec::new());
    assert!(matches!(
        passthrough,
        Err(SidecarError::NotEdsCluster { .. })
    ));
}

/// §9.1: five consecutive 5xx eject a host (enforcing 100 %); it gets no
/// request while ejected; the sweep after `base_ejection_time` (30 s, checked
/// every 10 s) brings it back.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn five_consecutive_5xx_eject_a_host_which_gets_no_request_until_the_sweep_after_30s() {
    let w = world(detecting(&["10.1.0.1:80", "10.1.0.2:80"], 0)).await;
    let bad = Upstream::spawn(&w.net, addr("10.1.0.1:80"), None, |_, _| {
        Action::Respond(500, "boom")
    })
    .await;
    let good = Upstream::ok(&w.net, addr("10.1.0.2:80"), "ok").await;
    for id in 0..10 {
        w.get(VIP, HOST, id).await;
    }
    assert_eq!(bad.requests().len(), 5, "round robin until the 5th 5xx");
    for id in 10..20 {
        assert_eq!(w.get(VIP, HOST, id).await.body_text(), "ok");
    }
    assert_eq!(bad.requests().len(), 5, "ejected: no new request");
    let od = &w.sidecar.stats().outlier_detection[CLUSTER];
    assert_eq!(
        (od.ejections_active, od.ejections_enforced_consecutive_5xx),
        (1, 1)
    );
    // Ejected just after 0 s (network latency); the sweeps run every 10 s
    // from the start, so the one at 40 s is the first 30 s after it.
    meshsim_net::clock::sleep(Duration::from_secs(39)).await;
    w.get(VIP, HOST, 99).await;
    assert_eq!(bad.requests().len(), 5, "still ejected at 39 s");
    meshsim_net::clock::sleep(Duration::from_secs(2)).await;
    for id in 20..24 {
        w.get(VIP, HOST, id).await;
    }
    assert_eq!(bad.requests().len(), 7);
    assert!(good.requests().len() >= 15);
}

/// §9.1 last row, §4.1 last row: without `split_external_local_origin_errors`
/// connect failures count as 5xx, so a host that refuses connections is
/// ejected after five.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_failures_eject_a_host_when_local_origin_errors_are_not_split() {
    let w = world(detecting(&["10.1.0.1:80", "10.1.0.2:80"], 0)).await;
    let _good = Upstream::ok(&w.net, addr("10.1.0.2:80"), "ok").await;
    let mut refused = 0;
    for id in 0..20 {
        let r = w.get(VIP, HOST, id).await;
        refused += usize::from(r.status == 503);
    }
    assert_eq!(refused, 5);
    let od = &w.sidecar.stats().outlier_detection[CLUSTER];
    assert_eq!(od.ejections_enforced_consecutive_5xx, 1);
}

/// §9.2: Istio's `minHealthPercent` default 0 turns panic mode off: with
/// every host ejected the answer is 503 `no healthy upstream` UH.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn with_panic_mode_off_an_all_ejected_cluster_answers_503_no_healthy_upstream() {
    let w = world(detecting(&["10.1.0.1:80"], 0)).await;
    let bad = Upstream::spawn(&w.net, addr("10.1.0.1:80"), None, |_, _| {
        Action::Respond(503, "down")
    })
    .await;
    for id in 0..5 {
        assert_eq!(w.get(VIP, HOST, id).await.body_text(), "down");
    }
    let r = w.get(VIP, HOST, 5).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (503, "no healthy upstream")
    );
    assert_eq!(w.log.take(5).unwrap().flags, ResponseFlags::UH);
    assert_eq!(bad.requests().len(), 5);
}

/// §9.2 / Envoy panic threshold: below `healthy_panic_threshold` healthy
/// hosts, Envoy balances over every host, ejected ones included.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn below_the_panic_threshold_ejected_hosts_get_requests_again() {
    let w = world(detecting(&["10.1.0.1:80", "10.1.0.2:80"], 51)).await;
    let bad = Upstream::spawn(&w.net, addr("10.1.0.1:80"), None, |_, _| {
        Action::Respond(500, "boom")
    })
    .await;
    let _good = Upstream::ok(&w.net, addr("10.1.0.2:80"), "ok").await;
    for id in 0..20 {
        w.get(VIP, HOST, id).await;
    }
    // Ejected after 5, yet 1 of 2 healthy (50 %) is below 51 %: panic.
    assert_eq!(bad.requests().len(), 10);
    let stats = w.sidecar.stats();
    assert_eq!(stats.outlier_detection[CLUSTER].ejections_active, 1);
    assert!(stats.lb_healthy_panic >= 10, "{}", stats.lb_healthy_panic);
}

/// Istio >= 1.14 default `LEAST_REQUEST` (P2C on active requests): a host
/// holding hung requests is picked only when both draws land on it (about
/// 1 in 4 with two hosts), where round robin would give it every other one.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn least_request_keeps_new_requests_away_from_a_host_with_requests_in_flight() {
    let c = meshsim_sidecar::Cluster {
        lb_policy: LbPolicy::LeastRequest,
        ..cluster(
            CLUSTER,
            Discovery::Static {
                endpoints: vec![addr("10.1.0.1:80"), addr("10.1.0.2:80")],
            },
        )
    };
    let w = world(c).await;
    let hung = Upstream::spawn(&w.net, addr("10.1.0.1:80"), None, |_, _| Action::Hang).await;
    let fast = Upstream::ok(&w.net, addr("10.1.0.2:80"), "fast").await;
    let mut tasks = Vec::new();
    for id in 0..40 {
        let mut conn = w.dial(VIP).await;
        tasks.push(tokio::spawn(
            async move { conn.try_get(HOST, "/", id).await },
        ));
        meshsim_net::clock::sleep(Duration::from_millis(10)).await;
    }
    let (h, f) = (hung.requests().len(), fast.requests().len());
    assert_eq!(h + f, 40);
    assert!((3..16).contains(&h), "hung host got {h} of 40");
    for t in tasks {
        t.abort();
    }
}

/// Round robin over EDS endpoints: each in turn.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn round_robin_spreads_requests_evenly_over_eds_endpoints() {
    let w = world(eds()).await;
    let a = Upstream::ok(&w.net, addr("10.1.0.1:80"), "a").await;
    let b = Upstream::ok(&w.net, addr("10.1.0.2:80"), "b").await;
    let eps = endpoints(&["10.1.0.1:80", "10.1.0.2:80"]);
    w.sidecar.update_endpoints(CLUSTER, eps).unwrap();
    for id in 0..10 {
        w.get(VIP, HOST, id).await;
    }
    assert_eq!((a.requests().len(), b.requests().len()), (5, 5));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_invalid_outlier_detection_is_refused_at_start() {
    let mut c = detecting(&["10.1.0.1:80"], 0);
    if let Some(od) = c.outlier_detection.as_mut() {
        od.base_ejection_time = Duration::ZERO;
    }
    let config: SidecarConfig = routed(HOST, c, None, None);
    assert!(config.validate().is_err());
}
