//! The parts every text format shares: the one-line identity of a run, the
//! timeline, and the side-by-side comparison of mitigations.
//!
//! The comparison is relative to the first mitigation (the baseline, usually
//! `none`), the way a benchmark compares against a reference: an SRE asks
//! "how much better than doing nothing", not only "how good".

use meshsim_core::{ExpectationResult, MitigationResult, RunMode, RunResult};

use crate::figure;
use crate::grid::{Align, Grid, one_line};

/// `sim`, `real`, or `real, time x0.02` when a real run's time was scaled
/// (every time shown stays in scenario units).
pub(crate) fn mode(result: &RunResult) -> String {
    match (result.mode, result.time_scale) {
        (RunMode::Sim, _) => "sim".into(),
        (RunMode::Real, None) => "real".into(),
        (RunMode::Real, Some(f)) => format!("real, time x{f}"),
    }
}

/// The timeline as an `at` / `what` grid.
pub(crate) fn timeline(result: &RunResult) -> Grid {
    let mut grid = Grid::new(&[("at", Align::Right), ("what", Align::Left)]);
    for e in &result.events {
        grid.push(vec![figure::at(e.at_s), e.what.clone()]);
    }
    grid
}

/// One row per mitigation: name, requests, errors, error rate, change against
/// the baseline, p50, p99, attempts per request, expectations, top errors
/// (last: the widest column, so a narrow terminal wraps only it).
pub(crate) fn comparison(result: &RunResult) -> Grid {
    let baseline = result.mitigations.first();
    let vs = format!("vs {}", baseline.map_or("baseline", |b| b.name.as_str()));
    let mut grid = Grid::new(&[
        ("mitigation", Align::Left),
        ("requests", Align::Right),
        ("errors", Align::Right),
        ("error rate", Align::Right),
        (&vs, Align::Right),
        ("p50 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("attempts/req", Align::Right),
        ("expectations", Align::Left),
        ("top errors", Align::Left),
    ]);
    for (i, m) in result.mitigations.iter().enumerate() {
        let change = match baseline {
            Some(b) if i > 0 => figure::change(m.error_rate, b.error_rate),
            _ => "baseline".to_string(),
        };
        grid.push(vec![
            m.name.clone(),
            m.requests.to_string(),
            m.errors.to_string(),
            figure::percent(m.error_rate),
            change,
            figure::millis(m.latency_ms.p50),
            figure::millis(m.latency_ms.p99),
            figure::times(m.upstream_attempts_per_request),
            figure::tally(&m.expectations),
            figure::top_errors(&m.errors_by_kind),
        ]);
    }
    grid
}

/// Every expectation that did not hold, with its mitigation, in order.
pub(crate) fn failures(result: &RunResult) -> Vec<(&MitigationResult, &ExpectationResult)> {
    result
        .mitigations
        .iter()
        .flat_map(|m| {
            m.expectations
                .iter()
                .filter(|e| !e.passed)
                .map(move |e| (m, e))
        })
        .collect()
}

/// How many expectations the run declared, over all mitigations.
pub(crate) fn expectation_count(result: &RunResult) -> usize {
    result
        .mitigations
        .iter()
        .map(|m| m.expectations.len())
        .sum()
}

/// Whether the run has hops inside the mesh (calls services make while
/// serving) worth a per-call breakdown.
pub(crate) fn has_hops(result: &RunResult) -> bool {
    result
        .mitigations
        .iter()
        .any(|m| m.calls.iter().any(|c| !c.entry))
}

/// One row per mitigation and call: who called what, errors, retry
/// amplification and the main error at that hop.
pub(crate) fn hops(result: &RunResult) -> Grid {
    let mut grid = Grid::new(&[
        ("mitigation", Align::Left),
        ("hop", Align::Left),
        ("requests", Align::Right),
        ("errors", Align::Right),
        ("error rate", Align::Right),
        ("attempts/req", Align::Right),
        ("top error", Align::Left),
    ]);
    for m in &result.mitigations {
        for c in &m.calls {
            let top = c
                .errors_by_kind
                .first()
                .map_or_else(|| "-".to_string(), |k| format!("{} ×{}", k.kind, k.count));
            grid.push(vec![
                one_line(&m.name),
                format!("{} -> {}", one_line(&c.from), one_line(&c.url)),
                c.requests.to_string(),
                c.errors.to_string(),
                figure::percent(c.error_rate),
                figure::times(c.upstream_attempts_per_request),
                top,
            ]);
        }
    }
    grid
}
