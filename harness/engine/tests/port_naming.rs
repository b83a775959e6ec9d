//! Protocol selection by port name and `appProtocol` (fact sheet §7.1) and
//! what HTTP loses on a port Istio treats as TCP (§7.3), on the catalogue's
//! `port-naming.yaml` (seed 002's first cause; incidents.md INC-12).

use std::path::{Path, PathBuf};

use meshsim_core::MitigationResult;
use meshsim_engine::{RunOptions, Scenario};

fn file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/port-naming.yaml")
}

fn run(s: &Scenario, mitigation: &str, seed: u64) -> MitigationResult {
    let opts = RunOptions {
        seed: Some(seed),
        mitigations: vec![mitigation.to_string()],
        ..RunOptions::default()
    };
    let mut r = meshsim_engine::run(s, &opts, |_| {}).unwrap().mitigations;
    r.remove(0)
}

/// §7.3: on a `tcp-` port the VirtualService's `http` retries do not apply:
/// each request is one attempt and the bad pod's 503s reach the app; named
/// `http-`, the same VirtualService retries them away.
#[test]
fn http_on_a_port_named_tcp_loses_the_virtual_services_retries() {
    let s = Scenario::load(&file()).unwrap();
    let tcp = run(&s, "none", 1);
    let rate = tcp.errors as f64 / tcp.requests as f64;
    assert!((0.25..0.42).contains(&rate), "{rate}");
    assert_eq!(tcp.errors_by_kind[0].kind, "503");
    let http = run(&s, "rename-port", 1);
    assert_eq!(http.errors, 0);
    assert!(http.upstream_attempts_per_request > 1.2, "{http:?}");
}

/// §7.1: `appProtocol` wins over the port name, and a name without a known
/// prefix is sniffed (HTTP found: the HTTP chain).
#[test]
fn app_protocol_wins_over_a_tcp_port_name_and_an_unprefixed_name_is_sniffed_as_http() {
    let s = Scenario::load(&file()).unwrap();
    for m in ["app-protocol", "unprefixed-name"] {
        let r = run(&s, m, 1);
        assert_eq!(r.errors, 0, "{m}");
        assert!(r.upstream_attempts_per_request > 1.2, "{m}");
    }
}

/// §7.3: one upstream connection per downstream connection for its whole
/// life: a keep-alive client calling one at a time (one pooled connection)
/// sends every request to the pod its connection landed on, so a run fails
/// either none or all of its requests.
#[test]
fn a_keep_alive_connection_through_a_tcp_port_stays_pinned_to_one_pod() {
    let text = std::fs::read_to_string(file()).unwrap();
    let text = (text.replace("client: no-keepalive", "client: go"))
        .replace("rate: 20/s }", "rate: 2/s, arrival: constant }");
    let s = Scenario::parse(&text, &file()).unwrap();
    let mut rates = Vec::new();
    for seed in 1..=6 {
        let r = run(&s, "none", seed);
        rates.push(r.errors as f64 / r.requests as f64);
    }
    assert!(rates.iter().all(|r| *r < 0.01 || *r > 0.99), "{rates:?}");
    assert!(
        rates.iter().any(|r| *r > 0.99),
        "some seed lands on the bad pod: {rates:?}"
    );
}
