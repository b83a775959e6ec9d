//! What every chart shares: the plot frame, linear and log scales, tick
//! choice, coordinate formatting and the `<svg>` element itself.
//!
//! Coordinates are written with one decimal (`{:.1}`), so the same result
//! draws the same bytes and a page stays small.

use std::fmt::Write as _;

use super::page::esc;

/// A chart's size and the margins around its plotting area, in SVG units.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    /// Width of the whole chart.
    pub(super) width: f64,
    /// Height of the whole chart.
    pub(super) height: f64,
    /// Room left of the plot (y labels and title).
    pub(super) left: f64,
    /// Room right of the plot.
    pub(super) right: f64,
    /// Room above the plot.
    pub(super) top: f64,
    /// Room below the plot (x labels, title, marks).
    pub(super) bottom: f64,
}

impl Frame {
    /// The plot's left edge.
    pub(super) fn x0(&self) -> f64 {
        self.left
    }

    /// The plot's right edge.
    pub(super) fn x1(&self) -> f64 {
        self.width - self.right
    }

    /// The plot's top edge.
    pub(super) fn y0(&self) -> f64 {
        self.top
    }

    /// The plot's bottom edge.
    pub(super) fn y1(&self) -> f64 {
        self.height - self.bottom
    }

    /// `unit` in [0, 1] along the x axis, left to right.
    pub(super) fn x(&self, unit: f64) -> f64 {
        self.x0() + unit * (self.x1() - self.x0())
    }

    /// `unit` in [0, 1] along the y axis, bottom to top.
    pub(super) fn y(&self, unit: f64) -> f64 {
        self.y1() - unit * (self.y1() - self.y0())
    }
}

/// How a value maps onto [0, 1] along an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Scale {
    /// `lo` to `hi`, evenly.
    Linear {
        /// The value at 0.
        lo: f64,
        /// The value at 1.
        hi: f64,
    },
    /// Decades `10^lo` to `10^hi`; values at or below `10^lo` sit at 0.
    Log {
        /// The exponent at 0.
        lo: i32,
        /// The exponent at 1.
        hi: i32,
    },
}

impl Scale {
    /// Where `v` sits, clamped to [0, 1]; NaN sits at 0.
    pub(super) fn unit(&self, v: f64) -> f64 {
        let u = match *self {
            Scale::Linear { lo, hi } if hi > lo => (v - lo) / (hi - lo),
            Scale::Linear { .. } => 0.0,
            Scale::Log { lo, hi } if v > 0.0 && hi > lo => {
                (v.log10() - f64::from(lo)) / f64::from(hi - lo)
            }
            Scale::Log { .. } => 0.0,
        };
        if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) }
    }

    /// A log scale covering `lo..=hi` (both positive) in whole decades, at
    /// least one decade wide, exponents within `[min_exp, max_exp]`.
    pub(super) fn log_covering(lo: f64, hi: f64, min_exp: i32, max_exp: i32) -> Scale {
        let exp = |v: f64, f: fn(f64) -> f64| {
            if v > 0.0 && v.is_finite() {
                (f(v.log10()) as i32).clamp(min_exp, max_exp)
            } else {
                min_exp
            }
        };
        let lo = exp(lo, f64::floor);
        let hi = exp(hi, f64::ceil).max(lo + 1);
        Scale::Log {
            lo: lo.min(hi - 1),
            hi,
        }
    }
}

/// Room left of a plot for row labels as long as the longest of `names`
/// (about 6.5 units per character at 11 px), between `min` and 260.
pub(super) fn label_margin<'a>(names: impl Iterator<Item = &'a str>, min: f64) -> f64 {
    let longest = names.map(|n| n.chars().count()).max().unwrap_or(0);
    (16.0 + 6.5 * longest as f64).clamp(min, 260.0)
}

/// A coordinate with one decimal.
pub(super) fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    // `-0.0` would print as `-0.0`.
    format!("{:.1}", v + 0.0)
}

/// The opening `<svg>` of chart `chart` (its `data-chart`), with an
/// accessible label; the caller closes it with `</svg>`.
pub(super) fn svg_open(chart: &str, frame: &Frame, label: &str) -> String {
    format!(
        "<svg class=\"chart\" data-chart=\"{chart}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"{}\">\n",
        esc(label),
        w = num(frame.width),
        h = num(frame.height),
    )
}

/// A text element at (x, y) with an anchor (`start`, `middle`, `end`).
pub(super) fn text(x: f64, y: f64, anchor: &str, content: &str) -> String {
    format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
        num(x),
        num(y),
        esc(content)
    )
}

/// The axis titles: `x` under the plot, `y` (unless empty) rotated left of it.
pub(super) fn axis_titles(frame: &Frame, x: &str, y: &str, x_title_y: f64) -> String {
    let mid_y = (frame.y0() + frame.y1()) / 2.0;
    if y.is_empty() {
        return format!(
            "{}\n",
            text((frame.x0() + frame.x1()) / 2.0, x_title_y, "middle", x)
        );
    }
    format!(
        "{}\n<text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>\n",
        text((frame.x0() + frame.x1()) / 2.0, x_title_y, "middle", x),
        num(mid_y),
        num(mid_y),
        esc(y)
    )
}

