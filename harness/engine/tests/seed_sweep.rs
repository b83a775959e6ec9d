//! Every catalogue scenario's expectations hold for more than its pinned
//! seed: they follow from the mechanism, not from one lucky draw. On failure
//! the message names the seed and the command that reproduces it.

use meshsim_engine::{RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;
use support::catalogue;

/// Seeds swept besides each scenario's own (kept small: CI runs this in a
/// debug build).
const SEEDS: [u64; 2] = [1, 2];

#[test]
fn catalogue_expectations_hold_across_seeds() {
    for file in catalogue() {
        let scenario = Scenario::load(&file).unwrap();
        for seed in SEEDS {
            let opts = RunOptions {
                seed: Some(seed),
                ..RunOptions::default()
            };
            let result = meshsim_engine::run(&scenario, &opts, |_| {}).unwrap();
            for m in &result.mitigations {
                if let Some(e) = m.expectations.iter().find(|e| !e.passed) {
                    panic!(
                        "{}: mitigation {}: `{}` failed with {} at seed {seed}\n\
                         rerun: meshsim run {} --seed {seed} --mitigation {}",
                        file.display(),
                        m.name,
                        e.text,
                        e.actual,
                        file.display(),
                        m.name
                    );
                }
            }
        }
    }
}
