//! Chart a: the error rate over time, one line per mitigation, with the
//! timeline's events and the middleboxes' events marked.
//!
//! # Scale
//!
//! One incident puts 64 % and 0.01 % side by side (no mitigation against
//! retries), and the reader wants both: how bad the baseline got, and
//! whether the mitigation left anything. A linear axis flattens the second
//! to the floor; so the overlay uses a log axis in whole decades, from the
//! decade of the smallest non-zero rate (never finer than 0.0001 %) to the
//! decade of the largest (at most 100 %). Log has no zero, so buckets with no
//! error sit on their own `0` line under the lowest decade: "no error" stays
//! distinct from "a few". Because log axes also mislead (a tenfold drop looks
//! as big at 0.1 % as at 10 %), a second chart gives each mitigation its own
//! row on a linear axis up to its own peak ([`linear_rows`]).
//!
//! # Marks
//!
//! Timeline events are numbered dashed lines (the numbers of the timeline
//! table). Middlebox events can number thousands, so they are counted per
//! slot (a hundredth of the run) and drawn as one tick per slot in a lane per
//! mitigation under the time axis, the counts by box and event in the tick's
//! `<title>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use meshsim_core::{MitigationResult, RunResult, TimeBucket};

use super::chart::{self, Frame, Scale, num};
use super::page::{esc, mitigation_colour, swatch};
use crate::figure;

/// Slots the middlebox marks are counted in, over the run.
const MARK_SLOTS: f64 = 100.0;
/// Height of one mitigation's lane of middlebox marks.
const LANE: f64 = 10.0;
/// Room between the lowest decade and the `0` line.
const ZERO_GAP: f64 = 18.0;
/// The most points a series draws with a tooltip each.
const MAX_POINTS: usize = 300;

/// The run's time span and bucket width, in seconds.
fn span(result: &RunResult) -> (f64, f64) {
    let width = result
        .mitigations
        .iter()
        .find_map(|m| match m.timeseries.as_slice() {
            [a, b, ..] => Some(b.start_s - a.start_s),
            _ => None,
        })
        .unwrap_or(result.duration_s);
    let end = result
        .mitigations
        .iter()
        .filter_map(|m| m.timeseries.last())
        .map(|b| b.start_s + width)
        .fold(result.duration_s, f64::max);
    (end.max(1.0), width.max(0.001))
}

fn rate(b: &TimeBucket) -> Option<f64> {
    (b.requests > 0).then(|| b.errors as f64 / b.requests as f64)
}

/// The log axis covering every non-zero bucket rate of the run.
fn y_scale(result: &RunResult) -> Scale {
    let rates = result
        .mitigations
        .iter()
        .flat_map(|m| m.timeseries.iter().filter_map(rate))
        .filter(|r| *r > 0.0);
    let (lo, hi) = rates.fold((f64::INFINITY, 0.0_f64), |(lo, hi), r| {
        (lo.min(r), hi.max(r))
    });
    Scale::log_covering(lo, hi, -6, 0)
}

/// The y coordinate of a rate: the log axis, or the `0` line for zero.
fn y_of(frame: &Frame, scale: &Scale, rate: f64) -> f64 {
    if rate <= 0.0 {
        return frame.y1();
    }
    let top = frame.y0();
    let bottom = frame.y1() - ZERO_GAP;
    bottom - scale.unit(rate) * (bottom - top)
}

/// The overlay chart with its legend, as a `<figure>`.
pub(super) fn chart(result: &RunResult) -> String {
    let lanes = result
        .mitigations
        .iter()
        .filter(|m| m.middleboxes.iter().any(|b| !b.events.is_empty()))
        .count();
    let frame = Frame {
        width: 1100.0,
        height: 340.0 + lanes as f64 * LANE,
        left: chart::label_margin(result.mitigations.iter().map(|m| m.name.as_str()), 80.0),
        right: 20.0,
        top: 34.0,
        bottom: 56.0 + lanes as f64 * LANE,
    };
    let (end, width) = span(result);
    let x = Scale::Linear { lo: 0.0, hi: end };
    let y = y_scale(result);
    let mut svg = chart::svg_open("error-rate", &frame, "error rate over time per mitigation");
    svg.push_str(&y_axis(&frame, &y));
    for t in chart::time_ticks(end) {
        svg.push_str(&chart::x_tick(&frame, frame.x(x.unit(t)), &chart::clock(t)));
    }
    svg.push_str(&chart::axes(&frame));
    for (i, m) in result.mitigations.iter().enumerate() {
        svg.push_str(&series(&frame, &x, &y, width, i, m));
    }
    svg.push_str(&timeline_marks(result, &frame, &x));
    svg.push_str(&middlebox_marks(result, &frame, &x, end));
    svg.push_str(&chart::axis_titles(
        &frame,
        "scenario time (min:s)",
        "error rate (% of requests, log)",
        frame.y1() + 32.0,
    ));
    svg.push_str("</svg>\n");
    format!(
        "<figure id=\"chart-error-rate\">\n<figcaption>Error rate per time bucket of {} \
         (requests by scheduled start), log scale; buckets without error on the 0 line. \
         Dashed lines: timeline events (numbers as in the timeline); ticks under the time axis: \
         middlebox events, counted per slot (hover for counts).</figcaption>\n{svg}{}</figure>\n",
        esc(&figure::at(width)),
        legend(result)
    )
}

