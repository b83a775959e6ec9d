//! The results of a run: the one input every report format reads.
//!
//! Everything here is a pure function of the seed and the scenario in sim
//! mode: there is no wall-clock value in it, so the same seed serializes to the
//! same bytes.

use serde::{Deserialize, Serialize};

mod middlebox;
mod pod;
mod probe;

pub use middlebox::{MiddleboxCounter, MiddleboxEvent, MiddleboxResult};
pub use pod::{PodEvent, PodLifecycleResult};
pub use probe::ProbeResult;

/// Which network a run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// In-memory network on virtual time: deterministic.
    Sim,
    /// Kernel sockets on loopback, wall-clock time.
    Real,
}

/// One scenario run under every selected mitigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Version of this layout (`reports/schema/run-result.schema.json`).
    pub schema_version: u32,
    /// The scenario's `name`.
    pub scenario: String,
    /// The scenario's `summary`.
    pub summary: String,
    /// The seed every mitigation ran with.
    pub seed: u64,
    /// Sim or real.
    pub mode: RunMode,
    /// Real mode's `--time-scale`: wall seconds per scenario second. Every
    /// time in the result is in scenario units whatever the scale. Absent
    /// (`null`) when time was not scaled.
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// Length of the load phase, in seconds.
    pub duration_s: f64,
    /// The timeline events, in order, as `(at, what)`.
    pub events: Vec<TimelineMark>,
    /// One entry per mitigation, in the scenario's order.
    pub mitigations: Vec<MitigationResult>,
    /// True when the run was stopped before every mitigation finished.
    pub partial: bool,
}

impl RunResult {
    /// True when every expectation of every mitigation held.
    pub fn all_expectations_passed(&self) -> bool {
        self.mitigations
            .iter()
            .all(|m| m.expectations.iter().all(|e| e.passed))
    }
}

/// A timeline event as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineMark {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// What happened, e.g. `dns.set api.partner.example -> 52.1.1.11, 52.1.1.12`.
    pub what: String,
}

/// What one mitigation measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MitigationResult {
    /// The mitigation's name.
    pub name: String,
    /// Application requests whose outcome is known.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
    /// `errors / requests`, 0 when there was no request.
    pub error_rate: f64,
    /// Error counts by [`crate::ErrorKind::label`], most frequent first.
    pub errors_by_kind: Vec<KindCount>,
    /// Latency from the scheduled start, in milliseconds.
    pub latency_ms: LatencySummary,
    /// Attempts the upstreams received in all.
    pub upstream_attempts: u64,
    /// `upstream_attempts / requests`: retry amplification.
    pub upstream_attempts_per_request: f64,
    /// Seconds from the start of the run to the first error.
    pub first_error_s: Option<f64>,
    /// Seconds from the start of the run to the last error.
    pub last_error_s: Option<f64>,
    /// Requests and errors in fixed buckets, by scheduled start.
    pub timeseries: Vec<TimeBucket>,
    /// Per upstream host: requests it answered (by the application's view).
    pub served_by: Vec<HostCount>,
    /// Per call of every application, entry calls and the calls services
    /// make while serving (the hops of a chain), in call order. Empty when
    /// the run did not break results down by call.
    #[serde(default)]
    pub calls: Vec<CallResult>,
    /// A sample of each sidecar hop's access log, chosen to explain the
    /// errors (see [`HopAccessLog`]), hops in world order. Empty when the run
    /// had no sidecar or did not sample.
    #[serde(default)]
    pub access_log: Vec<HopAccessLog>,
    /// Every middlebox of the world (`world.middleboxes`), in the scenario's
    /// order: its counters and event log at the end of the mitigation. Empty
    /// when the world has none.
    #[serde(default)]
    pub middleboxes: Vec<MiddleboxResult>,
    /// Every pod of the world with a modelled lifecycle
    /// (`world.pods[].lifecycle`), in the scenario's order. Empty when none
    /// has one.
    #[serde(default)]
    pub pods: Vec<PodLifecycleResult>,
    /// Every probed pod of the world's services (`readiness_probe`), in
    /// start order. Empty when no service has a probe.
    #[serde(default)]
    pub probes: Vec<ProbeResult>,
    /// The scenario's expectations for this mitigation.
    pub expectations: Vec<ExpectationResult>,
}

