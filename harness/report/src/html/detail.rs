//! The detail under the charts: the cross-mitigation tables the Markdown
//! report has (hops, pod lifecycle, readiness probes), then one section per
//! mitigation (error span, latency, errors by kind with their samples,
//! served-by, expectations, middleboxes, pods, probes, the access-log
//! sample). The rows come from the same internal modules the text formats
//! use; only the layout is HTML.

use std::fmt::Write as _;

use meshsim_core::{MitigationResult, PodEvent, RunResult, Source};

use super::page::{esc, mitigation_colour, swatch};
use super::table::expectation;
use crate::grid::{Align, Grid};
use crate::{access_log, figure, markdown, middlebox, overview, pod, probe};

/// `upstream`, `proxy` or `client`.
pub(super) fn source(s: Source) -> &'static str {
    markdown::source(s)
}

/// A [`Grid`] as an HTML table, cells escaped, numbers right-aligned.
fn table(grid: &Grid) -> String {
    let aligns: Vec<Align> = grid.columns().map(|(_, a)| a).collect();
    let mut out = String::from("<table>\n<tr>");
    for (title, _) in grid.columns() {
        let _ = write!(out, "<th>{}</th>", esc(title));
    }
    out.push_str("</tr>\n");
    for row in grid.rows() {
        out.push_str("<tr>");
        for (cell, align) in row.iter().zip(&aligns) {
            let class = if *align == Align::Right {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The tables across mitigations, each only when the run has its subject.
pub(super) fn overviews(result: &RunResult) -> String {
    let mut out = String::new();
    if overview::has_hops(result) {
        let _ = write!(
            out,
            "<section id=\"hops\">\n<h2>Hops</h2>\n<p>Each call as its caller saw it: entry \
             calls, then the calls services make while serving.</p>\n{}</section>\n",
            table(&overview::hops(result))
        );
    }
    if let Some(g) = pod::grid(result) {
        let _ = write!(
            out,
            "<section id=\"pods\">\n<h2>Pod lifecycle</h2>\n<p>Times from the pod's creation; the \
             app's start-up delay against the first mitigation in brackets.</p>\n{}</section>\n",
            table(&g)
        );
    }
    if let Some(g) = probe::grid(result) {
        let _ = write!(
            out,
            "<section id=\"probes\">\n<h2>Readiness probes</h2>\n<p>The kubelet's probes of the \
             services' pods; a NotReady pod is not an endpoint.</p>\n{}</section>\n",
            table(&g)
        );
    }
    out
}

/// One mitigation's section.
pub(super) fn mitigation(i: usize, m: &MitigationResult) -> String {
    let l = &m.latency_ms;
    let mut out = format!(
        "<section class=\"mitigation\" id=\"m-{i}\" data-mitigation=\"{}\">\n<h3>{}{}</h3>\n\
         <p>{}</p>\n<p>Latency (ms): p50 {}, p90 {}, p99 {}, p99.9 {}, max {}.</p>\n\
         <p>Upstream attempts: {} ({} per request).</p>\n",
        esc(&m.name),
        swatch(&mitigation_colour(i)),
        esc(&m.name),
        esc(&markdown::error_span(m)),
        figure::millis(l.p50),
        figure::millis(l.p90),
        figure::millis(l.p99),
        figure::millis(l.p999),
        figure::millis(l.max),
        m.upstream_attempts,
        figure::times(m.upstream_attempts_per_request),
    );
    out.push_str(&errors_by_kind(m));
    if !m.served_by.is_empty() {
        out.push_str(&table(&markdown::served_by(m)));
    }
    out.push_str(&expectations(m));
    out.push_str(&middleboxes(m));
    out.push_str(&events(
        "Pod lifecycle events",
        m.pods.iter().map(|p| (&p.pod, &p.events)),
    ));
    out.push_str(&events(
        "Readiness probe events",
        m.probes.iter().map(|p| (&p.pod, &p.events)),
    ));
    out.push_str(&access_log_sample(m));
    out.push_str("</section>\n");
    out
}

fn errors_by_kind(m: &MitigationResult) -> String {
    if m.errors_by_kind.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<table>\n<tr><th>error</th><th>source</th><th>count</th><th>sample (first of its kind)</th></tr>\n",
    );
    for k in &m.errors_by_kind {
        let sample = k
            .sample
            .as_deref()
            .map_or_else(|| "-".to_string(), |s| format!("<pre>{}</pre>", esc(s)));
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td>{sample}</td></tr>",
            esc(&k.kind),
            source(k.source),
            k.count
        );
    }
    out.push_str("</table>\n");
    out
}

fn expectations(m: &MitigationResult) -> String {
    if m.expectations.is_empty() {
        return "<p>No expectation.</p>\n".to_string();
    }
    let items: String = m.expectations.iter().map(expectation).collect();
    format!("<h4>Expectations</h4>\n<ul>{items}</ul>\n")
}

fn middleboxes(m: &MitigationResult) -> String {
    if m.middleboxes.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<h4>Middleboxes</h4>\n{}",
        table(&middlebox::counters(&m.middleboxes))
    );
    if m.middleboxes.iter().any(|b| !b.events.is_empty()) {
        let _ = write!(
            out,
            "<details><summary>Middlebox events, by time</summary>\n{}</details>\n",
            table(&middlebox::events(&m.middleboxes))
        );
    }
    for b in m.middleboxes.iter().filter(|b| b.events_omitted > 0) {
        let _ = writeln!(
            out,
            "<p class=\"muted\">... and {} more events of {} (a box's log keeps its first {}).</p>",
            b.events_omitted,
            esc(&b.name),
            meshsim_core::MiddleboxResult::MAX_EVENTS,
        );
    }
    out
}

/// A heading, then each pod's events (when it has any) in a table.
fn events<'a>(title: &str, pods: impl Iterator<Item = (&'a String, &'a Vec<PodEvent>)>) -> String {
    let mut out = String::new();
    for (pod, list) in pods.filter(|(_, l)| !l.is_empty()) {
        let mut grid = Grid::new(&[("at", Align::Right), ("event", Align::Left)]);
        for e in list {
            grid.push(vec![figure::at(e.at_s), e.what.clone()]);
        }
        let _ = write!(
            out,
            "<p>Pod <code>{}</code>:</p>\n{}",
            esc(pod),
            table(&grid)
        );
    }
    if out.is_empty() {
        return out;
    }
    format!("<h4>{}</h4>\n{out}", esc(title))
}

fn access_log_sample(m: &MitigationResult) -> String {
    if m.access_log.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<h4>Access log sample</h4>\n<p>Per sidecar hop, the first line of each failure \
         (response code, flags, details) and the first success, in Istio's TEXT format.</p>\n",
    );
    for h in &m.access_log {
        let lines: Vec<String> = h.lines.iter().map(|l| esc(&l.line)).collect();
        let _ = write!(
            out,
            "<p>{}:</p>\n<pre class=\"access-log\">{}</pre>\n",
            esc(&access_log::hop_title(h)),
            lines.join("\n")
        );
    }
    out
}
