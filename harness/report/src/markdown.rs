//! The Markdown report: the terminal report as GitHub tables, then one
//! section per mitigation with the detail a pull request or an incident
//! write-up wants (errors by kind, when errors started and stopped, every
//! expectation, each middlebox's counters and events, and a sample of each
//! sidecar hop's access log).

use meshsim_core::{MitigationResult, RunResult};

use crate::access_log;
use crate::figure;
use crate::grid::{Align, Grid, escape};
use crate::middlebox;
use crate::overview;
use crate::pod;

/// Renders the Markdown report.
pub fn markdown(result: &RunResult) -> String {
    let mut blocks = vec![header(result)];
    blocks.push(timeline(result));
    blocks.push(comparison(result));
    if overview::has_hops(result) {
        blocks.push(format!(
            "## Hops\n\nEach call as its caller saw it: entry calls, then the calls services make while serving.\n\n{}",
            overview::hops(result).markdown()
        ));
    }
    blocks.extend(pod::markdown_overview(result));
    blocks.extend(crate::probe::markdown_overview(result));
    for m in &result.mitigations {
        blocks.push(mitigation(m));
    }
    blocks.join("\n")
}

fn header(result: &RunResult) -> String {
    let mut out = format!(
        "# {}\n\n{}\n\n- seed: {}\n- mode: {}\n- duration: {}\n",
        escape(&result.scenario),
        escape(&result.summary),
        result.seed,
        overview::mode(result),
        figure::at(result.duration_s),
    );
    if let Some(f) = result.time_scale {
        out.push_str(&format!(
            "\n> **Time scaled:** one scenario second lasted {f} s of wall time; every time here is in scenario units.\n"
        ));
    }
    if result.partial {
        out.push_str("\n> **Partial run:** stopped before every mitigation finished.\n");
    }
    out
}

fn timeline(result: &RunResult) -> String {
    if result.events.is_empty() {
        return "## Timeline\n\nNo timeline event.\n".to_string();
    }
    format!("## Timeline\n\n{}", overview::timeline(result).markdown())
}

fn comparison(result: &RunResult) -> String {
    let Some(baseline) = result.mitigations.first() else {
        return "## Mitigations\n\nNo mitigation ran.\n".to_string();
    };
    format!(
        "## Mitigations\n\n{}\nError rate change is relative to the first mitigation, {}.\n",
        overview::comparison(result).markdown(),
        escape(&baseline.name),
    )
}

/// The detail of one mitigation.
fn mitigation(m: &MitigationResult) -> String {
    let l = &m.latency_ms;
    let mut out = format!(
        "### {}\n\n{}\n\nLatency (ms): p50 {}, p90 {}, p99 {}, p99.9 {}, max {}.\n\n\
         Upstream attempts: {} ({} per request).\n\n",
        escape(&m.name),
        error_span(m),
        figure::millis(l.p50),
        figure::millis(l.p90),
        figure::millis(l.p99),
        figure::millis(l.p999),
        figure::millis(l.max),
        m.upstream_attempts,
        figure::times(m.upstream_attempts_per_request),
    );
    let mut tables = Vec::new();
    if !m.errors_by_kind.is_empty() {
        tables.push(errors_by_kind(m).markdown());
    }
    if !m.served_by.is_empty() {
        tables.push(served_by(m).markdown());
    }
    tables.push(expectations(m));
    tables.extend(middlebox::markdown(m));
    tables.extend(pod::markdown(m));
    tables.extend(crate::probe::markdown(m));
    tables.extend(access_log::markdown(m));
    out.push_str(&tables.join("\n"));
    out
}

/// `12 errors in 4000 requests (0.30%), first at 5m, last at 6m200ms.`
pub(crate) fn error_span(m: &MitigationResult) -> String {
    let when = |s: Option<f64>| s.map_or_else(|| "-".to_string(), figure::at);
    if m.errors == 0 {
        return format!("No error in {} requests.", m.requests);
    }
    format!(
        "{} errors in {} requests ({}), first at {}, last at {}.",
        m.errors,
        m.requests,
        figure::percent(m.error_rate),
        when(m.first_error_s),
        when(m.last_error_s),
    )
}

/// How many characters of a kind's sample Markdown shows.
const SAMPLE_CHARS: usize = 120;

/// Errors by kind, with a short sample column when any kind has a sample.
fn errors_by_kind(m: &MitigationResult) -> Grid {
    let samples = m.errors_by_kind.iter().any(|k| k.sample.is_some());
    let mut columns = vec![
        ("error", Align::Left),
        ("source", Align::Left),
        ("count", Align::Right),
    ];
    if samples {
        columns.push(("sample", Align::Left));
    }
    let mut grid = Grid::new(&columns);
    for k in &m.errors_by_kind {
        let mut row = vec![
            k.kind.clone(),
            source(k.source).to_string(),
            k.count.to_string(),
        ];
        if samples {
            row.push(k.sample.as_deref().map_or_else(|| "-".to_string(), short));
        }
        grid.push(row);
    }
    grid
}

/// The first [`SAMPLE_CHARS`] characters of `text`, `…` when cut.
fn short(text: &str) -> String {
    let mut out: String = text.chars().take(SAMPLE_CHARS).collect();
    if text.chars().count() > SAMPLE_CHARS {
        out.push('…');
    }
    out
}

pub(crate) fn served_by(m: &MitigationResult) -> Grid {
    let mut grid = Grid::new(&[("served by", Align::Left), ("requests", Align::Right)]);
    for h in &m.served_by {
        grid.push(vec![h.host.clone(), h.count.to_string()]);
    }
    grid
}

fn expectations(m: &MitigationResult) -> String {
    if m.expectations.is_empty() {
        return "No expectation.\n".to_string();
    }
    let mut grid = Grid::new(&[
        ("", Align::Left),
        ("expectation", Align::Left),
        ("actual", Align::Right),
        ("reason", Align::Left),
    ]);
    for e in &m.expectations {
        let mark = if e.passed { "✅" } else { "❌" };
        let reason = e.reason.clone().unwrap_or_default();
        grid.push(vec![
            mark.to_string(),
            e.text.clone(),
            e.actual.clone(),
            reason,
        ]);
    }
    grid.markdown()
}

pub(crate) fn source(s: meshsim_core::Source) -> &'static str {
    match s {
        meshsim_core::Source::Upstream => "upstream",
        meshsim_core::Source::Proxy => "proxy",
        meshsim_core::Source::Client => "client",
    }
}
