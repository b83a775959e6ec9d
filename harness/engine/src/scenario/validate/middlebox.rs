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

/// An idle timer's defaults by product (incidents.md A4): `preset`'s name,
/// its idle time in seconds and what a forgotten flow meets.
const PRESETS: [(&str, u64, OnExpiry); 7] = [
    ("aws-nlb", 350, OnExpiry::Reset),
    ("aws-nat-gateway", 350, OnExpiry::Reset),
    ("aws-network-firewall", 350, OnExpiry::Drop),
    ("azure-lb", 240, OnExpiry::Drop),
    ("azure-lb-tcp-reset", 240, OnExpiry::ResetAtExpiry),
    ("azure-nat-gateway", 240, OnExpiry::Reset),
    ("gcp-cloud-nat", 1200, OnExpiry::Drop),
];

/// `kind: idle_timer`: `preset` (a product's defaults), `idle` (required
/// without a preset) and `on_expiry`, each overriding the preset; the
/// firewall's keys are refused.
fn idle_timer(cx: &Ctx<'_>, m: &MiddleboxFile) -> Result<MiddleboxKind, EngineError> {
    firewall::refuse_keys(cx, m, "idle_timer", &firewall::FIREWALL_KEYS)?;
    let names: Vec<(&str, usize)> = PRESETS.iter().enumerate().map(|(i, p)| (p.0, i)).collect();
    let preset = firewall::choice(cx, &m.preset, "preset", &names)?.map(|i| PRESETS[i]);
    let idle = match (&m.idle, preset) {
        (Some(idle), _) => bounded(cx, idle, false, MAX_IDLE)?,
        (None, Some((_, secs, _))) => Duration::from_secs(secs),
        (None, None) => {
            let known: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            let msg = format!(
                "an idle_timer needs `idle` (e.g. 350s) or a `preset` ({})",
                known.join(", ")
            );
            return Err(cx.err(Some(&m.kind.referenced), "world.middleboxes", msg));
        }
    };
    let expiries = [
        ("reset", OnExpiry::Reset),
        ("drop", OnExpiry::Drop),
        ("reset_at_expiry", OnExpiry::ResetAtExpiry),
    ];
    let on_expiry = firewall::choice(cx, &m.on_expiry, "on_expiry", &expiries)?
        .or(preset.map(|p| p.2))
        .unwrap_or_default();
    Ok(MiddleboxKind::IdleTimer { idle, on_expiry })
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
