//! `meshsim diff OLD NEW`: two runs compared mitigation by mitigation
//! (`meshsim_report::diff`); exit 1 when one got worse beyond the thresholds.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use meshsim_report::diff::{self, Thresholds};

/// How `diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DiffFormat {
    /// Aligned text: old -> new per mitigation, the changes, the conclusion.
    Table,
    /// The same as GitHub Markdown, for a pull request comment.
    Markdown,
    /// The comparison as JSON (verdicts, figures, changes, thresholds).
    Json,
}

/// `meshsim diff`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// The reference run: a `result.json`, a run directory, or
    /// `reports/<scenario>` / its `latest` file.
    old: PathBuf,
    /// The run to judge, given the same way.
    new: PathBuf,
    /// A tolerance, KEY=VALUE (repeatable): `error-rate=0.1` (percentage
    /// points), `error-rate-rel=10%`, `p99=10%`, `p99-ms=1`, `attempts=5%`
    /// (the defaults). An error rate is worse only when it rose beyond
    /// both of its thresholds, p99 likewise; an expectation that held and
    /// now fails is always worse; a mitigation that is gone is worse.
    #[arg(long = "threshold", value_name = "KEY=VALUE")]
    thresholds: Vec<String>,
    /// What to print: table, markdown or json.
    #[arg(long, value_enum, default_value = "table")]
    format: DiffFormat,
}

/// Compares; `Ok(true)` when a mitigation got worse or is gone.
pub(crate) fn run(args: DiffArgs) -> Result<bool> {
    let mut thresholds = Thresholds::default();
    for t in &args.thresholds {
        thresholds.set(t)?;
    }
    let version = meshsim_engine::run::SCHEMA_VERSION;
    let old = meshsim_report::read_run(&args.old, version)?;
    let new = meshsim_report::read_run(&args.new, version)?;
    let d = diff::compare(&old.result, &new.result, &thresholds);
    let text = match args.format {
        DiffFormat::Table => diff::table(&d),
        DiffFormat::Markdown => diff::markdown(&d),
        DiffFormat::Json => diff::json(&d),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(d.regressed())
}
