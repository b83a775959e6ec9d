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
}
