//! Where the inbound sidecar reaches the application (incidents.md INC-15,
//! Istio 1.10 upgrade notes): since 1.10 at the pod's address, as plain
//! Kubernetes does, so an app listening on `localhost` only is unreachable
//! through the mesh; before 1.10 at `127.0.0.1`, so an app bound to the pod's
//! address only was.

use std::path::Path;

use meshsim_core::MitigationResult;
use meshsim_engine::Scenario;

#[path = "support/engine.rs"]
mod support;

/// A client pod (with a sidecar unless `mesh_client` is false) calling
/// `web`, whose app listens on `listen`, under Istio `istio`; `web` has a
/// sidecar unless `mesh_server` is false.
fn run(istio: &str, listen: &str, mesh_client: bool, mesh_server: bool) -> MitigationResult {
    let text = format!(
        "\
version: 1
name: inbound-forward
duration: 10s
istio: \"{istio}\"
world:
  network: {{ latency: 100us }}
  services:
    - name: web
      sidecar: {mesh_server}
      ports: [{{ name: http, port: 80, target_port: 8080 }}]
      app: {{ listen: {listen}, routes: [{{ prefix: /, latency: 2ms }}] }}
  pods:
    - name: client
      sidecar: {mesh_client}
      app:
        client: go
        calls:
          - {{ url: \"http://web.default.svc.cluster.local/\", rate: 10/s, arrival: constant }}
mitigations: [{{ name: none }}]
"
    );
    let s = Scenario::parse(&text, Path::new("inbound-forward.yaml")).unwrap();
    let mut r = support::run_seeded(&s, 1).mitigations;
    assert!(r[0].requests >= 90, "{:?}", r[0]);
    r.remove(0)
}

/// The only error kind of `m`, which failed every request.
fn only_error(m: &MitigationResult) -> &str {
    assert_eq!(m.errors, m.requests, "{:?}", m.errors_by_kind);
    assert_eq!(m.errors_by_kind.len(), 1, "{:?}", m.errors_by_kind);
    &m.errors_by_kind[0].kind
}

/// INC-15: since Istio 1.10 the server's inbound sidecar connects to the
/// app at the pod's address; an app on `localhost` refuses it, so every call
/// gets a `503` whose origin is the server sidecar's `503 UF` (`delayed
/// connect error: 111`): to the caller's sidecar an upstream response,
/// which Istio 1.24's default retry policy does not retry (fact sheet §2.2).
#[test]
fn an_app_bound_to_localhost_is_refused_through_the_sidecar_since_istio_1_10() {
    let m = run("1.24", "localhost", true, true);
    assert_eq!(only_error(&m), "503");
    assert_eq!(run("1.10", "localhost", true, true).errors, m.requests);
    assert_eq!(run("1.24", "0.0.0.0", true, true).errors, 0);
}

/// INC-15: before 1.10 the inbound cluster was `127.0.0.1:port`, so the
/// same app is reached.
#[test]
fn before_istio_1_10_the_inbound_sidecar_reaches_an_app_bound_to_localhost() {
    let m = run("1.9", "localhost", true, true);
    assert_eq!(
        (m.errors, m.requests > 0),
        (0, true),
        "{:?}",
        m.errors_by_kind
    );
}

/// INC-15: "pre-1.10 the reverse happened: apps bound only to the pod IP
/// were unreachable"; since 1.10 they are reached.
#[test]
fn before_istio_1_10_an_app_bound_to_the_pod_ip_is_refused_through_the_sidecar() {
    let m = run("1.9", "pod-ip", true, true);
    assert!(only_error(&m).starts_with("503"), "{:?}", m.errors_by_kind);
    assert_eq!(run("1.10", "pod-ip", true, true).errors, 0);
}

/// Plain Kubernetes: a client without a sidecar reaching a pod without one
/// through the Service connects to the pod's address, which an app on
/// `localhost` refuses (no proxy in between: `connect_refused`).
#[test]
fn without_any_sidecar_an_app_bound_to_localhost_refuses_its_service_callers() {
    let m = run("1.24", "localhost", false, false);
    assert_eq!(only_error(&m), "connect_refused");
}

/// A client without a sidecar calling a meshed pod goes through that pod's
/// inbound sidecar (inbound capture), which since 1.10 is refused by the
/// app on `localhost`: the client gets that sidecar's 503 itself (its own
/// record has no Envoy flags: no sidecar of its own logged it).
#[test]
fn a_client_without_a_sidecar_gets_the_server_sidecars_503_from_an_app_on_localhost() {
    let m = run("1.24", "localhost", false, true);
    assert_eq!(only_error(&m), "503");
}
