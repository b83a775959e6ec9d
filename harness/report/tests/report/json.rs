//! The JSON report is exactly `RunResult`.

use meshsim_core::RunResult;
use meshsim_report::json;

use crate::fixture::sample;

#[test]
fn json_round_trips_into_a_run_result_equal_to_the_input() {
    let run = sample();
    let back: RunResult = serde_json::from_str(&json(&run)).unwrap();
    assert_eq!(back, run);
}

#[test]
fn json_is_pretty_with_a_trailing_newline_and_keys_in_field_order() {
    let text = json(&sample());
    assert!(
        text.starts_with("{\n  \"schema_version\": 1,\n  \"scenario\": \"alb-ip-rotation\",\n")
    );
    assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected = [
        "schema_version",
        "scenario",
        "summary",
        "seed",
        "mode",
        "time_scale",
        "duration_s",
        "events",
        "mitigations",
        "partial",
    ];
    assert_eq!(keys, expected);
}

#[test]
fn json_writes_absent_optional_values_as_null() {
    let mut run = sample();
    run.mitigations[0].first_error_s = None;
    let value: serde_json::Value = serde_json::from_str(&json(&run)).unwrap();
    assert_eq!(
        value["mitigations"][0]["first_error_s"],
        serde_json::Value::Null
    );
    assert_eq!(
        value["mitigations"][1]["expectations"][1]["reason"],
        serde_json::Value::Null
    );
}
