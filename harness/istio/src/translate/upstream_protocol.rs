//! The HTTP version a cluster speaks upstream (pilot's `setUpstreamProtocol`
//! and `applyH2Upgrade`; fact sheet §4.2, §7.1).
//!
//! - A port declared `http2`, `grpc` or `grpc-web` (name prefix or
//!   `appProtocol`, `kubernetes.io/h2c` included) gets
//!   `http2_protocol_options`: h2c with prior knowledge.
//! - `connectionPool.http.useClientProtocol: true` keeps the client's
//!   protocol (`use_downstream_protocol`); meshsim's applications speak
//!   HTTP/1.1, so the cluster speaks HTTP/1.1, and no upgrade applies.
//! - `connectionPool.http.h2UpgradePolicy: UPGRADE` upgrades the cluster to
//!   HTTP/2 (Istio does so even on a port whose protocol is unknown);
//!   `DO_NOT_UPGRADE` keeps HTTP/1.1; `DEFAULT` or unset follow the
//!   mesh-wide `h2UpgradePolicy` (default `DO_NOT_UPGRADE`), which upgrades
//!   only ports declared HTTP-family (pilot's `shouldH2Upgrade`: "do not
//!   upgrade non-http ports", so sniffed ports are left alone).
//! - `connectionPool.http.maxConcurrentStreams` (> 0) sets
//!   `http2_protocol_options.max_concurrent_streams`.

use meshsim_sidecar::config::{Cluster, Http2Options, UpstreamProtocol};

use crate::model::{ConnectionPool, H2UpgradePolicy, Protocol, ServicePort};

/// Sets the cluster's upstream protocol and HTTP/2 options.
pub(crate) fn apply(
    mut cluster: Cluster,
    port: &ServicePort,
    pool: Option<&ConnectionPool>,
    mesh_upgrade: bool,
) -> Cluster {
    let http = pool.and_then(|p| p.http.as_ref());
    if let Some(n) = http
        .and_then(|h| h.max_concurrent_streams)
        .filter(|n| *n > 0)
    {
        cluster.http2 = Http2Options {
            max_concurrent_streams: n.unsigned_abs(),
        };
    }
    let declared_h2 = matches!(
        port.protocol,
        Some(Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb)
    );
    let client_protocol = http.is_some_and(|h| h.use_client_protocol);
    let declared_http =
        declared_h2 || matches!(port.protocol, Some(Protocol::Http | Protocol::HttpProxy));
    let upgrade = match http.and_then(|h| h.h2_upgrade_policy) {
        Some(H2UpgradePolicy::Upgrade) => true,
        Some(H2UpgradePolicy::DoNotUpgrade) => false,
        Some(H2UpgradePolicy::Default) | None => mesh_upgrade && declared_http,
    };
    cluster.upstream_protocol = match (client_protocol, declared_h2 || upgrade) {
        (false, true) => UpstreamProtocol::Http2,
        _ => UpstreamProtocol::Http1,
    };
    cluster
}
