//! Issue 6: whatever the scenario loader and `meshsim check` are given,
//! arbitrary bytes or a catalogue scenario mangled line by line, they
//! return a scenario, findings or an error, never a panic.

use std::path::Path;

use meshsim_engine::{Scenario, check_text};
use proptest::prelude::*;

#[path = "support/engine.rs"]
mod support;

/// Every catalogue scenario's text.
fn texts() -> Vec<String> {
    support::catalogue()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

const FRAGMENTS: &[&str] = &[
    "",
    "x",
    "  - ",
    ": ",
    "{",
    "[",
    "\t",
    "~",
    "-1",
    "0",
    "99999999999",
    "1ns",
    "0s",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!int ",
    "---",
    "#",
    "...",
    "istio: |",
    "  bogus: 1",
    "mitigations:",
];

/// One edit of a text's lines.
#[derive(Debug, Clone)]
enum Edit {
    /// Remove line `at`.
    Delete(usize),
    /// Replace what follows the first `: ` on line `at`.
    Value(usize, &'static str),
    /// Insert a line at `at`, indented by `indent`.
    Insert(usize, usize, &'static str),
    /// Cut the text after `at` bytes.
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let frag = prop::sample::select(FRAGMENTS);
    prop_oneof![
        (0usize..400).prop_map(Edit::Delete),
        ((0usize..400), frag.clone()).prop_map(|(a, f)| Edit::Value(a, f)),
        ((0usize..400), (0usize..12), frag).prop_map(|(a, i, f)| Edit::Insert(a, i, f)),
        (0usize..12_000).prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Delete(at) if !lines.is_empty() => {
                lines.remove(at % n);
            }
            Edit::Value(at, f) if !lines.is_empty() => {
                let line = &mut lines[at % n];
                if let Some(i) = line.find(": ") {
                    line.replace_range(i + 2.., f);
                }
            }
            Edit::Insert(at, indent, f) => {
                let at = at % (lines.len() + 1);
                lines.insert(at, format!("{}{f}", " ".repeat(*indent)));
            }
            Edit::Truncate(at) => {
                let joined = lines.join("\n");
                let mut cut = (*at).min(joined.len());
                while !joined.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines = joined[..cut].lines().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn load_and_check(text: &str) {
    let path = Path::new("fuzz.yaml");
    let _ = Scenario::parse(text, path);
    let _ = check_text(text, path);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_the_scenario_loader_or_check(
        bytes in prop::collection::vec(any::<u8>(), 0..400)
    ) {
        let text = String::from_utf8_lossy(&bytes);
        load_and_check(&text);
        load_and_check(&format!("version: 1\n{text}"));
    }

    #[test]
    fn a_mangled_catalogue_scenario_never_panics_the_loader_or_check(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..5)
    ) {
        let texts = texts();
        let text = apply(&texts[which.index(texts.len())], &edits);
        load_and_check(&text);
    }
}
