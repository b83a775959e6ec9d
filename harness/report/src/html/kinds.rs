//! Chart c: errors by kind per mitigation, as stacked horizontal bars.
//!
//! Each bar is one mitigation's errors split by kind, as shares of that
//! mitigation's errors (its total is written after the bar): the point is
//! the mix (did retries turn `503 UC` into `503 UF,URX`?), and absolute
//! counts would shrink a good mitigation's bar to nothing; the table and
//! the error-rate chart carry the totals. A kind keeps its colour across
//! mitigations: colours are given in the order kinds first appear, the
//! baseline's most frequent first.

use std::fmt::Write as _;

use meshsim_core::{MitigationResult, RunResult};

use super::chart::{self, Frame, num};
use super::page::{PALETTE, esc, swatch};
use crate::figure;

/// Height of one mitigation's row.
const ROW: f64 = 30.0;

/// Every error kind of the run, each once, in first-seen order.
pub(super) fn kinds(result: &RunResult) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for k in result.mitigations.iter().flat_map(|m| &m.errors_by_kind) {
        if !out.contains(&k.kind.as_str()) {
            out.push(&k.kind);
        }
    }
    out
}

/// The colour of kind number `i` in [`kinds`].
pub(super) fn kind_colour(i: usize) -> String {
    format!("var(--k{})", i % PALETTE)
}

/// The chart and its legend, as a `<figure>`.
pub(super) fn chart(result: &RunResult) -> String {
    let all = kinds(result);
    let frame = Frame {
        width: 1100.0,
        height: 50.0 + ROW * result.mitigations.len().max(1) as f64,
        left: chart::label_margin(result.mitigations.iter().map(|m| m.name.as_str()), 80.0),
        right: 190.0,
        top: 10.0,
        bottom: 40.0,
    };
    let mut svg = chart::svg_open("errors-by-kind", &frame, "errors by kind per mitigation");
    for pct in [0u32, 25, 50, 75, 100] {
        let px = frame.x(f64::from(pct) / 100.0);
        svg.push_str(&chart::x_tick(&frame, px, &format!("{pct}%")));
    }
    svg.push_str(&chart::axes(&frame));
    for (i, m) in result.mitigations.iter().enumerate() {
        let y = frame.y0() + ROW * i as f64 + 6.0;
        svg.push_str(&bar(&frame, &all, y, m));
    }
    svg.push_str(&chart::text(
        (frame.x0() + frame.x1()) / 2.0,
        frame.y1() + 32.0,
        "middle",
        "share of the mitigation's errors (%)",
    ));
    svg.push_str("\n</svg>\n");
    let mut legend = String::from("<ul class=\"legend\">");
    for (i, k) in all.iter().enumerate() {
        let _ = write!(
            legend,
            "<li>{}<code>{}</code></li>",
            swatch(&kind_colour(i)),
            esc(k)
        );
    }
    legend.push_str("</ul>\n");
    format!(
        "<figure id=\"chart-errors-by-kind\">\n<figcaption>Errors by kind per mitigation, as \
         shares of its errors (its total after the bar).</figcaption>\n{svg}{legend}</figure>\n"
    )
}

fn bar(frame: &Frame, all: &[&str], y: f64, m: &MitigationResult) -> String {
    let total: u64 = m.errors_by_kind.iter().map(|k| k.count).sum();
    let mut out = format!(
        "<g class=\"series\" data-chart=\"errors-by-kind\" data-mitigation=\"{}\">{}",
        esc(&m.name),
        chart::text(frame.x0() - 8.0, y + 13.0, "end", &m.name)
    );
    let mut at = 0u64;
    for k in &m.errors_by_kind {
        let i = all.iter().position(|a| *a == k.kind).unwrap_or(0);
        let (x0, x1) = (
            frame.x(at as f64 / total as f64),
            frame.x((at + k.count) as f64 / total as f64),
        );
        at += k.count;
        let _ = write!(
            out,
            "<rect data-kind=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" style=\"fill:{}\">\
             <title>{}: {} ({:.1}% of its errors)</title></rect>",
            esc(&k.kind),
            num(x0),
            num(y),
            num((x1 - x0).max(0.5)),
            kind_colour(i),
            esc(&m.name),
            esc(&figure::kind_count(k)),
            k.count as f64 / total as f64 * 100.0,
        );
    }
    let label = if total == 0 {
        "no error".to_string()
    } else {
        format!("{total} errors ({})", figure::percent(m.error_rate))
    };
    let label_x = if total == 0 {
        frame.x0() + 6.0
    } else {
        frame.x1() + 8.0
    };
    out.push_str(&chart::text(label_x, y + 13.0, "start", &label));
    out.push_str("</g>\n");
    out
}
