//! The terminal report: what an SRE reads first.
//!
//! Plain text, no colour codes, columns aligned with spaces, sections
//! separated by a blank line: the run's identity, the timeline, one row per
//! mitigation, one row per hop when services call each other, one counters
//! line per middlebox and mitigation, the access-log lines of the failures
//! (mitigations with errors only), then the expectations that failed.

use meshsim_core::RunResult;

use crate::access_log;
use crate::figure;
use crate::grid::{Align, Grid, one_line};
use crate::middlebox;
use crate::overview;

/// Indentation of a section's grid under its title.
const INDENT: &str = "  ";

/// Renders the terminal report.
pub fn table(result: &RunResult) -> String {
    let mut sections = vec![header(result)];
    if !result.events.is_empty() {
        sections.push(format!(
            "timeline\n{}",
            overview::timeline(result).text(INDENT)
        ));
    }
    sections.push(mitigations(result));
    if overview::has_hops(result) {
        sections.push(format!("hops\n{}", overview::hops(result).text(INDENT)));
    }
    if let Some(boxes) = middlebox::text(result, INDENT) {
        sections.push(boxes);
    }
    if let Some(pods) = crate::pod::text(result, INDENT) {
        sections.push(pods);
    }
    if let Some(probes) = crate::probe::text(result, INDENT) {
        sections.push(probes);
    }
    if let Some(lines) = access_log::text(result, INDENT) {
        sections.push(lines);
    }
    if let Some(expectations) = expectations(result) {
        sections.push(expectations);
    }
    sections.join("\n")
}

/// `name (seed 7, sim, 15m): summary`, and a second line when the run is partial.
fn header(result: &RunResult) -> String {
    let mut out = format!(
        "{} (seed {}, {}, {}): {}\n",
        one_line(&result.scenario),
        result.seed,
        overview::mode(result),
        figure::at(result.duration_s),
        one_line(&result.summary),
    );
    if result.partial {
        out.push_str("PARTIAL: the run was stopped before every mitigation finished\n");
    }
    out
}

fn mitigations(result: &RunResult) -> String {
    if result.mitigations.is_empty() {
        return "mitigations\n  (no mitigation ran)\n".to_string();
    }
    format!("mitigations\n{}", overview::comparison(result).text(INDENT))
}

/// The failed expectations as a grid, a one-line all-clear, or nothing when
/// the scenario declared none.
fn expectations(result: &RunResult) -> Option<String> {
    let count = overview::expectation_count(result);
    let failures = overview::failures(result);
    if count == 0 {
        return None;
    }
    if failures.is_empty() {
        return Some(format!("expectations: all {count} held\n"));
    }
    let mut grid = Grid::new(&[
        ("mitigation", Align::Left),
        ("expectation", Align::Left),
        ("actual", Align::Right),
        ("reason", Align::Left),
    ]);
    let failed = failures.len();
    for (m, e) in failures {
        let reason = e.reason.clone().unwrap_or_else(|| "-".to_string());
        grid.push(vec![
            m.name.clone(),
            e.text.clone(),
            e.actual.clone(),
            reason,
        ]);
    }
    Some(format!(
        "failed expectations ({failed} of {count})\n{}",
        grid.text(INDENT)
    ))
}
