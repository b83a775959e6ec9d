//! Scenario expectations: `error_rate: "< 0.1%"`, `p99: "< 250ms"`,
//! `has_error: "503 UC"`..., evaluated against a [`MitigationResult`].

use std::time::Duration;

use meshsim_core::units::{format_duration, parse_duration};
use meshsim_core::{ExpectationResult, MitigationResult};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Cmp {
    fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Cmp::Lt => actual < bound,
            Cmp::Le => actual <= bound,
            Cmp::Gt => actual > bound,
            Cmp::Ge => actual >= bound,
            Cmp::Eq => (actual - bound).abs() < 1e-12,
        }
    }

    /// Splits `"> 1%"` into the operator and `"1%"`.
    fn split(text: &str) -> Result<(Cmp, &str), String> {
        let t = text.trim();
        for (sym, c) in [
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("==", Cmp::Eq),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ] {
            if let Some(rest) = t.strip_prefix(sym) {
                return Ok((c, rest.trim()));
            }
        }
        Err(format!(
            "{text:?} needs a comparison: <, <=, >, >= or == then a value"
        ))
    }
}

/// Which latency figure an expectation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Percentile {
    /// `p50`.
    P50,
    /// `p99`.
    P99,
    /// `max`.
    Max,
}

/// What an expectation checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Error rate as a fraction.
    ErrorRate(Cmp, f64),
    /// Error count.
    Errors(Cmp, u64),
    /// A latency percentile.
    Latency(Percentile, Cmp, Duration),
    /// Upstream attempts per request.
    AttemptsPerRequest(Cmp, f64),
    /// At least one error of this kind (`503 UF` matches `503 UF,URX` too).
    HasError(String),
    /// No error of this kind.
    NoError(String),
    /// The last error happened before this time (recovery).
    LastErrorBefore(Duration),
}

/// One expectation of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The mitigation it applies to.
    pub mitigation: String,
    /// The text reports show, e.g. `error_rate < 0.1%`.
    pub text: String,
    /// The one-line reason written in the scenario (`why`).
    pub why: Option<String>,
    /// The check.
    pub check: Check,
}

impl Expectation {
    /// Parses `metric: value`.
    ///
    /// # Errors
    /// A message saying what is wrong with the value.
    pub fn parse(
        mitigation: &str,
        metric: &str,
        value: &str,
        why: Option<String>,
    ) -> Result<Self, String> {
        let check = match metric {
            "error_rate" => {
                let (c, v) = Cmp::split(value)?;
                Check::ErrorRate(c, parse_ratio(v)?)
            }
            "errors" => {
                let (c, v) = Cmp::split(value)?;
                Check::Errors(
                    c,
                    v.parse()
                        .map_err(|_| format!("{v:?} is not a whole number"))?,
                )
            }
            "p50" | "p99" | "max" => {
                let (c, v) = Cmp::split(value)?;
                let which = match metric {
                    "p50" => Percentile::P50,
                    "p99" => Percentile::P99,
                    _ => Percentile::Max,
                };
                Check::Latency(which, c, parse_duration(v).map_err(|e| e.to_string())?)
            }
            "upstream_attempts_per_request" => {
                let (c, v) = Cmp::split(value)?;
                Check::AttemptsPerRequest(
                    c,
                    v.trim_end_matches('x')
                        .parse()
                        .map_err(|_| format!("{v:?} is not a number"))?,
                )
            }
            "has_error" => Check::HasError(error_label(value)?),
            "no_error" => Check::NoError(error_label(value)?),
            other => return Err(format!("unknown metric {other:?}")),
        };
        Ok(Expectation {
            mitigation: mitigation.to_string(),
            text: format!("{metric} {}", value.trim()),
            why,
            check,
        })
    }

    /// `last_error_before: <time>`.
    pub fn last_error_before(mitigation: &str, at: Duration, why: Option<String>) -> Self {
        Expectation {
            mitigation: mitigation.to_string(),
            text: format!("last_error_before {}", format_duration(at)),
            why,
            check: Check::LastErrorBefore(at),
        }
    }

    /// Evaluates it against a mitigation's results.
    pub fn evaluate(&self, m: &MitigationResult) -> ExpectationResult {
        if m.requests == 0 {
            // Nothing measured proves nothing: every expectation fails.
            return ExpectationResult {
                text: self.text.clone(),
                reason: self.why.clone(),
                actual: "no requests".into(),
                passed: false,
            };
        }
        let (passed, actual) = match &self.check {
            Check::ErrorRate(c, b) => (
                c.holds(m.error_rate, *b),
                format!("{:.3}%", m.error_rate * 100.0),
            ),
            Check::Errors(c, b) => (c.holds(m.errors as f64, *b as f64), m.errors.to_string()),
            Check::Latency(which, c, b) => {
                let ms = match which {
                    Percentile::P50 => m.latency_ms.p50,
                    Percentile::P99 => m.latency_ms.p99,
                    Percentile::Max => m.latency_ms.max,
                };
                (c.holds(ms, b.as_secs_f64() * 1000.0), format!("{ms}ms"))
            }
            Check::AttemptsPerRequest(c, b) => {
                let a = m.upstream_attempts_per_request;
                (c.holds(a, *b), format!("{a:.3}"))
            }
            Check::HasError(kind) => {
                let n = count_kind(m, kind);
                (n > 0, format!("{n} × {kind}"))
            }
            Check::NoError(kind) => {
                let n = count_kind(m, kind);
                (n == 0, format!("{n} × {kind}"))
            }
            Check::LastErrorBefore(at) => match m.last_error_s {
                None => (true, "no error".to_string()),
                Some(s) => (s < at.as_secs_f64(), format!("last error at {s}s")),
            },
        };
        ExpectationResult {
            text: self.text.clone(),
            reason: self.why.clone(),
            actual,
            passed,
        }
    }
}

