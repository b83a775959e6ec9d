//! Run directories: `<root>/<scenario>/<run-id>/`, one file per format.
//!
//! A run id reads `20261123T083015Z-seed1-sim`: the UTC second the invocation
//! started, the seed and the mode, so ids sort by time and say what ran. The
//! leaf directory is created with `create_dir` (never `create_dir_all`): when
//! it exists, `-2`, `-3`... is appended, so two runs never share a directory.
//! Beside the runs, `<root>/<scenario>/latest` is a one-line text file holding
//! the newest run's directory name (a file, not a symlink, for portability),
//! written atomically when a run ends. The timestamp is the only wall-clock
//! value meshsim writes anywhere, and only in a directory name: it is given
//! to [`RunId::new`] by the caller, never read here, and never enters a report.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use meshsim_core::{RunMode, RunResult};

use crate::error::ReportError;
use crate::format::Format;
use crate::write::write_atomic;

/// The file in `<root>/<scenario>/` naming the newest run directory.
pub const LATEST: &str = "latest";

/// How many `-N` suffixes are tried before giving up on a run directory.
const SUFFIX_TRIES: u32 = 1000;

/// A run directory's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    /// `<UTC timestamp>-seed<seed>-<mode>` for an invocation that started
    /// `unix_secs` seconds after the Unix epoch.
    pub fn new(unix_secs: u64, seed: u64, mode: RunMode) -> RunId {
        let mode = match mode {
            RunMode::Sim => "sim",
            RunMode::Real => "real",
        };
        RunId(format!("{}-seed{seed}-{mode}", utc_stamp(unix_secs)))
    }

    /// A run id given by the user (`--run-id`), checked to be a plain file name.
    ///
    /// # Errors
    ///
    /// [`ReportError::BadRunId`] when it is empty, starts with `.`, contains a
    /// path separator, NUL or a control character, or is `latest`.
    pub fn parse(id: &str) -> Result<RunId, ReportError> {
        let bad = |why: &str| {
            Err(ReportError::BadRunId {
                id: id.to_string(),
                why: why.to_string(),
            })
        };
        if id.is_empty() || id.starts_with('.') {
            return bad("it must not be empty or start with a dot");
        }
        if id.contains(['/', '\\']) || id.chars().any(char::is_control) {
            return bad("it must be a plain file name (no /, \\ or control character)");
        }
        if id == LATEST {
            return bad("`latest` names the file pointing at the newest run");
        }
        Ok(RunId(id.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `YYYYMMDDTHHMMSSZ` for `unix_secs` seconds after the Unix epoch, in UTC.
pub fn utc_stamp(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rest = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}Z")
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The entries of `reports/` kept in git, which no scenario's runs may mix
/// with.
const RESERVED: [&str; 3] = ["README.md", "schema", "examples"];

/// Creates a new run directory `<root>/<scenario>/<id>` (or `<id>-2`,
/// `<id>-3`... when taken), creating `root` and the scenario directory as
/// needed, and returns its path.
///
/// # Errors
///
/// [`ReportError::UnsafeScenarioName`] for a scenario name that is not a
/// plain file name; [`ReportError::CreateDir`] on I/O failure or when a
/// thousand suffixes are taken; [`ReportError::ReservedScenarioName`] for
/// a scenario named like a tracked entry of `reports/`.
pub fn create_run_dir(root: &Path, scenario: &str, id: &RunId) -> Result<PathBuf, ReportError> {
    if !crate::write::safe_file_stem(scenario) {
        return Err(ReportError::UnsafeScenarioName {
            scenario: scenario.to_string(),
        });
    }
    if RESERVED.contains(&scenario) {
        return Err(ReportError::ReservedScenarioName {
            scenario: scenario.to_string(),
        });
    }
    let parent = root.join(scenario);
    fs::create_dir_all(&parent).map_err(|source| ReportError::CreateDir {
        dir: parent.clone(),
        source,
    })?;
    for n in 1..=SUFFIX_TRIES {
        let name = if n == 1 {
            id.to_string()
        } else {
            format!("{id}-{n}")
        };
        let dir = parent.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(ReportError::CreateDir { dir, source }),
        }
    }
    Err(ReportError::CreateDir {
        dir: parent.join(id.as_str()),
        source: io::Error::new(
            io::ErrorKind::AlreadyExists,
            "every suffix up to -1000 is taken",
        ),
    })
}

/// Writes `result` into the run directory `dir`, one file per format under
/// its fixed name ([`Format::file_name`]), each atomically; returns the paths
/// in the order of `formats` (a format listed twice is written once).
///
/// # Errors
///
/// [`ReportError::Write`] on I/O failure; files written before it stay.
pub fn write_run(
    result: &RunResult,
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written: Vec<PathBuf> = Vec::new();
    for format in formats {
        let path = dir.join(format.file_name());
        if written.contains(&path) {
            continue;
        }
        write_atomic(&path, crate::render(result, *format).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Points `<run_dir's parent>/latest` at `run_dir`, atomically.
///
/// # Errors
///
/// [`ReportError::Write`] on I/O failure.
pub fn write_latest(run_dir: &Path) -> Result<PathBuf, ReportError> {
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = run_dir.parent().unwrap_or(Path::new("."));
    let path = parent.join(LATEST);
    write_atomic(&path, format!("{name}\n").as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamp_formats_known_instants() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_798_014_615), "20261223T083015Z");
        assert_eq!(utc_stamp(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn run_id_names_timestamp_seed_and_mode() {
        let id = RunId::new(1_798_014_615, 1, RunMode::Sim);
        assert_eq!(id.as_str(), "20261223T083015Z-seed1-sim");
        assert_eq!(
            RunId::new(0, 42, RunMode::Real).to_string(),
            "19700101T000000Z-seed42-real"
        );
    }

    #[test]
    fn user_run_ids_must_be_plain_file_names() {
        assert_eq!(RunId::parse("nightly-42").unwrap().as_str(), "nightly-42");
        for bad in ["", ".", "..", ".hidden", "a/b", "a\\b", "a\nb", "latest"] {
            assert!(
                matches!(RunId::parse(bad), Err(ReportError::BadRunId { .. })),
                "{bad:?} accepted"
            );
        }
    }
}
