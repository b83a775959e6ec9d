//! Outbound traffic policy (fact sheet §3.4) on the catalogue's
//! `registry-only-egress.yaml`: under `REGISTRY_ONLY` a host without a
//! ServiceEntry is answered by the sidecar itself.

use std::path::Path;

use meshsim_core::{CallResult, MitigationResult};
use meshsim_engine::{RunOptions, Scenario};

fn run(mitigation: &str) -> MitigationResult {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/registry-only-egress.yaml");
    let s = Scenario::load(&path).unwrap();
    let opts = RunOptions {
        seed: Some(1),
        mitigations: vec![mitigation.to_string()],
        ..RunOptions::default()
    };
    let mut r = meshsim_engine::run(&s, &opts, |_| {}).unwrap().mitigations;
    r.remove(0)
}

/// The hop of the call whose url contains `host`.
fn hop<'a>(m: &'a MitigationResult, host: &str) -> &'a CallResult {
    m.calls.iter().find(|c| c.url.contains(host)).unwrap()
}

/// §3.4 and §5.1 (last row): an unknown HTTP host on a port with an HTTP
/// listener takes Istio's `block_all` virtual host: a direct 502 with no
/// flag, never sent upstream; declared hosts are unaffected.
#[test]
fn registry_only_answers_a_host_without_a_service_entry_with_block_alls_direct_502() {
    let m = run("none");
    let vendor = hop(&m, "telemetry.vendor.example");
    assert!(vendor.requests > 0);
    assert_eq!(vendor.errors, vendor.requests);
    assert_eq!(vendor.errors_by_kind[0].kind, "502");
    assert_eq!(vendor.upstream_attempts_per_request, 0.0);
    assert_eq!(hop(&m, "api.partner.example").errors, 0);
}

/// §3.4: TCP to an undeclared destination goes to `BlackHoleCluster` (no
/// endpoint: accepted, then closed), so a MySQL client reads EOF before the
/// greeting; `ALLOW_ANY` passes both calls through `PassthroughCluster`.
#[test]
fn registry_only_closes_tcp_to_an_undeclared_destination_in_the_blackhole_cluster() {
    let ledger = run("none");
    let ledger = hop(&ledger, "ledger.legacy.example");
    assert_eq!(ledger.errors, ledger.requests);
    assert_eq!(ledger.errors_by_kind[0].kind, "connection_closed");
    let open = run("allow-any");
    assert_eq!((open.errors, open.requests > 0), (0, true));
}

/// §3.4: the registry is host x port; a ServiceEntry declaring the vendor
/// on 443 leaves its port 80 to `block_all`, one declaring port 80 fixes it.
#[test]
fn a_service_entry_for_another_port_leaves_the_called_port_blocked() {
    let m = run("service-entry-443-only");
    let vendor = hop(&m, "telemetry.vendor.example");
    assert_eq!(vendor.errors, vendor.requests);
    assert_eq!(run("service-entry").errors, 0);
}
