//! Reading a run back from its JSON (`meshsim report`, `meshsim diff`).
//!
//! A path may be a run's JSON file, a run directory (its `result.json`), or
//! a scenario directory or its `latest` file (the run `latest` names).

use std::fs;
use std::path::{Path, PathBuf};

use meshsim_core::RunResult;

use crate::error::ReportError;
use crate::format::Format;
use crate::run_dir::LATEST;

/// A run read back from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRun {
    /// The run.
    pub result: RunResult,
    /// The JSON file it was read from.
    pub json: PathBuf,
}

impl LoadedRun {
    /// The directory the JSON file is in: where `meshsim report` writes.
    pub fn dir(&self) -> &Path {
        self.json.parent().unwrap_or(Path::new("."))
    }
}

/// The JSON file `path` stands for: `path` itself when it is a file other
/// than `latest`; `<path>/result.json` for a run directory; the run a
/// `latest` file names (`<scenario dir>/latest`, or a scenario directory
/// holding one).
///
/// # Errors
///
/// [`ReportError::Read`] when nothing is there or `latest` cannot be read.
pub fn resolve(path: &Path) -> Result<PathBuf, ReportError> {
    let read_err = |path: &Path, source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(|e| read_err(path, e))?;
    let latest = if meta.is_dir() {
        let json = path.join(Format::Json.file_name());
        if json.exists() || !path.join(LATEST).is_file() {
            return Ok(json);
        }
        path.join(LATEST)
    } else if path.file_name().is_some_and(|n| n == LATEST) {
        path.to_path_buf()
    } else {
        return Ok(path.to_path_buf());
    };
    let name = fs::read_to_string(&latest).map_err(|e| read_err(&latest, e))?;
    // A run id is a plain file name: `latest` never leads out of its directory.
    let id = crate::run_dir::RunId::parse(name.trim())?;
    let dir = latest.parent().unwrap_or(Path::new(".")).join(id.as_str());
    Ok(dir.join(Format::Json.file_name()))
}

/// Reads and checks the run `path` stands for (see [`resolve`]).
///
/// # Errors
///
/// [`ReportError::Read`] when the file cannot be read,
/// [`ReportError::BadJson`] (file, line, column) when it is not a
/// `RunResult`, [`ReportError::SchemaVersion`] when its `schema_version` is
/// not `schema_version`.
pub fn read_run(path: &Path, schema_version: u32) -> Result<LoadedRun, ReportError> {
    let json = resolve(path)?;
    let text = fs::read_to_string(&json).map_err(|source| ReportError::Read {
        path: json.clone(),
        source,
    })?;
    // The version first: a result of another layout fails on it, not on
    // whatever key moved.
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema_version").and_then(serde_json::Value::as_u64));
    if let Some(found) = version
        && found != u64::from(schema_version)
    {
        return Err(ReportError::SchemaVersion {
            path: json,
            found,
            expected: schema_version,
        });
    }
    let result = serde_json::from_str::<RunResult>(&text).map_err(|e| {
        // serde_json's message ends with the position, which the error states.
        let message = e.to_string();
        let at = format!(" at line {} column {}", e.line(), e.column());
        ReportError::BadJson {
            path: json.clone(),
            line: e.line(),
            column: e.column(),
            message: message.strip_suffix(&at).unwrap_or(&message).to_string(),
        }
    })?;
    Ok(LoadedRun { result, json })
}
