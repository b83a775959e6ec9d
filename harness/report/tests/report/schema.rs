//! The JSON output against `reports/schema/run-result.schema.json`, so the
//! type and the published schema cannot drift apart.
//!
//! The checker is `meshsim_report::schema` (shared with the engine's
//! catalogue sweep, which validates every run it makes).

use meshsim_report::schema::{schema, violations};
use serde_json::{Value, json};

use crate::fixture::sample;

fn rendered(run: &meshsim_core::RunResult) -> Value {
    serde_json::from_str(&meshsim_report::json(run)).unwrap()
}

#[test]
fn rendered_sample_validates_against_the_published_schema() {
    assert_eq!(violations(&rendered(&sample())), Vec::<String>::new());
}

#[test]
fn rendered_sample_with_access_log_lines_validates_against_the_schema() {
    let mut run = crate::fixture::sample_with_access_log();
    run.mitigations[0].access_log[0].lines[0].details = None;
    assert_eq!(violations(&rendered(&run)), Vec::<String>::new());
}

#[test]
fn rendered_sample_with_pods_validates_against_the_schema() {
    let run = crate::fixture::sample_with_pods();
    assert_eq!(violations(&rendered(&run)), Vec::<String>::new());
}

#[test]
fn rendered_sample_with_middleboxes_validates_against_the_schema() {
    let run = crate::fixture::sample_with_middleboxes();
    assert_eq!(violations(&rendered(&run)), Vec::<String>::new());
}

#[test]
fn schema_check_catches_a_middlebox_of_unknown_kind_or_a_missing_event_key() {
    let mut value = rendered(&crate::fixture::sample_with_middleboxes());
    value["mitigations"][0]["middleboxes"][0]["kind"] = json!("load_balancer");
    value["mitigations"][0]["middleboxes"][1]["events"][0]
        .as_object_mut()
        .unwrap()
        .remove("flow");
    let found = violations(&value);
    let expected = [
        "$.mitigations[0].middleboxes[0].kind: \"load_balancer\" not in [\"idle_timer\",\"dns_firewall\"]",
        "$.mitigations[0].middleboxes[1].events[0]: missing key \"flow\"",
    ];
    assert_eq!(found, expected);
}

#[test]
fn result_with_nulls_and_empty_lists_validates_against_the_schema() {
    let mut run = sample();
    run.events.clear();
    let m = &mut run.mitigations[0];
    (m.first_error_s, m.last_error_s) = (None, None);
    m.errors_by_kind.clear();
    m.expectations.iter_mut().for_each(|e| e.reason = None);
    run.mitigations[1] = meshsim_core::Collector::new(std::time::Duration::from_secs(1))
        .finish("empty", std::time::Duration::from_secs(3));
    assert_eq!(violations(&rendered(&run)), Vec::<String>::new());
}

#[test]
fn schema_check_catches_extra_missing_and_mistyped_keys() {
    let mut value = rendered(&sample());
    value["started_at"] = json!("2025-01-01T00:00:00Z");
    value.as_object_mut().unwrap().remove("partial");
    value["seed"] = json!("7");
    value["mitigations"][0]["latency_ms"]["p50"] = Value::Null;
    value["mitigations"][1]["errors_by_kind"][0]["source"] = json!("sidecar");
    value["mitigations"][1]["error_rate"] = json!(1.5);
    let found = violations(&value);
    let expected = [
        "$.seed: \"7\" is not \"integer\"",
        "$.mitigations[0].latency_ms.p50: null is not \"number\"",
        "$.mitigations[1].error_rate: 1.5 breaks maximum 1",
        "$.mitigations[1].errors_by_kind[0].source: \"sidecar\" not in [\"upstream\",\"proxy\",\"client\"]",
        "$: missing key \"partial\"",
        "$: extra key \"started_at\"",
    ];
    for e in expected {
        assert!(found.iter().any(|f| f == e), "{e:?} not in {found:#?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn every_object_in_the_schema_requires_all_its_properties_and_forbids_others() {
    fn walk(schema: &Value, at: &str) {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect();
            let declared: Vec<&str> = props.keys().map(String::as_str).collect();
            assert_eq!(
                required, declared,
                "{at}: required must list every property, in order"
            );
            assert_eq!(schema["additionalProperties"], json!(false), "{at}");
            props
                .iter()
                .for_each(|(k, s)| walk(s, &format!("{at}.{k}")));
        }
        if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
            defs.iter()
                .for_each(|(k, s)| walk(s, &format!("$defs.{k}")));
        }
    }
    walk(&schema(), "$");
}

#[test]
fn schema_declares_json_schema_draft_2020_12() {
    assert_eq!(
        schema()["$schema"],
        json!("https://json-schema.org/draft/2020-12/schema")
    );
}

#[test]
fn a_time_scaled_real_run_validates_and_states_its_scale_in_every_text_format() {
    let mut run = sample();
    run.mode = meshsim_core::RunMode::Real;
    run.time_scale = Some(0.02);
    let v = rendered(&run);
    assert_eq!(v["time_scale"], json!(0.02));
    assert!(violations(&v).is_empty(), "{:?}", violations(&v));
    let table = meshsim_report::render(&run, meshsim_report::Format::Table);
    assert!(
        table.lines().next().unwrap().contains("real, time x0.02"),
        "{table}"
    );
    let md = meshsim_report::render(&run, meshsim_report::Format::Markdown);
    assert!(md.contains("- mode: real, time x0.02"), "{md}");
    assert!(
        md.contains("one scenario second lasted 0.02 s of wall time"),
        "{md}"
    );
    let html = meshsim_report::render(&run, meshsim_report::Format::Html);
    assert!(
        html.contains("<dt>mode</dt><dd>real, time x0.02</dd>"),
        "{html}"
    );
    assert!(html.contains("one scenario second lasted 0.02 s of wall time"));
}

#[test]
fn error_kinds_with_sample_bodies_validate_against_the_schema() {
    let v = rendered(&crate::fixture::full());
    assert_eq!(
        v["mitigations"][0]["errors_by_kind"][3]["sample"],
        json!("dns lookup api.partner.example: NXDOMAIN")
    );
    assert_eq!(
        v["mitigations"][0]["errors_by_kind"][1]["sample"],
        json!(null)
    );
    assert!(violations(&v).is_empty(), "{:?}", violations(&v));
}