fn y_axis(frame: &Frame, y: &Scale) -> String {
    let mut out = String::new();
    if let Scale::Log { lo, hi } = *y {
        for exp in lo..=hi {
            let v = 10f64.powi(exp);
            out.push_str(&chart::y_tick(
                frame,
                y_of(frame, y, v),
                &chart::decade_percent(exp),
            ));
        }
    }
    out.push_str(&chart::y_tick(frame, frame.y1(), "0"));
    out
}

/// One mitigation's line: a path broken where a bucket had no request, and
/// a point with a tooltip per bucket (when there are not too many).
fn series(
    frame: &Frame,
    x: &Scale,
    y: &Scale,
    width: f64,
    i: usize,
    m: &MitigationResult,
) -> String {
    let colour = mitigation_colour(i);
    let mut d = String::new();
    let mut points = String::new();
    let mut pen_down = false;
    for b in &m.timeseries {
        let Some(r) = rate(b) else {
            pen_down = false;
            continue;
        };
        let (px, py) = (frame.x(x.unit(b.start_s + width / 2.0)), y_of(frame, y, r));
        let _ = write!(
            d,
            "{}{} {} ",
            if pen_down { "L" } else { "M" },
            num(px),
            num(py)
        );
        pen_down = true;
        if m.timeseries.len() <= MAX_POINTS {
            let _ = write!(
                points,
                "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\"><title>{} at {}: {} ({} of {})</title></circle>",
                num(px),
                num(py),
                esc(&m.name),
                esc(&figure::at(b.start_s)),
                figure::percent(r),
                b.errors,
                b.requests
            );
        }
    }
    format!(
        "<g class=\"series\" data-chart=\"error-rate\" data-mitigation=\"{name}\" \
         style=\"stroke:{colour};fill:{colour}\"><title>{name}: {} overall</title>\
         <path d=\"{}\" fill=\"none\" stroke-width=\"2\"/>{points}</g>\n",
        figure::percent(m.error_rate),
        d.trim_end(),
        name = esc(&m.name),
    )
}

/// Numbered dashed lines; a number too close to the previous one goes one
/// line higher so both stay readable.
fn timeline_marks(result: &RunResult, frame: &Frame, x: &Scale) -> String {
    let mut out = String::new();
    let (mut last_x, mut level) = (f64::NEG_INFINITY, 0.0);
    for (i, e) in result.events.iter().enumerate() {
        let at = frame.x(x.unit(e.at_s));
        level = if at - last_x < 14.0 && level == 0.0 {
            1.0
        } else {
            0.0
        };
        last_x = at;
        let px = num(at);
        let _ = writeln!(
            out,
            "<g class=\"timeline-mark\" data-event=\"{n}\"><title>{n}. {}: {}</title>\
             <line class=\"event\" x1=\"{px}\" y1=\"{}\" x2=\"{px}\" y2=\"{}\"/>{}</g>",
            esc(&figure::at(e.at_s)),
            esc(&e.what),
            num(frame.y0()),
            num(frame.y1()),
            chart::text(
                at,
                frame.y0() - 6.0 - 12.0 * level,
                "middle",
                &(i + 1).to_string()
            ),
            n = i + 1,
        );
    }
    out
}

