//! Scenario expectations: `error_rate: "< 0.1%"`, `p99: "< 250ms"`,
//! `has_error: "503 UC"`..., evaluated against a [`MitigationResult`].

mod pod;

use std::time::Duration;

pub use pod::{PodBound, PodCheck, PodFigure};

use meshsim_core::units::{format_duration, parse_duration};
use meshsim_core::{CallResult, ExpectationResult, KindCount, LatencySummary, MitigationResult};

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
    /// A figure of a pod's lifecycle.
    Pod(PodCheck),
}

/// The hop an expectation reads instead of the entry calls' totals: the
/// call `from` (a pod or a service) makes to `url`, as in the report's hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The caller: a pod of `world.pods` or a service.
    pub from: String,
    /// The URL it calls.
    pub url: String,
}

impl Hop {
    /// `catalog` or `catalog -> http://inventory/stock`, resolved against the
    /// scenario's calls `(from, url)`: it must name exactly one.
    ///
    /// # Errors
    /// A message listing the calls when it names none or several.
    pub fn resolve(text: &str, calls: &[(String, String)]) -> Result<Hop, String> {
        let (from, url) = match text.split_once("->") {
            Some((f, u)) => (f.trim(), Some(u.trim())),
            None => (text.trim(), None),
        };
        let matching: Vec<&(String, String)> = calls
            .iter()
            .filter(|(f, u)| f == from && url.is_none_or(|want| want == u))
            .collect();
        match matching.as_slice() {
            [(f, u)] => Ok(Hop {
                from: f.clone(),
                url: u.clone(),
            }),
            _ => {
                let known: Vec<String> = calls.iter().map(|(f, u)| format!("{f} -> {u}")).collect();
                let what = if matching.is_empty() {
                    "no call"
                } else {
                    "several calls"
                };
                Err(format!(
                    "{text:?} names {what}; write `from -> url`, one of: {}",
                    known.join(", ")
                ))
            }
        }
    }

    fn find<'a>(&self, calls: &'a [CallResult]) -> Option<&'a CallResult> {
        calls
            .iter()
            .find(|c| c.from == self.from && c.url == self.url)
    }
}

/// One expectation of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The mitigation it applies to.
    pub mitigation: String,
    /// The hop it reads; `None`: the entry calls' totals.
    pub hop: Option<Hop>,
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
            hop: None,
            text: format!("{metric} {}", value.trim()),
            why,
            check,
        })
    }

    /// The same check on one hop; its text names the hop.
    ///
    /// # Errors
    /// `last_error_before`, which reports keep for the totals only.
    pub fn on_hop(mut self, hop: Hop) -> Result<Self, String> {
        if matches!(self.check, Check::LastErrorBefore(_)) {
            return Err(
                "last_error_before reads the entry calls only; drop `hop` or the metric".into(),
            );
        }
        if matches!(self.check, Check::Pod(_)) {
            return Err("a lifecycle figure reads a pod, not a hop; drop `hop`".into());
        }
        self.text = format!("{} -> {}: {}", hop.from, hop.url, self.text);
        self.hop = Some(hop);
        Ok(self)
    }

    /// `last_error_before: <time>`.
    pub fn last_error_before(mitigation: &str, at: Duration, why: Option<String>) -> Self {
        Expectation {
            mitigation: mitigation.to_string(),
            hop: None,
            text: format!("last_error_before {}", format_duration(at)),
            why,
            check: Check::LastErrorBefore(at),
        }
    }

    /// `<figure> <value>` of `pod`'s lifecycle.
    pub fn pod(
        mitigation: &str,
        check: PodCheck,
        key: &str,
        value: &str,
        why: Option<String>,
    ) -> Self {
        Expectation {
            mitigation: mitigation.to_string(),
            hop: None,
            text: format!("{}: {key} {}", check.pod, value.trim()),
            why,
            check: Check::Pod(check),
        }
    }

    /// Evaluates it against a mitigation's results (or its hop's).
    pub fn evaluate(&self, m: &MitigationResult) -> ExpectationResult {
        if let Check::Pod(p) = &self.check {
            // A lifecycle figure holds whether or not requests were made.
            let (passed, actual) = p.judge(m);
            return ExpectationResult {
                text: self.text.clone(),
                reason: self.why.clone(),
                actual,
                passed,
            };
        }
        let measured = match &self.hop {
            None => Some(Measured::totals(m)),
            Some(hop) => hop.find(&m.calls).map(Measured::hop),
        };
        let (passed, actual) = match measured {
            // Nothing measured proves nothing: every expectation fails.
            None => (false, "no such hop in the run".to_string()),
            Some(x) if x.requests == 0 => (false, "no requests".to_string()),
            Some(x) => self.check.judge(&x),
        };
        ExpectationResult {
            text: self.text.clone(),
            reason: self.why.clone(),
            actual,
            passed,
        }
    }
}

/// The figures a check reads: a mitigation's totals or one hop's.
struct Measured<'a> {
    requests: u64,
    errors: u64,
    error_rate: f64,
    kinds: &'a [KindCount],
    latency: &'a LatencySummary,
    attempts_per_request: f64,
    last_error_s: Option<f64>,
}

