//! The JUnit XML report: each expectation is a test case, so a CI system
//! shows a failed expectation as a failed test, with the figures.
//!
//! Layout: `<testsuites name="<scenario>">`, one `<testsuite
//! name="<scenario>/<mitigation>">` per mitigation in the run's order, one
//! `<testcase name="<expectation text>" classname="<scenario>.<mitigation>">`
//! per expectation. A failed expectation is a `<failure>` whose message
//! holds the measured value, the mitigation's headline figures and the
//! scenario's reason (`error_rate < 0.01%: measured 0.02% (9 errors in 45000
//! requests, 0.02%; 503 UF,URX ×9; p99 45.10 ms; 1.03x attempts/request) -
//! retries should hide the rotation`).
//!
//! No time is written: a suite's duration in wall time would differ from
//! run to run, and the scenario's own duration is not a test's run time,
//! so `time`, `timestamp` and host name are left out and the same result
//! gives the same bytes.
//!
//! A partial run (stopped before every mitigation finished) lists the
//! mitigations that finished, and one more suite, `<scenario>/run`, with one
//! test case `every mitigation finished` as an `<error>`: the expectations of
//! the mitigations that did not run are unknown to the result, and a CI job
//! must not read a stopped run as green.

use meshsim_core::{ExpectationResult, MitigationResult, RunResult};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::figure;

/// Renders the JUnit XML report.
pub fn junit(result: &RunResult) -> String {
    let mut report = Report::new(result.scenario.as_str());
    for m in &result.mitigations {
        report.add_test_suite(suite(result, m));
    }
    if result.partial {
        report.add_test_suite(unfinished(result));
    }
    // Writing into a String cannot fail; quick-xml reports only I/O errors.
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write JUnit XML: {e} -->\n"))
}

fn suite(result: &RunResult, m: &MitigationResult) -> TestSuite {
    let mut suite = TestSuite::new(format!("{}/{}", result.scenario, m.name));
    for e in &m.expectations {
        suite.add_test_case(case(result, m, e));
    }
    suite
}

fn case(result: &RunResult, m: &MitigationResult, e: &ExpectationResult) -> TestCase {
    let status = if e.passed {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(failure_message(m, e));
        s.set_type("expectation");
        s
    };
    let mut case = TestCase::new(e.text.as_str(), status);
    case.set_classname(format!("{}.{}", result.scenario, m.name));
    case
}

/// `error_rate > 1%: measured 0.04% (12 errors in 30000 requests, 0.04%; 503 UC ×12; p99 45.10 ms; 1.00x attempts/request) - reason`: the measured value, then the mitigation's headline figures.
pub(crate) fn failure_message(m: &MitigationResult, e: &ExpectationResult) -> String {
    let mut out = format!(
        "{}: measured {} ({} errors in {} requests, {}; {}; p99 {} ms; {} attempts/request)",
        e.text,
        e.actual,
        m.errors,
        m.requests,
        figure::percent(m.error_rate),
        figure::top_errors(&m.errors_by_kind),
        figure::millis(m.latency_ms.p99),
        figure::times(m.upstream_attempts_per_request),
    );
    if let Some(reason) = &e.reason {
        out.push_str(" - ");
        out.push_str(reason);
    }
    out
}

fn unfinished(result: &RunResult) -> TestSuite {
    let done: Vec<&str> = result.mitigations.iter().map(|m| m.name.as_str()).collect();
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_message(format!(
        "the run was stopped before every mitigation finished ({} finished: {})",
        done.len(),
        if done.is_empty() {
            "none".to_string()
        } else {
            done.join(", ")
        }
    ));
    status.set_type("partial");
    let mut case = TestCase::new("every mitigation finished", status);
    case.set_classname(format!("{}.run", result.scenario));
    let mut suite = TestSuite::new(format!("{}/run", result.scenario));
    suite.add_test_case(case);
    suite
}
