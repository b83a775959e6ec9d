//! Outbound clusters (pilot's `cluster.go`, `cluster_traffic_policy.go`).
//!
//! Resolution -> discovery (fact sheet §3.3): `NONE` -> ORIGINAL_DST, `STATIC`
//! -> fixed endpoints (EDS), `DNS` -> STRICT_DNS, `DNS_ROUND_ROBIN` ->
//! LOGICAL_DNS. DNS clusters get Istio's refresh settings (respect TTL from
//! 1.3, mesh `dnsRefreshRate`, jitter). The DestinationRule's connection pool
//! (§4.2) sets connect timeout, idle timeout, max requests per connection,
//! max connection duration and the circuit breakers (max connections, max
//! pending requests, max requests, max retries; Istio's 2^32 - 1 where unset
//! or 0); `trafficPolicy.retryBudget` (Istio >= 1.27) sets the retry budget.
//! Load balancing and outlier detection are in [`super::lb`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_sidecar::config::{
    Cluster, Discovery, DnsRefresh, Keepalive, PoolSettings, RetryBudget,
};

use super::registry::{Entry, Registry};
use crate::model::{
    ConnectionPool, DestinationRule, Resolution, Resources, TcpKeepalive, WorkloadEntry,
};
use crate::validate::names;
use crate::version::{IstioVersion, MeshConfig};

/// One cluster per registry entry, in registry order, each followed by one
/// cluster per subset of its DestinationRule ([`super::subsets`]).
pub(crate) fn build(
    res: &Resources,
    registry: &Registry<'_>,
    version: IstioVersion,
    mesh: &MeshConfig,
) -> Vec<Cluster> {
    let mut out = Vec::new();
    for e in registry.entries() {
        let dr = destination_rule_for(res, e.host);
        out.push(cluster(e, dr, version, mesh));
        for subset in dr.map_or(&[][..], |dr| &dr.subsets[..]) {
            let Some(dr) = dr else { break };
            let merged = super::subsets::merged_rule(dr, subset, e.number);
            let mut c = cluster(e, Some(&merged), version, mesh);
            c.name = super::registry::cluster_name(e.number, Some(&subset.name), e.host);
            let sni = meshsim_sidecar::tls::ClusterTls::sni(e.number, &subset.name, e.host);
            c.tls = super::mtls::with_sni(c.tls, sni);
            c.discovery = match c.discovery {
                Discovery::Eds { .. } => Discovery::Eds {
                    service: c.name.clone(),
                },
                Discovery::Static { .. } => subset_static(e, subset),
                other => other,
            };
            out.push(c);
        }
    }
    out
}

/// A STATIC ServiceEntry's subset: the endpoints whose labels it selects.
fn subset_static(e: &Entry<'_>, subset: &crate::model::Subset) -> Discovery {
    let endpoints =
        e.se.endpoints
            .iter()
            .filter(|ep| subset.selects(&ep.labels))
            .filter_map(|ep| {
                let ip = ep.address.parse::<IpAddr>().ok()?;
                Some(SocketAddr::new(ip, endpoint_port(e, Some(ep))))
            })
            .collect();
    Discovery::Static { endpoints }
}

