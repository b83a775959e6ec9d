//! Two runs of one scenario compared mitigation by mitigation, for regression
//! suites (`meshsim diff OLD NEW`).
//!
//! Mitigations are matched by name. Per mitigation the comparison judges four
//! figures, each with its own rule ([`Thresholds`]):
//!
//! - **error rate**: worse when it rose by more than `error-rate` percentage
//!   points *and* by more than `error-rate-rel` of the old rate. Both must be
//!   exceeded: the absolute floor keeps a 0.00 % -> 0.01 % wobble (a handful
//!   of requests in a real run, or another seed) from failing a suite, the
//!   relative part keeps a baseline's 37.0 % -> 37.3 % from failing it too.
//! - **p99 latency**: worse when it rose by more than `p99` of the old value
//!   *and* by more than `p99-ms` milliseconds (a sub-millisecond p99 moves by
//!   10 % on one timer's rounding).
//! - **upstream attempts per request** (retry amplification): worse when it
//!   rose by more than `attempts` of the old value.
//! - **expectations**: one that failed in the new run and did not fail in the
//!   old one (it passed, or did not exist) is always worse.
//!
//! "Better" is the mirror image of each rule. A mitigation is `worse` when any
//! figure is worse (even if another improved), else `better` when any figure
//! is better, else `same`; a mitigation only in the old run is `gone` (a
//! regression: a suite lost coverage), one only in the new run is `new`. p50
//! is shown, not judged: it rarely moves without p99 or the error rate.
//!
//! Differences of identity (scenario, seed, mode, time scale, duration, a
//! partial run) are warnings, not failures: comparing a sim run with a real
//! one, or two seeds, is legitimate, but the reader should know.

use meshsim_core::{MitigationResult, RunResult};
use serde::Serialize;

mod render;
mod thresholds;

pub use render::{json, markdown, table};
pub use thresholds::Thresholds;

/// What happened to one mitigation between the two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// At least one judged figure improved beyond its threshold and none got worse.
    Better,
    /// No judged figure moved beyond its threshold.
    Same,
    /// At least one judged figure got worse beyond its threshold.
    Worse,
    /// Only in the new run.
    New,
    /// Only in the old run: a regression.
    Gone,
}

impl Verdict {
    /// The word the text formats print: `better`, `same`, `worse`, `new`, `gone`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Same => "same",
            Verdict::Worse => "worse",
            Verdict::New => "new",
            Verdict::Gone => "gone",
        }
    }

    /// True for the verdicts that fail a regression suite: `worse` and `gone`.
    pub fn is_regression(self) -> bool {
        matches!(self, Verdict::Worse | Verdict::Gone)
    }
}

/// The figures of one mitigation in one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// Errors over requests, a ratio.
    pub error_rate: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Upstream attempts per request.
    pub attempts_per_request: f64,
    /// Expectations that held.
    pub expectations_passed: usize,
    /// Expectations evaluated.
    pub expectations: usize,
}

impl Figures {
    fn of(m: &MitigationResult) -> Figures {
        Figures {
            error_rate: m.error_rate,
            p50_ms: m.latency_ms.p50,
            p99_ms: m.latency_ms.p99,
            attempts_per_request: m.upstream_attempts_per_request,
            expectations_passed: m.expectations.iter().filter(|e| e.passed).count(),
            expectations: m.expectations.len(),
        }
    }
}

/// One figure that moved beyond its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Which figure: `error_rate`, `p99`, `attempts` or `expectation`.
    pub metric: &'static str,
    /// Whether it got worse (else better).
    pub worse: bool,
    /// What moved, for people: `error rate 0.02% -> 1.50%`,
    /// `expectation "error_rate < 0.1%" now fails (2.10%)`.
    pub what: String,
}

/// One mitigation compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MitigationDiff {
    /// The mitigation's name.
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its figures in the old run (`None` when new).
    pub old: Option<Figures>,
    /// Its figures in the new run (`None` when gone).
    pub new: Option<Figures>,
    /// Every figure that moved beyond its threshold, worse ones first.
    pub changes: Vec<Change>,
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The new run's scenario name.
    pub scenario: String,
    /// Differences of identity between the runs, for people.
    pub warnings: Vec<String>,
    /// The old run's mitigations in order, then those only in the new run.
    pub mitigations: Vec<MitigationDiff>,
    /// The thresholds the verdicts used.
    pub thresholds: Thresholds,
}

impl Diff {
    /// True when a mitigation got worse or is gone: a regression suite fails.
    pub fn regressed(&self) -> bool {
        self.mitigations.iter().any(|m| m.verdict.is_regression())
    }
}

