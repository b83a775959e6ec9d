//! Chart b: latency percentiles per mitigation, one row each, on a log axis
//! in milliseconds: a line from p50 to max with a marker per percentile.
//!
//! A log axis, because tails are what a mitigation moves: p50 at 1 ms and
//! max at 30 s belong on one chart, and a linear axis would put every p50
//! on the left edge.

use std::fmt::Write as _;

use meshsim_core::{LatencySummary, MitigationResult, RunResult};

use super::chart::{self, Frame, Scale, num};
use super::page::{esc, mitigation_colour};
use crate::figure;

/// Height of one mitigation's row.
const ROW: f64 = 34.0;

/// The percentiles drawn, with their names and marker shapes.
fn points(l: &LatencySummary) -> [(&'static str, f64, Marker); 5] {
    [
        ("p50", l.p50, Marker::Circle),
        ("p90", l.p90, Marker::Circle),
        ("p99", l.p99, Marker::Square),
        ("p99.9", l.p999, Marker::Square),
        ("max", l.max, Marker::Bar),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Bar,
}

/// The chart as a `<figure>`.
pub(super) fn chart(result: &RunResult) -> String {
    let n = result.mitigations.len().max(1) as f64;
    let frame = Frame {
        width: 1100.0,
        height: 70.0 + ROW * n,
        left: chart::label_margin(result.mitigations.iter().map(|m| m.name.as_str()), 80.0),
        right: 30.0,
        top: 10.0,
        bottom: 52.0,
    };
    let (lo, hi) = result
        .mitigations
        .iter()
        .flat_map(|m| points(&m.latency_ms).map(|p| p.1))
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let x = Scale::log_covering(lo, hi, -3, 7);
    let mut svg = chart::svg_open("latency", &frame, "latency percentiles per mitigation");
    if let Scale::Log { lo, hi } = x {
        for exp in lo..=hi {
            let px = frame.x(x.unit(10f64.powi(exp)));
            svg.push_str(&chart::x_tick(&frame, px, &chart::decade_millis(exp)));
        }
    }
    svg.push_str(&chart::axes(&frame));
    for (i, m) in result.mitigations.iter().enumerate() {
        let y = frame.y0() + ROW * (i as f64 + 0.5);
        svg.push_str(&series(&frame, &x, y, i, m));
    }
    svg.push_str(&chart::axis_titles(
        &frame,
        "latency from the scheduled start (ms, log)",
        "",
        frame.y1() + 34.0,
    ));
    svg.push_str("</svg>\n");
    format!(
        "<figure id=\"chart-latency\">\n<figcaption>Latency percentiles per mitigation, log \
         scale: ● p50 and p90, ■ p99 and p99.9, | max (hover for values).</figcaption>\n{svg}</figure>\n"
    )
}

fn series(frame: &Frame, x: &Scale, y: f64, i: usize, m: &MitigationResult) -> String {
    let l = &m.latency_ms;
    let px = |v: f64| frame.x(x.unit(v));
    let mut out = format!(
        "<g class=\"series\" data-chart=\"latency\" data-mitigation=\"{name}\" \
         style=\"stroke:{c};fill:{c}\"><title>{name}: p50 {} ms, p99 {} ms, max {} ms</title>{}\
         <line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke-width=\"2\"/>",
        figure::millis(l.p50),
        figure::millis(l.p99),
        figure::millis(l.max),
        chart::text(frame.x0() - 8.0, y + 4.0, "end", &m.name),
        num(px(l.p50)),
        num(px(l.max)),
        c = mitigation_colour(i),
        name = esc(&m.name),
        y = num(y),
    );
    for (label, v, marker) in points(l) {
        let (cx, title) = (
            px(v),
            format!("{} {label}: {} ms", m.name, figure::millis(v)),
        );
        let shape = match marker {
            Marker::Circle => format!("<circle cx=\"{}\" cy=\"{}\" r=\"5\"", num(cx), num(y)),
            Marker::Square => format!(
                "<rect x=\"{}\" y=\"{}\" width=\"9\" height=\"9\"",
                num(cx - 4.5),
                num(y - 4.5)
            ),
            Marker::Bar => format!(
                "<rect x=\"{}\" y=\"{}\" width=\"3\" height=\"18\"",
                num(cx - 1.5),
                num(y - 9.0)
            ),
        };
        let _ = write!(
            out,
            "{shape} data-percentile=\"{label}\"><title>{}</title>{}",
            esc(&title),
            match marker {
                Marker::Circle => "</circle>",
                Marker::Square | Marker::Bar => "</rect>",
            }
        );
    }
    out.push_str("</g>\n");
    out
}
