//! Where `meshsim run` writes: one run directory per scenario run,
//! `<out>/<scenario>/<run-id>/`, every format in it, rewritten atomically
//! after every mitigation, and `<out>/<scenario>/latest` naming it once the
//! scenario's run ends (finished or interrupted).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use meshsim_core::RunResult;
use meshsim_report::{Format, RunId};

/// The invocation's output settings, shared by all its scenarios.
#[derive(Debug)]
pub(crate) struct Output {
    root: PathBuf,
    /// `--run-id`, or `None` for `<timestamp>-seed<seed>-<mode>`.
    id: Option<RunId>,
    /// Seconds since the Unix epoch when the invocation started.
    started: u64,
}

impl Output {
    /// Output under `root`, with the user's run id if any.
    pub(crate) fn new(root: &Path, id: Option<&str>) -> Result<Output> {
        let id = id.map(RunId::parse).transpose()?;
        Ok(Output {
            root: root.to_path_buf(),
            id,
            started: unix_now(),
        })
    }

    /// The writer of one scenario's run; its directory is created by the
    /// first write, when the seed and mode are known.
    pub(crate) fn scenario(&self) -> ScenarioOutput<'_> {
        ScenarioOutput {
            output: self,
            dir: None,
        }
    }
}

/// One scenario run's directory.
#[derive(Debug)]
pub(crate) struct ScenarioOutput<'a> {
    output: &'a Output,
    dir: Option<PathBuf>,
}

impl ScenarioOutput<'_> {
    /// Writes every format of `so_far` into the run directory, creating it
    /// at the first call.
    pub(crate) fn write(&mut self, so_far: &RunResult) -> Result<()> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                let o = self.output;
                let id = (o.id.clone())
                    .unwrap_or_else(|| RunId::new(o.started, so_far.seed, so_far.mode));
                let dir = meshsim_report::create_run_dir(&o.root, &so_far.scenario, &id)?;
                self.dir.insert(dir).clone()
            }
        };
        meshsim_report::write_run(so_far, &dir, Format::all())?;
        Ok(())
    }

    /// Points `latest` at this run, if anything was written; returns the
    /// run directory.
    pub(crate) fn finish(&self) -> Result<Option<&Path>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        meshsim_report::write_latest(dir)
            .with_context(|| format!("pointing latest at {}", dir.display()))?;
        Ok(Some(dir))
    }
}

/// Wall-clock seconds since the Unix epoch: only ever part of a run
/// directory's name, never of a report (reports hold no wall-clock value, so
/// the same seed gives the same bytes).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
