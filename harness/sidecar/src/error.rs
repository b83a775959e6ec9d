//! The crate's error type.
//!
//! Upstream failures are not errors of the sidecar: they are classified into
//! Envoy reset reasons ([`crate::attempt::ResetReason`]) and answered with local
//! replies. [`SidecarError`] covers what stops the sidecar from starting (bad
//! configuration), what a [`crate::Resolve`] implementation reports, and what
//! ends one downstream exchange (hyper then closes the application's connection).

use std::io;
use std::time::Duration;

/// Why the sidecar could not start, or why a DNS lookup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SidecarError {
    /// A mesh certificate or TLS configuration could not be made.
    #[error("mesh certificate: {reason}")]
    Certificate {
        /// Why.
        reason: String,
    },
    /// Two clusters share a name.
    #[error("cluster {cluster:?} is defined twice")]
    DuplicateCluster {
        /// The duplicated name.
        cluster: String,
    },
    /// A retry policy's back-off is not valid (Envoy: base > 0, max >= base).
    #[error("route {route:?}: retry back-off base {base:?} must be > 0 and <= max {max:?}")]
    InvalidBackOff {
        /// Route name.
        route: String,
        /// `base_interval`.
        base: Duration,
        /// `max_interval`.
        max: Duration,
    },
    /// A route regex (`safe_regex`) does not compile.
    #[error("invalid regex {pattern:?}")]
    InvalidRegex {
        /// The pattern as written.
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: regex::Error,
    },
    /// A route's `weighted_clusters` weights sum to 0 (Envoy rejects it).
    #[error("route {route:?}: weighted cluster weights sum to 0")]
    ZeroTotalWeight {
        /// Route name.
        route: String,
    },
    /// A fault abort status outside Envoy's accepted 200..=599.
    #[error("route {route:?}: fault abort status {status} is not in 200..=599")]
    InvalidFaultStatus {
        /// Route name.
        route: String,
        /// The status.
        status: u16,
    },
    /// A DNS cluster's `dns_refresh_rate` is zero (Envoy requires >= 1 ms).
    #[error("cluster {cluster:?}: dns refresh rate must be > 0")]
    InvalidRefreshRate {
        /// Cluster name.
        cluster: String,
    },
    /// A cluster's retry budget percent is outside 0 to 100 (Envoy's
    /// `type.v3.Percent` rejects it).
    #[error("cluster {cluster:?}: retry budget percent {percent} must be between 0 and 100")]
    InvalidRetryBudget {
        /// Cluster name.
        cluster: String,
        /// The configured percent.
        percent: f64,
    },
    /// A cluster's outlier detection is not valid.
    #[error("cluster {cluster:?}: outlier detection: {reason}")]
    InvalidOutlierDetection {
        /// Cluster name.
        cluster: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An endpoint assignment names a cluster the sidecar does not have.
    #[error("no cluster named {cluster:?}")]
    UnknownCluster {
        /// The name given.
        cluster: String,
    },
    /// An endpoint assignment was sent to a cluster that is not EDS.
    #[error("cluster {cluster:?} does not take endpoint assignments (not an EDS cluster)")]
    NotEdsCluster {
        /// Cluster name.
        cluster: String,
    },
    /// A push would change a listener, which meshsim does not model (Envoy
    /// drains the old listener: INC-16's burst of 503s).
    #[error("a configuration push cannot change {what}: listener updates are not modelled")]
    ListenerChangeNotModelled {
        /// What the push would change.
        what: &'static str,
    },
    /// The resolver could not answer (timeout, SERVFAIL, REFUSED...). A
    /// successful empty answer (NXDOMAIN, NODATA) is not an error: c-ares as
    /// used by Envoy treats it as zero hosts.
    #[error("dns lookup of {name:?} failed")]
    DnsLookup {
        /// The name looked up.
        name: String,
        /// What the resolver said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No resolver is available to this sidecar.
    #[error("no dns resolver is configured for {name:?}")]
    NoResolver {
        /// The name that could not be looked up.
        name: String,
    },
    /// The application's request body could not be read.
    #[error("reading the downstream request body failed")]
    DownstreamBody {
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The upstream response body failed after its headers were forwarded:
    /// the downstream response is cut (Envoy resets the downstream stream).
    #[error("upstream response body failed after headers were sent")]
    UpstreamBody {
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// An HTTP/2 upstream response body failed after its headers were
    /// forwarded (the upstream reset the stream, the connection closed).
    #[error("upstream http/2 response body failed after headers were sent")]
    UpstreamH2Body {
        /// h2's error.
        #[source]
        source: h2::Error,
    },
    /// `http2.max_concurrent_streams` outside Envoy's range 1..=2^31-1.
    #[error("cluster {cluster}: http2 max_concurrent_streams {value} is outside 1..=2147483647")]
    InvalidMaxConcurrentStreams {
        /// The cluster.
        cluster: String,
        /// The value given.
        value: u32,
    },
    /// The route timeout fired after response headers were forwarded.
    #[error("route timeout of {timeout:?} fired while the response body was streaming")]
    RouteTimeoutAfterHeaders {
        /// The route timeout.
        timeout: Duration,
    },
    /// `pilot-agent wait` gave up (`crate::agent::wait_ready`), with
    /// pilot-agent's message.
    #[error("timeout waiting for Envoy proxy to become ready. Last error: {last}")]
    ProxyNotReady {
        /// The readiness address polled.
        readiness: std::net::SocketAddr,
        /// Polls made.
        polls: u32,
        /// The last poll's failure.
        last: crate::agent::PollFailure,
    },
}

impl From<SidecarError> for io::Error {
    fn from(e: SidecarError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}
