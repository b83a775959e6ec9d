//! The short version of the real-versus-simulated agreement (issue 7): the
//! ALB incident's mitigations give the same verdict, the same dominant error
//! kind and a close error rate on kernel sockets as in the simulation. The
//! full comparison over the catalogue is `benches/real_agreement.sh`.

#[path = "support/engine.rs"]
mod support;

use std::time::Duration;

use meshsim_engine::RunOptions;
use meshsim_engine::agree::{Tolerance, compare, markdown};

#[test]
fn the_alb_incident_on_loopback_agrees_with_the_simulation() {
    let scenario = meshsim_engine::Scenario::load(&support::catalogue_path("alb-ip-rotation.yaml"))
        .expect("the catalogue scenario loads");
    // Node A dies at 5m20s: 40 s of the incident after it. A scale of 0.1
    // keeps the wall-clock load (500 requests/s) light enough for a debug
    // build sharing the machine with other tests.
    let opts = RunOptions {
        mitigations: vec!["none".into(), "resolution-dns".into()],
        duration: Some(Duration::from_secs(360)),
        ..RunOptions::default()
    };
    let sim = meshsim_engine::run(&scenario, &opts, |_| {}).expect("sim runs");
    let real_opts = RunOptions {
        real: true,
        time_scale: Some(0.1),
        ..opts
    };
    let real = meshsim_engine::run(&scenario, &real_opts, |_| {}).expect("real runs");
    assert_eq!(real.mode, meshsim_core::RunMode::Real);
    assert_eq!(real.time_scale, Some(0.1));
    let rows = compare(&sim, &real, Tolerance::default());
    assert_eq!(rows.len(), 2);
    let table = markdown(&sim.scenario, &rows);
    assert!(rows.iter().all(|r| r.agrees()), "{table}");
    // The incident is there in both: `none` fails with Envoy's 503 UF.
    assert!(rows[0].error_rate.1 > 0.05, "{table}");
    assert!(
        rows[0]
            .dominant
            .1
            .as_deref()
            .is_some_and(|k| k.starts_with("503 UF")),
        "{table}"
    );
}