fn cluster(
    e: &Entry<'_>,
    dr: Option<&DestinationRule>,
    version: IstioVersion,
    mesh: &MeshConfig,
) -> Cluster {
    let pool = dr.and_then(|dr| connection_pool(dr, e.number));
    let pool = pool.as_ref();
    let tcp = pool.and_then(|p| p.tcp.as_ref());
    let mut settings = pool_settings(pool);
    settings.retry_budget = dr.and_then(|dr| retry_budget(dr, version));
    let dr_keepalive = tcp.and_then(|t| t.tcp_keepalive.as_ref());
    settings.tcp_keepalive = tcp_keepalive(mesh.tcp_keepalive.as_ref(), dr_keepalive);
    let cluster = Cluster {
        name: e.cluster_name(),
        discovery: discovery(e),
        connect_timeout: tcp
            .and_then(|t| t.connect_timeout)
            .unwrap_or(mesh.connect_timeout),
        pool: settings,
        dns: DnsRefresh {
            respect_dns_ttl: version.at_least(1, 3),
            refresh_rate: mesh.dns_refresh_rate,
            jitter: mesh.dns_jitter,
        },
        ..Cluster::default()
    };
    let tls_mode = (dr.and_then(|dr| dr.traffic_policy.as_ref()))
        .and_then(|p| super::subsets::port_policy(p, e.number).tls);
    let sni = meshsim_sidecar::tls::ClusterTls::sni(e.number, "", e.host);
    let cluster = Cluster {
        tls: super::mtls::cluster_tls(tls_mode, sni),
        ..cluster
    };
    let cluster = super::upstream_protocol::apply(cluster, e.port, pool, mesh.h2_upgrade);
    super::lb::apply(cluster, dr, e.number, version)
}

/// The upstream port of an endpoint: its named port, else the service port's
/// `targetPort`, else the service port.
fn endpoint_port(e: &Entry<'_>, ep: Option<&WorkloadEntry>) -> u16 {
    let named = ep.and_then(|ep| ep.ports.get(&e.port.name)).copied();
    let target = named.or(e.port.target_port).filter(|p| *p != 0);
    target
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(e.number)
}

fn discovery(e: &Entry<'_>) -> Discovery {
    if e.se.from_kubernetes {
        // A Kubernetes Service: its pods arrive over EDS, named by the cluster.
        return Discovery::Eds {
            service: e.cluster_name(),
        };
    }
    let first = e.se.endpoints.first();
    let dns_target = || {
        let hostname = first.map_or_else(|| e.host.to_string(), |ep| ep.address.clone());
        (hostname, endpoint_port(e, first))
    };
    match e.se.resolution {
        Resolution::None => Discovery::OriginalDst,
        Resolution::Static => Discovery::Static {
            endpoints: e
                .se
                .endpoints
                .iter()
                .filter_map(|ep| {
                    ep.address
                        .parse::<IpAddr>()
                        .ok()
                        .map(|ip| SocketAddr::new(ip, endpoint_port(e, Some(ep))))
                })
                .collect(),
        },
        Resolution::Dns => {
            let (hostname, port) = dns_target();
            Discovery::StrictDns { hostname, port }
        }
        Resolution::DnsRoundRobin => {
            let (hostname, port) = dns_target();
            Discovery::LogicalDns { hostname, port }
        }
    }
}

/// The DestinationRule for `host`: an exact `host` match first, else the most
/// specific wildcard; document order breaks ties (Istio: oldest wins).
pub(crate) fn destination_rule_for<'r>(
    res: &'r Resources,
    host: &str,
) -> Option<&'r DestinationRule> {
    let rules = &res.destination_rules;
    rules.iter().find(|dr| dr.host == host).or_else(|| {
        rules
            .iter()
            .filter(|dr| dr.host.starts_with('*') && names::hosts_match(&dr.host, host))
            .fold(None, |best: Option<&DestinationRule>, dr| match best {
                Some(b) if b.host.len() >= dr.host.len() => Some(b),
                _ => Some(dr),
            })
    })
}

