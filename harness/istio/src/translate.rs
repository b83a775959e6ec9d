//! Resources -> sidecar configuration, the way pilot builds a sidecar's
//! outbound CDS and RDS.
//!
//! - `registry`: the ServiceEntry host x port table everything else reads;
//! - `clusters`: one `outbound|<port>||<host>` cluster per host and port,
//!   shaped by the resolution, the mesh settings and the DestinationRule;
//! - `lb`: the DestinationRule's load balancer and outlier detection;
//! - `routes`: a virtual host per HTTP host and port with Istio's default
//!   route, then VirtualService routes replacing it;
//! - `route_match`: one match entry's Envoy route match, weighted
//!   destinations and fault filter configuration;
//! - [`inbound`]: a serving pod's inbound ports and their retry policy;
//! - `telemetry`: the mesh's access log settings.
//! - [`subsets`]: DestinationRule subsets (clusters, policy merge, EDS
//!   assignments from pod labels).
//! - `tcp_routes`: a TCP listener per non-HTTP (or sniffed) service port,
//!   its cluster and `tcp_proxy` timers.
//!
//! Input is assumed validated; invalid leftovers (a port above 65535, an
//! unparsable STATIC address) are skipped, never a panic.

pub(crate) mod clusters;
pub mod inbound;
pub(crate) mod lb;
pub mod mtls;
pub(crate) mod registry;
pub(crate) mod route_match;
pub(crate) mod routes;
pub mod subsets;
pub(crate) mod tcp_routes;
pub(crate) mod telemetry;
pub(crate) mod upstream_protocol;

use std::net::SocketAddr;

use meshsim_sidecar::config::{Cluster, SidecarConfig};

use crate::model::Resources;
use crate::version::{IstioVersion, MeshConfig};

/// Builds one sidecar's configuration from `res` under the `version` profile.
///
/// HTTP listener ports are the mesh's plus every ServiceEntry port whose
/// protocol is HTTP, HTTP2, gRPC (or unset: Istio sniffs it). Unset ports
/// are also `sniffed_ports`, with a TCP route for the bytes that are not
/// HTTP, under the mesh's `protocolDetectionTimeout` (fact sheet §7.2). Hosts without a
/// ServiceEntry get no cluster: the sidecar sends them to `PassthroughCluster`
/// (or blocks them under `REGISTRY_ONLY`).
pub fn translate(
    res: &Resources,
    version: IstioVersion,
    mesh: &MeshConfig,
    dns_servers: Vec<SocketAddr>,
) -> SidecarConfig {
    let kube: Vec<_> = res
        .kube_services
        .iter()
        .map(crate::kube::KubeService::to_service_entry)
        .collect();
    let registry = registry::Registry::build(res, &kube);
    let mut http_ports = mesh.http_ports.clone();
    http_ports.extend(
        registry
            .entries()
            .iter()
            .filter(|e| e.port.is_http())
            .map(|e| e.number),
    );
    http_ports.sort_unstable();
    http_ports.dedup();
    let mut sniffed_ports: Vec<u16> = registry
        .entries()
        .iter()
        .filter(|e| e.port.is_sniffed())
        .map(|e| e.number)
        .collect();
    sniffed_ports.sort_unstable();
    sniffed_ports.dedup();
    let detection = mesh.protocol_detection_timeout;
    // Pilot's `buildDefaultPassthroughCluster` runs `applyConnectionPool`
    // with empty settings, which applies the mesh `tcpKeepalive` (current
    // pilot calls `applyTCPKeepalive` whatever the settings; older releases
    // only under `tcp` settings, not modelled).
    let mut passthrough = Cluster {
        connect_timeout: mesh.connect_timeout,
        ..Cluster::passthrough()
    };
    passthrough.pool.tcp_keepalive = clusters::tcp_keepalive(mesh.tcp_keepalive.as_ref(), None);
    SidecarConfig {
        http_ports,
        virtual_hosts: routes::build(res, &registry, version, mesh),
        clusters: clusters::build(res, &registry, version, mesh),
        tcp_routes: tcp_routes::build(res, &registry),
        outbound_traffic_policy: mesh.outbound_traffic_policy,
        passthrough,
        dns_servers,
        access_log: telemetry::access_log(mesh),
        sniffed_ports,
        protocol_detection_timeout: (!detection.is_zero()).then_some(detection),
        ..SidecarConfig::default()
    }
}
