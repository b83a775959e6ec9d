//! The scenario's Envoy profile (`envoy.retry_backoff`): which of Envoy's two
//! retry back-off formulas every sidecar uses (fact sheet §1.2, §13.1).

use std::path::Path;

use meshsim_engine::{EngineError, RunOptions, Scenario};

/// An entry pod calling a ServiceEntry host whose only address refuses
/// connections, with 4 `connect-failure` retries: every request makes 5
/// attempts and its latency is the sum of 4 back-off waits.
fn refused(envoy: &str) -> String {
    format!(
        "version: 1
name: backoff
duration: 20s
{envoy}world:
  dns:
    zones:
      api.partner.example: {{ a: [52.1.1.20], ttl: 60s }}
  external:
    - {{ name: api, address: 52.1.1.10:80 }}
  pods:
    - name: checkout
      sidecar: true
      app:
        client: go
        calls: [{{ url: \"http://api.partner.example/charge\", rate: 50/s, arrival: constant }}]
mitigations:
  - name: retries
    istio: |
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {{ name: api }}
      spec:
        hosts: [api.partner.example]
        addresses: [52.1.1.20]
        ports: [{{ number: 80, name: http, protocol: HTTP }}]
        resolution: STATIC
        endpoints: [{{ address: 52.1.1.21 }}]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {{ name: api }}
      spec:
        hosts: [api.partner.example]
        http:
          - route: [{{ destination: {{ host: api.partner.example }} }}]
            retries: {{ attempts: 4, retryOn: connect-failure }}
"
    )
}

/// Median and maximum latency (ms) of the run; every request fails after 5
/// attempts.
fn latencies(envoy: &str) -> (f64, f64) {
    let s = Scenario::parse(&refused(envoy), Path::new("backoff.yaml")).unwrap();
    let r = meshsim_engine::run(&s, &RunOptions::default(), |_| {}).unwrap();
    let m = &r.mitigations[0];
    assert_eq!(m.errors, m.requests, "every request is refused");
    assert!(
        (m.upstream_attempts_per_request - 5.0).abs() < 1e-9,
        "{} attempts per request, {:?}",
        m.upstream_attempts_per_request,
        m.errors_by_kind
    );
    (m.latency_ms.p50, m.latency_ms.max)
}

/// Fact sheet §1.2, §13.1: Envoy's source draws retry N's wait from
/// `[0, 2^(N-1)·25 ms)` (four waits: at most 375 ms, 187.5 ms on average);
/// its documentation's `(2^N - 1)·25 ms` ceilings, capped at 250 ms, give
/// at most 525 ms and 262.5 ms on average. The scenario's
/// `envoy.retry_backoff` picks the one every sidecar uses.
#[test]
fn the_documented_back_off_makes_retried_requests_wait_longer_than_the_current_code() {
    let (p50_code, max_code) = latencies("");
    let (p50_explicit, _) = latencies("envoy: { retry_backoff: current-code }\n");
    let (p50_docs, max_docs) = latencies("envoy: { retry_backoff: documented }\n");
    assert_eq!(p50_code, p50_explicit, "current-code is the default");
    assert!(
        max_code < 376.0,
        "current code: at most 375 ms of waits, got {max_code}"
    );
    assert!(
        max_docs > 376.0,
        "documented: waits beyond 375 ms, got {max_docs}"
    );
    assert!(
        p50_docs > p50_code * 1.2,
        "documented median {p50_docs} ms, current code {p50_code} ms"
    );
}

/// An unknown back-off name is a load error naming the key and its line.
#[test]
fn an_unknown_retry_backoff_is_rejected_with_its_line() {
    let text = refused("envoy: { retry_backoff: exponential }\n");
    let err = Scenario::parse(&text, Path::new("backoff.yaml")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Invalid { line: 4, .. }), "{msg}");
    assert!(msg.contains("envoy.retry_backoff"), "{msg}");
    assert!(msg.contains("documented"), "{msg}");
}
