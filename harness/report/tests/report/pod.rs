//! Lifecycle pods in every format (issue 5: start-up failures, the time to
//! the first success, the start-up delay each mitigation costs, termination
//! failures and completion).

use meshsim_report::{json, markdown, table};

use crate::fixture::{sample, sample_with_pods};

#[test]
fn table_shows_one_line_per_pod_with_the_app_start_delay_against_the_first_mitigation() {
    let text = table(&sample_with_pods());
    let start = text.find("pod lifecycle").unwrap();
    let section = &text[start..];
    let none = section
        .lines()
        .find(|l| l.trim_start().starts_with("none"))
        .unwrap();
    assert!(
        none.contains("0.600s") && none.contains(" 28 ") && none.contains("never"),
        "{none}"
    );
    let retries = section
        .lines()
        .find(|l| l.trim_start().starts_with("retries"))
        .unwrap();
    assert!(
        retries.contains("2.400s (+1.800s)") && retries.contains("12.500s"),
        "{retries}"
    );
}

#[test]
fn markdown_has_an_overview_table_and_each_mitigations_pod_event_log() {
    let text = markdown(&sample_with_pods());
    assert!(text.contains("## Pod lifecycle\n"), "{text}");
    assert!(
        text.contains("| none | orders | 0.600s | 2.000s | 2.010s | 28 | 0 | 0 | 1 (0) | never |"),
        "{text}"
    );
    assert!(
        text.contains("#### Pod lifecycle events\n\nPod `orders`:"),
        "{text}"
    );
    assert!(
        text.contains("| 0.3s | istio-init: redirect to 15001 installed |"),
        "{text}"
    );
}

#[test]
fn no_pod_section_without_a_lifecycle_pod() {
    let run = sample();
    assert!(!table(&run).contains("pod lifecycle"));
    assert!(!markdown(&run).contains("Pod lifecycle"));
}

#[test]
fn json_round_trips_the_pods_with_null_for_times_that_never_came() {
    let run = sample_with_pods();
    let text = json(&run);
    assert!(text.contains("\"completion_s\": null"), "{text}");
    let back: meshsim_core::RunResult = serde_json::from_str(&text).unwrap();
    assert_eq!(back, run);
}
