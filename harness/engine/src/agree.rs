//! Agreement between a simulated and a real run of the same scenario: the
//! check that the simulation can be trusted (`meshsim run --real --agree`).
//!
//! Per mitigation, three things must match:
//! - the **verdict**: whether every expectation held;
//! - the **dominant error kind** (status, flags and source, e.g. `503 UF`),
//!   when both runs failed often enough for one to be meaningful
//!   ([`Tolerance::min_errors`]);
//! - the **error rate**, within [`Tolerance`]: an absolute margin in
//!   percentage points or a relative one, whichever is larger.
//!
//! Why a tolerance at all: the real network is not deterministic. Timers
//! fire tens of microseconds late (times the scale's inverse in scenario
//! time: 5 ms at 0.02), every hop costs real processing time, so requests
//! overlap more, a pool holds a different number of connections when an
//! event strikes, and the share of requests caught by it moves. The
//! defaults come from the catalogue's measured spread (README, "Real mode").

use meshsim_core::{MitigationResult, RunResult};

/// How far a real run's error rate may stray from the simulated one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Absolute margin, in percentage points of error rate.
    pub abs_points: f64,
    /// Relative margin, as a fraction of the simulated rate.
    pub relative: f64,
    /// Below this many errors in either run, the dominant kind is not
    /// compared (a handful of errors has no meaningful "dominant" kind).
    pub min_errors: u64,
}

impl Default for Tolerance {
    /// 3 points or 25 %, kinds compared from 20 errors.
    fn default() -> Self {
        Tolerance {
            abs_points: 3.0,
            relative: 0.25,
            min_errors: 20,
        }
    }
}

/// One mitigation seen by both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MitigationAgreement {
    /// The mitigation.
    pub name: String,
    /// Error rates (fractions), simulated and real.
    pub error_rate: (f64, f64),
    /// Whether every expectation held, simulated and real.
    pub passed: (bool, bool),
    /// The most frequent error kind, simulated and real.
    pub dominant: (Option<String>, Option<String>),
    /// The verdicts match.
    pub verdict_agrees: bool,
    /// The dominant kinds match, or too few errors to compare.
    pub kind_agrees: bool,
    /// The error rates are within the tolerance.
    pub rate_agrees: bool,
}

impl MitigationAgreement {
    /// All three checks hold.
    pub fn agrees(&self) -> bool {
        self.verdict_agrees && self.kind_agrees && self.rate_agrees
    }
}

/// Compares the mitigations the two runs share, in the simulated run's order.
pub fn compare(sim: &RunResult, real: &RunResult, tol: Tolerance) -> Vec<MitigationAgreement> {
    sim.mitigations
        .iter()
        .filter_map(|s| {
            let r = real.mitigations.iter().find(|r| r.name == s.name)?;
            Some(compare_one(s, r, tol))
        })
        .collect()
}

fn compare_one(s: &MitigationResult, r: &MitigationResult, tol: Tolerance) -> MitigationAgreement {
    let passed = (held(s), held(r));
    let dominant = (dominant(s), dominant(r));
    let enough = s.errors >= tol.min_errors && r.errors >= tol.min_errors;
    let margin = (tol.abs_points / 100.0).max(tol.relative * s.error_rate);
    MitigationAgreement {
        name: s.name.clone(),
        error_rate: (s.error_rate, r.error_rate),
        verdict_agrees: passed.0 == passed.1,
        kind_agrees: !enough || dominant.0 == dominant.1,
        rate_agrees: (s.error_rate - r.error_rate).abs() <= margin,
        passed,
        dominant,
    }
}

fn held(m: &MitigationResult) -> bool {
    m.expectations.iter().all(|e| e.passed)
}

/// The most frequent error kind with its source; the first listed on a tie.
fn dominant(m: &MitigationResult) -> Option<String> {
    let mut best: Option<&meshsim_core::KindCount> = None;
    for k in &m.errors_by_kind {
        if best.is_none_or(|b| k.count > b.count) {
            best = Some(k);
        }
    }
    best.map(|k| format!("{} ({})", k.kind, format!("{:?}", k.source).to_lowercase()))
}

