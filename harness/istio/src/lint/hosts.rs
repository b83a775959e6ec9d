//! Rules on how hosts are reached: port protocols (fact sheet §7),
//! resolution (§3) and upstream idle timeouts (§4).

use std::time::Duration;

use meshsim_sidecar::OutboundTrafficPolicy;

use super::{Finding, LintContext, show};
use crate::kube::{KubeService, resolve_short_name};
use crate::model::{DestinationRule, Resolution, Resources, ServiceEntry};
use crate::validate::names::hosts_match;

/// Envoy's default upstream idle timeout (§4.1).
const ENVOY_IDLE: Duration = Duration::from_secs(3600);
/// PassthroughCluster's upstream idle timeout (§3.4).
const PASSTHROUGH_IDLE: Duration = Duration::from_secs(300);

/// MS0101: a ServiceEntry port without `protocol`, or a Kubernetes Service
/// port whose name has no protocol prefix and no `appProtocol`: Istio sniffs
/// it (§7.1, §7.2).
pub(crate) fn port_protocol(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for se in res.service_entries.iter().filter(|se| !se.from_kubernetes) {
        if se.hosts.iter().all(|h| only_plain_http(ctx, h)) {
            continue;
        }
        for (j, p) in se.ports.iter().enumerate() {
            if p.is_sniffed() {
                let message = format!(
                    "port {} ({:?}) has no protocol: Istio sniffs it (server-first protocols hang, HTTPS goes to TCP proxying)",
                    p.number, p.name
                );
                out.push(Finding::at(
                    "MS0101",
                    "ServiceEntry",
                    &se.meta,
                    &format!("spec.ports[{j}]"),
                    message,
                ));
            }
        }
    }
    let services = res.kube_services.iter().chain(&ctx.services);
    for svc in services.filter(|s| !only_plain_http(ctx, &s.fqdn())) {
        out.extend(service_ports(svc));
    }
    out
}

/// Whether the scenario knows that every call to `host` is plain HTTP
/// (`http://`): sniffing finds the HTTP request line at once and takes the
/// HTTP chain (§7.2), so an undeclared protocol is harmless there.
fn only_plain_http(ctx: &LintContext, host: &str) -> bool {
    ctx.hosts
        .get(host)
        .is_some_and(|f| !f.schemes.is_empty() && f.schemes.iter().all(|s| s == "http"))
}

fn service_ports(svc: &KubeService) -> Vec<Finding> {
    let mut out = Vec::new();
    for (j, p) in svc.ports.iter().enumerate() {
        // Unnamed 25, 53, 3306 and 27017 are TCP, not sniffed (§7.1).
        if p.protocol().is_none() {
            let message = format!(
                "port {} name {:?} has no protocol prefix and no appProtocol: Istio sniffs it (server-first protocols hang, HTTPS goes to TCP proxying)",
                p.port, p.name
            );
            let resource = format!("Service {}/{}", svc.namespace, svc.name);
            out.push(Finding {
                path: format!("spec.ports[{j}]"),
                ..Finding::about("MS0101", resource, message)
            });
        }
    }
    out
}

/// The ServiceEntries (not Kubernetes Services) that cover `host`.
fn entries_for<'a>(
    res: &'a Resources,
    host: &'a str,
) -> impl Iterator<Item = &'a ServiceEntry> + 'a {
    res.service_entries
        .iter()
        .filter(move |se| !se.from_kubernetes && se.hosts.iter().any(|h| hosts_match(h, host)))
}

/// Whether traffic to a host no ServiceEntry covers goes through
/// PassthroughCluster (`ALLOW_ANY`, the default).
fn allow_any(res: &Resources) -> bool {
    let mode = res
        .mesh_config
        .as_ref()
        .and_then(|m| m.outbound_traffic_policy);
    !matches!(mode, Some(OutboundTrafficPolicy::RegistryOnly))
}

/// Whether `host` is a Kubernetes Service of the mesh (EDS, never passthrough).
fn is_service(res: &Resources, ctx: &LintContext, host: &str) -> bool {
    res.kube_services
        .iter()
        .chain(&ctx.services)
        .any(|s| s.fqdn() == host)
}

/// MS0201: resolution `NONE` (ORIGINAL_DST), or no ServiceEntry at all
/// (PassthroughCluster, also ORIGINAL_DST), for a host whose DNS answers
/// change: connections stay pinned to the address the app dialled (§3.1,
/// §3.3, §3.4).
pub(crate) fn resolution_none_with_dns_changes(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for (host, facts) in ctx.hosts.iter().filter(|(_, f)| f.via_sidecar) {
        let Some(why) = &facts.dns_changes else {
            continue;
        };
        let entries: Vec<&ServiceEntry> = entries_for(res, host).collect();
        for se in entries
            .iter()
            .filter(|se| se.resolution == Resolution::None)
        {
            let message = format!(
                "resolution NONE (ORIGINAL_DST) for {host}, whose DNS answers change ({why}): each connection stays pinned to the address the app dialled"
            );
            out.push(Finding::at(
                "MS0201",
                "ServiceEntry",
                &se.meta,
                "spec.resolution",
                message,
            ));
        }
        if entries.is_empty() && allow_any(res) && !is_service(res, ctx, host) {
            let message = format!(
                "no ServiceEntry for {host}, whose DNS answers change ({why}): the sidecar forwards through PassthroughCluster (ORIGINAL_DST), pinned to the address the app dialled"
            );
            out.push(Finding::about("MS0201", format!("host {host}"), message));
        }
    }
    out
}

