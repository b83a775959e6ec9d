//! The kubelet's readiness probes of the services' pods and Istio's probe
//! rewrite (incidents.md INC-14; fact sheet §6.1: 15020 is excluded from
//! inbound capture; §8: STRICT has no plaintext chain; Istio 1.12 upgrade
//! notes: TCP probes rewritten). A NotReady pod leaves the endpoints.

use std::path::Path;

use meshsim_core::{MitigationResult, ProbeResult};
use meshsim_engine::Scenario;

#[path = "support/engine.rs"]
mod support;

/// `orders` (2 pods, `probe`, `annotations`, app listening on `listen`)
/// behind sidecars, called by a meshed client at 20/s, under `istio` with
/// the mitigation's `istio_block`, plus `timeline`.
fn scenario(
    istio: &str,
    probe: &str,
    extra: &str,
    listen: &str,
    block: &str,
    timeline: &str,
) -> Scenario {
    let text = format!(
        "\
version: 1
name: probes
duration: 1m
istio: \"{istio}\"
world:
  network: {{ latency: 100us }}
  services:
    - name: orders
      replicas: 2
      readiness_probe: {probe}
{extra}      app:
        listen: {listen}
        routes:
          - {{ prefix: /healthz, latency: 1ms }}
          - {{ prefix: /, latency: 3ms }}
  pods:
    - name: client
      sidecar: true
      app:
        client: go
        calls:
          - {{ url: \"http://orders.default.svc.cluster.local/\", rate: 20/s, arrival: constant }}
timeline: [{timeline}]
mitigations:
  - name: none
    istio: |
{block}
"
    );
    Scenario::parse(&text, Path::new("probes.yaml")).unwrap()
}

const STRICT: &str = "      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: { name: default, namespace: default }
      spec:
        mtls: { mode: STRICT }";
const PERMISSIVE: &str = "      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: { name: default, namespace: default }
      spec:
        mtls: { mode: PERMISSIVE }";
const HTTP: &str = "{ http_get: { path: /healthz }, period: 10s }";
const REWRITE_OFF: &str =
    "      annotations: { sidecar.istio.io/rewriteAppHTTPProbers: \"false\" }\n";

fn run(s: &Scenario) -> MitigationResult {
    support::run_seeded(s, 7).mitigations.remove(0)
}

fn kinds(m: &MitigationResult) -> Vec<&str> {
    m.errors_by_kind.iter().map(|k| k.kind.as_str()).collect()
}

/// INC-14: under STRICT the kubelet's plaintext probe of the app port is
/// reset by the pod's sidecar (no plaintext chain, §8); three failures make
/// each pod NotReady, the endpoints empty out, and the caller's sidecar
/// answers `503 UH` for the rest of the run.
#[test]
fn strict_without_probe_rewrite_takes_every_pod_out_within_three_periods_and_callers_get_503_uh() {
    let m = run(&scenario("1.24", HTTP, REWRITE_OFF, "0.0.0.0", STRICT, ""));
    assert_eq!(m.probes.len(), 2);
    for p in &m.probes {
        assert_eq!(p.failures, p.probes, "{p:?}");
        assert!(!p.rewritten);
        assert!(
            p.check.starts_with("http-get http://:8080/healthz"),
            "{}",
            p.check
        );
        let out = p.first_not_ready_s.expect("the pod went NotReady");
        assert!(out > 20.0 && out <= 30.0, "{out}");
        assert!(
            p.events[0].what.contains("connection reset by peer"),
            "{:?}",
            p.events
        );
    }
    assert_eq!(kinds(&m), ["503 UH"]);
    let last_out = m
        .probes
        .iter()
        .filter_map(|p| p.first_not_ready_s)
        .fold(0.0, f64::max);
    let first_error = m.first_error_s.unwrap();
    assert!(
        first_error >= last_out,
        "{first_error} before every pod was out ({last_out})"
    );
    assert!(m.error_rate > 0.45, "{}", m.error_rate);
}

/// Istio's default: the injector points the probe at pilot-agent's
/// `:15020/app-health/orders/readyz`, which inbound capture skips (§6.1);
/// the agent probes the app from inside the pod, so STRICT changes nothing.
#[test]
fn the_probe_rewrite_sends_the_kubelet_to_pilot_agent_and_the_pods_stay_ready_under_strict() {
    let m = run(&scenario("1.24", HTTP, "", "0.0.0.0", STRICT, ""));
    assert_eq!(m.errors, 0, "{:?}", m.errors_by_kind);
    assert_eq!(m.probes.len(), 2);
    for p in &m.probes {
        assert!(p.rewritten);
        assert!(
            p.check
                .starts_with("http-get http://:15020/app-health/orders/readyz"),
            "{}",
            p.check
        );
        assert_eq!((p.failures, p.first_not_ready_s), (0, None), "{p:?}");
        assert!(p.probes >= 5, "{p:?}");
    }
}

/// A probe sees what the app answers: pods answering 503 for 40 s fail
/// three probes in a row, go NotReady and leave the endpoints (callers get
/// `503 UH` once none is left), and come back with their first passing
/// probe after the window.
#[test]
fn pods_failing_their_probe_leave_the_endpoints_and_come_back_when_it_passes() {
    let timeline = "{ at: 10s, app.set: { service: orders, status: 503, for: 40s } }";
    let m = run(&scenario("1.24", HTTP, "", "0.0.0.0", PERMISSIVE, timeline));
    assert_eq!(m.probes.len(), 2);
    let mut back_at: f64 = 0.0;
    for p in &m.probes {
        let out = p.first_not_ready_s.unwrap_or_else(|| panic!("{p:?}"));
        assert!(out > 30.0 && out <= 41.0, "{out}");
        let back = p.events.iter().find(|e| e.what.starts_with("Ready"));
        let back = back.unwrap_or_else(|| panic!("{p:?}")).at_s;
        assert!(back > 50.0 && back <= 60.0, "{back}");
        back_at = back_at.max(back);
        assert!((p.not_ready_for_s - (back - out)).abs() < 0.01, "{p:?}");
    }
    let mut seen = kinds(&m);
    seen.sort_unstable();
    assert_eq!(seen, ["503", "503 UH"], "{:?}", m.errors_by_kind);
    // Once the pods are back (and EDS has them, 1 s later) nothing fails.
    let last = m.last_error_s.unwrap();
    assert!(last <= back_at + 1.1, "{last} after {back_at}");
}

/// Istio's docs: with redirection "all TCP ports appear open", so before
/// 1.12 a `tcpSocket` probe passes on the sidecar's accept even when the app
/// is unreachable (here: it listens on localhost only, INC-15); from 1.12
/// the injector rewrites it and the agent's connect to the pod's address is
/// refused, so the pods leave the endpoints.
#[test]
fn a_tcp_probe_masks_an_unreachable_app_before_istio_1_12_and_catches_it_from_1_12() {
    let tcp = "{ tcp_socket: {}, period: 10s }";
    let old = run(&scenario("1.11", tcp, "", "localhost", PERMISSIVE, ""));
    assert_eq!(old.probes.len(), 2);
    for p in &old.probes {
        assert!(
            !p.rewritten && p.check.starts_with("tcp-socket :8080"),
            "{p:?}"
        );
        assert_eq!(p.failures, 0, "the sidecar accepted every probe: {p:?}");
    }
    assert_eq!(
        old.errors, old.requests,
        "the app is unreachable through the sidecar"
    );
    assert!(
        kinds(&old).iter().all(|k| k.starts_with("503")),
        "{:?}",
        old.errors_by_kind
    );
    let new = run(&scenario("1.12", tcp, "", "localhost", PERMISSIVE, ""));
    assert_eq!(new.probes.len(), 2);
    for p in &new.probes {
        assert!(p.rewritten, "{p:?}");
        assert!(p.first_not_ready_s.is_some(), "{p:?}");
    }
    assert!(kinds(&new).contains(&"503 UH"), "{:?}", new.errors_by_kind);
}

/// An exec probe runs inside the container: no network, no sidecar.
#[test]
fn an_exec_probe_passes_under_strict_without_rewrite() {
    let exec = "{ exec: {}, period: 10s }";
    let m = run(&scenario("1.24", exec, REWRITE_OFF, "0.0.0.0", STRICT, ""));
    assert_eq!(m.errors, 0, "{:?}", m.errors_by_kind);
    assert!(
        m.probes
            .iter()
            .all(|p: &ProbeResult| p.failures == 0 && p.probes >= 5)
    );
}

/// The same seed gives the same probe offsets and figures.
#[test]
fn probe_figures_are_deterministic() {
    let s = scenario("1.24", HTTP, REWRITE_OFF, "0.0.0.0", STRICT, "");
    assert_eq!(run(&s).probes, run(&s).probes);
}

#[test]
fn a_probe_with_two_checks_is_an_error_naming_its_line() {
    let text = std::fs::read_to_string(support::catalogue_path("strict-mtls-probes.yaml")).unwrap();
    let bad = text.replace(
        "readiness_probe: { http_get: { path: /healthz }",
        "readiness_probe: { exec: {}, http_get: { path: /healthz }",
    );
    let (line, _, key, msg) = support::invalid(&bad);
    assert!(
        msg.contains("exactly one of http_get, tcp_socket, exec"),
        "{msg}"
    );
    let expected = text
        .lines()
        .position(|l| l.contains("readiness_probe:"))
        .unwrap()
        + 1;
    assert_eq!(line, expected, "{key}: {msg}");
}

#[test]
fn a_zero_threshold_and_a_relative_path_are_errors() {
    let text = std::fs::read_to_string(support::catalogue_path("strict-mtls-probes.yaml")).unwrap();
    let zero = text.replace("failure_threshold: 3", "failure_threshold: 0");
    assert!(
        support::invalid(&zero)
            .3
            .contains("threshold 0 is out of range")
    );
    let relative = text.replace("path: /healthz }", "path: healthz }");
    assert!(support::invalid(&relative).3.contains("must start with /"));
}
