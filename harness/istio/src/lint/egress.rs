//! Rules on egress under `outboundTrafficPolicy: REGISTRY_ONLY` (fact
//! sheet §3.4; incidents.md INC-27): a sidecar reaches only the hosts and
//! ports the registry declares. An undeclared host on a port with an HTTP
//! listener gets `block_all`'s direct 502; anything else meets
//! BlackHoleCluster (accepted, then closed).

use std::net::IpAddr;

use meshsim_sidecar::OutboundTrafficPolicy;

use super::{Finding, HostFacts, LintContext};
use crate::model::{Resources, ServiceEntry};
use crate::validate::names::hosts_match;

const POLICY_PATH: &str = "spec.meshConfig.outboundTrafficPolicy.mode";

/// Whether the mesh is `REGISTRY_ONLY`.
pub(crate) fn registry_only(res: &Resources) -> bool {
    let mode = res
        .mesh_config
        .as_ref()
        .and_then(|m| m.outbound_traffic_policy);
    matches!(mode, Some(OutboundTrafficPolicy::RegistryOnly))
}

/// The ServiceEntries that declare `host` (by name, or by address for an IP).
fn declaring<'a>(res: &'a Resources, host: &'a str) -> impl Iterator<Item = &'a ServiceEntry> {
    let ip = host.parse::<IpAddr>().ok();
    res.service_entries.iter().filter(move |se| {
        !se.from_kubernetes
            && (se.hosts.iter().any(|h| hosts_match(h, host))
                || ip.is_some_and(|ip| se.addresses.iter().any(|a| a == &ip.to_string())))
    })
}

/// Whether `host` is a Kubernetes Service of the mesh (by FQDN or VIP).
fn is_service(res: &Resources, ctx: &LintContext, host: &str) -> bool {
    res.kube_services
        .iter()
        .chain(&ctx.services)
        .any(|s| s.fqdn() == host || s.cluster_ip.to_string() == host)
}

/// Whether a sidecar under REGISTRY_ONLY blocks every call to `host`
/// (no Service, no ServiceEntry).
pub(crate) fn blocked(res: &Resources, ctx: &LintContext, host: &str) -> bool {
    registry_only(res) && !is_service(res, ctx, host) && declaring(res, host).next().is_none()
}

/// A finding positioned at the mesh's `outboundTrafficPolicy`, about `host`.
fn at_policy(code: &'static str, res: &Resources, host: &str, message: String) -> Finding {
    let resource = format!("host {host}");
    match &res.mesh_config {
        Some(m) => Finding {
            resource,
            ..Finding::at(code, "IstioOperator", &m.meta, POLICY_PATH, message)
        },
        None => Finding::about(code, resource, message),
    }
}

/// MS0205 and MS0206: under REGISTRY_ONLY, every host the scenario's
/// sidecars call that the registry does not declare, and every port called
/// on a declared external host that no ServiceEntry of it lists.
pub(crate) fn registry_only_undeclared(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    if !registry_only(res) {
        return out;
    }
    for (host, facts) in ctx.hosts.iter().filter(|(_, f)| f.via_sidecar) {
        if is_service(res, ctx, host) {
            continue;
        }
        let entries: Vec<&ServiceEntry> = declaring(res, host).collect();
        if entries.is_empty() {
            let message = format!(
                "REGISTRY_ONLY, and no ServiceEntry declares {host}, which the scenario's applications call{}: an HTTP call gets block_all's direct 502, any other connection BlackHoleCluster's close",
                on_ports(facts)
            );
            out.push(at_policy("MS0205", res, host, message));
            continue;
        }
        out.extend(missing_ports(host, facts, &entries));
    }
    out
}

fn on_ports(facts: &HostFacts) -> String {
    if facts.ports.is_empty() {
        return String::new();
    }
    let ports: Vec<String> = facts.ports.iter().map(u16::to_string).collect();
    format!(" on port(s) {}", ports.join(", "))
}

/// MS0206: the ports called on `host` that none of its ServiceEntries lists.
fn missing_ports(host: &str, facts: &HostFacts, entries: &[&ServiceEntry]) -> Vec<Finding> {
    let mut out = Vec::new();
    for port in &facts.ports {
        let listed = entries
            .iter()
            .any(|se| se.ports.iter().any(|p| p.number == u32::from(*port)));
        if listed {
            continue;
        }
        let se = entries[0];
        let declared: Vec<String> = entries
            .iter()
            .flat_map(|se| se.ports.iter().map(|p| p.number.to_string()))
            .collect();
        let message = format!(
            "REGISTRY_ONLY, and the ServiceEntry for {host} declares port(s) [{}] but the scenario's applications call port {port}: those calls meet block_all (HTTP, direct 502) or BlackHoleCluster",
            declared.join(", ")
        );
        out.push(Finding::at(
            "MS0206",
            "ServiceEntry",
            &se.meta,
            "spec.ports",
            message,
        ));
    }
    out
}
