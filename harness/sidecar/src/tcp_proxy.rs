//! TCP proxying of captured connections on non-HTTP ports: Envoy's
//! `tcp_proxy` filter (fact sheet §7.3, §3.4, §4.2).
//!
//! One upstream connection per downstream connection for its whole life. The
//! chain is chosen by the original destination: a [`TcpRoute`] (a service
//! port's listener, its cluster and `tcp_proxy` settings), else the
//! catch-all: `PassthroughCluster` (ORIGINAL_DST) under `ALLOW_ANY`, or under
//! `REGISTRY_ONLY` the `BlackHoleCluster`, which accepts and closes.
//! Inbound, the upstream is the pod's application at the original
//! destination (the outbound traffic policy does not apply). With the access
//! log on, each connection writes one line when it ends (`access_log::tcp`),
//! naming `inbound|PORT||` / `InboundPassthroughCluster` inbound.
//!
//! - `connect`: up to `max_connect_attempts` connects, a host picked per
//!   attempt; each failure counts `upstream_cx_connect_fail`, running out
//!   counts `upstream_cx_connect_attempts_exceeded` and closes the downstream
//!   connection without a byte (flags `UF,URX`; no host at all: `UH`); the
//!   cluster's `tcp_keepalive` is set on the upstream connection;
//! - `pump`: bytes both ways, half-close passed on, closed by the
//!   `idle_timeout` (no byte either way) or the
//!   `max_downstream_connection_duration` (flag `DT`).
//!
//! Not modelled: Envoy's outlier detection does not hear of TCP connect
//! failures here, and attempts follow each other without back-off.

mod connect;
mod pump;

use std::net::SocketAddr;
use std::sync::Arc;

use meshsim_core::ResponseFlags;

use crate::access_log::tcp as log;
use crate::cluster::ClusterState;
use crate::config::{OutboundTrafficPolicy, TcpProxySettings, TcpRoute, select_tcp_route};
use crate::listener::DownstreamIo;
use crate::router::Direction;
use crate::runtime::Sidecar;

/// Istio's cluster with no host for unknown TCP destinations.
const BLACK_HOLE: &str = "BlackHoleCluster";
/// Istio's inbound cluster for undeclared ports.
const INBOUND_PASSTHROUGH: &str = "InboundPassthroughCluster";

/// The filter chain a connection takes: its cluster and settings.
struct Chain<'a> {
    cluster: &'a Arc<ClusterState>,
    settings: &'a TcpProxySettings,
}

/// Proxies `down` to `dst` until both directions are closed or a timer ends
/// the pair.
pub(crate) async fn run<S: DownstreamIo>(
    down: S,
    peer: SocketAddr,
    dst: SocketAddr,
    sc: Arc<Sidecar>,
    direction: Direction,
) {
    run_with(down, peer, Vec::new(), dst, sc, direction).await;
}

/// [`run`] for a connection whose first bytes (`first`) were already read
/// from `down` (by the protocol inspector): they go upstream first, once
/// connected, and count as received.
pub(crate) async fn run_with<S: DownstreamIo>(
    down: S,
    peer: SocketAddr,
    first: Vec<u8>,
    dst: SocketAddr,
    sc: Arc<Sidecar>,
    direction: Direction,
) {
    sc.env.stats.bump(|s| s.tcp_downstream_cx_total += 1);
    let chain = chain_for(&sc, dst, direction);
    // A connection's outcome is known only at its end: with the file log
    // off, a line is built while the report's sample has an open slot.
    let sinks = sc.log_sinks();
    let sampling = sinks.sample.as_ref().is_some_and(|s| s.open());
    let mut line = (sinks.writer.is_some() || sampling).then(|| {
        let cluster = log_cluster(&sc, dst, direction, chain.as_ref());
        log::start(sinks, dst, peer, &cluster)
    });
    let Some(chain) = chain else {
        // BlackHoleCluster: accepted, then closed.
        line.as_mut().map(log::no_host);
        return;
    };
    let flags = match connect::establish(&sc, &chain, dst, line.as_mut()).await {
        Ok((up, local, target)) => {
            if let Some(line) = line.as_mut() {
                log::connected(line, target.connect_to, local);
            }
            let (flags, received, sent) = pump::run(down, up, &first, &sc, chain.settings).await;
            if let Some(line) = line.as_mut() {
                log::bytes(line, received, sent);
            }
            flags
        }
        Err(flags) => flags,
    };
    if !flags.is_empty() {
        if let Some(line) = line.as_mut() {
            log::flags(line, flags);
        }
        sc.env
            .stats
            .bump(|s| *s.tcp_response_flags.entry(flags).or_default() += 1);
    }
}

/// `%UPSTREAM_CLUSTER_RAW%` of a TCP connection: the chain's cluster
/// outbound (`BlackHoleCluster` without one); inbound, the port's
/// `inbound|PORT||` cluster or `InboundPassthroughCluster`.
fn log_cluster(
    sc: &Sidecar,
    dst: SocketAddr,
    direction: Direction,
    chain: Option<&Chain<'_>>,
) -> String {
    match (direction, chain) {
        (Direction::Outbound, Some(c)) => c.cluster.config.name.clone(),
        (Direction::Outbound, None) => BLACK_HOLE.to_string(),
        (Direction::Inbound, _) => sc
            .config
            .inbound
            .iter()
            .flat_map(|i| i.ports.iter())
            .find(|p| p.port == dst.port())
            .map_or_else(|| INBOUND_PASSTHROUGH.to_string(), |p| p.cluster_name()),
    }
}

/// The chain for `dst`: its TCP route, else the passthrough chain; `None`
/// for the `BlackHoleCluster`.
fn chain_for(sc: &Sidecar, dst: SocketAddr, direction: Direction) -> Option<Chain<'_>> {
    let passthrough = || {
        sc.clusters
            .get(&sc.config.passthrough.name)
            .map(|cluster| Chain {
                cluster,
                settings: &sc.config.tcp_proxy,
            })
    };
    if direction == Direction::Inbound {
        return passthrough();
    }
    if let Some(route) = select_tcp_route(&sc.config.tcp_routes, dst) {
        return route_chain(sc, route);
    }
    if sc.config.outbound_traffic_policy == OutboundTrafficPolicy::RegistryOnly {
        return None;
    }
    passthrough()
}

fn route_chain<'a>(sc: &'a Sidecar, route: &'a TcpRoute) -> Option<Chain<'a>> {
    let cluster = sc.clusters.get(&route.cluster)?;
    Some(Chain {
        cluster,
        settings: &route.settings,
    })
}

/// No flag: the connection ended on its own.
const CLEAN: ResponseFlags = ResponseFlags::NONE;
