//! Validation of `world.middleboxes`.

use std::time::Duration;

use meshsim_net::OnExpiry;

use super::Ctx;
use super::world::bounded;
use crate::error::EngineError;
use crate::scenario::file::MiddleboxFile;
use crate::scenario::middlebox::{MiddleboxKind, MiddleboxSpec};
use crate::scenario::{ExternalSpec, PodSpec};

mod firewall;

/// The longest idle timer (AWS NLB's maximum is 6000 s; 1 day leaves room).
const MAX_IDLE: Duration = Duration::from_secs(86_400);

/// `world.middleboxes`, with their pods resolved to addresses.
pub(super) fn middleboxes(
    cx: &Ctx<'_>,
    list: &[MiddleboxFile],
    pods: &[PodSpec],
    external: &[ExternalSpec],
) -> Result<Vec<MiddleboxSpec>, EngineError> {
    let mut out: Vec<MiddleboxSpec> = Vec::new();
    for m in list {
        let spec = middlebox(cx, m, pods, external)?;
        if out.iter().any(|o| o.name == spec.name) {
            let msg = format!("middlebox {:?} is defined twice", spec.name);
            return Err(cx.err(Some(&m.name.referenced), "world.middleboxes", msg));
        }
        out.push(spec);
    }
    Ok(out)
}

fn middlebox(
    cx: &Ctx<'_>,
    m: &MiddleboxFile,
    pods: &[PodSpec],
    external: &[ExternalSpec],
) -> Result<MiddleboxSpec, EngineError> {
    if m.name.value.is_empty() {
        let msg = "name must not be empty";
        return Err(cx.err(Some(&m.name.referenced), "world.middleboxes", msg));
    }
    let kind = match m.kind.value.as_str() {
        "idle_timer" => idle_timer(cx, m)?,
        "dns_firewall" => MiddleboxKind::DnsFirewall(firewall::firewall(cx, m, external)?),
        other => {
            let msg = format!("unknown middlebox kind {other:?}; use idle_timer or dns_firewall");
            return Err(cx.err(Some(&m.kind.referenced), "world.middleboxes", msg));
        }
    };
    let (names, clients) = clients(cx, m, pods)?;
    Ok(MiddleboxSpec {
        name: m.name.value.clone(),
        pods: names,
        clients,
        kind,
    })
}

/// `kind: idle_timer`: `idle` (required) and `on_expiry`; the firewall's
/// keys are refused.
fn idle_timer(cx: &Ctx<'_>, m: &MiddleboxFile) -> Result<MiddleboxKind, EngineError> {
    firewall::refuse_keys(cx, m, "idle_timer", &firewall::FIREWALL_KEYS)?;
    let Some(idle) = &m.idle else {
        let msg = "an idle_timer needs `idle` (e.g. 350s)";
        return Err(cx.err(Some(&m.kind.referenced), "world.middleboxes", msg));
    };
    let on_expiry = match m.on_expiry.as_ref().map(|v| (v, v.value.as_str())) {
        None | Some((_, "reset")) => OnExpiry::Reset,
        Some((_, "drop")) => OnExpiry::Drop,
        Some((v, other)) => {
            let msg = format!("unknown on_expiry {other:?}; use reset or drop");
            return Err(cx.err(Some(&v.referenced), "world.middleboxes", msg));
        }
    };
    Ok(MiddleboxKind::IdleTimer {
        idle: bounded(cx, idle, false, MAX_IDLE)?,
        on_expiry,
    })
}

/// The pods behind the box and their addresses: the named entry pods, or
/// every one when `pods` is absent.
fn clients(
    cx: &Ctx<'_>,
    m: &MiddleboxFile,
    pods: &[PodSpec],
) -> Result<(Vec<String>, Vec<std::net::IpAddr>), EngineError> {
    let Some(list) = &m.pods else {
        let names = pods.iter().map(|p| p.name.clone()).collect();
        return Ok((names, pods.iter().map(|p| p.address).collect()));
    };
    let mut names = Vec::new();
    let mut addrs = Vec::new();
    for n in list {
        let Some(pod) = pods.iter().find(|p| p.name == n.value) else {
            let known: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
            let msg = format!(
                "unknown pod {:?}; the entry pods (world.pods) are: {}",
                n.value,
                known.join(", ")
            );
            return Err(cx.err(Some(&n.referenced), "world.middleboxes", msg));
        };
        if !names.contains(&pod.name) {
            names.push(pod.name.clone());
            addrs.push(pod.address);
        }
    }
    Ok((names, addrs))
}
