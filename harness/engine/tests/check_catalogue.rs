//! `meshsim check` over the whole catalogue (issue 6): the mitigations a
//! scenario expects to be clean get no Error or Warning finding, and every
//! rule with a demo scenario is found there, in a mitigation that shows the
//! incident.
//!
//! A mitigation is *meant to be clean* when one of its expectations on the
//! entry calls' totals (no `hop`) says `errors: "== 0"`, `error_rate:
//! "== 0%"`, or `error_rate` below at most 1 %.

use std::collections::BTreeSet;

use meshsim_engine::expect::{Check, Cmp};
use meshsim_engine::{FileCheck, Scenario, check_file};
use meshsim_istio::lint::{RULES, Severity};

#[path = "support/engine.rs"]
mod support;
use support::catalogue;

/// Catalogue mitigations that meet their error expectations and still
/// carry a real finding (reported, not hidden): `(scenario, mitigation,
/// code, why the finding stands)`.
const NOT_CLEAN: &[(&str, &str, &str, &str)] = &[
    (
        "http2-refused-streams",
        "retry-5xx",
        "MS0107",
        "5xx retries resend gRPC POSTs reset after they were written: no client-visible error, possible duplicate effects (INC-18)",
    ),
    (
        "nat-idle-timeout",
        "retry-reset",
        "MS0204",
        "the pooled connections still outlive the NAT's timer; the reset retries hide it (upstream_attempts_per_request > 1.1)",
    ),
    (
        "server-first-protocol",
        "detection-timeout-5s",
        "MS0101",
        "the port is still sniffed: every connection waits the 5 s detection timeout (its own expectation: p50 > 5s)",
    ),
    (
        "strict-mtls-probes",
        "tcp-probe",
        "MS0303",
        "the probe passes on the sidecar's accept: no error here, but it no longer sees the app (INC-14's masked half)",
    ),
];

fn meant_clean(s: &Scenario, mitigation: &str) -> bool {
    s.expectations.iter().any(|e| {
        e.mitigation == mitigation
            && e.hop.is_none()
            && match e.check {
                Check::Errors(Cmp::Eq | Cmp::Le, 0) => true,
                Check::ErrorRate(Cmp::Eq, r) => r == 0.0,
                Check::ErrorRate(Cmp::Lt | Cmp::Le, r) => r <= 0.01,
                _ => false,
            }
    })
}

fn stem(check: &FileCheck) -> String {
    check
        .file
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_mitigations_meant_to_be_clean_get_no_error_or_warning_finding() {
    let mut clean = 0;
    for file in catalogue() {
        let scenario = Scenario::load(&file).unwrap();
        let check = check_file(&file);
        let name = stem(&check);
        for m in scenario
            .mitigations
            .iter()
            .filter(|m| meant_clean(&scenario, &m.name))
        {
            clean += 1;
            let loud: Vec<_> = check
                .findings
                .iter()
                .filter(|f| f.mitigation.as_deref() == Some(&m.name))
                .filter(|f| f.finding.severity <= Severity::Warning)
                .filter(|f| {
                    !NOT_CLEAN.iter().any(|(s, mm, code, _)| {
                        *s == name && *mm == m.name && *code == f.finding.code
                    })
                })
                .collect();
            assert!(loud.is_empty(), "{name} / {}: {loud:#?}", m.name);
        }
        let world: Vec<_> = (check.findings.iter())
            .filter(|f| f.mitigation.is_none() && f.finding.severity <= Severity::Warning)
            .collect();
        assert!(world.is_empty(), "{name}: the world itself: {world:#?}");
    }
    assert!(clean >= 20, "the rule finds the clean mitigations: {clean}");
}

/// Each listed exception is real: the finding is there, and the mitigation
/// is one the rule above calls clean (else the entry is stale).
#[test]
fn every_not_clean_exception_is_still_found_in_a_mitigation_meant_to_be_clean() {
    for (name, mitigation, code, why) in NOT_CLEAN {
        let file = catalogue()
            .into_iter()
            .find(|f| f.file_stem().is_some_and(|s| s == *name))
            .unwrap();
        let scenario = Scenario::load(&file).unwrap();
        assert!(meant_clean(&scenario, mitigation), "{name} / {mitigation}");
        let check = check_file(&file);
        assert!(
            check
                .findings
                .iter()
                .any(|f| f.mitigation.as_deref() == Some(*mitigation) && f.finding.code == *code),
            "{name} / {mitigation}: {code} ({why}) no longer found"
        );
    }
}

/// Issue 6: each finding names the catalogue scenario that demonstrates
/// it; that scenario shows it in a mitigation that is not meant to be clean.
#[test]
fn every_rule_with_a_demo_is_found_in_its_scenario_where_the_incident_is() {
    for rule in RULES {
        let Some(demo) = rule.demo else { continue };
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(demo);
        let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{}: {e}", rule.code));
        let check = check_file(&file);
        let found: BTreeSet<&str> = (check.findings.iter())
            .filter(|f| f.finding.code == rule.code)
            .filter_map(|f| f.mitigation.as_deref())
            .filter(|m| !meant_clean(&scenario, m))
            .collect();
        assert!(
            !found.is_empty(),
            "{} not found in {demo}: {:#?}",
            rule.code,
            check.findings
        );
    }
}
