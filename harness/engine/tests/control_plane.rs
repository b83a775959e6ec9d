//! The control plane on the timeline: `istio.push` / `istio.delete` reach the
//! sidecars after `world.control_plane.push_delay`; DestinationRule subsets
//! get their pods over EDS; `pod.delete` stops a pod, which leaves EDS after
//! `eds_delay` and is replaced after `pod_start`.

use std::path::Path;

use meshsim_core::MitigationResult;
use meshsim_engine::{RunOptions, Scenario};

/// A client pod calling `api` (two pods) at 20/s for 60 s, with `timeline`
/// and one mitigation whose `istio` block is `istio` (indented below).
fn scenario(timeline: &str, istio: &str) -> Scenario {
    let istio: String = istio.lines().map(|l| format!("      {l}\n")).collect();
    let text = format!(
        "version: 1
name: control-plane
duration: 60s
world:
  control_plane: {{ eds_delay: 1s, push_delay: 2s, pod_start: 5s }}
  services:
    - name: api
      replicas: 2
      app:
        client: go
        routes: [{{ prefix: /, latency: 2ms }}]
  pods:
    - name: client
      sidecar: true
      app:
        client: go
        calls: [{{ url: \"http://api.default.svc.cluster.local/\", rate: 20/s, arrival: constant }}]
timeline:
{timeline}mitigations:
  - name: m
    app: {{ request_timeout: 2s }}
    istio: |
{istio}"
    );
    Scenario::parse(&text, Path::new("control-plane.yaml")).unwrap()
}

fn run(s: &Scenario, seed: u64) -> MitigationResult {
    let opts = RunOptions {
        seed: Some(seed),
        mitigations: vec!["m".into()],
        duration: None,
        interrupted: None,
        ..Default::default()
    };
    meshsim_engine::run(s, &opts, |_| {})
        .unwrap()
        .mitigations
        .remove(0)
}

const VS_FAULT: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api }
spec:
  hosts: [api.default.svc.cluster.local]
  http:
  - fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }
    route: [{ destination: { host: api.default.svc.cluster.local } }]
";

/// A VirtualService pushed at 20 s (replacing the mitigation's, same name)
/// changes every sidecar's routes `push_delay` (2 s) later: the injected
/// 503s stop at 22 s, not before.
#[test]
fn a_virtual_service_pushed_mid_run_takes_effect_after_the_push_delay() {
    let timeline = "  - at: 20s
    istio.push: |
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: { name: api }
      spec:
        hosts: [api.default.svc.cluster.local]
        http:
        - route: [{ destination: { host: api.default.svc.cluster.local } }]
";
    let m = run(&scenario(timeline, VS_FAULT), 3);
    let last = m.last_error_s.unwrap();
    assert!((21.9..22.01).contains(&last), "last error at {last}");
    let expected = 22.0 * 20.0;
    assert!(
        (m.errors as f64 - expected).abs() < expected * 0.1,
        "{} errors",
        m.errors
    );
}

/// `istio.delete` removes a resource: the fault goes with its
/// VirtualService after the push delay.
#[test]
fn an_istio_delete_removes_the_resource_after_the_push_delay() {
    let timeline = "  - at: 10s
    istio.delete: [{ kind: VirtualService, name: api }]
";
    let m = run(&scenario(timeline, VS_FAULT), 3);
    let last = m.last_error_s.unwrap();
    assert!((11.9..12.1).contains(&last), "last error at {last}");
}

const SUBSETS: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api }
spec:
  host: api.default.svc.cluster.local
  subsets: [{ name: all, labels: { app: api } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api }
spec:
  hosts: [api.default.svc.cluster.local]
  http:
  - route: [{ destination: { host: api.default.svc.cluster.local, subset: all } }]
";

/// Subset clusters get the pods their labels select over EDS (pods carry
/// `app: <service>`); pushing a VirtualService that names a subset no rule
/// defines makes Envoy answer 503 NC (`cluster_not_found`) from then on.
#[test]
fn a_subset_is_served_by_its_pods_and_an_unknown_subset_gets_503_nc() {
    let timeline = "  - at: 30s
    istio.push: |
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: { name: api }
      spec:
        hosts: [api.default.svc.cluster.local]
        http:
        - route: [{ destination: { host: api.default.svc.cluster.local, subset: v9 } }]
";
    let m = run(&scenario(timeline, SUBSETS), 5);
    let first = m.first_error_s.unwrap();
    assert!((31.9..32.1).contains(&first), "first error at {first}");
    assert_eq!(m.errors_by_kind.len(), 1, "{:?}", m.errors_by_kind);
    assert_eq!(m.errors_by_kind[0].kind, "503 NC");
}

/// `pod.delete` with `blackhole` (a lost node): requests the client's
/// sidecar sends to the dead pod until its endpoint leaves EDS (1 s) hang
/// until the app's 2 s request timeout; then the surviving pod and, 5 s
/// later, the replacement serve. Same seed, same result.
#[test]
fn a_blackholed_pod_fails_callers_until_its_endpoint_leaves_eds() {
    let timeline = "  - at: 10s
    pod.delete: { name: api-1, how: blackhole }
";
    let s = scenario(timeline, "");
    let m = run(&s, 7);
    assert!(m.errors > 0, "callers hit the dead pod");
    assert_eq!(m.errors_by_kind[0].kind, "request_timeout");
    // Errors are counted at the request's end (its 2 s timeout), bucketed by
    // its scheduled start: only requests sent before the EDS push failed.
    let failing: Vec<f64> = m
        .timeseries
        .iter()
        .filter(|b| b.errors > 0)
        .map(|b| b.start_s)
        .collect();
    assert_eq!(failing, [10.0], "error buckets");
    let last = m.last_error_s.unwrap();
    assert!(last < 10.0 + 1.0 + 2.0 + 0.1, "last error at {last}");
    assert!(
        m.served_by.len() >= 3,
        "the replacement serves: {:?}",
        m.served_by
    );
    assert_eq!(run(&s, 7), m);
}
