//! The access-log sample in the text formats: per mitigation and sidecar hop,
//! Istio TEXT lines (fact sheet §5.4) chosen to explain the errors (the first
//! line of each failure kind, and one success).
//!
//! Markdown shows every sampled line, in a code block per hop. The terminal
//! is for a first look: only mitigations that had errors, only their failure
//! lines, since a success line explains no error and every line is long; the
//! Markdown and JSON reports hold the whole sample.

use meshsim_core::{HopAccessLog, MitigationResult, RunResult};

use crate::grid::{escape, one_line};

/// `checkout (entry pod)` or `catalog (service)`.
pub(crate) fn hop_title(h: &HopAccessLog) -> String {
    let what = if h.entry { "entry pod" } else { "service" };
    format!("{} ({what})", one_line(&h.hop))
}

/// The Markdown block of one mitigation's sample, `None` without one.
pub(crate) fn markdown(m: &MitigationResult) -> Option<String> {
    if m.access_log.is_empty() {
        return None;
    }
    let mut out = String::from(
        "#### Access log sample\n\nPer sidecar hop, the first line of each failure \
         (response code, flags, details) and the first success, in Istio's TEXT format.\n",
    );
    for h in &m.access_log {
        let lines: Vec<String> = h.lines.iter().map(|l| one_line(&l.line)).collect();
        let fence = fence(&lines);
        out.push_str(&format!(
            "\n{}:\n\n{fence}text\n{}\n{fence}\n",
            escape(&hop_title(h)),
            lines.join("\n"),
        ));
    }
    Some(out)
}

/// A code fence longer than any run of backticks in `lines` (at least three).
fn fence(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// The terminal section: the failure lines of every mitigation with errors,
/// `None` when there is none.
pub(crate) fn text(result: &RunResult, indent: &str) -> Option<String> {
    let mut out = String::new();
    for m in result.mitigations.iter().filter(|m| m.errors > 0) {
        for h in &m.access_log {
            let failures: Vec<&str> = h
                .lines
                .iter()
                .filter(|l| l.failure)
                .map(|l| l.line.as_str())
                .collect();
            if failures.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "{indent}{} / {}\n",
                one_line(&m.name),
                hop_title(h)
            ));
            for line in failures {
                out.push_str(&format!("{indent}{indent}{}\n", one_line(line)));
            }
        }
    }
    (!out.is_empty())
        .then(|| format!("access log (first line of each failure kind per sidecar hop)\n{out}"))
}
