//! Snapshot tests: the whole table and Markdown report of the fixed run,
//! written out inline so a change in layout shows up in review.

use meshsim_report::{Format, markdown, render, table};

use crate::fixture::sample;

#[test]
fn table_shows_header_timeline_mitigations_relative_to_baseline_and_failed_expectations() {
    let expected = "\
alb-ip-rotation (seed 7, sim, 15m): ALB rotates its IPs while the app keeps pooled connections

timeline
  at  what
  --  ---------------------------------------------------
  5m  dns.set api.partner.example -> 52.1.1.11, 52.1.1.12
  6m  host.stop alb-node-a (reset)

mitigations
  mitigation  requests  errors  error rate   vs none  p50 ms  p99 ms  attempts/req  expectations  top errors
  ----------  --------  ------  ----------  --------  ------  ------  ------------  ------------  ------------------------------------------------------------
  none           45000    1234       2.74%  baseline    1.20   30.00         1.01x  1/1 ok        503 UC ×1000, 503 UF,URX ×200, connection_reset ×30, +1 more
  retries        45000       9       0.02%    -99.3%    1.30   45.10         1.03x  1/2 FAIL      503 UF,URX ×9

failed expectations (1 of 3)
  mitigation  expectation         actual  reason
  ----------  ------------------  ------  --------------------------------
  retries     error_rate < 0.01%   0.02%  retries should hide the rotation
";
    assert_eq!(table(&sample()), expected);
}

#[test]
fn markdown_shows_github_tables_and_a_section_per_mitigation() {
    let expected = "\
# alb-ip-rotation

ALB rotates its IPs while the app keeps pooled connections

- seed: 7
- mode: sim
- duration: 15m

## Timeline

| at | what |
| ---: | :--- |
| 5m | dns.set api.partner.example -> 52.1.1.11, 52.1.1.12 |
| 6m | host.stop alb-node-a (reset) |

## Mitigations

| mitigation | requests | errors | error rate | vs none | p50 ms | p99 ms | attempts/req | expectations | top errors |
| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :--- | :--- |
| none | 45000 | 1234 | 2.74% | baseline | 1.20 | 30.00 | 1.01x | 1/1 ok | 503 UC ×1000, 503 UF,URX ×200, connection_reset ×30, +1 more |
| retries | 45000 | 9 | 0.02% | -99.3% | 1.30 | 45.10 | 1.03x | 1/2 FAIL | 503 UF,URX ×9 |

Error rate change is relative to the first mitigation, none.

### none

1234 errors in 45000 requests (2.74%), first at 6m0.2s, last at 7m1.75s.

Latency (ms): p50 1.20, p90 2.50, p99 30.00, p99.9 120.50, max 1000.00.

Upstream attempts: 45400 (1.01x per request).

| error | source | count |
| :--- | :--- | ---: |
| 503 UC | proxy | 1000 |
| 503 UF,URX | proxy | 200 |
| connection_reset | upstream | 30 |
| dns_nxdomain | client | 4 |

| served by | requests |
| :--- | ---: |
| 52.1.1.10:443 | 20000 |
| 52.1.1.11:443 | 23766 |

|  | expectation | actual | reason |
| :--- | :--- | ---: | :--- |
| ✅ | error_rate > 1% | 2.74% | the incident reproduces |

### retries

9 errors in 45000 requests (0.02%), first at 6m0.5s, last at 6m1s.

Latency (ms): p50 1.30, p90 2.60, p99 45.10, p99.9 210.00, max 1500.25.

Upstream attempts: 46350 (1.03x per request).

| error | source | count |
| :--- | :--- | ---: |
| 503 UF,URX | proxy | 9 |

| served by | requests |
| :--- | ---: |
| 52.1.1.11:443 | 30000 |
| 52.1.1.12:443 | 14991 |

|  | expectation | actual | reason |
| :--- | :--- | ---: | :--- |
| ❌ | error_rate < 0.01% | 0.02% | retries should hide the rotation |
| ✅ | p99 < 100ms | 45.1ms |  |
";
    assert_eq!(markdown(&sample()), expected);
}

