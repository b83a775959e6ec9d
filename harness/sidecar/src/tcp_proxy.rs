//! TCP proxying of captured connections on non-HTTP ports.
//!
//! One upstream connection per downstream connection, to the original
//! destination (`PassthroughCluster`, ORIGINAL_DST). An upstream connect
//! failure closes the downstream connection. Under `REGISTRY_ONLY` every such
//! destination is unknown (the configuration has no TCP services yet), so the
//! connection is accepted and closed (`BlackHoleCluster`). Inbound, the
//! upstream is the pod's application at the original destination (the
//! outbound traffic policy does not apply). With the access log on, each
//! connection writes one line when it ends (`access_log::tcp`).

use std::net::SocketAddr;
use std::sync::Arc;

use meshsim_net::NetStream;

use crate::access_log::http::PendingLine;
use crate::access_log::tcp as log;
use crate::attempt::classify_connect_error;
use crate::config::OutboundTrafficPolicy;
use crate::router::Direction;
use crate::runtime::Sidecar;

/// Istio's cluster with no host for unknown TCP destinations.
const BLACK_HOLE: &str = "BlackHoleCluster";
/// Istio's inbound cluster for undeclared ports.
const INBOUND_PASSTHROUGH: &str = "InboundPassthroughCluster";

/// Proxies `down` to `dst` until both directions are closed.
pub(crate) async fn run(
    mut down: NetStream,
    dst: SocketAddr,
    sc: Arc<Sidecar>,
    direction: Direction,
) {
    sc.env.stats.bump(|s| s.tcp_downstream_cx_total += 1);
    let black_hole = direction == Direction::Outbound
        && sc.config.outbound_traffic_policy == OutboundTrafficPolicy::RegistryOnly;
    let mut line = sc.access_log.as_ref().map(|w| {
        let cluster = cluster_name(&sc, dst, direction, black_hole);
        log::start(w, dst, down.peer_addr(), &cluster)
    });
    if black_hole {
        line.as_mut().map(log::no_host);
        return;
    }
    sc.env.stats.bump(|s| s.upstream_cx_total += 1);
    let counted = cluster_name(&sc, dst, direction, false);
    sc.env.stats.cluster(&counted, |c| c.upstream_cx_total += 1);
    let connect_timeout = sc.config.passthrough.connect_timeout;
    let mut up = match sc.env.stack.connect(dst, connect_timeout).await {
        Ok(up) => up,
        Err(e) => {
            tracing::debug!(%dst, error = %e, "tcp proxy upstream connect failed");
            sc.env.stats.bump(|s| {
                s.upstream_cx_connect_fail += 1;
                s.upstream_cx_connect_timeout +=
                    u64::from(e.kind() == std::io::ErrorKind::TimedOut);
            });
            sc.env
                .stats
                .cluster(&counted, |c| c.upstream_cx_connect_fail += 1);
            if let Some(line) = line.as_mut() {
                let reason = classify_connect_error(&e).transport_failure;
                log::connect_failed(line, dst, reason);
            }
            return;
        }
    };
    if let Some(line) = line.as_mut() {
        log::connected(line, dst, up.local_addr());
    }
    copy(&mut down, &mut up, dst, line.as_mut()).await;
}

/// Copies both ways until both directions are closed, counting bytes.
async fn copy(
    down: &mut NetStream,
    up: &mut NetStream,
    dst: SocketAddr,
    line: Option<&mut PendingLine>,
) {
    match tokio::io::copy_bidirectional(down, up).await {
        Ok((received, sent)) => {
            if let Some(line) = line {
                log::bytes(line, received, sent);
            }
        }
        Err(e) => tracing::debug!(%dst, error = %e, "tcp proxy ended with an error"),
    }
}

/// `%UPSTREAM_CLUSTER_RAW%` of a TCP connection.
fn cluster_name(sc: &Sidecar, dst: SocketAddr, direction: Direction, black_hole: bool) -> String {
    match direction {
        Direction::Outbound if black_hole => BLACK_HOLE.to_string(),
        Direction::Outbound => sc.config.passthrough.name.clone(),
        Direction::Inbound => sc
            .config
            .inbound
            .iter()
            .flat_map(|i| i.ports.iter())
            .find(|p| p.port == dst.port())
            .map_or_else(|| INBOUND_PASSTHROUGH.to_string(), |p| p.cluster_name()),
    }
}
