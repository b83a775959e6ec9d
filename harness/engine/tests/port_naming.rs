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

/// The `http2-name` mitigation's Service port, as the file writes it.
const HTTP2_PORT: &str = "{ name: http2-web, port: 8080, target_port: 8080 }";

/// `port-naming.yaml` with the `http2-name` mitigation's port replaced by
/// `port` and, when `vs_retries` is false, without its VirtualService.
fn http2_variant(port: &str, vs_retries: bool) -> Scenario {
    let text = std::fs::read_to_string(file()).unwrap();
    let mut text = text.replace(HTTP2_PORT, port);
    if !vs_retries {
        let with = format!("ports: [{port}] }}\n    istio: *retries\n");
        assert!(text.contains(&with));
        text = text.replace(&with, &format!("ports: [{port}] }}\n"));
    }
    Scenario::parse(&text, &file()).unwrap()
}

/// The access-log sample line of `hop` with `code`, if any.
fn logged(r: &MitigationResult, hop: &str, code: u16) -> Option<meshsim_core::AccessLogLine> {
    let hop = r.access_log.iter().find(|h| h.hop == hop)?;
    hop.lines.iter().find(|l| l.response_code == code).cloned()
}

/// §7.1 (last point; Envoy's router: a codec protocol error is `502 UPE`,
/// `reset reason: protocol error`): behind a port named `http2-web`,
/// catalog's HTTP/1.1 app answers the inbound cluster's h2 preface with
/// `400`, so every request fails, the good pods' too. The server sidecar
/// logs `502 UPE` (its inbound `reset-before-request` does not retry: the
/// request was sent); the client sidecar retries the 502 under the
/// VirtualService's `5xx` (3 retries, 4 attempts) and gives up: `URX`.
#[test]
fn an_http1_app_behind_a_port_named_http2_fails_every_request_with_a_protocol_error() {
    let s = Scenario::load(&file()).unwrap();
    let r = run(&s, "http2-name", 1);
    assert!(r.requests > 1000, "{}", r.requests);
    assert_eq!(r.errors, r.requests);
    assert_eq!(r.errors_by_kind.len(), 1);
    assert_eq!(r.errors_by_kind[0].kind, "502 URX");
    assert!(
        (r.upstream_attempts_per_request - 4.0).abs() < 1e-9,
        "{r:?}"
    );
    let inbound = logged(&r, "catalog", 502).expect("catalog's sidecar logs the 502");
    assert_eq!(inbound.flags.to_string(), "UPE");
    assert_eq!(
        inbound.details.as_deref(),
        Some("upstream_reset_before_response_started{protocol_error}")
    );
    let outbound = logged(&r, "frontend", 502).expect("frontend's sidecar logs the 502");
    assert_eq!(outbound.flags.to_string(), "URX");
}

/// §1.1, §2.2: without the VirtualService, Istio's default outbound policy
/// (`connect-failure,refused-stream,unavailable,cancelled,
/// retriable-status-codes` with 503) does not retry a 502: one attempt each,
/// and the app sees the plain 502 (no `URX`).
#[test]
fn the_default_retry_policy_does_not_retry_the_protocol_errors_502() {
    let r = run(&http2_variant(HTTP2_PORT, false), "http2-name", 1);
    assert_eq!(r.errors, r.requests);
    assert_eq!(r.errors_by_kind[0].kind, "502");
    assert!(
        (r.upstream_attempts_per_request - 1.0).abs() < 1e-9,
        "{r:?}"
    );
}

/// §7.1: a `grpc-` name and `appProtocol: http2` (which wins over the name
/// `web`) make the inbound cluster speak HTTP/2 just the same.
#[test]
fn a_grpc_port_name_and_app_protocol_http2_fail_the_same_way() {
    for port in [
        "{ name: grpc-api, port: 8080, target_port: 8080 }",
        "{ name: web, port: 8080, target_port: 8080, app_protocol: http2 }",
    ] {
        let r = run(&http2_variant(port, true), "http2-name", 1);
        assert_eq!(r.errors, r.requests, "{port}");
        assert_eq!(r.errors_by_kind[0].kind, "502 URX", "{port}");
        let inbound = logged(&r, "catalog", 502).expect(port);
        assert_eq!(inbound.flags.to_string(), "UPE", "{port}");
    }
}