/// The DestinationRule for `host` and its idle timeout with the key path it
/// is set at (`http.idleTimeout`, else `tcp.idleTimeout`).
fn explicit_idle<'a>(
    res: &'a Resources,
    host: &str,
) -> Option<(&'a DestinationRule, &'static str, Duration)> {
    res.destination_rules
        .iter()
        .filter(|dr| {
            hosts_match(
                &resolve_short_name(&dr.host, dr.meta.namespace.as_deref()),
                host,
            )
        })
        .find_map(|dr| {
            let pool = dr.traffic_policy.as_ref()?.connection_pool.as_ref()?;
            let http = pool.http.as_ref().and_then(|h| h.idle_timeout);
            let tcp = pool.tcp.as_ref().and_then(|t| t.idle_timeout);
            match (http, tcp) {
                (Some(d), _) => Some((dr, "http.idleTimeout", d)),
                (None, Some(d)) => Some((dr, "tcp.idleTimeout", d)),
                _ => None,
            }
        })
}

/// The upstream idle timeout Envoy uses for `host` without a
/// DestinationRule: PassthroughCluster's 5 min, else Envoy's 1 h.
fn default_idle(res: &Resources, ctx: &LintContext, host: &str) -> (Duration, &'static str) {
    let passthrough =
        entries_for(res, host).next().is_none() && allow_any(res) && !is_service(res, ctx, host);
    if passthrough {
        (PASSTHROUGH_IDLE, "PassthroughCluster's")
    } else {
        (ENVOY_IDLE, "Envoy's default")
    }
}

/// A finding at the DestinationRule's idle timeout, or about the host when
/// the default applies.
fn idle_finding(
    code: &'static str,
    res: &Resources,
    ctx: &LintContext,
    host: &str,
    limit: Duration,
    what: &str,
) -> Option<Finding> {
    if let Some((dr, field, idle)) = explicit_idle(res, host) {
        let message = format!(
            "upstream idle timeout {} ({field}) >= {what} {} for {host}: {}",
            show(idle),
            show(limit),
            consequence(code)
        );
        let path = format!("spec.trafficPolicy.connectionPool.{field}");
        return (idle >= limit)
            .then(|| Finding::at(code, "DestinationRule", &dr.meta, &path, message));
    }
    let (idle, whose) = default_idle(res, ctx, host);
    let message = format!(
        "{whose} upstream idle timeout {} (no DestinationRule idleTimeout) >= {what} {} for {host}: {}",
        show(idle),
        show(limit),
        consequence(code)
    );
    if idle < limit {
        return None;
    }
    Some(match entries_for(res, host).next() {
        Some(se) => Finding::at(code, "ServiceEntry", &se.meta, "spec.hosts", message),
        None => Finding::about(code, format!("host {host}"), message),
    })
}

fn consequence(code: &str) -> &'static str {
    if code == "MS0204" {
        "a pooled connection idle longer than that meets a forgotten flow (reset or silence)"
    } else {
        "a request may reuse a connection just as the server closes it (503 UC, reset reason connection termination)"
    }
}

/// MS0202 / MS0203: the upstream idle timeout (a DestinationRule's, or the
/// default) is at or above the server's keep-alive timeout (§4.1, §4.2).
pub(crate) fn idle_timeout_vs_keepalive(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for (host, facts) in ctx.hosts.iter().filter(|(_, f)| f.via_sidecar) {
        let Some(keepalive) = facts.keepalive_timeout else {
            continue;
        };
        if super::egress::blocked(res, ctx, host) {
            continue;
        }
        let code = if explicit_idle(res, host).is_some() {
            "MS0202"
        } else {
            "MS0203"
        };
        out.extend(idle_finding(
            code,
            res,
            ctx,
            host,
            keepalive,
            "the server's keep-alive timeout",
        ));
    }
    out
}

/// MS0204: the upstream idle timeout is at or above a middlebox's idle
/// timer on the path, and no TCP keepalive probe comes sooner (§4.1, §4.2).
pub(crate) fn idle_timeout_vs_middlebox(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for (host, facts) in ctx.hosts.iter().filter(|(_, f)| f.via_sidecar) {
        let Some(limit) = &facts.idle_limit else {
            continue;
        };
        if super::egress::blocked(res, ctx, host) {
            continue;
        }
        if keepalive_probe(res, host).is_some_and(|t| t < limit.idle) {
            continue;
        }
        let what = format!("middlebox {}'s idle timer", limit.middlebox);
        out.extend(idle_finding("MS0204", res, ctx, host, limit.idle, &what));
    }
    out
}

/// The TCP keepalive probe time for `host`: the DestinationRule's, else the
/// mesh's (§4.2).
fn keepalive_probe(res: &Resources, host: &str) -> Option<Duration> {
    let dr = res
        .destination_rules
        .iter()
        .filter(|dr| {
            hosts_match(
                &resolve_short_name(&dr.host, dr.meta.namespace.as_deref()),
                host,
            )
        })
        .find_map(|dr| {
            dr.traffic_policy
                .as_ref()?
                .connection_pool
                .as_ref()?
                .tcp
                .as_ref()?
                .tcp_keepalive
                .as_ref()?
                .time
        });
    dr.or_else(|| res.mesh_config.as_ref()?.tcp_keepalive.as_ref()?.time)
}
