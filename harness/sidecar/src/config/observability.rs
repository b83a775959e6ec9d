//! What the sidecar shows about itself: the access log (Istio mesh
//! `accessLogFile` / `accessLogEncoding`, fact sheet §5.4) and the admin and
//! readiness ports (§6.1, §6.2). Re-exported from [`crate::config`].

use std::time::Duration;

/// Istio mesh `accessLogEncoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum AccessLogEncoding {
    /// Istio's default TEXT line (`EnvoyTextLogFormat`, Istio >= 1.9).
    #[default]
    Text,
    /// Istio's default JSON object (`EnvoyJSONLogFormatIstio`): one object
    /// per line, keys sorted, numbers as numbers, missing values `null`.
    Json,
}

/// The file access log of every HTTP connection manager and TCP proxy of
/// the sidecar (outbound and inbound). Istio's default is off (mesh
/// `accessLogFile` empty), hence `SidecarConfig::access_log` defaults to
/// `None`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccessLogConfig {
    /// Istio's `accessLogFile` (e.g. `/dev/stdout`). Informational: lines go
    /// to the in-memory [`crate::AccessLog`], never to a file. Default
    /// `/dev/stdout`.
    pub path: String,
    /// Line encoding. Default TEXT.
    pub encoding: AccessLogEncoding,
    /// Lines kept in memory; older lines are dropped first (and counted).
    /// Default 100 000.
    pub max_lines: usize,
    /// What `%START_TIME%` prints for the clock's origin, as time since the
    /// Unix epoch. Default zero (`1970-01-01T00:00:00.000Z`).
    pub epoch: Duration,
    /// The clock's origin: `%START_TIME%` is `epoch` plus the virtual time
    /// elapsed since it. `None` (default): the sidecar's spawn. Give every
    /// sidecar of a run the run's start so that their lines agree.
    #[serde(skip)]
    pub origin: Option<meshsim_net::clock::Instant>,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            path: "/dev/stdout".to_string(),
            encoding: AccessLogEncoding::Text,
            max_lines: 100_000,
            epoch: Duration::ZERO,
            origin: None,
        }
    }
}

/// Envoy's admin interface and Istio's readiness endpoint.
///
/// Envoy binds admin on `127.0.0.1:15000` inside the pod; meshsim's stacks
/// have no per-pod loopback, so admin listens on the sidecar's own
/// (uncaptured) stack, i.e. `pod-ip:15000`: reachable from the pod's app
/// without capture (the pod's own address is never captured). Readiness
/// (`/healthz/ready`) listens on `pod-ip:15021`, which Istio excludes from
/// inbound capture.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdminConfig {
    /// Envoy admin port. Default 15000.
    pub port: u16,
    /// The readiness port (`/healthz/ready`); `None` = not served. Default
    /// `Some(15021)`.
    pub readiness_port: Option<u16>,
    /// pilot-agent's status port (`POST /quitquitquit`, `POST /drain`,
    /// `GET /app-health/...`), bound by `crate::boot`, and by `crate::spawn`
    /// (which models no agent life) only when there are `app_probers`;
    /// `None` = not served. Default `Some(15020)`.
    pub status_port: Option<u16>,
    /// The probes the injector handed to pilot-agent
    /// (`ISTIO_KUBE_APP_PROBERS`), answered on the status port under
    /// `/app-health/`. Default none. [`crate::spawn`] binds the status port
    /// for them alone.
    pub app_probers: super::AppProbers,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            port: 15000,
            readiness_port: Some(15021),
            status_port: Some(15020),
            app_probers: super::AppProbers::default(),
        }
    }
}
