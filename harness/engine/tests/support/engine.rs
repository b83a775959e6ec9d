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
