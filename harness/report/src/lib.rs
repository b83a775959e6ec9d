//! Report writers (a [`RunResult`] in, text out), run directories, reading
//! a run back, and comparing two runs.
//!
//! A run's results are rendered as a terminal table (what an SRE reads
//! first), JSON (exactly the `RunResult`, with a published schema in
//! `reports/schema/run-result.schema.json`), Markdown (GitHub tables plus
//! per-mitigation detail), HTML (one self-contained page with hand-written
//! SVG charts) or JUnit XML (one test case per expectation, for CI). Every writer is a pure function of its input: no
//! clock, no randomness, no hash-order iteration, so the same result renders
//! to the same bytes. The I/O is in [`mod@run_dir`] (a run directory per
//! run, every format in it, `latest`; each file written atomically:
//! temporary file, then rename), [`mod@load`] (reading a run's JSON back)
//! and [`write_all`] (the flat `<dir>/<scenario>.<ext>` layout, for
//! embedders; the CLI writes run directories).
//!
//! Modules:
//! - [`mod@format`] holds [`Format`], parsed from `table` / `json` / `markdown` / `md` /
//!   `html` / `junit` / `xml`;
//! - [`mod@table`], [`mod@json`], [`mod@markdown`], [`mod@html`] (its own
//!   submodules: page and style, table, charts, detail) and [`mod@junit`]
//!   hold one writer each;
//! - [`mod@write`] holds [`write_all`], one file per scenario and format;
//! - [`mod@run_dir`] holds run directories (`<root>/<scenario>/<run-id>/`,
//!   one fixed file name per format, and the `latest` pointer);
//! - [`mod@load`] reads a run back from its JSON ([`read_run`]);
//! - [`mod@schema`] holds the published JSON Schema and its checker;
//! - [`mod@diff`] compares two runs mitigation by mitigation (`meshsim diff`);
//! - [`error`] holds [`ReportError`];
//! - internal: `access_log` (the sampled access-log lines of each sidecar
//!   hop: all of them in Markdown, the failures of failing mitigations on the
//!   terminal), `middlebox` (each middlebox's counters and event log:
//!   counters and events in Markdown, one counters line per box on the
//!   terminal), `pod` (each lifecycle pod's start-up, termination and
//!   completion figures with the app's start-up delay against the first
//!   mitigation, and its event log in Markdown), `overview` (the run's identity, timeline and mitigation
//!   comparison shared by table and Markdown, relative to the first
//!   mitigation as baseline), `grid` (aligned text and Markdown tables),
//!   `figure` (how a percentage, a latency or an offset is written).
//!
//! # Output contract
//!
//! - JSON keys and types are the schema's; `schema_version` says which
//!   layout. Numbers are as measured (rates are ratios, `0.0274`, latencies in
//!   milliseconds, times in seconds from the start of the run).
//! - Table, Markdown and HTML are for people and may change between versions:
//!   parse the JSON instead (HTML's `data-chart` / `data-mitigation` hooks
//!   are stable, see [`mod@html`]). JUnit's layout (suite per mitigation,
//!   case per expectation) is stable; its failure messages are for people. Error rates print as percentages with two decimals,
//!   latencies in milliseconds with two decimals, attempts per request as
//!   `1.03x`, offsets from the start of the run as `5m`, `6m0.2s`, error kinds
//!   as `503 UF,URX ×12`. The `vs <baseline>` column is the relative change
//!   of the error rate against the first mitigation (`-99.2%`).
//!
//! ```
//! use meshsim_core::{RunMode, RunResult};
//! use meshsim_report::{render, Format};
//!
//! let result = RunResult {
//!     schema_version: 1,
//!     scenario: "demo".into(),
//!     summary: "nothing happens".into(),
//!     seed: 7,
//!     mode: RunMode::Sim,
//!     time_scale: None,
//!     duration_s: 90.0,
//!     events: vec![],
//!     mitigations: vec![],
//!     partial: false,
//! };
//! let format: Format = "table".parse().unwrap();
//! let text = render(&result, format);
//! assert!(text.starts_with("demo (seed 7, sim, 1m30s): nothing happens\n"));
//! let back: RunResult = serde_json::from_str(&render(&result, Format::Json)).unwrap();
//! assert_eq!(back, result);
//! ```
#![deny(missing_docs)]

pub mod diff;
pub mod error;
pub mod format;
pub mod html;
pub mod json;
pub mod junit;
pub mod load;
pub mod markdown;
pub mod run_dir;
pub mod schema;
pub mod table;
pub mod write;

mod access_log;
mod figure;
mod grid;
mod middlebox;
mod overview;
mod pod;
mod probe;

pub use error::ReportError;
pub use format::Format;
pub use html::html;
pub use json::json;
pub use junit::junit;
pub use load::{LoadedRun, read_run};
pub use markdown::markdown;
pub use run_dir::{RunId, create_run_dir, write_latest, write_run};
pub use table::table;
pub use write::write_all;

use meshsim_core::RunResult;

/// Renders `result` in `format`: [`fn@table`], [`fn@json`], [`fn@markdown`],
/// [`fn@html`] or [`fn@junit`].
pub fn render(result: &RunResult, format: Format) -> String {
    match format {
        Format::Table => table(result),
        Format::Json => json(result),
        Format::Markdown => markdown(result),
        Format::Html => html(result),
        Format::Junit => junit(result),
    }
}