/// Compares `new` with `old`, mitigation by mitigation.
pub fn compare(old: &RunResult, new: &RunResult, thresholds: &Thresholds) -> Diff {
    let mut mitigations: Vec<MitigationDiff> = old
        .mitigations
        .iter()
        .map(
            |o| match new.mitigations.iter().find(|n| n.name == o.name) {
                Some(n) => judge(o, n, thresholds),
                None => alone(o, Verdict::Gone),
            },
        )
        .collect();
    mitigations.extend(
        new.mitigations
            .iter()
            .filter(|n| !old.mitigations.iter().any(|o| o.name == n.name))
            .map(|n| alone(n, Verdict::New)),
    );
    Diff {
        scenario: new.scenario.clone(),
        warnings: warnings(old, new),
        mitigations,
        thresholds: *thresholds,
    }
}

fn alone(m: &MitigationResult, verdict: Verdict) -> MitigationDiff {
    let figures = Some(Figures::of(m));
    let (old, new) = if verdict == Verdict::Gone {
        (figures, None)
    } else {
        (None, figures)
    };
    MitigationDiff {
        name: m.name.clone(),
        verdict,
        old,
        new,
        changes: Vec::new(),
    }
}

fn judge(old: &MitigationResult, new: &MitigationResult, t: &Thresholds) -> MitigationDiff {
    let (o, n) = (Figures::of(old), Figures::of(new));
    let mut changes = Vec::new();
    let rate_moved =
        |a: f64, b: f64| b - a > t.error_rate_points / 100.0 && b - a > t.error_rate_relative * a;
    push_move(
        &mut changes,
        "error_rate",
        o.error_rate,
        n.error_rate,
        rate_moved,
        crate::figure::percent,
    );
    let p99_moved = |a: f64, b: f64| b - a > t.p99_ms && b - a > t.p99_relative * a;
    push_move(&mut changes, "p99", o.p99_ms, n.p99_ms, p99_moved, |x| {
        format!("{} ms", crate::figure::millis(x))
    });
    let attempts_moved = |a: f64, b: f64| b - a > t.attempts_relative * a.max(1.0);
    let (oa, na) = (o.attempts_per_request, n.attempts_per_request);
    push_move(
        &mut changes,
        "attempts",
        oa,
        na,
        attempts_moved,
        crate::figure::times,
    );
    changes.extend(expectation_changes(old, new));
    changes.sort_by_key(|c| !c.worse);
    let verdict = if changes.iter().any(|c| c.worse) {
        Verdict::Worse
    } else if changes.is_empty() {
        Verdict::Same
    } else {
        Verdict::Better
    };
    MitigationDiff {
        name: new.name.clone(),
        verdict,
        old: Some(o),
        new: Some(n),
        changes,
    }
}

/// Records a change of one figure when `moved(from, to)` (worse) or
/// `moved(to, from)` (better).
fn push_move(
    changes: &mut Vec<Change>,
    metric: &'static str,
    old: f64,
    new: f64,
    moved: impl Fn(f64, f64) -> bool,
    show: impl Fn(f64) -> String,
) {
    let worse = moved(old, new);
    if worse || moved(new, old) {
        let label = metric.replace('_', " ");
        changes.push(Change {
            metric,
            worse,
            what: format!("{label} {} -> {}", show(old), show(new)),
        });
    }
}

/// Expectations matched by text: one failing now that did not fail before is
/// worse; one passing now that failed before is better.
fn expectation_changes(old: &MitigationResult, new: &MitigationResult) -> Vec<Change> {
    let mut changes = Vec::new();
    for e in &new.expectations {
        let before = old.expectations.iter().find(|o| o.text == e.text);
        let was_failing = before.is_some_and(|o| !o.passed);
        let (worse, what) = match (e.passed, was_failing) {
            (false, false) => (true, "now fails"),
            (true, true) => (false, "now holds"),
            _ => continue,
        };
        changes.push(Change {
            metric: "expectation",
            worse,
            what: format!("expectation \"{}\" {what} ({})", e.text, e.actual),
        });
    }
    changes
}

fn warnings(old: &RunResult, new: &RunResult) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what} differs: {a} -> {b}"));
        }
    };
    differs("scenario", old.scenario.clone(), new.scenario.clone());
    differs("seed", old.seed.to_string(), new.seed.to_string());
    differs(
        "mode",
        format!("{:?}", old.mode).to_lowercase(),
        format!("{:?}", new.mode).to_lowercase(),
    );
    let scale = |s: Option<f64>| s.map_or_else(|| "none".to_string(), |f| format!("x{f}"));
    differs("time scale", scale(old.time_scale), scale(new.time_scale));
    differs(
        "duration",
        crate::figure::at(old.duration_s),
        crate::figure::at(new.duration_s),
    );
    for (which, run) in [("old", old), ("new", new)] {
        if run.partial {
            out.push(format!(
                "the {which} run is partial: it stopped before every mitigation finished"
            ));
        }
    }
    out
}
