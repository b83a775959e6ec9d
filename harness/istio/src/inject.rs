//! What Istio's sidecar injector does to an application container's
//! probes (incidents.md INC-14; Istio "Health Checking of Istio Services";
//! Istio 1.12 upgrade notes).
//!
//! With probe rewrite on (the default of every built-in profile; per pod
//! `sidecar.istio.io/rewriteAppHTTPProbers: "false"` turns it off), an
//! `httpGet` probe becomes `GET :15020/app-health/<container>/<kind>` and the
//! original goes to pilot-agent (`ISTIO_KUBE_APP_PROBERS`); `tcpSocket`
//! probes are rewritten the same way from Istio 1.12 (before, they stayed
//! on the application port, where the sidecar accepts every connect). `exec`
//! probes run inside the container and are left alone.

use std::collections::BTreeMap;
use std::time::Duration;

use meshsim_sidecar::{AppProbe, AppProbers, ProbeAction};

use crate::IstioVersion;

/// The pod annotation that turns probe rewrite on or off for one pod.
pub const REWRITE_PROBES_ANNOTATION: &str = "sidecar.istio.io/rewriteAppHTTPProbers";

/// pilot-agent's status port, where rewritten probes go.
pub const STATUS_PORT: u16 = 15020;

/// A container probe's check, as the pod spec writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodProbeAction {
    /// `httpGet`.
    HttpGet {
        /// `path`.
        path: String,
        /// `port`.
        port: u16,
    },
    /// `tcpSocket`.
    TcpSocket {
        /// `port`.
        port: u16,
    },
    /// `exec`: a command in the container.
    Exec,
}

/// Which probe of the container: its path suffix on the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// `readinessProbe` (`readyz`).
    Readiness,
    /// `livenessProbe` (`livez`).
    Liveness,
    /// `startupProbe` (`startupz`).
    Startup,
}

impl ProbeKind {
    fn suffix(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "readyz",
            ProbeKind::Liveness => "livez",
            ProbeKind::Startup => "startupz",
        }
    }
}

/// A probe after injection: what the kubelet runs, and the prober the
/// agent gets (by its `/app-health/` path) when it was rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedProbe {
    /// The kubelet's check.
    pub kubelet: PodProbeAction,
    /// The agent's prober, when the injector took the probe over.
    pub agent: Option<(String, AppProbe)>,
}

/// Whether the injector rewrites the probes of a pod with `annotations`
/// (Istio's `ShouldRewriteAppHTTPProbers`: the annotation, read as Go's
/// `strconv.ParseBool`, wins; an unparsable value falls back to the mesh
/// setting `sidecarInjectorWebhook.rewriteAppHTTPProbe`, on by default).
pub fn rewrites_probes(annotations: &BTreeMap<String, String>, mesh_default: bool) -> bool {
    match annotations
        .get(REWRITE_PROBES_ANNOTATION)
        .map(String::as_str)
    {
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
        _ => mesh_default,
    }
}

/// `probe` (with its `timeout`) of `container` after injection into a pod
/// of Istio `version` with probe rewrite `rewrite`.
pub fn inject_probe(
    version: IstioVersion,
    rewrite: bool,
    container: &str,
    kind: ProbeKind,
    probe: &PodProbeAction,
    timeout: Duration,
) -> InjectedProbe {
    let agent_action = match probe {
        PodProbeAction::HttpGet { path, port } if rewrite => ProbeAction::HttpGet {
            path: path.clone(),
            port: *port,
        },
        PodProbeAction::TcpSocket { port } if rewrite && version.at_least(1, 12) => {
            ProbeAction::TcpSocket { port: *port }
        }
        _ => {
            return InjectedProbe {
                kubelet: probe.clone(),
                agent: None,
            };
        }
    };
    let path = AppProbers::path(container, kind.suffix());
    InjectedProbe {
        kubelet: PodProbeAction::HttpGet {
            path: path.clone(),
            port: STATUS_PORT,
        },
        agent: Some((
            path,
            AppProbe {
                action: agent_action,
                timeout,
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotated(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(REWRITE_PROBES_ANNOTATION.to_string(), value.to_string())])
    }

    #[test]
    fn the_annotation_wins_over_the_mesh_setting_and_a_bad_value_falls_back() {
        assert!(rewrites_probes(&BTreeMap::new(), true));
        assert!(!rewrites_probes(&annotated("false"), true));
        assert!(!rewrites_probes(&annotated("F"), true));
        assert!(rewrites_probes(&annotated("true"), false));
        assert!(rewrites_probes(&annotated("nope"), true));
        assert!(!rewrites_probes(&annotated("nope"), false));
    }

    #[test]
    fn an_http_probe_is_rewritten_to_the_agents_status_port() {
        let probe = PodProbeAction::HttpGet {
            path: "/healthz".into(),
            port: 8080,
        };
        let v = IstioVersion::new(1, 24);
        let got = inject_probe(
            v,
            true,
            "orders",
            ProbeKind::Readiness,
            &probe,
            Duration::from_secs(1),
        );
        assert_eq!(
            got.kubelet,
            PodProbeAction::HttpGet {
                path: "/app-health/orders/readyz".into(),
                port: 15020
            }
        );
        let (path, agent) = got.agent.unwrap();
        assert_eq!(path, "/app-health/orders/readyz");
        assert_eq!(
            agent.action,
            ProbeAction::HttpGet {
                path: "/healthz".into(),
                port: 8080
            }
        );
        let off = inject_probe(
            v,
            false,
            "orders",
            ProbeKind::Readiness,
            &probe,
            Duration::from_secs(1),
        );
        assert_eq!(off.kubelet, probe);
        assert!(off.agent.is_none());
    }

    /// Istio 1.12 upgrade notes: "TCP probes now working as expected".
    #[test]
    fn tcp_probes_are_rewritten_from_istio_1_12_and_exec_probes_never() {
        let tcp = PodProbeAction::TcpSocket { port: 8080 };
        let t = Duration::from_secs(1);
        let old = inject_probe(
            IstioVersion::new(1, 11),
            true,
            "c",
            ProbeKind::Liveness,
            &tcp,
            t,
        );
        assert_eq!(old.kubelet, tcp);
        let new = inject_probe(
            IstioVersion::new(1, 12),
            true,
            "c",
            ProbeKind::Liveness,
            &tcp,
            t,
        );
        assert_eq!(new.agent.unwrap().0, "/app-health/c/livez");
        let exec = inject_probe(
            IstioVersion::new(1, 24),
            true,
            "c",
            ProbeKind::Readiness,
            &PodProbeAction::Exec,
            t,
        );
        assert_eq!(exec.kubelet, PodProbeAction::Exec);
    }
}
