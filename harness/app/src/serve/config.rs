//! What a serving application does ([`ServeConfig`], [`RouteSpec`]), what a
//! run lends it ([`ServeDeps`]), and how the timeline changes it
//! ([`BehaviourOverride`]).

use std::net::SocketAddr;
use std::time::Duration;

use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::clock::Instant;

use crate::ids::{RecordSink, RequestIds};
use crate::profile::ClientProfile;

/// The application container as a server: the ports it listens on, its
/// routes, and the client library its routes' downstream calls go through.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Ports listened on, on the pod's address (0: an ephemeral port, for
    /// tests). At least one, no port twice.
    pub ports: Vec<u16>,
    /// Which of the pod's addresses the ports are bound to: every one
    /// (`0.0.0.0`, the default), the pod's address only, or `127.0.0.1`
    /// only (an app listening on `localhost`: unreachable from other pods,
    /// and through Istio >= 1.10's inbound sidecar; incidents.md INC-15).
    pub bind: meshsim_net::Bind,
    /// Routes, matched by path prefix in order; the first match answers. A
    /// path no route matches gets `404`.
    pub routes: Vec<RouteSpec>,
    /// A keep-alive connection on which no request starts for this long is
    /// closed by the server (FIN), measured from the end of the last response
    /// (or from the accept). Default `None`: kept open until the client
    /// closes it, as Go's `net/http` server does; Node's `keepAliveTimeout`
    /// is 5 s, gunicorn's 2 s, nginx's 75 s.
    pub idle_timeout: Option<Duration>,
    /// The client library of downstream calls: pool, timeouts, DNS cache.
    /// One pool per serving application, shared by all its routes.
    /// Default: `go`.
    pub profile: ClientProfile,
    /// The resolvers of the pod's `resolv.conf`, for downstream calls to host
    /// names. Default: none (every call URL must hold a literal IP).
    pub dns_servers: Vec<SocketAddr>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            ports: Vec::new(),
            bind: meshsim_net::Bind::Any,
            routes: Vec::new(),
            idle_timeout: None,
            profile: ClientProfile::go(),
            dns_servers: Vec::new(),
        }
    }
}

/// One route of a serving application.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSpec {
    /// Path prefix it answers (`/` answers everything). Must start with `/`.
    pub prefix: String,
    /// Status when every downstream call succeeded (200..=599). Default 200.
    pub status: u16,
    /// Response body length in bytes. Default 2 (`ok`).
    pub body_bytes: usize,
    /// Time spent serving before the downstream calls and the answer.
    /// Default 0.
    pub latency: Duration,
    /// A uniform random extra in `[0, latency_jitter)` drawn per request from
    /// the run's seeded RNG. Default 0.
    pub latency_jitter: Duration,
    /// At most this many requests in service at once. Default `None`:
    /// unlimited.
    pub capacity: Option<Capacity>,
    /// Downstream calls made while serving, after `latency`.
    pub calls: Vec<DownstreamCall>,
    /// Whether the calls run one after the other or all at once.
    pub call_mode: CallMode,
    /// What the route answers when a downstream call failed.
    pub on_error: OnError,
}

impl Default for RouteSpec {
    fn default() -> Self {
        RouteSpec {
            prefix: "/".into(),
            status: 200,
            body_bytes: 2,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            capacity: None,
            calls: Vec::new(),
            call_mode: CallMode::Sequential,
            on_error: OnError::Propagate,
        }
    }
}

/// How many requests a route serves at once (a worker pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Requests in service at once (at least 1); more wait in a FIFO queue.
    pub limit: usize,
    /// At most this many wait; beyond it a request is answered `503` at once
    /// (a saturated app). `None`: the queue is unbounded.
    pub queue_limit: Option<usize>,
}

/// One downstream call a route makes while serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamCall {
    /// `http://host[:port]/path`; a literal IP skips DNS.
    pub url: String,
    /// The request method (the request has no body).
    pub method: http::Method,
    /// The call id its [`meshsim_core::RequestRecord`]s carry in `call`.
    pub call: usize,
}

/// How a route runs its downstream calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallMode {
    /// One after the other, in order; the first failure ends the route's
    /// calls (later calls are not made), as an exception would.
    #[default]
    Sequential,
    /// All at once (a fan-out); the route waits for every one.
    Parallel,
}

/// What a route answers when a downstream call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// The failed call's HTTP status, or `502` when it failed without one
    /// (connect refused, reset, timeout, DNS). With several failures (a
    /// fan-out), the first failed call in route order decides.
    #[default]
    Propagate,
    /// A fixed status (200..=599).
    Status(u16),
}

/// What one run lends a serving application.
#[derive(Debug, Clone)]
pub struct ServeDeps {
    /// The application's random stream (latency jitter, resolver ids).
    pub rng: SimRng,
    /// The log the pod's sidecar fills, read by `x-request-id` for the
    /// downstream calls' records.
    pub proxy_log: ProxyLog,
    /// The pod's request-id source, shared with its [`crate::drive_with`].
    pub ids: RequestIds,
    /// Time zero of the run: record times are offsets from it.
    pub start: Instant,
    /// Where the downstream calls' records go.
    pub sink: RecordSink,
}

/// A run-time change of a route's (or every route's) behaviour, e.g. "the
/// app answers 503 for two minutes". Each field set replaces the configured
/// value; a field left `None` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BehaviourOverride {
    /// Serving latency (replaces `latency`; jitter still applies).
    pub latency: Option<Duration>,
    /// Every request is answered this status (200..=599) after the latency,
    /// without making the route's downstream calls.
    pub status: Option<u16>,
    /// Requests in service at once (at least 1); the queue limit stays.
    pub capacity: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_serving_profile_is_go() {
        assert_eq!(
            ServeConfig::default().profile,
            ClientProfile::named("go").unwrap()
        );
    }
}
