//! `meshsim report RUN`: every format of a run re-rendered from its JSON,
//! into the run's directory, without running anything.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use meshsim_report::Format;

/// `meshsim report`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// A run directory (`reports/<scenario>/<run-id>`), its `result.json`,
    /// another run JSON file, or `reports/<scenario>` / its `latest` file
    /// for the newest run.
    run: PathBuf,
    /// Only these formats (repeatable; default: every format).
    #[arg(long = "format")]
    formats: Vec<Format>,
}

/// Reads the run, writes the formats next to its JSON, prints each path.
pub(crate) fn run(args: ReportArgs) -> Result<()> {
    let loaded = meshsim_report::read_run(&args.run, meshsim_engine::run::SCHEMA_VERSION)?;
    let formats = if args.formats.is_empty() {
        Format::all()
    } else {
        &args.formats
    };
    let written = meshsim_report::write_run(&loaded.result, loaded.dir(), formats)?;
    let mut stdout = std::io::stdout().lock();
    for path in written {
        writeln!(stdout, "{}", path.display())?;
    }
    Ok(())
}
