//! The comparison table: one row per mitigation with the figures an SRE
//! compares, the dominant error kinds with a sample of what the application
//! saw, and every expectation (text, measured value and reason in a
//! `<details>` element, so the row stays short until opened).

use std::fmt::Write as _;

use meshsim_core::{ExpectationResult, KindCount, MitigationResult, RunResult};

use super::page::{esc, mitigation_colour, swatch};
use crate::figure;

/// How many characters of a sample body the table shows.
const SAMPLE_CHARS: usize = 200;

/// The section with the table, or a sentence when no mitigation ran.
pub(super) fn comparison(result: &RunResult) -> String {
    let mut out = String::from("<section id=\"mitigations\">\n<h2>Mitigations</h2>\n");
    let Some(baseline) = result.mitigations.first() else {
        out.push_str("<p>No mitigation ran.</p>\n</section>\n");
        return out;
    };
    let _ = writeln!(
        out,
        "<table class=\"comparison\">\n<tr><th>mitigation</th><th>requests</th><th>errors</th>\
         <th>error rate</th><th>vs {}</th><th>dominant errors (source)</th><th>p50 ms</th>\
         <th>p99 ms</th><th>max ms</th><th>attempts/req</th><th>expectations</th></tr>",
        esc(&baseline.name)
    );
    for (i, m) in result.mitigations.iter().enumerate() {
        out.push_str(&row(i, m, baseline));
    }
    let _ = writeln!(
        out,
        "</table>\n<p class=\"muted\">Error rate change is relative to the first mitigation, \
         {}. Attempts per request count what the upstreams received (retry \
         amplification).</p>\n</section>",
        esc(&baseline.name)
    );
    out
}

fn row(i: usize, m: &MitigationResult, baseline: &MitigationResult) -> String {
    let change = if i == 0 {
        "baseline".to_string()
    } else {
        figure::change(m.error_rate, baseline.error_rate)
    };
    let num = |s: String| format!("<td class=\"num\">{}</td>", esc(&s));
    format!(
        "<tr data-mitigation=\"{}\"><td>{}<a href=\"#m-{i}\">{}</a></td>{}{}{}{}<td>{}</td>{}{}{}{}<td>{}</td></tr>\n",
        esc(&m.name),
        swatch(&mitigation_colour(i)),
        esc(&m.name),
        num(m.requests.to_string()),
        num(m.errors.to_string()),
        num(figure::percent(m.error_rate)),
        num(change),
        dominant(&m.errors_by_kind),
        num(figure::millis(m.latency_ms.p50)),
        num(figure::millis(m.latency_ms.p99)),
        num(figure::millis(m.latency_ms.max)),
        num(figure::times(m.upstream_attempts_per_request)),
        expectations(&m.expectations),
    )
}

/// The most frequent kinds (as the text formats choose them), each with its
/// source and, when kept, a sample of what the application saw.
fn dominant(kinds: &[KindCount]) -> String {
    if kinds.is_empty() {
        return "-".to_string();
    }
    let mut sorted: Vec<&KindCount> = kinds.iter().collect();
    sorted.sort_by_key(|k| std::cmp::Reverse(k.count));
    let mut out = String::new();
    for k in sorted.iter().take(figure::TOP_KINDS) {
        let _ = write!(
            out,
            "<div><code>{}</code> ×{} <span class=\"muted\">({})</span>",
            esc(&k.kind),
            k.count,
            super::detail::source(k.source)
        );
        if let Some(sample) = &k.sample {
            let short: String = sample.chars().take(SAMPLE_CHARS).collect();
            let _ = write!(
                out,
                "<details class=\"sample\"><summary>sample</summary><pre>{}</pre></details>",
                esc(&short)
            );
        }
        out.push_str("</div>");
    }
    if sorted.len() > figure::TOP_KINDS {
        let _ = write!(
            out,
            "<div class=\"muted\">+{} more</div>",
            sorted.len() - figure::TOP_KINDS
        );
    }
    out
}

/// `1/2 FAIL` that opens onto every expectation.
fn expectations(list: &[ExpectationResult]) -> String {
    if list.is_empty() {
        return "-".to_string();
    }
    let tally = figure::tally(list);
    let class = if list.iter().all(|e| e.passed) {
        "pass"
    } else {
        "fail"
    };
    let mut out = format!(
        "<details class=\"expectations\"><summary class=\"{class}\">{}</summary><ul>",
        esc(&tally)
    );
    for e in list {
        out.push_str(&expectation(e));
    }
    out.push_str("</ul></details>");
    out
}

/// One expectation: verdict, text, measured value, reason (also on hover).
pub(super) fn expectation(e: &ExpectationResult) -> String {
    let (class, mark) = if e.passed {
        ("pass", "✔ held")
    } else {
        ("fail", "✘ FAILED")
    };
    let reason = e.reason.as_deref().unwrap_or("");
    let mut out = format!(
        "<li class=\"expectation\" data-passed=\"{}\" title=\"{}\"><span class=\"{class}\">{mark}</span> \
         <code>{}</code>: measured {}",
        e.passed,
        esc(reason),
        esc(&e.text),
        esc(&e.actual),
    );
    if !reason.is_empty() {
        let _ = write!(out, " <span class=\"muted\">({})</span>", esc(reason));
    }
    out.push_str("</li>");
    out
}