/// A horizontal grid line at `y` with its label left of the plot.
pub(super) fn y_tick(frame: &Frame, y: f64, label: &str) -> String {
    format!(
        "<line class=\"gridline\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>{}\n",
        num(frame.x0()),
        num(frame.x1()),
        text(frame.x0() - 6.0, y + 4.0, "end", label),
        y = num(y),
    )
}

/// A vertical grid line at `x` with its label under the plot.
pub(super) fn x_tick(frame: &Frame, x: f64, label: &str) -> String {
    format!(
        "<line class=\"gridline\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>{}\n",
        num(frame.y0()),
        num(frame.y1()),
        text(x, frame.y1() + 14.0, "middle", label),
        x = num(x),
    )
}

/// The two axis lines along the plot's left and bottom edges.
pub(super) fn axes(frame: &Frame) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y1}\"/>\
         <line class=\"axis\" x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\"/>",
        x0 = num(frame.x0()),
        x1 = num(frame.x1()),
        y0 = num(frame.y0()),
        y1 = num(frame.y1()),
    );
    out
}

/// Tick positions in seconds for a time axis of `span` seconds: a round
/// step giving at most ten ticks, starting at 0.
pub(super) fn time_ticks(span: f64) -> Vec<f64> {
    const STEPS: [f64; 14] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ];
    if !(span > 0.0 && span.is_finite()) {
        return vec![0.0];
    }
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 10.0)
        .unwrap_or_else(|| (span / 10.0).ceil());
    let n = (span / step).floor() as u64;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// Seconds as `m:ss` (`5:00`, `0:30`), or `h:mm:ss` from an hour.
pub(super) fn clock(secs: f64) -> String {
    let total = if secs.is_finite() && secs > 0.0 {
        secs.round() as u64
    } else {
        0
    };
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A ratio as a percentage with only the decimals it needs: `0.0001` is
/// `0.01%`, `1.0` is `100%` (for axis labels of decades).
pub(super) fn decade_percent(exp: i32) -> String {
    let pct_exp = exp + 2;
    if pct_exp >= 0 {
        format!("{}%", 10u64.pow(pct_exp.unsigned_abs()))
    } else {
        format!(
            "{:.*}%",
            pct_exp.unsigned_abs() as usize,
            10f64.powi(pct_exp)
        )
    }
}

/// Milliseconds of a decade for axis labels: `0.1 ms`, `10 ms`, `1 s`.
pub(super) fn decade_millis(exp: i32) -> String {
    if exp >= 3 {
        format!("{} s", 10u64.pow((exp - 3).unsigned_abs()))
    } else if exp >= 0 {
        format!("{} ms", 10u64.pow(exp.unsigned_abs()))
    } else {
        format!("{:.*} ms", exp.unsigned_abs() as usize, 10f64.powi(exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_puts_decades_evenly_and_clamps_zero_to_the_bottom() {
        let s = Scale::Log { lo: -4, hi: 0 };
        assert_eq!(s.unit(1.0), 1.0);
        assert_eq!(s.unit(0.01), 0.5);
        assert_eq!(s.unit(0.0), 0.0);
        assert_eq!(s.unit(f64::NAN), 0.0);
    }

    #[test]
    fn log_covering_spans_whole_decades_within_bounds() {
        assert_eq!(
            Scale::log_covering(0.0002, 0.64, -6, 0),
            Scale::Log { lo: -4, hi: 0 }
        );
        assert_eq!(
            Scale::log_covering(0.0, 0.0, -4, 0),
            Scale::Log { lo: -4, hi: -3 }
        );
    }

    #[test]
    fn time_ticks_use_a_round_step_and_clock_labels_read_min_sec() {
        assert_eq!(time_ticks(900.0).len(), 8);
        assert_eq!(time_ticks(900.0)[1], 120.0);
        assert_eq!(clock(300.0), "5:00");
        assert_eq!(clock(3725.0), "1:02:05");
    }

    #[test]
    fn decade_labels_read_as_percent_and_milliseconds() {
        assert_eq!(decade_percent(-4), "0.01%");
        assert_eq!(decade_percent(0), "100%");
        assert_eq!(decade_percent(-2), "1%");
        assert_eq!(decade_millis(-1), "0.1 ms");
        assert_eq!(decade_millis(2), "100 ms");
        assert_eq!(decade_millis(4), "10 s");
    }

    #[test]
    fn coordinates_have_one_decimal_and_no_negative_zero() {
        assert_eq!(num(1.25), "1.2");
        assert_eq!(num(-0.0), "0.0");
        assert_eq!(num(f64::INFINITY), "0.0");
    }
}
