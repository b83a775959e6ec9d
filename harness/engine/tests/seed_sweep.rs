//! Every catalogue scenario's expectations hold for more than its pinned
//! seed: they follow from the mechanism, not from one lucky draw. On failure
//! the message names the seed and the command that reproduces it.
//!
//! Every run of the sweep also renders its JSON report and validates it
//! against the published schema (`reports/schema/run-result.schema.json`,
//! `meshsim_report::schema`): the catalogue exercises every part of a
//! result (middleboxes, pods, probes, access logs, HTTP/2, lifecycles), so
//! the schema is checked on what the product really writes, without running
//! the catalogue a second time.

use meshsim_engine::{RunOptions, Scenario};

#[path = "support/engine.rs"]
mod support;
use support::catalogue;

/// Seeds swept besides each scenario's own (kept small: CI runs this in a
/// debug build).
const SEEDS: [u64; 2] = [1, 2];

#[test]
fn catalogue_expectations_hold_across_seeds_and_every_json_report_fits_the_schema() {
    for file in catalogue() {
        let scenario = Scenario::load(&file).unwrap();
        for seed in SEEDS {
            let opts = RunOptions {
                seed: Some(seed),
                ..RunOptions::default()
            };
            let result = meshsim_engine::run(&scenario, &opts, |_| {}).unwrap();
            let json: serde_json::Value =
                serde_json::from_str(&meshsim_report::json(&result)).unwrap();
            let violations = meshsim_report::schema::violations(&json);
            assert!(
                violations.is_empty(),
                "{} at seed {seed}: the JSON report breaks reports/schema/run-result.schema.json:\n{}",
                file.display(),
                violations.join("\n")
            );
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
