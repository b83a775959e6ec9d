//! Same seed, byte-identical JSON; another seed, other numbers.

use std::path::Path;
use std::time::Duration;

use meshsim_engine::{RunOptions, Scenario};

fn alb() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/alb-ip-rotation.yaml");
    Scenario::load(&path).unwrap()
}

fn json(scenario: &Scenario, seed: u64) -> String {
    let opts = RunOptions {
        seed: Some(seed),
        mitigations: vec!["none".into(), "resolution-dns".into()],
        duration: Some(Duration::from_secs(420)),
        interrupted: None,
        ..Default::default()
    };
    let result = meshsim_engine::run(scenario, &opts, |_| {}).unwrap();
    meshsim_report::json(&result)
}

#[test]
fn same_seed_gives_byte_identical_json() {
    let s = alb();
    let a = json(&s, 7);
    let b = json(&s, 7);
    assert!(
        a == b,
        "two runs with seed 7 differ; rerun: cargo test -p meshsim-engine --test determinism"
    );
    assert!(a.contains("\"seed\": 7"));
}

#[test]
fn another_seed_gives_other_numbers() {
    let s = alb();
    let a: serde_json::Value = serde_json::from_str(&json(&s, 7)).unwrap();
    let b: serde_json::Value = serde_json::from_str(&json(&s, 8)).unwrap();
    // Poisson arrivals and jitter come from the seed: request counts differ.
    assert_ne!(
        a["mitigations"][0]["requests"],
        b["mitigations"][0]["requests"]
    );
    assert_ne!(
        a["mitigations"][0]["latency_ms"],
        b["mitigations"][0]["latency_ms"]
    );
}

/// The pod lifecycle (kubelet's order, the sidecar's phases, SIGTERM and
/// the drain) is as deterministic as the load: the shutdown race, every
/// mitigation, twice.
#[test]
fn a_pod_lifecycle_run_gives_byte_identical_json() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/sidecar-shutdown-race.yaml");
    let s = Scenario::load(&path).unwrap();
    let run = || {
        let opts = RunOptions {
            seed: Some(3),
            ..RunOptions::default()
        };
        meshsim_report::json(&meshsim_engine::run(&s, &opts, |_| {}).unwrap())
    };
    let a = run();
    assert!(
        a == run(),
        "two runs of the shutdown race with seed 3 differ"
    );
    assert!(a.contains("\"termination_failures\""));
}