impl<'a> Measured<'a> {
    fn totals(m: &'a MitigationResult) -> Self {
        Measured {
            requests: m.requests,
            errors: m.errors,
            error_rate: m.error_rate,
            kinds: &m.errors_by_kind,
            latency: &m.latency_ms,
            attempts_per_request: m.upstream_attempts_per_request,
            last_error_s: m.last_error_s,
        }
    }

    fn hop(c: &'a CallResult) -> Self {
        Measured {
            requests: c.requests,
            errors: c.errors,
            error_rate: c.error_rate,
            kinds: &c.errors_by_kind,
            latency: &c.latency_ms,
            attempts_per_request: c.upstream_attempts_per_request,
            // `Expectation::on_hop` refuses `last_error_before`.
            last_error_s: None,
        }
    }
}

impl Check {
    /// Whether it holds, and the measured value as reports show it.
    fn judge(&self, m: &Measured<'_>) -> (bool, String) {
        match self {
            Check::ErrorRate(c, b) => (
                c.holds(m.error_rate, *b),
                format!("{:.3}%", m.error_rate * 100.0),
            ),
            Check::Errors(c, b) => (c.holds(m.errors as f64, *b as f64), m.errors.to_string()),
            Check::Latency(which, c, b) => {
                let ms = match which {
                    Percentile::P50 => m.latency.p50,
                    Percentile::P99 => m.latency.p99,
                    Percentile::Max => m.latency.max,
                };
                (c.holds(ms, b.as_secs_f64() * 1000.0), format!("{ms}ms"))
            }
            Check::AttemptsPerRequest(c, b) => {
                let a = m.attempts_per_request;
                (c.holds(a, *b), format!("{a:.3}"))
            }
            Check::HasError(kind) => {
                let n = count_kind(m.kinds, kind);
                (n > 0, format!("{n} × {kind}"))
            }
            Check::NoError(kind) => {
                let n = count_kind(m.kinds, kind);
                (n == 0, format!("{n} × {kind}"))
            }
            Check::LastErrorBefore(at) => match m.last_error_s {
                None => (true, "no error".to_string()),
                Some(s) => (s < at.as_secs_f64(), format!("last error at {s}s")),
            },
            // `Expectation::evaluate` judges these before reading requests.
            Check::Pod(_) => (false, "not a request figure".to_string()),
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
fn count_kind(kinds: &[KindCount], kind: &str) -> u64 {
    let (want_status, want_flags) = split_label(kind);
    kinds
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
                sample: None,
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

    fn calls() -> Vec<(String, String)> {
        vec![
            ("client".into(), "http://frontend/".into()),
            ("frontend".into(), "http://catalog/items".into()),
            ("catalog".into(), "http://inventory/stock".into()),
            ("catalog".into(), "http://pricing/".into()),
        ]
    }

    #[test]
    fn a_hop_is_named_by_its_caller_alone_when_that_is_unambiguous() {
        let hop = Hop::resolve("frontend", &calls()).unwrap();
        assert_eq!(
            (hop.from.as_str(), hop.url.as_str()),
            ("frontend", "http://catalog/items")
        );
        let hop = Hop::resolve("catalog -> http://pricing/", &calls()).unwrap();
        assert_eq!(hop.url, "http://pricing/");
        let err = Hop::resolve("catalog", &calls()).unwrap_err();
        assert!(
            err.contains("several calls") && err.contains("catalog -> http://pricing/"),
            "{err}"
        );
        let err = Hop::resolve("inventory", &calls()).unwrap_err();
        assert!(err.contains("no call"), "{err}");
    }

    #[test]
    fn a_hop_expectation_reads_that_hops_figures_not_the_totals() {
        let mut m = result(&[Outcome::Ok { status: 200 }]);
        let mut hop = CallResult {
            from: "catalog".into(),
            url: "http://inventory/stock".into(),
            entry: false,
            requests: 10,
            errors: 5,
            error_rate: 0.5,
            errors_by_kind: Vec::new(),
            latency_ms: m.latency_ms,
            upstream_attempts_per_request: 1.8,
        };
        m.calls.push(hop.clone());
        let on = |metric: &str, value: &str| {
            let h = Hop::resolve("catalog -> http://inventory/stock", &calls()).unwrap();
            Expectation::parse("m", metric, value, None)
                .unwrap()
                .on_hop(h)
                .unwrap()
        };
        let x = on("upstream_attempts_per_request", "> 1.5").evaluate(&m);
        assert!(x.passed, "{x:?}");
        assert_eq!(
            x.text,
            "catalog -> http://inventory/stock: upstream_attempts_per_request > 1.5"
        );
        assert!(!on("error_rate", "< 10%").evaluate(&m).passed);
        // The totals (one request, no error) would pass it.
        assert!(
            Expectation::parse("m", "error_rate", "< 10%", None)
                .unwrap()
                .evaluate(&m)
                .passed
        );
        hop.requests = 0;
        m.calls[0] = hop;
        assert_eq!(on("errors", "== 0").evaluate(&m).actual, "no requests");
    }

    #[test]
    fn last_error_before_cannot_target_a_hop() {
        let hop = Hop::resolve("frontend", &calls()).unwrap();
        let x = Expectation::last_error_before("m", Duration::from_secs(1), None);
        assert!(x.on_hop(hop).is_err());
    }
}
