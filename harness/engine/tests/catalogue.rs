//! Every scenario in the catalogue loads; unknown keys are rejected in every
//! table (hickory's test_reject_unknown_fields habit).

use meshsim_engine::{EngineError, Scenario};

#[path = "support/engine.rs"]
mod support;
use support::catalogue;

#[test]
fn every_catalogue_scenario_loads_and_has_expectations() {
    let files = catalogue();
    assert!(!files.is_empty());
    for f in files {
        let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !s.expectations.is_empty(),
            "{} has no expectation",
            f.display()
        );
        for m in &s.mitigations {
            assert!(
                s.expectations.iter().any(|e| e.mitigation == m.name),
                "{}: mitigation {} has no expectation",
                f.display(),
                m.name
            );
        }
    }
}

/// Inserts `typo_key: 1` as a sibling of the first key of every mapping line
/// (`key: value` at some indentation) and expects a rejection naming it.
#[test]
fn an_unknown_key_in_any_table_is_rejected_with_its_line() {
    for f in catalogue() {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut tried = 0;
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            // Block mapping keys outside the istio blocks (indent <= 8 keeps
            // us in scenario tables; istio YAML is validated by its own crate).
            let is_key = trimmed.split_once(':').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if !is_key || trimmed.starts_with('#') || indent > 6 || in_block_scalar(&lines, i) {
                continue;
            }
            let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            // A sibling key: after a list item's first line (inside the item),
            // otherwise just before the key (its value may span lines).
            let (at, key_indent) = if trimmed.starts_with("- ") {
                (i + 1, indent + 2)
            } else {
                (i, indent)
            };
            mutated.insert(at, format!("{}zz_typo_key: 1", " ".repeat(key_indent)));
            let text = mutated.join("\n");
            match Scenario::parse(&text, &f) {
                Err(EngineError::Invalid { line, message, .. }) => {
                    assert!(
                        message.contains("zz_typo_key"),
                        "line {}: {message}",
                        at + 1
                    );
                    assert_eq!(line, at + 1, "{message}");
                }
                other => panic!(
                    "{}: typo after line {} accepted: {:?}",
                    f.display(),
                    i + 1,
                    other.map(|s| s.name)
                ),
            }
            tried += 1;
        }
        assert!(
            tried >= 10,
            "only {tried} tables mutated in {}",
            f.display()
        );
    }
}

fn in_block_scalar(lines: &[&str], i: usize) -> bool {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let here = indent(lines[i]);
    lines[..i]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty() && indent(l) < here)
        .is_some_and(|l| l.trim_end().ends_with('|'))
}
