//! `diff::compare`: two runs judged mitigation by mitigation, and its
//! renderings.

use meshsim_core::RunMode;
use meshsim_report::diff::{self, Thresholds, Verdict, compare};

use crate::fixture::sample;

fn verdicts(d: &diff::Diff) -> Vec<(&str, Verdict)> {
    d.mitigations
        .iter()
        .map(|m| (m.name.as_str(), m.verdict))
        .collect()
}

#[test]
fn identical_runs_are_the_same_and_no_regression() {
    let d = compare(&sample(), &sample(), &Thresholds::default());
    assert_eq!(
        verdicts(&d),
        [("none", Verdict::Same), ("retries", Verdict::Same)]
    );
    assert!(!d.regressed());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn an_error_rate_raised_beyond_both_thresholds_is_worse_and_names_the_metric() {
    let mut new = sample();
    new.mitigations[1].error_rate = 0.015;
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(d.mitigations[1].verdict, Verdict::Worse);
    assert!(d.regressed());
    let change = &d.mitigations[1].changes[0];
    assert_eq!(change.metric, "error_rate");
    assert_eq!(change.what, "error rate 0.02% -> 1.50%");
}

#[test]
fn an_error_rate_rise_under_the_absolute_floor_is_the_same() {
    let mut new = sample();
    // 0.02% -> 0.08%: four times as many errors, but 0.06 points.
    new.mitigations[1].error_rate = 0.0008;
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(d.mitigations[1].verdict, Verdict::Same);
}

#[test]
fn an_error_rate_rise_under_the_relative_threshold_is_the_same() {
    let mut new = sample();
    // 2.74% -> 2.90%: 0.16 points, but 6% of the old rate.
    new.mitigations[0].error_rate = 0.029;
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(d.mitigations[0].verdict, Verdict::Same);
}

#[test]
fn an_expectation_that_held_and_now_fails_is_worse_whatever_the_figures() {
    let mut new = sample();
    new.mitigations[1].expectations[1].passed = false;
    let d = compare(&sample(), &new, &Thresholds::default());
    let m = &d.mitigations[1];
    assert_eq!(m.verdict, Verdict::Worse);
    assert_eq!(m.changes.len(), 1, "{:?}", m.changes);
    assert_eq!(m.changes[0].metric, "expectation");
    assert_eq!(
        m.changes[0].what,
        "expectation \"p99 < 100ms\" now fails (45.1ms)"
    );
}

#[test]
fn a_failing_expectation_that_now_holds_is_better() {
    let mut new = sample();
    new.mitigations[1].expectations[0].passed = true;
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(d.mitigations[1].verdict, Verdict::Better);
    assert!(!d.regressed());
}

#[test]
fn a_gone_mitigation_is_a_regression_and_a_new_one_is_not() {
    let mut new = sample();
    let mut added = new.mitigations.remove(1);
    added.name = "retries-v2".into();
    new.mitigations.push(added);
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(
        verdicts(&d),
        [
            ("none", Verdict::Same),
            ("retries", Verdict::Gone),
            ("retries-v2", Verdict::New)
        ]
    );
    assert!(d.regressed());
    let only_new = compare(&sample(), &new, &Thresholds::default());
    assert!(only_new.mitigations[2].old.is_none());
}

#[test]
fn p99_is_worse_only_beyond_both_its_relative_and_absolute_thresholds() {
    let mut new = sample();
    new.mitigations[0].latency_ms.p99 = 34.0; // +13%, +4 ms
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(d.mitigations[0].verdict, Verdict::Worse);
    assert_eq!(d.mitigations[0].changes[0].what, "p99 30.00 ms -> 34.00 ms");
    let (mut old, mut new) = (sample(), sample());
    old.mitigations[0].latency_ms.p99 = 0.5;
    new.mitigations[0].latency_ms.p99 = 0.9; // +80%, +0.4 ms
    let d = compare(&old, &new, &Thresholds::default());
    assert_eq!(d.mitigations[0].verdict, Verdict::Same);
}

#[test]
fn retry_amplification_beyond_five_percent_is_worse() {
    let mut new = sample();
    new.mitigations[1].upstream_attempts_per_request = 1.10;
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(d.mitigations[1].verdict, Verdict::Worse);
    assert_eq!(d.mitigations[1].changes[0].what, "attempts 1.03x -> 1.10x");
}

#[test]
fn a_mitigation_better_on_one_figure_and_worse_on_another_is_worse() {
    let mut new = sample();
    new.mitigations[0].error_rate = 0.0;
    new.mitigations[0].upstream_attempts_per_request = 2.0;
    let d = compare(&sample(), &new, &Thresholds::default());
    let m = &d.mitigations[0];
    assert_eq!(m.verdict, Verdict::Worse);
    let worse: Vec<bool> = m.changes.iter().map(|c| c.worse).collect();
    assert_eq!(worse, [true, false], "worse changes first");
}

#[test]
fn looser_thresholds_turn_a_regression_back_into_the_same() {
    let mut new = sample();
    new.mitigations[1].error_rate = 0.015;
    let mut loose = Thresholds::default();
    loose.set("error-rate=2").unwrap();
    let d = compare(&sample(), &new, &loose);
    assert_eq!(d.mitigations[1].verdict, Verdict::Same);
    assert!(!d.regressed());
}

#[test]
fn different_seed_mode_and_partial_runs_are_warnings_not_failures() {
    let mut new = sample();
    new.seed = 8;
    new.mode = RunMode::Real;
    new.time_scale = Some(0.02);
    new.partial = true;
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(
        d.warnings,
        [
            "seed differs: 7 -> 8",
            "mode differs: sim -> real",
            "time scale differs: none -> x0.02",
            "the new run is partial: it stopped before every mitigation finished"
        ]
    );
    assert!(!d.regressed());
}

#[test]
fn diff_table_shows_old_to_new_per_mitigation_changes_and_the_conclusion() {
    let mut new = sample();
    new.mitigations[1].error_rate = 0.015;
    new.mitigations[1].expectations[1].passed = false;
    new.mitigations[0].error_rate = 0.001;
    let expected = "\
diff of alb-ip-rotation

  mitigation  verdict      error rate        p50 ms          p99 ms    attempts/req  expectations
  ----------  -------  --------------  ------------  --------------  --------------  ------------
  none        better   2.74% -> 0.10%  1.20 -> 1.20  30.00 -> 30.00  1.01x -> 1.01x    1/1 -> 1/1
  retries     worse    0.02% -> 1.50%  1.30 -> 1.30  45.10 -> 45.10  1.03x -> 1.03x    1/2 -> 0/2

worse
  retries: error rate 0.02% -> 1.50%
  retries: expectation \"p99 < 100ms\" now fails (45.1ms)

better
  none: error rate 2.74% -> 0.10%

REGRESSION: retries worse (thresholds: error-rate=0.1pp and error-rate-rel=10%, p99=10% and p99-ms=1ms, attempts=5%)
";
    let d = compare(&sample(), &new, &Thresholds::default());
    assert_eq!(diff::table(&d), expected);
}

#[test]
fn diff_markdown_and_json_carry_the_same_verdicts() {
    let mut new = sample();
    new.mitigations.pop();
    let d = compare(&sample(), &new, &Thresholds::default());
    let md = diff::markdown(&d);
    assert!(
        md.starts_with("## Diff of alb-ip-rotation\n\n| mitigation | verdict |"),
        "{md}"
    );
    assert!(md.contains("| retries | gone | 0.02% -> - |"), "{md}");
    assert!(
        md.contains("- retries: gone (not in the new run)\n"),
        "{md}"
    );
    assert!(md.ends_with("**REGRESSION: retries gone (thresholds: error-rate=0.1pp and error-rate-rel=10%, p99=10% and p99-ms=1ms, attempts=5%)**\n"), "{md}");
    let v: serde_json::Value = serde_json::from_str(&diff::json(&d)).unwrap();
    assert_eq!(v["mitigations"][1]["verdict"], "gone");
    assert_eq!(v["mitigations"][1]["new"], serde_json::Value::Null);
    assert_eq!(v["thresholds"]["attempts_relative"], 0.05);
}
