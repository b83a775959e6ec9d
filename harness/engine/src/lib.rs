//! The scenario engine: scenario files, world building, the fault timeline
//! and the mitigation matrix.
//!
//! A scenario is loaded in two phases ([`Scenario::load`]: serde with unknown
//! keys rejected, then validation with errors naming file, line, column and key
//! path). [`run`] then replays it once per mitigation, each in a fresh world on
//! a fresh simulated network with the same seed, and returns a
//! [`meshsim_core::RunResult`] with every expectation evaluated.
//!
//! Module map:
//! - [`scenario`]: the file format and its validation (`scenarios/README.md`);
//! - [`expect`]: expectations and their evaluation;
//! - `world`: spawning DNS, upstreams and sidecars, applying timeline actions;
//! - [`run`](mod@run): the matrix, one paused-clock runtime per mitigation;
//! - [`check`](mod@check): `meshsim check`, lint of every mitigation's Istio
//!   resources with what the scenario knows (and of plain Istio files);
//! - [`up`]: `meshsim up`, one mitigation's world in real mode that stays up
//!   for real clients, with a control endpoint for timeline actions.
//!
//! ```
//! use std::path::Path;
//! let yaml = "version: 1\nname: tiny\nduration: 2s\nworld:\n  external:\n    - { name: api, address: 10.1.0.1:80 }\n  pods:\n    - name: app\n      app: { client: go, calls: [{ url: \"http://10.1.0.1/\", rate: 10/s, arrival: constant }] }\nmitigations:\n  - name: none\nexpect:\n  - { mitigation: none, error_rate: \"== 0%\" }\n";
//! let scenario = meshsim_engine::Scenario::parse(yaml, Path::new("tiny.yaml")).unwrap();
//! let result = meshsim_engine::run(&scenario, &Default::default(), |_| {}).unwrap();
//! assert_eq!(result.mitigations[0].requests, 20);
//! assert!(result.all_expectations_passed());
//! ```

// Simulated runs seed tokio's runtime RNG (`run::run_mitigation`), which
// needs `--cfg tokio_unstable` (`.cargo/config.toml`). A `RUSTFLAGS` in the
// environment replaces that file's flags: refuse to build rather than lose
// determinism silently.
#[cfg(not(tokio_unstable))]
compile_error!(
    "meshsim-engine needs `--cfg tokio_unstable` for deterministic simulated runs: \
     it is set in .cargo/config.toml, and a RUSTFLAGS environment variable overrides it \
     (add `--cfg tokio_unstable` to RUSTFLAGS, or unset it)"
);

pub mod agree;
pub mod check;
mod error;
pub mod expect;
pub mod run;
pub mod scenario;
pub mod up;
mod world;

pub use check::{CheckFinding, FileCheck, check_file, check_text};
pub use error::EngineError;
pub use run::progress::{Progress, RunEvent};
pub use run::{RunOptions, run};
pub use scenario::{FirewallSpec, MiddleboxKind, MiddleboxSpec, Scenario};
pub use up::{UpOptions, UpStats};
