//! Outbound HTTP routes (pilot's `httproute.go` and `route.go`).
//!
//! Every ServiceEntry host on an HTTP port gets a virtual host with domains
//! `[host, host:port]` and Istio's default route: prefix `/`, route timeout
//! disabled, the default retry policy. A VirtualService then replaces those
//! routes on the virtual hosts of the services it names, on each of their
//! HTTP ports. VirtualService hosts that name no ServiceEntry get virtual
//! hosts of their own on those ports, or on port 80 when the VirtualService
//! names no service at all (pilot does the same). The first VirtualService (in
//! document order) to claim a host and port wins.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use meshsim_sidecar::config::{Route, VirtualHost};
use meshsim_sidecar::route::ClusterWeight;

use super::registry::{Registry, cluster_name};
use super::route_match;
use crate::model::{Destination, HttpRoute, Resources, ServiceEntry, VirtualService};
use crate::retry;
use crate::version::{IstioVersion, MeshConfig};

type Key = (String, u16);

/// The virtual hosts of one sidecar.
pub(crate) fn build(
    res: &Resources,
    registry: &Registry<'_>,
    version: IstioVersion,
    mesh: &MeshConfig,
) -> Vec<VirtualHost> {
    let mut hosts: Vec<VirtualHost> = Vec::new();
    let mut index: BTreeMap<Key, usize> = BTreeMap::new();
    for e in registry.entries().iter().filter(|e| e.port.is_http()) {
        let route = Route {
            name: "default".to_string(),
            prefix: "/".to_string(),
            cluster: e.cluster_name(),
            timeout: None,
            retry_policy: retry::route_retry_policy(None, version, mesh),
            ..Route::default()
        };
        index.insert((e.host.to_string(), e.number), hosts.len());
        let mut vh = virtual_host(e.host, e.number, vec![route]);
        if e.se.from_kubernetes {
            vh.domains = kube_domains(e.se, e.number);
        }
        hosts.push(vh);
    }
    let mut claimed: BTreeSet<Key> = BTreeSet::new();
    let cx = Cx {
        registry,
        version,
        mesh,
    };
    for vs in res
        .virtual_services
        .iter()
        .filter(|vs| vs.applies_to_mesh())
    {
        apply_virtual_service(&cx, vs, &mut hosts, &mut index, &mut claimed);
    }
    hosts
}

struct Cx<'a, 'r> {
    registry: &'a Registry<'r>,
    version: IstioVersion,
    mesh: &'a MeshConfig,
}

fn virtual_host(host: &str, port: u16, routes: Vec<Route>) -> VirtualHost {
    VirtualHost {
        name: format!("{host}:{port}"),
        port,
        domains: vec![host.to_string(), format!("{host}:{port}")],
        routes,
    }
}

/// A Kubernetes Service's domains, each bare and with `:port` (pilot lists
/// the short names for clients in the service's namespace; meshsim's clients
/// all are).
fn kube_domains(se: &ServiceEntry, port: u16) -> Vec<String> {
    let ns = se.meta.namespace.as_deref().unwrap_or("default");
    crate::kube::domains(&se.meta.name, ns, &se.addresses)
        .into_iter()
        .flat_map(|d| [d.clone(), format!("{d}:{port}")])
        .collect()
}

fn apply_virtual_service(
    cx: &Cx<'_, '_>,
    vs: &VirtualService,
    hosts: &mut Vec<VirtualHost>,
    index: &mut BTreeMap<Key, usize>,
    claimed: &mut BTreeSet<Key>,
) {
    let mut services: BTreeSet<Key> = BTreeSet::new();
    let mut plain: Vec<&str> = Vec::new();
    for host in &vs.hosts {
        let matched: Vec<Key> = cx
            .registry
            .matching(host)
            .filter(|e| e.port.is_http())
            .map(|e| (e.host.to_string(), e.number))
            .collect();
        if matched.is_empty() && !cx.registry.matching(host).any(|_| true) {
            plain.push(host);
        }
        services.extend(matched);
    }
    let mut ports: BTreeSet<u16> = services.iter().map(|(_, p)| *p).collect();
    if ports.is_empty() {
        ports.insert(80);
    }
    for port in ports {
        let routes = build_routes(cx, vs, port);
        if routes.is_empty() {
            continue;
        }
        for key in services.iter().filter(|(_, p)| *p == port) {
            if let (true, Some(&i)) = (claimed.insert(key.clone()), index.get(key)) {
                hosts[i].routes = routes.clone();
            }
        }
        for host in &plain {
            let key = (host.to_string(), port);
            if claimed.insert(key.clone()) {
                index.insert(key, hosts.len());
                hosts.push(virtual_host(host, port, routes.clone()));
            }
        }
    }
}