/// A small, deterministic sample of one hop's access log: the sidecar of an
/// entry pod, or the sidecars of every pod of a service (inbound and
/// outbound lines together).
///
/// The sample holds, in the order the lines were written, the first line of
/// each distinct (response code, flags, details) among failures (response
/// code 0 or at least 400, or any flag) and the first success line, at most
/// [`HopAccessLog::MAX_LINES`] lines. Each line is Istio's default TEXT
/// line, as the sidecar wrote it (fact sheet §5.4), without its newline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopAccessLog {
    /// The hop: an entry pod's name, or a service's name.
    pub hop: String,
    /// Whether the hop is an entry pod (its application makes the load)
    /// rather than a service.
    pub entry: bool,
    /// The sampled lines, oldest first.
    pub lines: Vec<AccessLogLine>,
}

impl HopAccessLog {
    /// The most lines a hop's sample keeps (one success and seven kinds of
    /// failure).
    pub const MAX_LINES: usize = 8;
}

/// One access-log line of a sample, with the fields it was chosen by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogLine {
    /// `%RESPONSE_CODE%` (0: no response was started).
    pub response_code: u16,
    /// `%RESPONSE_FLAGS%`, e.g. `UC,URX`, `-` for none.
    pub flags: crate::ResponseFlags,
    /// `%RESPONSE_CODE_DETAILS%`, e.g.
    /// `upstream_reset_before_response_started{connection_termination}`;
    /// `None` when the line has none (`-`).
    pub details: Option<String>,
    /// Whether the line counts as a failure (code 0 or >= 400, or a flag).
    pub failure: bool,
    /// The whole line in Istio's TEXT format, without the newline.
    pub line: String,
}

/// What one call (one hop: an application calling one URL) measured, as its
/// caller saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    /// Who calls: a pod, or a service whose pods serve.
    pub from: String,
    /// The URL called.
    pub url: String,
    /// Whether the call is made by load (an entry call) rather than while
    /// serving another request (a hop inside the mesh).
    pub entry: bool,
    /// Requests whose outcome is known.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Error counts by label, most frequent first.
    pub errors_by_kind: Vec<KindCount>,
    /// Latency in milliseconds.
    pub latency_ms: LatencySummary,
    /// `upstream_attempts / requests` at this hop's sidecar.
    pub upstream_attempts_per_request: f64,
}

/// An error label and how often it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    /// [`crate::ErrorKind::label`].
    pub kind: String,
    /// Where it came from: `upstream`, `proxy` or `client`.
    pub source: crate::Source,
    /// Occurrences.
    pub count: u64,
    /// What the application saw for the first error of this kind (by
    /// scheduled start): the response body's first
    /// [`KindCount::SAMPLE_BYTES`] bytes (lossy UTF-8) for an HTTP error, or
    /// the client-side error text otherwise. `None` when nothing was kept
    /// (an older result, or a record without text).
    #[serde(default)]
    pub sample: Option<String>,
}

impl KindCount {
    /// The most bytes of a response body a sample keeps.
    pub const SAMPLE_BYTES: usize = 200;
}

/// An upstream address and the requests it served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCount {
    /// `ip:port`.
    pub host: String,
    /// Requests.
    pub count: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// One fixed-width bucket of the time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeBucket {
    /// Seconds from the start of the run to the bucket's start.
    pub start_s: f64,
    /// Requests scheduled in the bucket whose outcome is known.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
}

/// One expectation of the scenario, evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    /// The expectation as written, e.g. `error_rate > 1%`.
    pub text: String,
    /// The reason written next to it in the scenario, if any.
    pub reason: Option<String>,
    /// The measured value, formatted, e.g. `37.2%`.
    pub actual: String,
    /// Whether it held.
    pub passed: bool,
}
