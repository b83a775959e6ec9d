//! The page around the report: the document, its inline style sheet (light
//! and dark through `prefers-color-scheme`, colours as CSS variables the
//! SVG charts use), the header, the timeline, and HTML escaping.

use std::fmt::Write as _;

use meshsim_core::RunResult;

use crate::figure;
use crate::overview;

/// How many distinct colours the mitigation and error-kind palettes hold;
/// the next one starts over.
pub(super) const PALETTE: usize = 8;

/// The style sheet: system font stacks only (nothing to fetch), colours as
/// variables so the inline SVG follows the reader's colour scheme.
///
/// Mitigation colours (`--m0`..) start from the Okabe-Ito colour-blind-safe
/// set (blue, vermillion, green, pink, then gold, purple, brown, slate, each
/// far from its neighbours), darker on light and lighter on dark so each
/// keeps its contrast; error
/// kinds (`--k0`..) are mid-tone colours that read on both backgrounds.
const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1f2328;--muted:#59636e;--grid:#d0d7de;--panel:#f6f8fa;\
--ok:#1a7f37;--fail:#cf222e;--warn-bg:#fff8c5;--warn-fg:#6a4b00;\
--m0:#0072b2;--m1:#d55e00;--m2:#009e73;--m3:#cc79a7;--m4:#b8860b;--m5:#6a3d9a;--m6:#8b4513;--m7:#4d6b73;\
--k0:#4e79a7;--k1:#f28e2b;--k2:#e15759;--k3:#76b7b2;--k4:#59a14f;--k5:#edc948;--k6:#b07aa1;--k7:#9c755f}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--grid:#3d444d;--panel:#161b22;\
--ok:#3fb950;--fail:#f85149;--warn-bg:#3b2e00;--warn-fg:#f2cc60;\
--m0:#56b4e9;--m1:#ff8c42;--m2:#3fd0a0;--m3:#e69ad0;--m4:#f0c040;--m5:#b9a3e3;--m6:#d2a679;--m7:#a3c4cc}}
body{background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:1.6em;margin:.2em 0}h2{border-bottom:1px solid var(--grid);padding-bottom:.2em;margin-top:1.6em}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{background:var(--panel);padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid var(--grid);padding:3px 7px;vertical-align:top}
th{background:var(--panel);text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}.pass{color:var(--ok)}.fail{color:var(--fail);font-weight:600}
.banner{background:var(--warn-bg);color:var(--warn-fg);border:1px solid var(--warn-fg);padding:8px 12px;font-weight:600}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:-.1em;margin-right:.3em}
ul.legend{list-style:none;padding:0;margin:.3em 0;display:flex;flex-wrap:wrap;gap:4px 16px}
figure{margin:1em 0}figcaption{color:var(--muted);margin-bottom:.3em}
svg{max-width:100%;height:auto;font-family:system-ui,sans-serif}
svg text{fill:var(--fg);stroke:none;font-size:11px}svg .axis{stroke:var(--muted);stroke-width:1}
svg .gridline{stroke:var(--grid);stroke-width:1}svg .event{stroke:var(--muted);stroke-width:1;stroke-dasharray:4 3}
details>summary{cursor:pointer}dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
";

/// Text safe as HTML content and inside a quoted attribute.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colour of mitigation `i` (its position in the run), as a CSS value.
pub(super) fn mitigation_colour(i: usize) -> String {
    format!("var(--m{})", i % PALETTE)
}

/// A coloured square for a legend or a table cell.
pub(super) fn swatch(colour: &str) -> String {
    format!("<span class=\"swatch\" style=\"background:{colour}\"></span>")
}

/// The whole document around `body`.
pub(super) fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"meshsim\">\n<title>{} - meshsim report</title>\n\
         <style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

/// Scenario, summary, seed, mode, duration; the time-scale note and the
/// PARTIAL banner when they apply.
pub(super) fn header(result: &RunResult) -> String {
    let mut out = format!(
        "<header>\n<h1>{}</h1>\n<p class=\"summary\">{}</p>\n",
        esc(&result.scenario),
        esc(&result.summary)
    );
    if result.partial {
        out.push_str(
            "<div class=\"banner\" role=\"alert\" id=\"partial\">PARTIAL: the run was stopped \
             before every mitigation finished</div>\n",
        );
    }
    let _ = writeln!(
        out,
        "<dl class=\"meta\"><dt>seed</dt><dd>{}</dd><dt>mode</dt><dd>{}</dd>\
         <dt>duration</dt><dd>{}</dd></dl>",
        result.seed,
        esc(&overview::mode(result)),
        esc(&figure::at(result.duration_s)),
    );
    if let Some(f) = result.time_scale {
        let _ = writeln!(
            out,
            "<p class=\"muted\">Time scaled: one scenario second lasted {} s of wall time; \
             every time here is in scenario units.</p>",
            esc(&f.to_string())
        );
    }
    out.push_str("</header>\n");
    out
}

/// The timeline: each event's offset and what happened, numbered as the
/// charts' markers are.
pub(super) fn timeline(result: &RunResult) -> String {
    let mut out = String::from("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    if result.events.is_empty() {
        out.push_str("<p>No timeline event.</p>\n</section>\n");
        return out;
    }
    out.push_str("<table>\n<tr><th>#</th><th>at</th><th>what</th></tr>\n");
    for (i, e) in result.events.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            i + 1,
            esc(&figure::at(e.at_s)),
            esc(&e.what)
        );
    }
    out.push_str("</table>\n</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_escapes_markup_and_both_quotes() {
        assert_eq!(
            esc("<script>a&b \"c\" 'd'</script>"),
            "&lt;script&gt;a&amp;b &quot;c&quot; &#39;d&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn mitigation_colours_cycle_through_the_palette() {
        assert_eq!(mitigation_colour(0), "var(--m0)");
        assert_eq!(mitigation_colour(PALETTE + 1), "var(--m1)");
    }
}