/// Labels of the non-HTTP error kinds (`ErrorKind::label`).
const KIND_LABELS: &[&str] = &[
    "connect_refused",
    "connect_timeout",
    "connection_reset",
    "connection_closed",
    "request_timeout",
    "protocol_error",
    "dns_nxdomain",
    "dns_nodata",
    "dns_timeout",
    "dns_servfail",
    "dns_refused",
    "dns_malformed",
];

/// An error kind as written in `has_error` / `no_error`: a status with
/// optional Envoy flags (`503`, `503 UF,URX`) or a transport label.
fn error_label(value: &str) -> Result<String, String> {
    let v = value.trim();
    let (status, flags) = split_label(v);
    let http = status.len() == 3
        && status
            .parse::<u16>()
            .is_ok_and(|s| (100..=599).contains(&s))
        && flags
            .iter()
            .all(|f| meshsim_core::ResponseFlags::parse(f).is_some_and(|p| !p.is_empty()));
    if http || KIND_LABELS.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "unknown error kind {v:?}: write a status with Envoy flags (\"503 UF\") or one of {}",
            KIND_LABELS.join(", ")
        ))
    }
}

/// `1%`, `0.1%` or a plain fraction `0.01`.
fn parse_ratio(v: &str) -> Result<f64, String> {
    let bad = || format!("{v:?} is not a rate: write 1% or 0.01");
    match v.strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<f64>()
            .map(|x| x / 100.0)
            .map_err(|_| bad()),
        None => v.parse::<f64>().map_err(|_| bad()),
    }
}

/// Errors whose label matches `kind`: same status and at least its flags, or
/// the same label for non-HTTP kinds.
fn count_kind(m: &MitigationResult, kind: &str) -> u64 {
    let (want_status, want_flags) = split_label(kind);
    m.errors_by_kind
        .iter()
        .filter(|k| {
            let (status, flags) = split_label(&k.kind);
            status == want_status && want_flags.iter().all(|f| flags.contains(f))
        })
        .map(|k| k.count)
        .sum()
}

fn split_label(label: &str) -> (&str, Vec<&str>) {
    match label.split_once(' ') {
        Some((s, flags)) => (s, flags.split(',').collect()),
        None => (label, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshsim_core::{Collector, Outcome, RequestRecord, ResponseFlags};

    fn result(outcomes: &[Outcome]) -> MitigationResult {
        let mut c = Collector::new(Duration::from_secs(1));
        for (i, o) in outcomes.iter().enumerate() {
            c.record(&RequestRecord {
                call: 0,
                scheduled: Duration::from_millis(i as u64),
                started: Duration::from_millis(i as u64),
                ended: Duration::from_millis(i as u64 + 10),
                outcome: *o,
                upstream_attempts: 1,
                upstream_host: None,
                reused_connection: false,
            });
        }
        c.finish("m", Duration::from_secs(1))
    }

    #[test]
    fn error_rate_takes_percent_or_fraction() {
        let m = result(&[
            Outcome::Ok { status: 200 },
            Outcome::from_status(503, ResponseFlags::UC),
        ]);
        assert!(
            Expectation::parse("m", "error_rate", "> 1%", None)
                .unwrap()
                .evaluate(&m)
                .passed
        );
        assert!(
            !Expectation::parse("m", "error_rate", "< 0.4", None)
                .unwrap()
                .evaluate(&m)
                .passed
        );
    }

    #[test]
    fn has_error_matches_status_and_a_subset_of_flags() {
        let m = result(&[Outcome::from_status(
            503,
            ResponseFlags::UF | ResponseFlags::URX,
        )]);
        assert!(
            Expectation::parse("m", "has_error", "503 UF", None)
                .unwrap()
                .evaluate(&m)
                .passed
        );
        assert!(
            !Expectation::parse("m", "has_error", "503 UC", None)
                .unwrap()
                .evaluate(&m)
                .passed
        );
        assert!(
            !Expectation::parse("m", "no_error", "503 URX", None)
                .unwrap()
                .evaluate(&m)
                .passed
        );
    }

    #[test]
    fn unknown_error_kinds_are_rejected_so_no_error_cannot_pass_vacuously() {
        assert!(Expectation::parse("m", "no_error", "503 UX", None).is_err());
        assert!(Expectation::parse("m", "no_error", "connection-reset", None).is_err());
        assert!(Expectation::parse("m", "no_error", "connection_reset", None).is_ok());
        assert!(Expectation::parse("m", "has_error", "504 UT,URX", None).is_ok());
    }

    #[test]
    fn a_run_without_requests_fails_every_expectation() {
        let m = result(&[]);
        let e = Expectation::parse("m", "errors", "== 0", None)
            .unwrap()
            .evaluate(&m);
        assert!(!e.passed);
        assert_eq!(e.actual, "no requests");
    }

    #[test]
    fn values_without_a_comparison_are_rejected() {
        let err = Expectation::parse("m", "p99", "250ms", None).unwrap_err();
        assert!(err.contains("needs a comparison"), "{err}");
    }
}
