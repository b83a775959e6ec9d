//! The engine's error type.

use std::path::PathBuf;

/// What can go wrong loading or running a scenario.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The scenario file could not be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The scenario is invalid: the location and key path say where.
    #[error("{}:{line}:{column}: {}{message}", file.display(), key_prefix(path))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// Key path, e.g. `world.pods[0].app.client`.
        path: String,
        /// What is wrong, and how to fix it when we know.
        message: String,
    },
    /// The world could not be built (a socket could not be bound...).
    #[error("scenario {scenario}, mitigation {mitigation}: cannot build the world: {message}")]
    World {
        /// The scenario.
        scenario: String,
        /// The mitigation.
        mitigation: String,
        /// What failed.
        message: String,
    },
    /// `--mitigation` named a mitigation the scenario does not have.
    #[error("scenario {scenario} has no mitigation {name:?}; it has: {known}")]
    UnknownMitigation {
        /// The scenario.
        scenario: String,
        /// The name asked for.
        name: String,
        /// The names it has, comma-separated.
        known: String,
    },
    /// A run option is out of range (`--duration 0`...).
    #[error("invalid run option: {message}")]
    InvalidOption {
        /// What is wrong.
        message: String,
    },
    /// `meshsim ctl`: nothing answers HTTP at the control address.
    #[error(
        "cannot reach the control endpoint at {addr}: {source} (is `meshsim up` running? it prints the address as MESHSIM_CTL)"
    )]
    ControlUnreachable {
        /// The address tried.
        addr: std::net::SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// The runtime could not be created.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// `path: ` or nothing when the key path is unknown.
fn key_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}
