//! The YAML shape of a container probe (`world.services[].readiness_probe`,
//! `mitigations[].services[].readiness_probe`): Kubernetes' probe fields in
//! the scenario's snake_case, durations written `10s`.

use meshsim_core::HumanDuration;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A probe: exactly one of `http_get`, `tcp_socket`, `exec`, and its timing
/// (Kubernetes' defaults: period 10 s, timeout 1 s, failure threshold 3,
/// success threshold 1, no initial delay).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeFile {
    #[serde(default)]
    pub(crate) http_get: Option<Spanned<HttpGetFile>>,
    #[serde(default)]
    pub(crate) tcp_socket: Option<Spanned<TcpSocketFile>>,
    #[serde(default)]
    pub(crate) exec: Option<Spanned<ExecFile>>,
    #[serde(default)]
    pub(crate) period: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) timeout: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) failure_threshold: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) success_threshold: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) initial_delay: Option<Spanned<HumanDuration>>,
}

/// `http_get`: a GET of `path` on `port` (default: the service's first
/// target port).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpGetFile {
    pub(crate) path: Spanned<String>,
    #[serde(default)]
    pub(crate) port: Option<Spanned<u16>>,
}

/// `tcp_socket`: a connect to `port` (default: the service's first target
/// port).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpSocketFile {
    #[serde(default)]
    pub(crate) port: Option<Spanned<u16>>,
}

/// `exec`: a command in the application container (`exec: {}`); it passes
/// while the application runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecFile {}