/// Per mitigation with logged middlebox events, a lane of ticks, one per
/// slot with events, counted by box and event.
fn middlebox_marks(result: &RunResult, frame: &Frame, x: &Scale, end: f64) -> String {
    let slot = end / MARK_SLOTS;
    let mut out = String::new();
    let mut lane = 0.0;
    for (i, m) in result.mitigations.iter().enumerate() {
        let mut slots: BTreeMap<u64, BTreeMap<(usize, &str), u64>> = BTreeMap::new();
        for (bi, b) in m.middleboxes.iter().enumerate() {
            for e in &b.events {
                let s = (e.at_s / slot).floor().max(0.0) as u64;
                *slots
                    .entry(s)
                    .or_default()
                    .entry((bi, &e.event))
                    .or_default() += 1;
            }
        }
        if slots.is_empty() {
            continue;
        }
        let y = frame.y1() + 44.0 + lane * LANE;
        lane += 1.0;
        let _ = write!(
            out,
            "<g class=\"middlebox-marks\" data-mitigation=\"{}\" style=\"stroke:{}\">{}",
            esc(&m.name),
            mitigation_colour(i),
            chart::text(frame.x0() - 6.0, y + 4.0, "end", &m.name)
        );
        for (s, counts) in &slots {
            let parts: Vec<String> = counts
                .iter()
                .map(|((bi, ev), n)| format!("{} {} ×{n}", m.middleboxes[*bi].name, ev))
                .collect();
            let px = num(frame.x(x.unit((*s as f64 + 0.5) * slot)));
            let _ = write!(
                out,
                "<line x1=\"{px}\" y1=\"{}\" x2=\"{px}\" y2=\"{}\" stroke-width=\"2\">\
                 <title>{} from {}: {}</title></line>",
                num(y - 3.0),
                num(y + 3.0),
                esc(&m.name),
                esc(&figure::at(*s as f64 * slot)),
                esc(&parts.join(", "))
            );
        }
        out.push_str("</g>\n");
    }
    out
}

/// The mitigations' colours, as an HTML list.
pub(super) fn legend(result: &RunResult) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for (i, m) in result.mitigations.iter().enumerate() {
        let _ = write!(
            out,
            "<li>{}{}</li>",
            swatch(&mitigation_colour(i)),
            esc(&m.name)
        );
    }
    out.push_str("</ul>\n");
    out
}

/// The small multiples: one row per mitigation, linear from 0 to its own
/// peak rate, so each line's shape reads without the log axis.
pub(super) fn linear_rows(result: &RunResult) -> String {
    const ROW: f64 = 56.0;
    let (end, width) = span(result);
    let x = Scale::Linear { lo: 0.0, hi: end };
    let total = Frame {
        width: 1100.0,
        height: 36.0 + ROW * result.mitigations.len().max(1) as f64,
        left: chart::label_margin(result.mitigations.iter().map(|m| m.name.as_str()), 80.0),
        right: 20.0,
        top: 8.0,
        bottom: 28.0,
    };
    let mut svg = chart::svg_open(
        "error-rate-linear",
        &total,
        "error rate over time, one row per mitigation, linear",
    );
    for t in chart::time_ticks(end) {
        svg.push_str(&chart::x_tick(&total, total.x(x.unit(t)), &chart::clock(t)));
    }
    for (i, m) in result.mitigations.iter().enumerate() {
        let row = Frame {
            top: total.top + ROW * i as f64 + 14.0,
            bottom: total.height - total.top - ROW * (i as f64 + 1.0) + 2.0,
            ..total
        };
        svg.push_str(&linear_row(&row, &x, width, i, m));
    }
    svg.push_str("</svg>\n");
    format!(
        "<figure id=\"chart-error-rate-linear\">\n<figcaption>The same rates, one row per \
         mitigation, each on a linear axis from 0 to its own peak (labelled).</figcaption>\n{svg}</figure>\n"
    )
}

fn linear_row(row: &Frame, x: &Scale, width: f64, i: usize, m: &MitigationResult) -> String {
    let peak = m.timeseries.iter().filter_map(rate).fold(0.0, f64::max);
    let y = Scale::Linear { lo: 0.0, hi: peak };
    let mut d = format!("M{} {} ", num(row.x0()), num(row.y1()));
    for b in &m.timeseries {
        let r = rate(b).unwrap_or(0.0);
        let _ = write!(
            d,
            "L{} {} ",
            num(row.x(x.unit(b.start_s + width / 2.0))),
            num(row.y(y.unit(r)))
        );
    }
    let _ = write!(d, "L{} {} Z", num(row.x1()), num(row.y1()));
    format!(
        "<g class=\"series\" data-chart=\"error-rate-linear\" data-mitigation=\"{name}\" \
         style=\"stroke:{c};fill:{c}\"><title>{name}: peak {}</title>\
         <line class=\"axis\" x1=\"{}\" y1=\"{y1}\" x2=\"{}\" y2=\"{y1}\"/>\
         <path d=\"{d}\" fill-opacity=\"0.25\" stroke-width=\"1.5\"/>{}{}</g>\n",
        figure::percent(peak),
        num(row.x0()),
        num(row.x1()),
        chart::text(row.x0() - 6.0, row.y1(), "end", &m.name),
        chart::text(
            row.x0() + 4.0,
            row.y0() - 2.0,
            "start",
            &format!("peak {}", figure::percent(peak))
        ),
        c = mitigation_colour(i),
        name = esc(&m.name),
        y1 = num(row.y1()),
    )
}
