//! The HTML report: one self-contained page per run, with SVG charts.
//!
//! The page needs nothing but itself: the style sheet is inline, the charts
//! are inline SVG written by hand (no JavaScript, no font, no image, no
//! URL to fetch), so it opens offline and from a CI artefact. It follows the
//! reader's light or dark scheme (`prefers-color-scheme`); the charts draw
//! with CSS variables, so they follow too.
//!
//! Content, in order: the header (scenario, summary, PARTIAL banner, seed,
//! mode, duration); the timeline, numbered; the comparison table (with the
//! dominant error kinds, a sample of what the application saw, and every
//! expectation in a `<details>`); the charts (error rate over time on a log
//! axis with timeline and middlebox marks, the same per mitigation on
//! linear axes, latency percentiles, errors by kind); the tables across
//! mitigations (hops, pods, probes); one section per mitigation.
//!
//! Like every writer here it is a pure function: coordinates and figures
//! have fixed decimals, every list is walked in the result's order (or a
//! `BTreeMap`'s), so the same result gives the same bytes. Every string
//! taken from the result is escaped. Machine-readable hooks for tests and
//! scripts: every chart is `<svg data-chart="...">` (`error-rate`,
//! `error-rate-linear`, `latency`, `errors-by-kind`) holding one
//! `<g class="series" data-chart=".." data-mitigation="..">` per mitigation;
//! timeline markers are `<g class="timeline-mark" data-event="n">`, middlebox
//! marks `<g class="middlebox-marks" data-mitigation="..">`. Those names are
//! stable; the rest of the layout is for people and may change.

mod chart;
mod detail;
mod error_rate;
mod kinds;
mod latency;
mod page;
mod table;

use meshsim_core::RunResult;

/// Renders the HTML report: a whole document, UTF-8, ending in a newline.
pub fn html(result: &RunResult) -> String {
    let mut body = page::header(result);
    body.push_str(&page::timeline(result));
    body.push_str(&table::comparison(result));
    if !result.mitigations.is_empty() {
        body.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
        body.push_str(&error_rate::chart(result));
        body.push_str(&error_rate::linear_rows(result));
        body.push_str(&latency::chart(result));
        body.push_str(&kinds::chart(result));
        body.push_str("</section>\n");
    }
    body.push_str(&detail::overviews(result));
    if !result.mitigations.is_empty() {
        body.push_str("<section id=\"details\">\n<h2>Per mitigation</h2>\n");
        for (i, m) in result.mitigations.iter().enumerate() {
            body.push_str(&detail::mitigation(i, m));
        }
        body.push_str("</section>\n");
    }
    page::document(&result.scenario, &body)
}
