//! Helpers shared by the engine's integration tests (included with
//! `#[path = "support/engine.rs"] mod support;`; each test file uses some).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use meshsim_core::RunResult;
use meshsim_engine::{EngineError, RunOptions, Scenario};

/// The location and message of a scenario rejected at load:
/// `(line, column, key path, message)`. Panics if it loads or fails
/// otherwise.
pub(crate) fn invalid(text: &str) -> (usize, usize, String, String) {
    match Scenario::parse(text, Path::new("t.yaml")) {
        Err(EngineError::Invalid {
            line,
            column,
            path,
            message,
            ..
        }) => (line, column, path, message),
        Err(e) => panic!("unexpected error kind: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

/// Every mitigation of `s` at `seed`.
pub(crate) fn run_seeded(s: &Scenario, seed: u64) -> RunResult {
    let opts = RunOptions {
        seed: Some(seed),
        ..RunOptions::default()
    };
    meshsim_engine::run(s, &opts, |_| {}).unwrap()
}

/// The catalogue scenario file `name` (`scenarios/<name>`).
pub(crate) fn catalogue_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// Every scenario file of the catalogue (`scenarios/*.yaml`), sorted.
pub(crate) fn catalogue() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// A world shared by the middlebox and `--with` tests: one request every
/// 400 s (9/h) through a 350 s reset-flavour idle timer (an AWS NAT
/// gateway), to a server that never closes an idle connection itself
/// (`duration` to the pod's calls; `mitigations` follow).
pub(crate) const NAT_WORLD: &str = "\
duration: 40m
world:
  network: { latency: 1ms }
  dns:
    zones:
      api.partner.example: { a: [52.1.1.10], ttl: 60s }
  external:
    - { name: api, address: 52.1.1.10:80, keepalive_timeout: 0s, routes: [{ prefix: /, status: 200, body_bytes: 16 }] }
  middleboxes:
    - { kind: idle_timer, name: nat, idle: 350s, on_expiry: reset }
  pods:
    - name: app
      sidecar: true
      app:
        client: python-requests
        calls:
          - { url: \"http://api.partner.example/\", rate: 9/h, arrival: constant }
";

/// A mitigation's `istio` block declaring the API host with a resolution
/// NONE ServiceEntry (upstream pool idle timeout 1 h).
pub(crate) const SE_NONE: &str = "    istio: |
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: { name: api }
      spec:
        hosts: [api.partner.example]
        location: MESH_EXTERNAL
        ports: [{ number: 80, name: http, protocol: HTTP }]
        resolution: NONE
";
