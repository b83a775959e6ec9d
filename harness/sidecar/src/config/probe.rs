//! pilot-agent's application probers (`ISTIO_KUBE_APP_PROBERS`): the probes
//! Istio's injector took over from the kubelet (incidents.md INC-14; fact sheet §6.1: 15020 is excluded from capture).
//! Re-exported from [`crate::config`].
//!
//! With probe rewrite on, the injector points an application container's
//! `httpGet` (and, in newer releases, `tcpSocket`) probe at the agent's
//! status port, `GET :15020/app-health/<container>/readyz`, and hands the
//! original probe to the agent. Port 15020 is excluded from inbound capture,
//! so the kubelet reaches the agent without a certificate; the agent then
//! probes the application itself, from inside the pod, around the sidecar.

use std::collections::BTreeMap;
use std::time::Duration;

use super::InboundForward;

/// Every prober of a pod, by the path the kubelet now asks the agent for.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct AppProbers {
    /// Where the agent sends the probes: the pod's address (Istio's
    /// `appProbersDestination`, the pod IP, as the kubelet would) or
    /// `127.0.0.1` (older releases, and `REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION`).
    pub destination: InboundForward,
    /// `/app-health/<container>/readyz` (`livez`, `startupz`) to the probe.
    pub probes: BTreeMap<String, AppProbe>,
}

impl AppProbers {
    /// The path the kubelet asks the agent for, for `container`'s probe of
    /// `kind` (`readyz`, `livez`, `startupz`).
    pub fn path(container: &str, kind: &str) -> String {
        format!("/app-health/{container}/{kind}")
    }
}

/// One probe the agent runs for the kubelet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppProbe {
    /// What it checks.
    pub action: ProbeAction,
    /// The probe's `timeoutSeconds`: the whole exchange with the application.
    pub timeout: Duration,
}

/// A probe's check, as Kubernetes names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ProbeAction {
    /// `httpGet`: a GET whose status is 200-399.
    HttpGet {
        /// `path`.
        path: String,
        /// `port`.
        port: u16,
    },
    /// `tcpSocket`: a connect that completes.
    TcpSocket {
        /// `port`.
        port: u16,
    },
}
