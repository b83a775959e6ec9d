//! The middleboxes' counters and event logs in every format (issue 4: the
//! report shows what a box admitted, reset, dropped and expired, on the
//! run's timeline).

use meshsim_core::{MiddleboxResult, RunResult};
use meshsim_report::{json, markdown, table};

use crate::fixture::{sample, sample_with_middleboxes};

/// The Markdown section of mitigation `name` (up to the next `### `).
fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text.find(&format!("### {name}\n")).unwrap();
    let rest = &text[start + 4..];
    let end = rest
        .find("\n### ")
        .map_or(text.len(), |i| start + 4 + i + 1);
    &text[start..end]
}

#[test]
fn markdown_shows_a_counters_table_with_a_column_per_counter_name() {
    let text = markdown(&sample_with_middleboxes());
    let none = section(&text, "none");
    let expected = "#### Middleboxes\n\nWhat each box on the path counted.\n\n\
| box | kind | tracked | expired | resets | dropped | admitted | denied |
| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: |
| nat | idle_timer | 4 | 2 | 2 | 0 | - | - |
| fw | dns_firewall | - | - | - | - | 3 | 1 |
";
    assert!(none.contains(expected), "{none}");
}

#[test]
fn markdown_merges_the_boxes_event_logs_by_time_and_says_how_many_were_omitted() {
    let text = markdown(&sample_with_middleboxes());
    let none = section(&text, "none");
    let expected = "\nMiddlebox events, by time:\n\n\
| at | box | event | address | name | flow |
| ---: | :--- | :--- | :--- | :--- | :--- |
| 12.25s | fw | admitted | 52.1.1.10:443 | - | 10.0.0.5:39999 -> 52.1.1.10:443 |
| 5m | fw | learned | 52.1.1.11 | api.partner.example | - |
| 5m20s | nat | expired | 52.1.1.10:443 | - | 10.0.0.5:39999 -> 52.1.1.10:443 |
| 6m0.5s | fw | denied | 52.1.1.12:443 | api.partner.example | 10.0.0.5:40000 -> 52.1.1.12:443 |

... and 1 more events of fw (a box's log keeps its first 100).
";
    assert!(none.contains(expected), "{none}");
    assert_eq!(MiddleboxResult::MAX_EVENTS, 100);
}

#[test]
fn markdown_shows_counters_but_no_event_grid_for_boxes_without_events() {
    let text = markdown(&sample_with_middleboxes());
    let retries = section(&text, "retries");
    assert!(
        retries.contains("| nat | idle_timer | 4 | 2 | 2 | 0 |\n"),
        "{retries}"
    );
    assert!(!retries.contains("Middlebox events"), "{retries}");
    assert!(!retries.contains("more events"), "{retries}");
}

#[test]
fn markdown_has_no_middlebox_section_without_a_box() {
    assert!(!markdown(&sample()).contains("Middlebox"));
}

#[test]
fn table_shows_one_counters_line_per_box_and_mitigation_and_no_events() {
    let text = table(&sample_with_middleboxes());
    let expected = "\nmiddleboxes
  mitigation  box  kind          counters
  ----------  ---  ------------  -----------------------------------------
  none        nat  idle_timer    tracked 4, expired 2, resets 2, dropped 0
  none        fw   dns_firewall  admitted 3, denied 1
  retries     nat  idle_timer    tracked 4, expired 2, resets 2, dropped 0

failed expectations";
    assert!(text.contains(expected), "{text}");
    assert!(!text.contains("api.partner.example |"));
    assert!(!text.contains("learned"), "events are not on the terminal");
}

#[test]
fn table_has_no_middlebox_section_without_a_box() {
    assert!(!table(&sample()).contains("middleboxes"));
}

#[test]
fn json_round_trips_the_middleboxes_with_null_for_unknown_names_and_flows() {
    let run = sample_with_middleboxes();
    let text = json(&run);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fw = &value["mitigations"][0]["middleboxes"][1];
    assert_eq!(fw["kind"], "dns_firewall");
    assert_eq!(fw["events_omitted"], 1);
    assert_eq!(fw["events"][0]["name"], serde_json::Value::Null);
    assert_eq!(
        fw["counters"][1],
        serde_json::json!({"name": "denied", "count": 1})
    );
    let back: RunResult = serde_json::from_str(&text).unwrap();
    assert_eq!(back, run);
}

#[test]
fn a_result_written_before_middleboxes_existed_reads_with_none() {
    let mut value: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
    for m in value["mitigations"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("middleboxes");
    }
    let back: RunResult = serde_json::from_value(value).unwrap();
    assert!(back.mitigations.iter().all(|m| m.middleboxes.is_empty()));
}
