//! A three-service chain in simulated time: every hop has its own sidecar
//! (outbound and inbound), endpoints arrive over EDS, and the report
//! attributes requests, attempts and errors to each hop.

use std::path::Path;
use std::time::Duration;

use meshsim_core::MitigationResult;
use meshsim_engine::{RunOptions, Scenario};

fn chain() -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/mesh-chain-scale-down.yaml");
    Scenario::load(&path).unwrap()
}

fn run(s: &Scenario, mitigations: &[&str], seed: u64) -> Vec<MitigationResult> {
    run_for(s, mitigations, seed, None)
}

fn run_for(
    s: &Scenario,
    mitigations: &[&str],
    seed: u64,
    duration: Option<Duration>,
) -> Vec<MitigationResult> {
    let opts = RunOptions {
        seed: Some(seed),
        mitigations: mitigations.iter().map(|m| m.to_string()).collect(),
        duration,
        interrupted: None,
        ..Default::default()
    };
    meshsim_engine::run(s, &opts, |_| {}).unwrap().mitigations
}

#[test]
fn each_hop_of_the_chain_gets_its_own_requests_attempts_and_errors() {
    let s = chain();
    let results = run(&s, &["none", "retry-gateway-errors"], 11);
    let (none, retried) = (&results[0], &results[1]);
    let hops: Vec<(&str, bool)> = none
        .calls
        .iter()
        .map(|c| (c.from.as_str(), c.entry))
        .collect();
    assert_eq!(
        hops,
        vec![("client", true), ("frontend", false), ("catalog", false)]
    );
    // Every entry request crossed all three hops.
    for c in &none.calls {
        assert_eq!(c.requests, none.requests, "{c:?}");
    }
    // The 20 s outage of `inventory` (503 from its app) reaches every hop.
    let outage = 40.0 * 20.0;
    for c in &none.calls {
        assert!(
            (c.errors as f64) > outage * 0.8 && (c.errors as f64) < outage * 1.2,
            "{c:?}"
        );
        assert_eq!(c.errors_by_kind[0].kind, "503", "{c:?}");
    }
    // The VirtualService retries only at catalog -> inventory: the attempts
    // grow there, the failure carries URX there, and nowhere else.
    let at = |m: &MitigationResult, i: usize| m.calls[i].upstream_attempts_per_request;
    assert!(at(retried, 2) > 1.1, "{:?}", retried.calls[2]);
    assert_eq!(retried.calls[2].errors_by_kind[0].kind, "503 URX");
    assert!(at(retried, 1) < 1.01 && at(retried, 0) < 1.01);
    // Totals are the entry call's.
    assert_eq!(
        (none.requests, none.errors),
        (none.calls[0].requests, none.calls[0].errors)
    );
}

#[test]
fn scale_down_removed_pods_are_retried_on_connect_failure_by_istios_default_policy() {
    // Istio's default outbound policy (connect-failure, 2 retries) hides the
    // refused connects to the removed pods until the EDS push lands: the
    // catalog hop makes extra attempts, and before the outage at 3m30s at
    // most a request or two fails (one that reached a removed pod's inbound
    // sidecar after its app stopped: the `503` that sidecar returns is a real
    // upstream response to the caller, which 1.24's default does not retry).
    let s = chain();
    let none = &run_for(&s, &["none"], 11, Some(Duration::from_secs(200)))[0];
    let catalog = &none.calls[2];
    assert!(catalog.errors <= 2, "{catalog:?}");
    assert!(catalog.upstream_attempts_per_request > 1.0, "{catalog:?}");
}

#[test]
fn the_chain_is_deterministic() {
    let s = chain();
    let a = run(&s, &["none"], 5);
    let b = run(&s, &["none"], 5);
    assert_eq!(a, b, "rerun: cargo test -p meshsim-engine --test mesh");
}

/// kube-proxy: a pod without a sidecar reaches a service through its VIP
/// (the app still sees the VIP as its peer); once the service has no pod,
/// its connects are refused (kube-proxy's REJECT for a service without
/// endpoints).
#[test]
fn a_pod_without_a_sidecar_reaches_a_service_through_kube_proxy() {
    let text = "\
version: 1
name: kube-proxy
duration: 20s
world:
  network: { latency: 100us }
  control_plane: { eds_delay: 1s }
  services:
    - { name: inventory, replicas: 2, app: { routes: [{ prefix: /, latency: 5ms }] } }
  pods:
    - name: legacy
      app:
        client: no-keepalive
        calls:
          - { url: \"http://inventory.default.svc.cluster.local/\", rate: 20/s, arrival: constant }
timeline:
  - { at: 10s, service.scale: { name: inventory, replicas: 0 } }
mitigations: [{ name: none }]
";
    let s = Scenario::parse(text, Path::new("kp.yaml")).unwrap();
    let m = &run(&s, &[], 1)[0];
    assert_eq!(m.requests, 400);
    let first = m.first_error_s.unwrap();
    assert!((10.0..10.05).contains(&first), "{first}");
    assert_eq!(m.errors, 200, "{:?}", m.errors_by_kind);
    assert_eq!(m.errors_by_kind[0].kind, "connect_refused");
    assert_eq!(m.served_by[0].host, "10.96.0.20:80");
}
