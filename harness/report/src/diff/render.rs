//! A [`Diff`] as aligned text, Markdown or JSON.

use super::{Diff, Figures, MitigationDiff};
use crate::figure::{millis, percent, times};
use crate::grid::{Align, Grid};

/// Aligned text for a terminal: warnings, one row per mitigation (old -> new),
/// every change beyond its threshold, and the conclusion.
pub fn table(diff: &Diff) -> String {
    let mut out = format!("diff of {}\n", diff.scenario);
    for w in &diff.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push('\n');
    out.push_str(&grid(diff).text("  "));
    for (title, worse) in [("worse", true), ("better", false)] {
        let lines = change_lines(diff, worse);
        if !lines.is_empty() {
            out.push_str(&format!("\n{title}\n"));
            lines.iter().for_each(|l| out.push_str(&format!("  {l}\n")));
        }
    }
    out.push_str(&format!("\n{}\n", conclusion(diff)));
    out
}

/// GitHub-flavoured Markdown: the same content as [`table`], for a pull
/// request comment.
pub fn markdown(diff: &Diff) -> String {
    let mut out = format!("## Diff of {}\n\n", diff.scenario);
    for w in &diff.warnings {
        out.push_str(&format!("> **Warning:** {w}\n"));
    }
    if !diff.warnings.is_empty() {
        out.push('\n');
    }
    out.push_str(&grid(diff).markdown());
    for (title, worse) in [("Worse", true), ("Better", false)] {
        let lines = change_lines(diff, worse);
        if !lines.is_empty() {
            out.push_str(&format!("\n{title}:\n\n"));
            lines.iter().for_each(|l| out.push_str(&format!("- {l}\n")));
        }
    }
    out.push_str(&format!("\n**{}**\n", conclusion(diff)));
    out
}

/// The [`Diff`] itself, pretty JSON with a trailing newline.
///
/// # Panics
///
/// Never in practice: a `Diff` holds plain structs, strings and numbers.
pub fn json(diff: &Diff) -> String {
    let mut out = serde_json::to_string_pretty(diff)
        .expect("a Diff always serializes: plain structs, strings and numbers");
    out.push('\n');
    out
}

fn grid(diff: &Diff) -> Grid {
    let mut grid = Grid::new(&[
        ("mitigation", Align::Left),
        ("verdict", Align::Left),
        ("error rate", Align::Right),
        ("p50 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("attempts/req", Align::Right),
        ("expectations", Align::Right),
    ]);
    for m in &diff.mitigations {
        let cell = |show: &dyn Fn(&Figures) -> String| moved(m, show);
        grid.push(vec![
            m.name.clone(),
            m.verdict.name().to_string(),
            cell(&|f| percent(f.error_rate)),
            cell(&|f| millis(f.p50_ms)),
            cell(&|f| millis(f.p99_ms)),
            cell(&|f| times(f.attempts_per_request)),
            cell(&|f| format!("{}/{}", f.expectations_passed, f.expectations)),
        ]);
    }
    grid
}

/// `old -> new`, or the one side there is.
fn moved(m: &MitigationDiff, show: &dyn Fn(&Figures) -> String) -> String {
    match (&m.old, &m.new) {
        (Some(o), Some(n)) => format!("{} -> {}", show(o), show(n)),
        (Some(o), None) => format!("{} -> -", show(o)),
        (None, Some(n)) => format!("- -> {}", show(n)),
        (None, None) => "-".to_string(),
    }
}

/// `mitigation: what` for every change in one direction; a gone mitigation
/// counts as worse.
fn change_lines(diff: &Diff, worse: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for m in &diff.mitigations {
        if worse && m.verdict == super::Verdict::Gone {
            lines.push(format!("{}: gone (not in the new run)", m.name));
        }
        for c in m.changes.iter().filter(|c| c.worse == worse) {
            lines.push(format!("{}: {}", m.name, c.what));
        }
    }
    lines
}

fn conclusion(diff: &Diff) -> String {
    let bad: Vec<String> = diff
        .mitigations
        .iter()
        .filter(|m| m.verdict.is_regression())
        .map(|m| format!("{} {}", m.name, m.verdict.name()))
        .collect();
    let thresholds = diff.thresholds.describe();
    if bad.is_empty() {
        format!("no regression (thresholds: {thresholds})")
    } else {
        format!("REGRESSION: {} (thresholds: {thresholds})", bad.join(", "))
    }
}
