//! Rules on the kubelet's readiness probes of a meshed workload
//! (incidents.md INC-14; Istio "Health Checking of Istio Services", 1.12
//! upgrade notes). The kubelet has no sidecar and no certificate; unless
//! Istio's injector rewrites a probe to pilot-agent's 15020 (outside
//! capture), it meets the pod's sidecar.

use std::collections::BTreeMap;

use meshsim_sidecar::tls::MtlsMode;

use super::{AppFacts, Finding, LintContext};
use crate::inject::{PodProbeAction, ProbeKind, STATUS_PORT, inject_probe};
use crate::kube::KubeService;
use crate::model::Resources;
use crate::translate::mtls::peer_authn_for;

/// The kubelet's check of `svc`'s pods after injection, for a meshed app
/// with a readiness probe.
fn kubelet_probe(svc: &KubeService, app: &AppFacts, ctx: &LintContext) -> Option<PodProbeAction> {
    let probe = app.readiness_probe.as_ref().filter(|_| app.sidecar)?;
    let version = ctx.istio_version?;
    let timeout = std::time::Duration::from_secs(1);
    let injected = inject_probe(
        version,
        app.rewrite_probes,
        &svc.name,
        ProbeKind::Readiness,
        probe,
        timeout,
    );
    Some(injected.kubelet)
}

/// MS0302: STRICT on the port the kubelet's HTTP probe reaches through the
/// sidecar: every probe is reset, every pod goes NotReady.
pub(crate) fn strict_with_probe_through_sidecar(
    res: &Resources,
    ctx: &LintContext,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in &ctx.services {
        let Some(app) = ctx.apps.get(&svc.fqdn()) else {
            continue;
        };
        let Some(PodProbeAction::HttpGet { path, port }) = kubelet_probe(svc, app, ctx) else {
            continue;
        };
        if port == STATUS_PORT {
            continue;
        }
        let labels = BTreeMap::from([("app".to_string(), svc.name.clone())]);
        if peer_authn_for(res, &svc.namespace, &labels).mode_for(port) != MtlsMode::Strict {
            continue;
        }
        let Some(pa) = super::mtls::deciding(res, &svc.namespace, &labels) else {
            continue;
        };
        let message = format!(
            "{}'s readiness probe GET :{port}{path} is not rewritten (sidecar.istio.io/rewriteAppHTTPProbers: \"false\"), so the kubelet's plaintext meets the sidecar, which is STRICT on port {port}: every probe is reset, every pod goes NotReady and callers get 503 UH",
            svc.fqdn()
        );
        out.push(Finding::at(
            "MS0302",
            "PeerAuthentication",
            &pa.meta,
            "spec.mtls.mode",
            message,
        ));
    }
    out
}

/// MS0303: a `tcp_socket` probe the sidecar answers (not rewritten: before
/// Istio 1.12, or rewrite off): it passes on the sidecar's accept whatever
/// the application does.
pub(crate) fn tcp_probe_answered_by_sidecar(ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in &ctx.services {
        let Some(app) = ctx.apps.get(&svc.fqdn()) else {
            continue;
        };
        let Some(PodProbeAction::TcpSocket { port }) = kubelet_probe(svc, app, ctx) else {
            continue;
        };
        let message = format!(
            "{}'s readiness probe tcp-socket :{port} reaches the sidecar, which accepts every connect: it passes while the application is down or unreachable, and a broken pod stays an endpoint",
            svc.fqdn()
        );
        out.push(Finding {
            path: "readiness_probe".to_string(),
            ..Finding::about(
                "MS0303",
                format!("Deployment {}/{}", svc.namespace, svc.name),
                message,
            )
        });
    }
    out
}
