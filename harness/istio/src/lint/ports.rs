//! Rules on the protocol a port is declared with (fact sheet §7): HTTP
//! rules on a port Istio takes for TCP, and h2c toward an HTTP/1.1-only app.

use super::{Finding, LintContext};
use crate::kube::KubeService;
use crate::model::{HttpRoute, Protocol, Resources, VirtualService};
use crate::validate::names::hosts_match;

/// One port of a host as Istio's registry declares it.
struct DeclaredPort {
    /// The port number callers use (a Service's `port`).
    number: u32,
    /// Whether its listener has the HTTP chain (declared HTTP-like or sniffed).
    http: bool,
    /// How it is declared, for messages: `Service default/catalog port 8080
    /// "tcp-web"`.
    what: String,
}

/// Every port the registry declares for `host`: Kubernetes Services' and
/// ServiceEntries'.
fn declared_ports(res: &Resources, ctx: &LintContext, host: &str) -> Vec<DeclaredPort> {
    let mut out = Vec::new();
    for svc in services(res, ctx).filter(|s| hosts_match(host, &s.fqdn())) {
        out.extend(svc.ports.iter().map(|p| DeclaredPort {
            number: u32::from(p.port),
            http: p.protocol().is_none_or(Protocol::is_http),
            what: format!(
                "Service {}/{} port {} {:?}{}",
                svc.namespace,
                svc.name,
                p.port,
                p.name,
                p.app_protocol
                    .as_ref()
                    .map_or(String::new(), |a| format!(" (appProtocol {a})"))
            ),
        }));
    }
    let entries = res.service_entries.iter().filter(|se| !se.from_kubernetes);
    for se in entries.filter(|se| se.hosts.iter().any(|h| hosts_match(h, host))) {
        out.extend(se.ports.iter().map(|p| DeclaredPort {
            number: p.number,
            http: p.is_http(),
            what: format!(
                "ServiceEntry {} port {} {:?}",
                se.meta.name, p.number, p.name
            ),
        }));
    }
    out
}

/// The mesh's Kubernetes Services: the resources' and the scenario's.
fn services<'a>(res: &'a Resources, ctx: &'a LintContext) -> impl Iterator<Item = &'a KubeService> {
    res.kube_services.iter().chain(&ctx.services)
}

/// The ports a route can apply to: its matches' `port`s when every match
/// names one, else every port.
fn route_ports<'p>(route: &HttpRoute, ports: &'p [DeclaredPort]) -> Vec<&'p DeclaredPort> {
    let named: Option<Vec<u32>> = (!route.matches.is_empty())
        .then(|| route.matches.iter().map(|m| m.port).collect())
        .flatten();
    ports
        .iter()
        .filter(|p| named.as_ref().is_none_or(|n| n.contains(&p.number)))
        .collect()
}

/// MS0109: a VirtualService's `http` route for a host whose ports (those
/// the route can apply to) are all TCP-like: the listener has no HTTP
/// chain, so the route's matches, retries and timeouts never apply; the
/// connection is proxied byte for byte (§7.1, §7.3).
pub(crate) fn http_rules_on_tcp_port(
    vs: &VirtualService,
    res: &Resources,
    ctx: &LintContext,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if !vs.applies_to_mesh() {
        return out;
    }
    for (i, route) in vs.http.iter().enumerate() {
        for host in &vs.hosts {
            let ports = declared_ports(res, ctx, host);
            let applicable = route_ports(route, &ports);
            if applicable.is_empty() || applicable.iter().any(|p| p.http) {
                continue;
            }
            let what: Vec<&str> = applicable.iter().map(|p| p.what.as_str()).collect();
            let http_callers = ctx.matching(host).any(|(_, f)| f.schemes.contains("http"));
            let callers = if http_callers {
                "; the scenario's applications send it HTTP, which is proxied as TCP"
            } else {
                ""
            };
            let message = format!(
                "http route for {host}, whose {} Istio takes for TCP (tcp_proxy): its matches, retries and timeouts never apply{callers}",
                what.join(", ")
            );
            out.push(Finding::at(
                "MS0109",
                "VirtualService",
                &vs.meta,
                &format!("spec.http[{i}]"),
                message,
            ));
            break;
        }
    }
    out
}

/// MS0110: a Service port declared `http2` or `grpc` (name prefix or
/// `appProtocol`) in front of an application the scenario knows speaks
/// HTTP/1.1 only: a sidecar on the path speaks h2c to it, and the
/// application rejects the preface (§7.1).
pub(crate) fn http2_port_to_http1_app(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in services(res, ctx) {
        let fqdn = svc.fqdn();
        let Some(app) = ctx.apps.get(&fqdn) else {
            continue;
        };
        let via_sidecar = ctx.hosts.get(&fqdn).is_some_and(|f| f.via_sidecar);
        if app.http2 || !(app.sidecar || via_sidecar) {
            continue;
        }
        for (j, p) in svc.ports.iter().enumerate() {
            let Some(proto @ (Protocol::Http2 | Protocol::Grpc)) = p.protocol() else {
                continue;
            };
            let spelled = if proto == Protocol::Grpc {
                "GRPC"
            } else {
                "HTTP2"
            };
            let message = format!(
                "port {} {:?} is declared {spelled}: the sidecar speaks h2c to {}'s application, which serves HTTP/1.1 only and rejects the HTTP/2 preface (5xx for every request)",
                p.port, p.name, svc.name
            );
            out.push(Finding {
                path: format!("spec.ports[{j}]"),
                ..Finding::about(
                    "MS0110",
                    format!("Service {}/{}", svc.namespace, svc.name),
                    message,
                )
            });
        }
    }
    out
}
