//! Validation of a service's readiness probe and pod template annotations,
//! in `world.services[]` and in `mitigations[].services[]`.

use std::collections::BTreeMap;
use std::time::Duration;

use meshsim_istio::inject::PodProbeAction;
use serde_saphyr::Spanned;

use super::super::Ctx;
use super::super::world::bounded;
use crate::error::EngineError;
use crate::scenario::file::{ProbeFile, ServicePortsFile};
use crate::scenario::{PodTemplateOverride, ProbeSpec, ServiceSpec};

/// The longest probe period, timeout or initial delay.
const MAX_PROBE_TIME: Duration = Duration::from_secs(3600);
/// The highest failure or success threshold.
const MAX_THRESHOLD: u32 = 1000;

/// A `readiness_probe`; a port left out is `default_port` (the service's
/// first target port).
pub(super) fn probe(
    cx: &Ctx<'_>,
    p: &Spanned<ProbeFile>,
    default_port: u16,
) -> Result<ProbeSpec, EngineError> {
    let f = &p.value;
    let port = |port: &Option<Spanned<u16>>| match port {
        Some(s) if s.value == 0 => Err(cx.err(Some(&s.referenced), "", "port 0 cannot be probed")),
        Some(s) => Ok(s.value),
        None => Ok(default_port),
    };
    let action = match (&f.http_get, &f.tcp_socket, &f.exec) {
        (Some(h), None, None) => {
            let path = &h.value.path;
            if !path.value.starts_with('/') {
                let msg = format!("probe path {:?} must start with /", path.value);
                return Err(cx.err(Some(&path.referenced), "", msg));
            }
            PodProbeAction::HttpGet {
                path: path.value.clone(),
                port: port(&h.value.port)?,
            }
        }
        (None, Some(t), None) => PodProbeAction::TcpSocket {
            port: port(&t.value.port)?,
        },
        (None, None, Some(_)) => PodProbeAction::Exec,
        _ => {
            let msg = "a probe has exactly one of http_get, tcp_socket, exec";
            return Err(cx.err(Some(&p.referenced), "", msg));
        }
    };
    let time = |d: &Option<Spanned<meshsim_core::HumanDuration>>, zero_ok, default| {
        d.as_ref()
            .map_or(Ok(default), |d| bounded(cx, d, zero_ok, MAX_PROBE_TIME))
    };
    Ok(ProbeSpec {
        action,
        period: time(&f.period, false, Duration::from_secs(10))?,
        timeout: time(&f.timeout, false, Duration::from_secs(1))?,
        failure_threshold: threshold(cx, &f.failure_threshold, 3)?,
        success_threshold: threshold(cx, &f.success_threshold, 1)?,
        initial_delay: time(&f.initial_delay, true, Duration::ZERO)?,
    })
}

fn threshold(cx: &Ctx<'_>, t: &Option<Spanned<u32>>, default: u32) -> Result<u32, EngineError> {
    match t {
        Some(t) if t.value == 0 || t.value > MAX_THRESHOLD => {
            let msg = format!(
                "threshold {} is out of range: 1 up to {MAX_THRESHOLD}",
                t.value
            );
            Err(cx.err(Some(&t.referenced), "", msg))
        }
        Some(t) => Ok(t.value),
        None => Ok(default),
    }
}

/// Annotations as plain strings.
pub(super) fn annotations(map: &BTreeMap<String, Spanned<String>>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect()
}

/// A mitigation's `services[].annotations` and `readiness_probe`, by
/// service (entries that set neither are left out).
pub(crate) fn pod_templates(
    cx: &Ctx<'_>,
    list: &[ServicePortsFile],
    services: &[ServiceSpec],
) -> Result<BTreeMap<String, PodTemplateOverride>, EngineError> {
    let mut out = BTreeMap::new();
    for o in list {
        // `port_overrides` has checked that the service exists.
        let Some(svc) = services.iter().find(|s| s.service.name == o.name.value) else {
            continue;
        };
        let readiness_probe = o
            .readiness_probe
            .as_ref()
            .map(|p| probe(cx, p, first_target_port(&svc.service.ports)))
            .transpose()?;
        if o.annotations.is_empty() && readiness_probe.is_none() {
            continue;
        }
        let template = PodTemplateOverride {
            annotations: annotations(&o.annotations),
            readiness_probe,
        };
        out.insert(o.name.value.clone(), template);
    }
    Ok(out)
}

/// The port a probe without one checks: the service's first target port.
pub(super) fn first_target_port(ports: &[meshsim_istio::KubeServicePort]) -> u16 {
    ports.first().map_or(8080, |p| p.target_port)
}