/// Istio's route name: the HTTPRoute name, with `.<match name>` appended.
fn route_name(route: Option<&str>, matched: Option<&str>) -> String {
    match (route, matched) {
        (Some(r), Some(m)) => format!("{r}.{m}"),
        (Some(r), None) => r.to_string(),
        (None, Some(m)) => format!(".{m}"),
        (None, None) => String::new(),
    }
}

/// The Envoy routes of `vs` on listener port `port`: one per match entry
/// (entries are alternatives), in order, each carrying the HTTPRoute's
/// destinations, timeout, retry policy and fault.
fn build_routes(cx: &Cx<'_, '_>, vs: &VirtualService, port: u16) -> Vec<Route> {
    let mut out = Vec::new();
    for http in &vs.http {
        let Some((cluster, weighted_clusters)) = destinations(cx, http, port) else {
            continue;
        };
        let base = Route {
            cluster,
            weighted_clusters,
            timeout: http.timeout.filter(|t| *t > Duration::ZERO),
            retry_policy: retry::route_retry_policy(http.retries.as_ref(), cx.version, cx.mesh),
            fault: http.fault.as_ref().and_then(route_match::fault),
            ..Route::default()
        };
        let matches: Vec<_> = match http.matches.is_empty() {
            true => vec![None],
            false => http
                .matches
                .iter()
                .filter(|m| m.port.is_none_or(|p| p == u32::from(port)))
                .map(Some)
                .collect(),
        };
        for m in matches {
            let Some((prefix, matcher)) = route_match::route_match(m) else {
                continue;
            };
            out.push(Route {
                name: route_name(http.name.as_deref(), m.and_then(|m| m.name.as_deref())),
                prefix,
                matcher,
                ..base.clone()
            });
        }
    }
    out
}

/// Where an HTTPRoute sends traffic: a single destination is the route's
/// cluster (its weight is ignored); several become Envoy weighted clusters,
/// weight-0 destinations dropped (pilot `applyHTTPRouteDestination`). The
/// plain `cluster` is then the first kept one (unused while weighted).
fn destinations(
    cx: &Cx<'_, '_>,
    http: &HttpRoute,
    listener_port: u16,
) -> Option<(String, Vec<ClusterWeight>)> {
    if let [only] = http.route.as_slice() {
        return Some((
            destination_cluster(cx, &only.destination, listener_port),
            vec![],
        ));
    }
    let weighted: Vec<ClusterWeight> = http
        .route
        .iter()
        .filter(|rd| rd.weight > 0)
        .map(|rd| ClusterWeight {
            name: destination_cluster(cx, &rd.destination, listener_port),
            weight: rd.weight.unsigned_abs(),
        })
        .collect();
    let first = weighted.first()?.name.clone();
    Some((first, weighted))
}

/// Istio's `GetDestinationCluster` for one destination: the destination's
/// port, else the service's only port, else the listener port.
fn destination_cluster(cx: &Cx<'_, '_>, d: &Destination, listener_port: u16) -> String {
    let port = match d.port.and_then(|p| u16::try_from(p).ok()) {
        Some(p) => p,
        None => match cx.registry.ports_of(&d.host).as_slice() {
            [only] => *only,
            _ => listener_port,
        },
    };
    cluster_name(port, d.subset.as_deref(), &d.host)
}
