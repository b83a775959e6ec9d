//! Rules on how the inbound sidecar reaches the application (incidents.md
//! INC-15; istioctl analyze IST0143 LocalhostListener): from Istio 1.10 the
//! inbound forwards to the pod's address, as plain Kubernetes does; before,
//! to `127.0.0.1`. An application bound to the other one refuses every
//! request that comes through the sidecar (503 UF, connection refused).

use super::{AppListen, Finding, LintContext};
use crate::kube::KubeService;
use crate::version::inbound_forward;
use meshsim_sidecar::config::InboundForward;

/// MS0401 and MS0402: a Service whose application binds only the address
/// the inbound sidecar of the scenario's Istio version does not forward to.
pub(crate) fn app_unreachable_from_inbound(ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(version) = ctx.istio_version else {
        return out;
    };
    let forward = inbound_forward(version);
    for svc in &ctx.services {
        let Some(app) = ctx.apps.get(&svc.fqdn()).filter(|a| a.sidecar) else {
            continue;
        };
        for (deployment, listen) in &app.listen {
            let code = match (forward, listen) {
                (InboundForward::PodIp, AppListen::Localhost) => "MS0401",
                (InboundForward::Localhost, AppListen::PodIp) => "MS0402",
                _ => continue,
            };
            out.push(finding(code, svc, deployment, version.to_string()));
        }
    }
    out
}

fn finding(code: &'static str, svc: &KubeService, deployment: &str, version: String) -> Finding {
    let (binds, forwards) = if code == "MS0401" {
        ("127.0.0.1 only", "the pod's address")
    } else {
        ("the pod's address only", "127.0.0.1")
    };
    let who = if deployment.is_empty() {
        format!("{}'s application", svc.name)
    } else {
        format!("{}'s {deployment} application", svc.name)
    };
    let ports: Vec<String> = svc
        .ports
        .iter()
        .map(|p| p.target_port.to_string())
        .collect();
    let message = format!(
        "{who} listens on {binds} (port(s) {}) while Istio {version}'s inbound sidecar forwards to {forwards}: every request through the mesh is refused (503 UF, connection refused)",
        ports.join(", ")
    );
    Finding {
        path: "spec.ports".to_string(),
        ..Finding::about(
            code,
            format!("Service {}/{}", svc.namespace, svc.name),
            message,
        )
    }
}
