//! meshsim's shared vocabulary.
//!
//! Every other crate speaks in these types, so that a request's fate is described
//! once: by the application model that saw it, by the sidecar that forwarded it
//! and by the report that counts it. Nothing here does I/O.
//!
//! Layout:
//! - [`units`]: durations written like `250ms` or `5m`, request rates like `50/s`;
//! - [`outcome`]: the closed [`ErrorKind`] / [`Outcome`] of one application
//!   request, and Envoy's [`ResponseFlags`];
//! - [`record`]: the per-request [`RequestRecord`] and the [`ProxyLog`] a sidecar
//!   fills so the application can learn the flags of the reply it got;
//! - [`rng`]: [`SimRng`], the one seeded random stream of a run (ChaCha8);
//! - [`stats`]: [`Collector`], which turns records into a [`MitigationResult`]
//!   without keeping them (histograms and counters, flat memory);
//! - [`result`]: [`RunResult`], the input of every report.
//!
//! Glossary (the words used across the workspace):
//! - *scenario*: one incident (world + timeline + mitigations + expectations);
//! - *mitigation*: one variant of the world; every mitigation replays the same
//!   timeline in a fresh world with the same seed;
//! - *attempt*: one request sent upstream by a sidecar (Envoy's word); a request
//!   that was retried twice has three attempts;
//! - *local reply*: a response the sidecar made itself (Envoy's word);
//! - *response flags*: Envoy's `%RESPONSE_FLAGS%` letters (`UC`, `UF`, `URX`...).
//!
//! ```
//! use meshsim_core::{units::parse_duration, Outcome, ResponseFlags, ErrorKind};
//! assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
//! let o = Outcome::from_status(503, ResponseFlags::UC);
//! assert_eq!(o.error_kind(), Some(ErrorKind::Http { status: 503, flags: ResponseFlags::UC }));
//! ```
#![deny(missing_docs)]

pub mod outcome;
pub mod record;
pub mod result;
pub mod rng;
pub mod stats;
pub mod units;

pub use outcome::{ErrorKind, Outcome, ResponseFlags, Source};
pub use record::{ProxyLog, ProxyLogEntry, RequestRecord};
pub use result::{
    AccessLogLine, CallResult, ExpectationResult, HopAccessLog, HostCount, KindCount,
    LatencySummary, MiddleboxCounter, MiddleboxEvent, MiddleboxResult, MitigationResult, PodEvent,
    PodLifecycleResult, ProbeResult, RunMode, RunResult, TimeBucket, TimelineMark,
};
pub use rng::SimRng;
pub use stats::Collector;
pub use units::{HumanDuration, Rate};
