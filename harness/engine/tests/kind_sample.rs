//! Each error kind of a run carries a sample of what the application saw
//! (`KindCount::sample`): for the sidecar's local replies, Envoy's exact
//! body text, so a report shows the string an SRE greps production logs for.

use std::time::Duration;

use meshsim_core::{KindCount, MitigationResult};
use meshsim_engine::{RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;

/// The ALB incident until 7m under `mitigation`: the rotation at 5m17s,
/// the old node stopped with resets at 5m20s.
fn alb(mitigation: &str) -> MitigationResult {
    let s = Scenario::load(&support::catalogue_path("alb-ip-rotation.yaml")).unwrap();
    let opts = RunOptions {
        mitigations: vec![mitigation.into()],
        duration: Some(Duration::from_secs(420)),
        ..RunOptions::default()
    };
    let mut run = meshsim_engine::run(&s, &opts, |_| {}).unwrap();
    run.mitigations.remove(0)
}

fn kind<'a>(m: &'a MitigationResult, label: &str) -> &'a KindCount {
    m.errors_by_kind
        .iter()
        .find(|k| k.kind == label)
        .unwrap_or_else(|| panic!("no {label} in {:?}", m.errors_by_kind))
}

/// Fact sheet §5.1 (local reply body texts) and §4.1 (the keep-alive race):
/// a reset before response headers is `upstream connect error or
/// disconnect/reset before headers. reset reason: <reason>`, with
/// `connection termination` for `UC` and `remote connection failure` (and
/// its transport detail) for `UF`.
#[test]
fn local_reply_kinds_carry_envoys_exact_body_as_their_sample() {
    let m = alb("none");
    assert_eq!(
        kind(&m, "503 UC").sample.as_deref(),
        Some(
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
        )
    );
    let uf = kind(&m, "503 UF").sample.as_deref().unwrap_or("");
    assert!(
        uf.starts_with(
            "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"
        ),
        "{uf}"
    );
}

/// Fact sheet §5.1: after at least one retry the template reads
/// `... before headers. retried and the latest reset reason: ...`.
#[test]
fn a_retried_local_reply_sample_says_retried_and_the_latest() {
    let m = alb("retries-only");
    let urx = kind(&m, "503 UF,URX").sample.as_deref().unwrap_or("");
    assert!(
        urx.starts_with(
            "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure"
        ),
        "{urx}"
    );
}

#[test]
fn samples_are_the_same_for_the_same_seed() {
    let samples = |m: MitigationResult| -> Vec<Option<String>> {
        m.errors_by_kind.into_iter().map(|k| k.sample).collect()
    };
    assert_eq!(samples(alb("none")), samples(alb("none")));
}
