//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// Why a report could not be parsed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A format name other than `table`, `json`, `markdown` (`md`), `html`
    /// or `junit` (`xml`).
    #[error(
        "unknown report format {name:?} (expected table, json, markdown (md), html or junit (xml))"
    )]
    UnknownFormat {
        /// The name that was given.
        name: String,
    },
    /// A scenario name that cannot be used as a file name.
    #[error("scenario name {scenario:?} cannot be used as a file name")]
    UnsafeScenarioName {
        /// The scenario's name.
        scenario: String,
    },
    /// A scenario name that is one of the tracked entries of `reports/`.
    #[error(
        "scenario name {scenario:?} is taken by reports/{scenario} (the README, the schema and the examples live there); rename the scenario"
    )]
    ReservedScenarioName {
        /// The scenario's name.
        scenario: String,
    },
    /// Two results would be written to the same file (same scenario and seed).
    #[error("two results would both be written to {path}: same scenario and seed")]
    DuplicateOutput {
        /// The file both would have been written to.
        path: PathBuf,
    },
    /// The output directory could not be created.
    #[error("cannot create report directory {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A report file could not be written (nothing was left at its path or beside it).
    #[error("cannot write report {path}: {source}")]
    Write {
        /// The file that was being written.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A `--threshold` setting `meshsim diff` cannot use.
    #[error("bad threshold {setting:?}: {message}")]
    BadThreshold {
        /// The setting as given.
        setting: String,
        /// What is wrong with it.
        message: String,
    },
    /// A run id that cannot name a run directory.
    #[error("bad run id {id:?}: {why}")]
    BadRunId {
        /// The id as given.
        id: String,
        /// What is wrong with it.
        why: String,
    },
    /// A run's JSON (or a `latest` file) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A run's JSON is not JSON, or not a `RunResult`.
    #[error("{path}:{line}:{column}: not a meshsim run result: {message}")]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The line of the problem, from 1 (0 when the file ended early).
        line: usize,
        /// The column of the problem, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A run's JSON is of another layout than this meshsim reads.
    #[error("{path}: schema_version {found}, but this meshsim reads version {expected}")]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version the file states.
        found: u64,
        /// The version this meshsim writes and reads.
        expected: u32,
    },
}
