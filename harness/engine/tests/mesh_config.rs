//! MeshConfig from an `IstioOperator` in a mitigation's `istio` block reaches
//! every sidecar of the run.

use std::path::Path;

use meshsim_engine::{RunOptions, Scenario};

const SCENARIO: &str = "\
version: 1
name: registry-only
duration: 5s
world:
  external:
    - { name: api, address: 10.1.0.1:80 }
  pods:
    - name: app
      sidecar: true
      app: { client: go, calls: [{ url: \"http://10.1.0.1/\", rate: 10/s, arrival: constant }] }
mitigations:
  - name: allow-any
  - name: registry-only
    istio: |
      apiVersion: install.istio.io/v1alpha1
      kind: IstioOperator
      spec:
        meshConfig:
          outboundTrafficPolicy: { mode: REGISTRY_ONLY }
";

/// Fact sheet §3.4: under `REGISTRY_ONLY` a host without a ServiceEntry gets
/// a direct 502 from the sidecar; `ALLOW_ANY` passes it through.
#[test]
fn an_istio_operators_registry_only_turns_passthrough_calls_into_direct_502s() {
    let s = Scenario::parse(SCENARIO, Path::new("registry-only.yaml")).unwrap();
    let opts = RunOptions {
        seed: Some(1),
        mitigations: Vec::new(),
        duration: None,
        interrupted: None,
        ..Default::default()
    };
    let r = meshsim_engine::run(&s, &opts, |_| {}).unwrap().mitigations;
    assert_eq!((r[0].name.as_str(), r[0].errors), ("allow-any", 0));
    assert_eq!(r[1].errors, r[1].requests);
    assert!(r[1].requests > 0);
    assert_eq!(r[1].errors_by_kind[0].kind, "502");
    // The sidecar answered: no attempt reached the upstream.
    assert_eq!(r[1].upstream_attempts, 0);
}
