//! The JUnit XML report, parsed back with an independent XML parser
//! (`roxmltree`): `testsuites/testsuite/testcase`, counts, failure messages.

use meshsim_report::junit;
use roxmltree::{Document, Node};

use crate::fixture::{full, sample};

fn children<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    node.children()
        .filter(|c| c.is_element() && c.has_tag_name(name))
        .collect()
}

#[test]
fn junit_is_one_suite_per_mitigation_and_one_case_per_expectation() {
    let run = sample();
    let xml = junit(&run);
    let doc = Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("name"), Some("alb-ip-rotation"));
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    assert_eq!(root.attribute("errors"), Some("0"));
    let suites = children(root, "testsuite");
    let names: Vec<_> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["alb-ip-rotation/none", "alb-ip-rotation/retries"]);
    for (suite, m) in suites.iter().zip(&run.mitigations) {
        let cases = children(*suite, "testcase");
        assert_eq!(cases.len(), m.expectations.len());
        assert_eq!(
            suite.attribute("tests"),
            Some(m.expectations.len().to_string().as_str())
        );
        for (case, e) in cases.iter().zip(&m.expectations) {
            assert_eq!(case.attribute("name"), Some(e.text.as_str()));
            let class = format!("alb-ip-rotation.{}", m.name);
            assert_eq!(case.attribute("classname"), Some(class.as_str()));
            assert_eq!(children(*case, "failure").len(), usize::from(!e.passed));
        }
    }
}

#[test]
fn failed_expectation_message_has_the_figures_and_the_reason() {
    let xml = junit(&sample());
    let doc = Document::parse(&xml).unwrap();
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("one failure");
    assert_eq!(
        failure.attribute("message"),
        Some(
            "error_rate < 0.01%: measured 0.02% (9 errors in 45000 requests, 0.02%; \
             503 UF,URX ×9; p99 45.10 ms; 1.03x attempts/request) - retries should hide the rotation"
        )
    );
    assert_eq!(failure.attribute("type"), Some("expectation"));
}

#[test]
fn junit_has_no_time_timestamp_or_host_so_it_is_deterministic() {
    let xml = junit(&full());
    for attr in ["time=", "timestamp=", "hostname=", "uuid="] {
        assert!(!xml.contains(attr), "{attr} in {xml}");
    }
    assert_eq!(xml, junit(&full()));
}

#[test]
fn partial_run_adds_an_errored_case_naming_the_finished_mitigations() {
    let mut run = sample();
    run.partial = true;
    run.mitigations.truncate(1);
    let xml = junit(&run);
    let doc = Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("errors"), Some("1"));
    let suite = children(doc.root_element(), "testsuite")
        .into_iter()
        .find(|s| s.attribute("name") == Some("alb-ip-rotation/run"))
        .expect("a run suite");
    let case = children(suite, "testcase")[0];
    assert_eq!(case.attribute("name"), Some("every mitigation finished"));
    let error = children(case, "error")[0];
    assert_eq!(
        error.attribute("message"),
        Some("the run was stopped before every mitigation finished (1 finished: none)")
    );
    assert!(
        !junit(&sample()).contains("/run\""),
        "a complete run has no such suite"
    );
}

#[test]
fn markup_in_an_expectation_or_reason_survives_as_text() {
    let xml = junit(&full());
    let doc = Document::parse(&xml).expect("escaped markup keeps it well-formed");
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .ends_with(" - retries <should> hide it")
    );
}
