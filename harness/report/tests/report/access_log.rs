//! The access-log sample in every format (fact sheet §5.4: the lines are
//! Istio's TEXT format, shown as written).

use meshsim_core::RunResult;
use meshsim_report::{json, markdown, table};

use crate::fixture::sample_with_access_log;

fn lines(run: &RunResult, mitigation: usize) -> Vec<String> {
    run.mitigations[mitigation].access_log[0]
        .lines
        .iter()
        .map(|l| l.line.clone())
        .collect()
}

#[test]
fn table_shows_only_the_failure_lines_of_mitigations_with_errors() {
    let run = sample_with_access_log();
    let l = lines(&run, 0);
    let expected = format!(
        "\naccess log (first line of each failure kind per sidecar hop)\n  \
         none / checkout (entry pod)\n    {}\n    {}\n\nfailed expectations",
        l[1], l[2]
    );
    let text = table(&run);
    assert!(text.contains(&expected), "{text}");
    assert!(!text.contains(&l[0]), "no success line on the terminal");
    assert!(
        !text.contains("clean / "),
        "no section for a mitigation without errors"
    );
}

#[test]
fn table_has_no_access_log_section_without_a_sample() {
    let mut run = sample_with_access_log();
    run.mitigations
        .iter_mut()
        .for_each(|m| m.access_log.clear());
    assert!(!table(&run).contains("access log"));
}

#[test]
fn markdown_shows_every_sampled_line_in_a_code_block_per_hop() {
    let run = sample_with_access_log();
    let l = lines(&run, 0);
    let block = format!(
        "#### Access log sample\n\nPer sidecar hop, the first line of each failure (response code, \
         flags, details) and the first success, in Istio's TEXT format.\n\n\
         checkout (entry pod):\n\n```text\n{}\n{}\n{}\n```\n",
        l[0], l[1], l[2]
    );
    let text = markdown(&run);
    let none = &text[text.find("### none").unwrap()..text.find("### retries").unwrap()];
    // Sections are separated by a blank line.
    assert!(none.ends_with(&format!("{block}\n")), "{none}");
    let clean = &text[text.find("### clean").unwrap()..];
    assert!(
        clean.ends_with(&format!("```text\n{}\n```\n", l[0])),
        "{clean}"
    );
    assert!(
        !text[text.find("### retries").unwrap()..text.find("### clean").unwrap()]
            .contains("Access log")
    );
}

#[test]
fn markdown_fence_is_longer_than_any_backtick_run_in_a_line() {
    let mut run = sample_with_access_log();
    run.mitigations[0].access_log[0].lines[0].line = "[t] \"GET /a```b HTTP/1.1\" 200".into();
    let text = markdown(&run);
    assert!(
        text.contains("\n````text\n[t] \"GET /a```b HTTP/1.1\" 200\n"),
        "{text}"
    );
}

#[test]
fn json_round_trips_the_sample() {
    let run = sample_with_access_log();
    let text = json(&run);
    assert!(text.contains("\"flags\": \"UC\""), "{text}");
    assert!(text.contains(
        "\"details\": \"upstream_reset_before_response_started{connection_termination}\""
    ));
    let back: RunResult = serde_json::from_str(&text).unwrap();
    assert_eq!(back, run);
}
