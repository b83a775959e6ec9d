//! Host selection with outlier detection and panic mode, on the cluster's
//! own state (fact sheet §9.1, §9.2).

use std::net::SocketAddr;
use std::time::Duration;

use meshsim_core::SimRng;
use meshsim_net::clock::Instant;
use meshsim_net::{Net, SimConfig};
use proptest::prelude::*;

use super::outlier::HostResult;
use super::*;
use crate::config::{LbPolicy, OutlierDetection};

fn cluster(n: usize, policy: LbPolicy, panic: u32) -> (Arc<ClusterState>, Vec<SocketAddr>) {
    let hosts: Vec<SocketAddr> = (0..n)
        .map(|i| SocketAddr::from(([10, 0, 1, i as u8], 80)))
        .collect();
    let config = Cluster {
        name: "c".into(),
        discovery: Discovery::Static {
            endpoints: hosts.clone(),
        },
        lb_policy: policy,
        outlier_detection: Some(OutlierDetection {
            max_ejection_percent: 100,
            consecutive_5xx: 1,
            ..OutlierDetection::default()
        }),
        healthy_panic_threshold: panic,
        ..Cluster::default()
    };
    let net = Net::sim(SimConfig::default());
    let env = Env::new(net.stack("10.0.0.1".parse().unwrap()), SimRng::new(5));
    (ClusterState::new(config, env), hosts)
}

/// Feeds `result` for `host` straight to the cluster's detector.
fn feed(c: &ClusterState, host: SocketAddr, result: HostResult, now: Instant) {
    let mut st = c.lock();
    if let Some(det) = st.outlier.as_mut() {
        det.report(host, result, now, &mut SimRng::new(0));
    }
}

fn policy() -> impl Strategy<Value = LbPolicy> {
    prop_oneof![
        Just(LbPolicy::RoundRobin),
        Just(LbPolicy::LeastRequest),
        Just(LbPolicy::Random),
    ]
}

/// One step: a 5xx or a 200 from host `i`, a sweep, or a pick.
#[derive(Debug, Clone)]
enum Step {
    Fail(usize),
    Succeed(usize),
    Sweep,
    Pick,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..8).prop_map(Step::Fail),
        (0usize..8).prop_map(Step::Succeed),
        Just(Step::Sweep),
        Just(Step::Pick),
        Just(Step::Pick),
    ]
}

proptest! {
    /// §9.1/§9.2: an ejected host receives no request while ejected, unless
    /// the healthy share is below the panic threshold, when any host may be
    /// picked; with no healthy host and panic off there is no pick (UH).
    #[test]
    fn ejected_hosts_receive_no_requests_while_ejected_unless_in_panic(
        n in 1usize..8, p in policy(), panic in prop_oneof![Just(0u32), Just(50), Just(100)],
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let (c, hosts) = cluster(n, p, panic);
            let t0 = Instant::now();
            for (k, s) in steps.into_iter().enumerate() {
                let now = t0 + Duration::from_secs(k as u64 * 5);
                match s {
                    Step::Fail(i) => feed(&c, hosts[i % n], HostResult::Response(500), now),
                    Step::Succeed(i) => feed(&c, hosts[i % n], HostResult::Response(200), now),
                    Step::Sweep => c.lock().outlier.as_mut().unwrap().sweep(now),
                    Step::Pick => {
                        let healthy = hosts.iter().filter(|h| !c.is_ejected(**h)).count();
                        let in_panic = 100 * healthy < panic as usize * n;
                        let picked = c.pick(hosts[0], &[], None).map(|t| t.connect_to);
                        match picked {
                            Some(h) => prop_assert!(in_panic || !c.is_ejected(h), "{h} ejected, not in panic"),
                            None => prop_assert!(healthy == 0 && !in_panic),
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_pick_in_panic_mode_counts_lb_healthy_panic() {
    let (c, hosts) = cluster(2, LbPolicy::RoundRobin, 50);
    feed(&c, hosts[0], HostResult::Response(500), Instant::now());
    feed(&c, hosts[1], HostResult::Response(500), Instant::now());
    assert!(c.pick(hosts[0], &[], None).is_some());
    assert_eq!(c.env.stats.snapshot().lb_healthy_panic, 1);
}

/// §3.1: an EDS cluster has no host before its first assignment; an
/// assignment sets the hosts (duplicates merged) and keeps weights and labels.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_eds_assignment_replaces_hosts_and_keeps_weights_and_labels() {
    let net = Net::sim(SimConfig::default());
    let env = Env::new(net.stack("10.0.0.1".parse().unwrap()), SimRng::new(5));
    let config = Cluster {
        name: "e".into(),
        discovery: Discovery::Eds {
            service: "e".into(),
        },
        ..Cluster::default()
    };
    let c = ClusterState::new(config, env);
    assert!(c.pick("1.1.1.1:80".parse().unwrap(), &[], None).is_none());
    let mut ep = Endpoint::new("10.0.2.1:80".parse().unwrap());
    ep.weight = 3;
    ep.labels.insert("version".into(), "v1".into());
    c.update_endpoints(vec![ep.clone(), ep.clone()]).unwrap();
    assert_eq!(c.hosts(), vec![ep.addr], "duplicates are one host");
    assert_eq!(c.endpoints()[0], ep);
    assert!(c.wait_ready().await);
}
