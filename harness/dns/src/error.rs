//! The crate's one error type.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use meshsim_core::outcome::DnsFailure;

/// Why a lookup failed, or why a name was rejected.
///
/// Every variant names the query name. [`DnsError::failure`] maps it onto the
/// closed [`DnsFailure`] the application model counts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN), from the server or the negative cache.
    #[error("dns lookup of {name} failed: no such domain (nxdomain)")]
    NxDomain {
        /// The name looked up.
        name: String,
    },
    /// The name exists but has no address record (NOERROR with an empty answer).
    #[error("dns lookup of {name} returned no address record (nodata)")]
    NoData {
        /// The name looked up.
        name: String,
    },
    /// No server answered within `timeout`, `attempts` times over the server list.
    #[error(
        "dns lookup of {name} timed out: {attempts} attempts of {timeout:?} over {servers} servers"
    )]
    Timeout {
        /// The name looked up.
        name: String,
        /// Tries per server.
        attempts: u32,
        /// Wait per try.
        timeout: Duration,
        /// How many servers were asked.
        servers: usize,
    },
    /// The server answered SERVFAIL.
    #[error("dns server {server} answered servfail for {name}")]
    ServFail {
        /// The name looked up.
        name: String,
        /// The server that answered.
        server: SocketAddr,
    },
    /// The server answered REFUSED.
    #[error("dns server {server} refused the query for {name}")]
    Refused {
        /// The name looked up.
        name: String,
        /// The server that answered.
        server: SocketAddr,
    },
    /// The answer could not be parsed, or carried an unexpected response code.
    #[error("dns server {server} sent an unusable answer for {name}: {detail}")]
    Malformed {
        /// The name looked up.
        name: String,
        /// The server that answered.
        server: SocketAddr,
        /// What was wrong with it.
        detail: String,
    },
    /// The name is not a valid DNS name (empty label, label over 63 bytes, ...).
    #[error("invalid dns name {name:?}: {detail}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        detail: String,
    },
    /// The resolver has no server to ask.
    #[error("dns lookup of {name} failed: no server configured")]
    NoServers {
        /// The name looked up.
        name: String,
    },
    /// The resolver could not open or use its socket.
    #[error("dns lookup of {name} failed: socket error ({kind})")]
    Io {
        /// The name looked up.
        name: String,
        /// The socket error.
        kind: io::ErrorKind,
    },
}

impl DnsError {
    /// The closed failure kind the application counts.
    ///
    /// A bad name maps to `Malformed`; no server and socket errors map to
    /// `Timeout`, because an application (glibc's `EAI_AGAIN`) cannot tell them
    /// apart from a server that never answered.
    pub fn failure(&self) -> DnsFailure {
        match self {
            DnsError::NxDomain { .. } => DnsFailure::NxDomain,
            DnsError::NoData { .. } => DnsFailure::NoData,
            DnsError::Timeout { .. } | DnsError::NoServers { .. } | DnsError::Io { .. } => {
                DnsFailure::Timeout
            }
            DnsError::ServFail { .. } => DnsFailure::ServFail,
            DnsError::Refused { .. } => DnsFailure::Refused,
            DnsError::Malformed { .. } | DnsError::InvalidName { .. } => DnsFailure::Malformed,
        }
    }

    /// The query name the error is about.
    pub fn name(&self) -> &str {
        match self {
            DnsError::NxDomain { name }
            | DnsError::NoData { name }
            | DnsError::Timeout { name, .. }
            | DnsError::ServFail { name, .. }
            | DnsError::Refused { name, .. }
            | DnsError::Malformed { name, .. }
            | DnsError::InvalidName { name, .. }
            | DnsError::NoServers { name }
            | DnsError::Io { name, .. } => name,
        }
    }
}
