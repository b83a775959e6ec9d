//! A small world for the pod-lifecycle tests: one pod `app` calling an
//! external API 20 times a second, a config server for init containers, and
//! the pod's `lifecycle` block and mitigations given by the test.
#![allow(dead_code)]

use std::path::Path;

use meshsim_core::{MitigationResult, PodLifecycleResult};
use meshsim_engine::{RunOptions, Scenario};

/// The pod's usual call: 20 requests a second to a 5 ms API.
pub(crate) const CALL: &str = "url: \"http://api.partner.example/\", rate: 20/s, arrival: constant";

/// The scenario text: `lifecycle` is the pod's block (its lines indented by
/// 8 spaces), `call` the pod's one call map (e.g. [`CALL`]; the host
/// `slow.partner.example` answers in 10 s), `tail` everything from
/// `timeline:` or `mitigations:` on.
pub(crate) fn scenario(duration: &str, lifecycle: &str, call: &str, tail: &str) -> String {
    format!(
        "\
version: 1
name: lifecycle
duration: {duration}
world:
  network: {{ latency: 100us }}
  dns:
    zones:
      api.partner.example: {{ a: [52.1.1.10], ttl: 60s }}
      config.corp.example: {{ a: [10.20.0.7], ttl: 60s }}
      slow.partner.example: {{ a: [52.1.1.11], ttl: 60s }}
  external:
    - {{ name: api, address: 52.1.1.10:80, keepalive_timeout: 0s, routes: [{{ prefix: /, status: 200, body_bytes: 16, latency: 5ms }}] }}
    - {{ name: slow, address: 52.1.1.11:80, keepalive_timeout: 0s, routes: [{{ prefix: /, status: 200, body_bytes: 16, latency: 10s }}] }}
    - {{ name: config, address: 10.20.0.7:8080, keepalive_timeout: 0s, routes: [{{ prefix: /, status: 200, body_bytes: 16 }}] }}
  pods:
    - name: app
      sidecar: true
      app:
        client: go
        calls:
          - {{ {call} }}
      lifecycle:
{lifecycle}
{tail}"
    )
}

/// Loads `text`, panicking with the error when it does not load.
pub(crate) fn load(text: &str) -> Scenario {
    Scenario::parse(text, Path::new("lifecycle.yaml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Runs every mitigation of `text` with seed 1.
pub(crate) fn run(text: &str) -> Vec<MitigationResult> {
    let s = load(text);
    let opts = RunOptions {
        seed: Some(1),
        ..RunOptions::default()
    };
    meshsim_engine::run(&s, &opts, |_| {}).unwrap().mitigations
}

/// The pod's lifecycle figures in mitigation `name`.
pub(crate) fn pod<'a>(ms: &'a [MitigationResult], name: &str) -> &'a PodLifecycleResult {
    let m = ms.iter().find(|m| m.name == name).unwrap();
    &m.pods[0]
}

/// When the pod's log first says something containing `what`.
pub(crate) fn at(p: &PodLifecycleResult, what: &str) -> f64 {
    p.events
        .iter()
        .find(|e| e.what.contains(what))
        .unwrap_or_else(|| panic!("no event {what:?} in {:#?}", p.events))
        .at_s
}

/// Whether the pod's log says something containing `what`.
pub(crate) fn logged(p: &PodLifecycleResult, what: &str) -> bool {
    p.events.iter().any(|e| e.what.contains(what))
}

/// `a` and `b` within a microsecond.
pub(crate) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}