/// The agreement as a Markdown table, one row per mitigation.
pub fn markdown(scenario: &str, rows: &[MitigationAgreement]) -> String {
    let mut out = format!(
        "### {scenario}\n\n| mitigation | sim error rate | real error rate | sim verdict | real verdict | sim dominant | real dominant | agrees |\n|---|---:|---:|---|---|---|---|---|\n"
    );
    let verdict = |p: bool| if p { "pass" } else { "FAIL" };
    for a in rows {
        let why = match (a.verdict_agrees, a.kind_agrees, a.rate_agrees) {
            (true, true, true) => "yes".to_string(),
            (v, k, r) => {
                let mut what = Vec::new();
                if !v {
                    what.push("verdict");
                }
                if !k {
                    what.push("dominant kind");
                }
                if !r {
                    what.push("error rate");
                }
                format!("**no**: {}", what.join(", "))
            }
        };
        out.push_str(&format!(
            "| {} | {:.2} % | {:.2} % | {} | {} | {} | {} | {} |\n",
            a.name,
            a.error_rate.0 * 100.0,
            a.error_rate.1 * 100.0,
            verdict(a.passed.0),
            verdict(a.passed.1),
            a.dominant.0.as_deref().unwrap_or("-"),
            a.dominant.1.as_deref().unwrap_or("-"),
            why
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshsim_core::{ExpectationResult, KindCount, Source};

    fn m(name: &str, errors: u64, kinds: &[(&str, u64)], passed: bool) -> MitigationResult {
        let mut r = meshsim_core::Collector::with_calls(std::time::Duration::from_secs(1), vec![])
            .finish(name, std::time::Duration::from_secs(1));
        r.requests = 1000;
        r.errors = errors;
        r.error_rate = errors as f64 / 1000.0;
        r.errors_by_kind = kinds
            .iter()
            .map(|(k, c)| KindCount {
                kind: (*k).into(),
                source: Source::Proxy,
                count: *c,
                sample: None,
            })
            .collect();
        r.expectations = vec![ExpectationResult {
            text: "error_rate > 1%".into(),
            reason: None,
            actual: String::new(),
            passed,
        }];
        r
    }

    fn run(ms: Vec<MitigationResult>) -> RunResult {
        RunResult {
            schema_version: 1,
            scenario: "s".into(),
            summary: String::new(),
            seed: 1,
            mode: meshsim_core::RunMode::Sim,
            time_scale: None,
            duration_s: 1.0,
            events: vec![],
            mitigations: ms,
            partial: false,
        }
    }

    #[test]
    fn runs_with_the_same_verdict_kind_and_a_close_rate_agree() {
        let sim = run(vec![m(
            "none",
            600,
            &[("503 UF", 590), ("503 UC", 10)],
            true,
        )]);
        let real = run(vec![m(
            "none",
            560,
            &[("503 UF", 550), ("503 UC", 10)],
            true,
        )]);
        let a = compare(&sim, &real, Tolerance::default());
        assert!(a[0].agrees(), "{a:?}");
    }

    #[test]
    fn a_rate_outside_both_margins_disagrees() {
        // 60 % against 40 %: 20 points, more than 3 points and 25 % of 60 %.
        let sim = run(vec![m("none", 600, &[("503 UF", 600)], true)]);
        let real = run(vec![m("none", 400, &[("503 UF", 400)], true)]);
        let a = &compare(&sim, &real, Tolerance::default())[0];
        assert!(!a.rate_agrees && a.verdict_agrees && a.kind_agrees);
    }

    #[test]
    fn a_different_verdict_or_dominant_kind_disagrees() {
        let sim = run(vec![m("x", 100, &[("503 UF", 100)], true)]);
        let real = run(vec![m("x", 100, &[("503 UC", 100)], false)]);
        let a = &compare(&sim, &real, Tolerance::default())[0];
        assert!(!a.verdict_agrees && !a.kind_agrees && a.rate_agrees);
        assert!(markdown("s", std::slice::from_ref(a)).contains("**no**: verdict, dominant kind"));
    }

    #[test]
    fn a_few_errors_have_no_dominant_kind_to_compare() {
        let sim = run(vec![m("x", 3, &[("503 UF", 3)], true)]);
        let real = run(vec![m("x", 5, &[("connect_timeout", 5)], true)]);
        assert!(compare(&sim, &real, Tolerance::default())[0].agrees());
    }
}
