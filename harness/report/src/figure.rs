//! How one measured value is written, identically in every text format.
//!
//! Every function here is total: a NaN or a negative number prints as what it
//! is instead of panicking, so a broken run still renders.

use meshsim_core::{ExpectationResult, KindCount};

/// The multiplication sign between an error label and its count (`503 UC ×12`).
const TIMES: &str = "×";

/// How many error kinds a summary row names.
pub(crate) const TOP_KINDS: usize = 3;

/// A ratio as a percentage with two decimals: `0.0274` is `2.74%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:.2}%", ratio * 100.0)
}

/// The change of an error rate relative to the baseline's, signed, one decimal:
/// `-99.2%`. `n/a` when the baseline had no error but this one has.
pub(crate) fn change(rate: f64, baseline: f64) -> String {
    if baseline == 0.0 {
        return if rate == 0.0 {
            "+0.0%".to_string()
        } else {
            "n/a".to_string()
        };
    }
    format!("{:+.1}%", (rate - baseline) / baseline * 100.0)
}

/// Milliseconds with two decimals, no unit.
pub(crate) fn millis(ms: f64) -> String {
    format!("{ms:.2}")
}

/// A multiplier with two decimals: `1.03x`.
pub(crate) fn times(x: f64) -> String {
    format!("{x:.2}x")
}

/// Seconds from the start of the run, rounded to the millisecond and written
/// like a scenario's `at:` where that reads well: `5m`, `1m30s`, `6m0.2s`,
/// `1h2m3.25s`, `0s`.
pub(crate) fn at(secs: f64) -> String {
    let millis = (secs * 1000.0).round();
    // Beyond 2^53 ms (285 000 years) the cast would lose the millisecond anyway.
    if !millis.is_finite() || !(0.0..9.0e15).contains(&millis) {
        return format!("{secs}s");
    }
    let millis = millis as u64;
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if rest > 0 || out.is_empty() {
        let (whole, frac) = (rest / 1000, rest % 1000);
        if frac == 0 {
            out.push_str(&format!("{whole}s"));
        } else {
            let frac = format!("{frac:03}");
            out.push_str(&format!("{whole}.{}s", frac.trim_end_matches('0')));
        }
    }
    out
}

/// One error kind and its count: `503 UF,URX ×1234`.
pub(crate) fn kind_count(k: &KindCount) -> String {
    format!("{} {TIMES}{}", k.kind, k.count)
}

/// The most frequent error kinds (at most [`TOP_KINDS`]), comma-separated,
/// with `+N more` when some were left out; `-` when there was no error.
pub(crate) fn top_errors(kinds: &[KindCount]) -> String {
    if kinds.is_empty() {
        return "-".to_string();
    }
    let mut sorted: Vec<&KindCount> = kinds.iter().collect();
    // Stable: equal counts keep the order the result lists them in.
    sorted.sort_by_key(|k| std::cmp::Reverse(k.count));
    let mut parts: Vec<String> = sorted
        .iter()
        .take(TOP_KINDS)
        .map(|k| kind_count(k))
        .collect();
    if sorted.len() > TOP_KINDS {
        parts.push(format!("+{} more", sorted.len() - TOP_KINDS));
    }
    parts.join(", ")
}

/// Expectations that held out of all: `3/3 ok`, `1/2 FAIL`, or `-` when there is none.
pub(crate) fn tally(expectations: &[ExpectationResult]) -> String {
    if expectations.is_empty() {
        return "-".to_string();
    }
    let passed = expectations.iter().filter(|e| e.passed).count();
    let verdict = if passed == expectations.len() {
        "ok"
    } else {
        "FAIL"
    };
    format!("{passed}/{} {verdict}", expectations.len())
}

#[cfg(test)]
mod tests {
    use meshsim_core::Source;

    use super::*;

    fn kc(kind: &str, count: u64) -> KindCount {
        KindCount {
            kind: kind.to_string(),
            source: Source::Proxy,
            count,
            sample: None,
        }
    }

    #[test]
    fn percent_has_two_decimals_and_zero_is_0_00() {
        assert_eq!(percent(0.0), "0.00%");
        assert_eq!(percent(0.027_4), "2.74%");
        assert_eq!(percent(1.0), "100.00%");
    }

    #[test]
    fn change_is_relative_to_the_baseline_rate_and_signed() {
        assert_eq!(change(0.000_2, 0.025), "-99.2%");
        assert_eq!(change(0.05, 0.025), "+100.0%");
        assert_eq!(change(0.0, 0.0), "+0.0%");
        assert_eq!(change(0.01, 0.0), "n/a");
    }

    #[test]
    fn at_reads_like_a_scenario_offset() {
        assert_eq!(at(300.0), "5m");
        assert_eq!(at(90.0), "1m30s");
        assert_eq!(at(360.2), "6m0.2s");
        assert_eq!(at(3725.25), "1h2m5.25s");
        assert_eq!(at(0.0), "0s");
        assert_eq!(at(0.0004), "0s");
        assert_eq!(at(-1.0), "-1s");
        assert_eq!(at(f64::NAN), "NaNs");
    }

    #[test]
    fn top_errors_keeps_three_most_frequent_and_counts_the_rest() {
        let kinds = [
            kc("504 UT", 1),
            kc("503 UC", 9),
            kc("503 UF,URX", 5),
            kc("connect_refused", 2),
        ];
        assert_eq!(
            top_errors(&kinds),
            "503 UC ×9, 503 UF,URX ×5, connect_refused ×2, +1 more"
        );
        assert_eq!(top_errors(&[]), "-");
    }

    #[test]
    fn tally_says_ok_only_when_every_expectation_held() {
        let e = |passed| ExpectationResult {
            text: "x".into(),
            reason: None,
            actual: "y".into(),
            passed,
        };
        assert_eq!(tally(&[e(true), e(true)]), "2/2 ok");
        assert_eq!(tally(&[e(true), e(false)]), "1/2 FAIL");
        assert_eq!(tally(&[]), "-");
    }

    #[test]
    fn millis_and_times_have_two_decimals() {
        assert_eq!(millis(1.5), "1.50");
        assert_eq!(times(1.034), "1.03x");
    }
}