/// The connection pool that applies on `port`
/// ([`super::subsets::port_policy`]: a port-level entry replaces the whole
/// policy, an unset pool there means Envoy's defaults).
fn connection_pool(dr: &DestinationRule, port: u16) -> Option<ConnectionPool> {
    let policy = dr.traffic_policy.as_ref()?;
    super::subsets::port_policy(policy, port).connection_pool
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Istio's `applyConnectionPool` onto Envoy's defaults (idle 1 h, unlimited).
pub(crate) fn pool_settings(pool: Option<&ConnectionPool>) -> PoolSettings {
    let mut out = PoolSettings::default();
    let http = pool.and_then(|p| p.http.as_ref());
    let tcp = pool.and_then(|p| p.tcp.as_ref());
    // tcp.idleTimeout applies to HTTP only when http.idleTimeout is unset; 0 disables.
    if let Some(idle) = http
        .and_then(|h| h.idle_timeout)
        .or(tcp.and_then(|t| t.idle_timeout))
    {
        out.idle_timeout = non_zero(idle);
    }
    if let Some(n) = http
        .and_then(|h| h.max_requests_per_connection)
        .filter(|n| *n > 0)
    {
        out.max_requests_per_connection = Some(n.unsigned_abs());
    }
    if let Some(d) = tcp.and_then(|t| t.max_connection_duration) {
        out.max_connection_duration = non_zero(d);
    }
    // Istio cannot tell 0 from unset: 0 keeps the default, 2^32 - 1.
    let positive = |n: Option<i32>| n.filter(|n| *n > 0).map(i32::unsigned_abs);
    if let Some(n) = positive(tcp.and_then(|t| t.max_connections)) {
        out.max_connections = n;
    }
    if let Some(n) = positive(http.and_then(|h| h.http1_max_pending_requests)) {
        out.max_pending_requests = n;
    }
    if let Some(n) = positive(http.and_then(|h| h.http2_max_requests)) {
        out.max_requests = n;
    }
    if let Some(n) = positive(http.and_then(|h| h.max_retries)) {
        out.max_retries = n;
    }
    out
}

/// Istio's `applyRetryBudget` (Istio >= 1.27; older CRDs drop the field):
/// `percent` as written, else 0.2, which Envoy reads as 0.2 % (Istio's code
/// says "default to 20%" but sets `Percent{Value: 0.2}` on a 0-100 scale);
/// `minRetryConcurrency` if > 0, else 3. Port-level settings carry no budget:
/// the top-level one applies to every port.
fn retry_budget(dr: &DestinationRule, version: IstioVersion) -> Option<RetryBudget> {
    if !version.at_least(1, 27) {
        return None;
    }
    let rb = dr.traffic_policy.as_ref()?.retry_budget.as_ref()?;
    Some(RetryBudget {
        budget_percent: rb.percent.unwrap_or(ISTIO_DEFAULT_BUDGET_PERCENT),
        min_retry_concurrency: rb.min_retry_concurrency.filter(|n| *n > 0).unwrap_or(3),
    })
}

/// Istio's `applyTCPKeepalive`: no keepalive unless the mesh or the
/// DestinationRule sets one; then the OS defaults (Envoy's empty
/// `tcp_keepalive`: Linux 7200 s, 75 s, 9), the mesh's fields over them and
/// the DestinationRule's fields over those, each only if set (probes > 0).
/// Times go to Envoy in whole seconds (Istio keeps `Duration.seconds`); a
/// value under 1 s, which Envoy would pass to the kernel as 0, becomes 1 s.
pub(crate) fn tcp_keepalive(
    mesh: Option<&TcpKeepalive>,
    dr: Option<&TcpKeepalive>,
) -> Option<Keepalive> {
    if mesh.is_none() && dr.is_none() {
        return None;
    }
    let whole = |d: Duration| Duration::from_secs(d.as_secs().max(1));
    let mut out = Keepalive::LINUX_DEFAULT;
    for ka in [mesh, dr].into_iter().flatten() {
        if let Some(p) = ka.probes.filter(|p| *p > 0) {
            out.probes = p;
        }
        if let Some(t) = ka.time {
            out.time = whole(t);
        }
        if let Some(i) = ka.interval {
            out.interval = whole(i);
        }
    }
    Some(out)
}

/// The `budget_percent` Istio sets when `retryBudget.percent` is unset.
pub(crate) const ISTIO_DEFAULT_BUDGET_PERCENT: f64 = 0.2;
