//! The HTML report: self-contained, escaped, one series per mitigation in
//! every chart, marks for the timeline and the middleboxes.

use meshsim_report::html;

use crate::fixture::{full, sample};

/// The charts the page draws, by `data-chart`.
const CHARTS: [&str; 4] = [
    "error-rate",
    "error-rate-linear",
    "latency",
    "errors-by-kind",
];

/// Every tag of `page` (`<` to `>`), in order. Text from the result is
/// escaped, so a `<` in the page always starts a tag.
fn tags(page: &str) -> Vec<&str> {
    page.split('<')
        .skip(1)
        .filter_map(|t| t.split_once('>').map(|(tag, _)| tag))
        .collect()
}

/// The value of attribute `name` in `tag`, if present.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    tag[start..].split('"').next()
}

/// Every reference the page would follow or fetch: an `src`, `href`,
/// `xlink:href`, `srcset`, `poster`, `action` or `formaction` attribute that
/// is not a fragment (`#m-0`), and any `url(` or `@import` in CSS.
pub(crate) fn external_references(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in tags(page) {
        for name in [
            "src",
            "href",
            "xlink:href",
            "srcset",
            "poster",
            "action",
            "formaction",
        ] {
            if let Some(v) = attr(tag, name).filter(|v| !v.starts_with('#')) {
                out.push(format!("{name}={v}"));
            }
        }
    }
    for css in ["url(", "@import"] {
        if page.contains(css) {
            out.push(css.to_string());
        }
    }
    out
}

/// The `data-mitigation` of every series of chart `chart`, in order.
fn series(page: &str, chart: &str) -> Vec<String> {
    tags(page)
        .into_iter()
        .filter(|t| t.starts_with("g class=\"series\"") && attr(t, "data-chart") == Some(chart))
        .filter_map(|t| attr(t, "data-mitigation").map(str::to_string))
        .collect()
}

#[test]
fn every_chart_has_one_series_per_mitigation_in_the_run_order() {
    let run = full();
    let page = html(&run);
    let names: Vec<String> = run.mitigations.iter().map(|m| m.name.clone()).collect();
    for chart in CHARTS {
        assert_eq!(
            page.matches(&format!("<svg class=\"chart\" data-chart=\"{chart}\""))
                .count(),
            1,
            "{chart}"
        );
        assert_eq!(series(&page, chart), names, "{chart}");
    }
}

#[test]
fn page_is_one_document_with_every_element_it_opens_closed() {
    let page = html(&full());
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(page.ends_with("</body>\n</html>\n"));
    for el in [
        "svg", "g", "section", "table", "details", "figure", "text", "title", "pre",
    ] {
        let opened = tags(&page)
            .iter()
            .filter(|t| t.split([' ', '/']).next() == Some(el) && !t.ends_with('/'))
            .count();
        let closed = page.matches(&format!("</{el}>")).count();
        assert_eq!(
            opened, closed,
            "<{el}> opened {opened} times, closed {closed}"
        );
    }
}

#[test]
fn page_references_nothing_outside_itself() {
    let mut run = full();
    run.summary = "see http://example.com/x.png and //cdn.example/y.js".into();
    run.mitigations[0].name = "src=\"http://example.com/z\"".into();
    let page = html(&run);
    assert_eq!(external_references(&page), Vec::<String>::new());
    assert!(!page.contains("<script"), "no script at all");
}

#[test]
fn reference_check_finds_an_image_a_link_and_a_css_url() {
    let page = "<p><img src=\"http://127.0.0.1:9/x.png\"><a href=\"https://a.example/\">a</a>\
                <a href=\"#m-0\">ok</a></p><style>p{background:url(x.png)}</style>";
    assert_eq!(
        external_references(page),
        [
            "src=http://127.0.0.1:9/x.png",
            "href=https://a.example/",
            "url("
        ]
    );
}

#[test]
fn script_in_a_summary_comes_out_escaped() {
    let mut run = sample();
    run.summary = "<script>alert('x')</script> & \"quotes\"".into();
    run.mitigations[0].expectations[0].text = "error_rate < 1% <img>".into();
    let page = html(&run);
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;")
    );
    assert!(page.contains("error_rate &lt; 1% &lt;img&gt;"));
    assert!(!page.contains("<script") && !page.contains("<img"));
}

#[test]
fn timeline_events_are_numbered_marks_on_the_error_rate_chart() {
    let page = html(&full());
    assert_eq!(page.matches("<g class=\"timeline-mark\"").count(), 2);
    assert!(
        page.contains(
            "<title>1. 5m: dns.set api.partner.example -&gt; 52.1.1.11, 52.1.1.12</title>"
        )
    );
}

#[test]
fn middlebox_events_are_counted_in_one_lane_per_mitigation_that_logged_some() {
    let page = html(&full());
    let lanes: Vec<&str> = tags(&page)
        .into_iter()
        .filter(|t| t.starts_with("g class=\"middlebox-marks\""))
        .filter_map(|t| attr(t, "data-mitigation"))
        .collect();
    assert_eq!(lanes, ["none"], "retries' box logged nothing");
    assert!(page.contains("fw denied ×1"), "counts by box and event");
}

#[test]
fn comparison_table_has_dominant_errors_with_sample_and_every_expectation() {
    let page = html(&full());
    let table = page
        .split("<table class=\"comparison\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("a comparison table");
    assert!(table.contains("<code>503 UC</code> ×1000 <span class=\"muted\">(proxy)</span>"));
    assert!(table.contains("upstream connect error or disconnect/reset before headers."));
    assert!(table.contains("<summary class=\"fail\">1/2 FAIL</summary>"));
    assert!(table.contains("<code>error_rate &lt; 0.01%</code>: measured 0.02%"));
    assert!(table.contains("-99.3%"), "relative to the baseline");
}

#[test]
fn partial_run_shows_a_banner_and_a_complete_one_does_not() {
    let mut run = sample();
    assert!(!html(&run).contains("PARTIAL"));
    run.partial = true;
    assert!(html(&run).contains(
        "<div class=\"banner\" role=\"alert\" id=\"partial\">PARTIAL: the run was stopped"
    ));
}

#[test]
fn run_without_mitigations_or_events_still_renders_a_page_without_charts() {
    let mut run = sample();
    run.mitigations.clear();
    run.events.clear();
    let page = html(&run);
    assert!(page.contains("<p>No timeline event.</p>"));
    assert!(page.contains("<p>No mitigation ran.</p>"));
    assert!(!page.contains("<svg"));
}

#[test]
fn colours_follow_the_reader_scheme_through_css_variables() {
    let page = html(&full());
    assert!(page.contains("@media (prefers-color-scheme:dark){:root{"));
    assert!(page.contains("style=\"stroke:var(--m0);fill:var(--m0)\""));
    assert!(page.contains("style=\"stroke:var(--m1);fill:var(--m1)\""));
}
