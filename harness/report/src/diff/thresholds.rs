//! How far a figure may move before `meshsim diff` calls it worse (or better).

use serde::Serialize;

use crate::error::ReportError;

/// The tolerances of [`super::compare`]; `Default` is what `meshsim diff` uses
/// without `--threshold`.
///
/// The defaults suit a CI regression suite. In sim mode the same seed gives
/// byte-identical results, so any move at all is a change of code or
/// scenario; the tolerances are for what legitimately varies: another seed,
/// or a real run (a handful of requests in 45,000 that draw a dead node).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// `error-rate=`: the rise of the error rate, in percentage points, that
    /// must be exceeded (default 0.1: 45 requests of a 15-minute run at 50/s).
    pub error_rate_points: f64,
    /// `error-rate-rel=`: the rise of the error rate relative to the old
    /// rate that must also be exceeded, as a ratio (default 0.10, written
    /// `10%`).
    pub error_rate_relative: f64,
    /// `p99=`: the rise of p99 latency relative to the old p99, a ratio
    /// (default 0.10).
    pub p99_relative: f64,
    /// `p99-ms=`: the rise of p99 latency in milliseconds that must also be
    /// exceeded (default 1).
    pub p99_ms: f64,
    /// `attempts=`: the rise of upstream attempts per request relative to the
    /// old figure, a ratio (default 0.05: 1.00x -> 1.05x is retry
    /// amplification worth a look).
    pub attempts_relative: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            error_rate_points: 0.1,
            error_rate_relative: 0.10,
            p99_relative: 0.10,
            p99_ms: 1.0,
            attempts_relative: 0.05,
        }
    }
}

/// The keys [`Thresholds::set`] knows, for error messages.
const KEYS: &str = "error-rate, error-rate-rel, p99, p99-ms, attempts";

impl Thresholds {
    /// Sets one tolerance from `KEY=VALUE`: `error-rate=0.5` (percentage
    /// points, `pp` suffix allowed), `error-rate-rel=20%`, `p99=15%`,
    /// `p99-ms=2` (`ms` suffix allowed), `attempts=10%`. Relative values are
    /// percentages; the `%` is optional.
    ///
    /// # Errors
    ///
    /// [`ReportError::BadThreshold`] for an unknown key, a missing `=`, or a
    /// value that is not a finite number of at least 0.
    pub fn set(&mut self, setting: &str) -> Result<(), ReportError> {
        let bad = |message: String| ReportError::BadThreshold {
            setting: setting.to_string(),
            message,
        };
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| bad(format!("expected KEY=VALUE with KEY one of {KEYS}")))?;
        let (slot, suffix, scale) = match key.trim() {
            "error-rate" => (&mut self.error_rate_points, "pp", 1.0),
            "error-rate-rel" => (&mut self.error_rate_relative, "%", 0.01),
            "p99" => (&mut self.p99_relative, "%", 0.01),
            "p99-ms" => (&mut self.p99_ms, "ms", 1.0),
            "attempts" => (&mut self.attempts_relative, "%", 0.01),
            other => {
                return Err(bad(format!(
                    "unknown key {other:?} (expected one of {KEYS})"
                )));
            }
        };
        let text = value.trim();
        let number = text.strip_suffix(suffix).unwrap_or(text).trim();
        match number.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => {
                *slot = x * scale;
                Ok(())
            }
            _ => Err(bad(format!(
                "{text:?} is not a number of at least 0 (e.g. 0.5{suffix})"
            ))),
        }
    }

    /// These tolerances as `--threshold` settings, e.g. for a report's footer.
    pub fn describe(&self) -> String {
        format!(
            "error-rate={}pp and error-rate-rel={}%, p99={}% and p99-ms={}ms, attempts={}%",
            self.error_rate_points,
            round(self.error_rate_relative * 100.0),
            round(self.p99_relative * 100.0),
            self.p99_ms,
            round(self.attempts_relative * 100.0)
        )
    }
}

/// Hides the float noise of `0.07 * 100.0`.
fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_sets_its_tolerance_with_or_without_its_unit() {
        let mut t = Thresholds::default();
        for s in [
            "error-rate=0.5pp",
            "error-rate-rel=20%",
            "p99=15",
            "p99-ms=2ms",
            "attempts=10%",
        ] {
            t.set(s).unwrap();
        }
        let expected = Thresholds {
            error_rate_points: 0.5,
            error_rate_relative: 0.2,
            p99_relative: 0.15,
            p99_ms: 2.0,
            attempts_relative: 0.1,
        };
        assert_eq!(t, expected);
        assert_eq!(
            t.describe(),
            "error-rate=0.5pp and error-rate-rel=20%, p99=15% and p99-ms=2ms, attempts=10%"
        );
    }

    #[test]
    fn unknown_key_missing_equals_and_negative_values_are_errors_naming_the_setting() {
        for (s, needle) in [
            ("latency=5", "unknown key \"latency\""),
            ("p99", "expected KEY=VALUE"),
            ("p99=-1", "not a number of at least 0"),
            ("attempts=NaN", "not a number"),
            ("error-rate=lots", "not a number"),
        ] {
            let err = Thresholds::default().set(s).unwrap_err().to_string();
            assert!(err.contains(s) && err.contains(needle), "{s}: {err}");
        }
    }

    #[test]
    fn defaults_are_documented_values() {
        assert_eq!(
            Thresholds::default().describe(),
            "error-rate=0.1pp and error-rate-rel=10%, p99=10% and p99-ms=1ms, attempts=5%"
        );
    }
}
