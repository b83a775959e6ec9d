//! Validation of the control-plane timeline events (`istio.push`,
//! `istio.delete`, `pod.delete`) and of `world.control_plane`'s push and
//! pod-start delays.

use std::time::Duration;

use super::Ctx;
use super::world::{MAX_LATENCY, bounded};
use crate::error::EngineError;
use crate::scenario::file::{ControlPlaneFile, EventFile, PodDeleteFile, ResourceRefFile};
use crate::scenario::{Action, PodStop, ResourceRef, ServiceSpec};

/// `world.control_plane.push_delay` (default 1 s) and `pod_start` (default 5 s).
pub(super) fn delays(
    cx: &Ctx<'_>,
    c: &ControlPlaneFile,
) -> Result<(Duration, Duration), EngineError> {
    let push = match &c.push_delay {
        Some(d) => bounded(cx, d, true, MAX_LATENCY)?,
        None => Duration::from_secs(1),
    };
    let start = match &c.pod_start {
        Some(d) => bounded(cx, d, true, Duration::from_secs(3600))?,
        None => Duration::from_secs(5),
    };
    Ok((push, start))
}

/// The control-plane action of `e`, if it has one.
pub(super) fn event(
    cx: &Ctx<'_>,
    e: &EventFile,
    services: &[ServiceSpec],
) -> Result<Option<Action>, EngineError> {
    if let Some(block) = &e.istio_push {
        let resources = super::istio_block(cx, block)?;
        for line in meshsim_istio::unmodelled(&resources) {
            tracing::warn!(file = %cx.path.display(), "istio.push: {line}");
        }
        return Ok(Some(Action::IstioPush {
            resources: Box::new(resources),
        }));
    }
    if let Some(list) = &e.istio_delete {
        let refs = list
            .iter()
            .map(|r| resource_ref(cx, r))
            .collect::<Result<_, _>>()?;
        return Ok(Some(Action::IstioDelete { refs }));
    }
    match &e.pod_delete {
        Some(p) => pod_delete(cx, p, services).map(Some),
        None => Ok(None),
    }
}

const KINDS: [&str; 4] = [
    "ServiceEntry",
    "VirtualService",
    "DestinationRule",
    "PeerAuthentication",
];

fn resource_ref(cx: &Ctx<'_>, r: &ResourceRefFile) -> Result<ResourceRef, EngineError> {
    if !KINDS.contains(&r.kind.value.as_str()) {
        let msg = format!(
            "unknown kind {:?}; use one of {}",
            r.kind.value,
            KINDS.join(", ")
        );
        return Err(cx.err(Some(&r.kind.referenced), "", msg));
    }
    if r.name.value.is_empty() {
        return Err(cx.err(Some(&r.name.referenced), "", "name must not be empty"));
    }
    Ok(ResourceRef {
        kind: r.kind.value.clone(),
        name: r.name.value.clone(),
        namespace: r.namespace.clone(),
    })
}

/// `pod.delete`: the pod is `<service>-<index>` of a known service, or
/// `<service>-<version>-<index>` of a versioned one.
fn pod_delete(
    cx: &Ctx<'_>,
    p: &PodDeleteFile,
    services: &[ServiceSpec],
) -> Result<Action, EngineError> {
    let name = &p.name.value;
    // `<service>-<n>`, or `<service>-<version>-<n>` for a versioned service.
    let known = name.rsplit_once('-').is_some_and(|(prefix, i)| {
        i.parse::<u32>().is_ok()
            && services.iter().any(|s| match s.versions.is_empty() {
                true => s.service.name == prefix,
                false => s
                    .versions
                    .iter()
                    .any(|v| format!("{}-{}", s.service.name, v.name) == prefix),
            })
    });
    if !known {
        let list: Vec<&str> = services.iter().map(|s| s.service.name.as_str()).collect();
        let msg = format!(
            "no service pod named {name:?}: pods are named <service>-<index> (e.g. {}-0), or <service>-<version>-<index> for a versioned service; services: {}",
            list.first().copied().unwrap_or("api"),
            list.join(", ")
        );
        return Err(cx.err(Some(&p.name.referenced), "", msg));
    }
    let how = match &p.how {
        None => PodStop::Close,
        Some(h) => match h.value.as_str() {
            "close" => PodStop::Close,
            "reset" => PodStop::Reset,
            "blackhole" => PodStop::Blackhole,
            other => {
                let msg = format!("unknown stop mode {other:?}; use close, reset or blackhole");
                return Err(cx.err(Some(&h.referenced), "", msg));
            }
        },
    };
    Ok(Action::PodDelete {
        name: name.clone(),
        how,
    })
}
