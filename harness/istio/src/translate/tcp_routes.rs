//! Outbound TCP listeners (pilot's `buildOutboundNetworkFilters`): one per
//! TCP service port, matched by the service's addresses (or any address on
//! the port when it has none), with the `tcp_proxy` settings Istio derives
//! from the DestinationRule (fact sheet §4.2, §7.3): `tcp.idleTimeout` →
//! `idle_timeout` (else Envoy's 1 h), `tcp.maxConnectionDuration` →
//! `max_downstream_connection_duration`. Istio never sets
//! `max_connect_attempts`, so it stays Envoy's 1.

use std::net::IpAddr;
use std::time::Duration;

use meshsim_sidecar::config::{TcpProxySettings, TcpRoute};

use super::clusters::destination_rule_for;
use super::registry::{Entry, Registry};
use crate::model::{DestinationRule, Resources};

/// One route per non-HTTP registry entry, in registry order, and per entry
/// whose protocol is sniffed (its TCP chain, for bytes that are not HTTP).
pub(crate) fn build(res: &Resources, registry: &Registry<'_>) -> Vec<TcpRoute> {
    registry
        .entries()
        .iter()
        .filter(|e| !e.port.is_http() || e.port.is_sniffed())
        .map(|e| route(e, destination_rule_for(res, e.host)))
        .collect()
}

fn route(e: &Entry<'_>, dr: Option<&DestinationRule>) -> TcpRoute {
    TcpRoute {
        port: e.number,
        addresses: e
            .se
            .addresses
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .collect(),
        cluster: e.cluster_name(),
        settings: settings(dr),
    }
}

/// The DestinationRule's top-level `connectionPool.tcp` (pilot reads
/// `GetTrafficPolicy().GetConnectionPool().GetTcp()`, not the port level).
/// A zero duration disables the timer, as Envoy's `0s` does.
pub(crate) fn settings(dr: Option<&DestinationRule>) -> TcpProxySettings {
    let tcp = dr
        .and_then(|dr| dr.traffic_policy.as_ref())
        .and_then(|tp| tp.connection_pool.as_ref())
        .and_then(|p| p.tcp.as_ref());
    let non_zero = |d: Duration| (!d.is_zero()).then_some(d);
    let mut out = TcpProxySettings::default();
    if let Some(idle) = tcp.and_then(|t| t.idle_timeout) {
        out.idle_timeout = non_zero(idle);
    }
    out.max_downstream_connection_duration = tcp
        .and_then(|t| t.max_connection_duration)
        .and_then(non_zero);
    out
}