#[test]
fn every_format_renders_the_same_input_byte_identically_twice() {
    for format in Format::ALL {
        let first = render(&sample(), format);
        let second = render(&sample().clone(), format);
        assert_eq!(first.as_bytes(), second.as_bytes(), "{format}");
    }
}

#[test]
fn partial_run_is_marked_in_table_and_markdown() {
    let mut run = sample();
    run.partial = true;
    let text = table(&run);
    assert_eq!(
        text.lines().nth(1),
        Some("PARTIAL: the run was stopped before every mitigation finished")
    );
    assert!(
        markdown(&run).contains("> **Partial run:** stopped before every mitigation finished.\n")
    );
    assert!(!table(&sample()).contains("PARTIAL"));
}

#[test]
fn run_without_mitigations_events_or_expectations_still_renders_every_section_heading() {
    let mut run = sample();
    run.events.clear();
    run.mitigations.clear();
    let expected = "\
alb-ip-rotation (seed 7, sim, 15m): ALB rotates its IPs while the app keeps pooled connections

mitigations
  (no mitigation ran)
";
    assert_eq!(table(&run), expected);
    let md = markdown(&run);
    assert!(md.contains("## Timeline\n\nNo timeline event.\n"), "{md}");
    assert!(
        md.ends_with("## Mitigations\n\nNo mitigation ran.\n"),
        "{md}"
    );
}

#[test]
fn table_says_all_expectations_held_when_none_failed() {
    let mut run = sample();
    run.mitigations[1].expectations.retain(|e| e.passed);
    assert!(
        table(&run).ends_with("\nexpectations: all 2 held\n"),
        "{}",
        table(&run)
    );
    run.mitigations
        .iter_mut()
        .for_each(|m| m.expectations.clear());
    assert!(!table(&run).contains("expectations:"));
}

#[test]
fn table_has_no_colour_codes_and_no_trailing_spaces() {
    let text = table(&sample());
    assert!(!text.contains('\u{1b}'));
    assert!(text.lines().all(|l| l == l.trim_end()), "{text}");
}

#[test]
fn newline_in_a_summary_cannot_break_the_table_header() {
    let mut run = sample();
    run.summary = "line one\nline two".into();
    assert!(table(&run).starts_with("alb-ip-rotation (seed 7, sim, 15m): line one line two\n"));
}

#[test]
fn table_lists_each_hop_when_services_call_each_other() {
    let mut r = sample();
    r.mitigations.truncate(1);
    let hop =
        |from: &str, url: &str, entry: bool, errors: u64, attempts: f64| meshsim_core::CallResult {
            from: from.into(),
            url: url.into(),
            entry,
            requests: 100,
            errors,
            error_rate: errors as f64 / 100.0,
            errors_by_kind: vec![meshsim_core::KindCount {
                kind: "503 URX".into(),
                source: meshsim_core::Source::Proxy,
                count: errors,
                sample: None,
            }],
            latency_ms: Default::default(),
            upstream_attempts_per_request: attempts,
        };
    r.mitigations[0].calls = vec![
        hop("client", "http://a/", true, 4, 1.0),
        hop("a", "http://b/x", false, 4, 1.5),
    ];
    let text = table(&r);
    let hops = text.split("hops\n").nth(1).expect("a hops section");
    let expected =
        "  mitigation  hop                  requests  errors  error rate  attempts/req  top error
  ----------  -------------------  --------  ------  ----------  ------------  ----------
  none        client -> http://a/       100       4       4.00%         1.00x  503 URX ×4
  none        a -> http://b/x           100       4       4.00%         1.50x  503 URX ×4
";
    let got: Vec<&str> = hops.lines().take(4).map(str::trim_end).collect();
    let want: Vec<&str> = expected.lines().map(str::trim_end).collect();
    assert_eq!(got, want, "{hops}");
    assert!(markdown(&r).contains("## Hops"));
    assert!(
        !table(&sample()).contains("hops"),
        "no hops section without hops"
    );
}
