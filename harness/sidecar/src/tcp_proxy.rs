//! TCP proxying of captured connections on non-HTTP ports.
//!
//! One upstream connection per downstream connection, to the original
//! destination (`PassthroughCluster`, ORIGINAL_DST). An upstream connect
//! failure closes the downstream connection. Under `REGISTRY_ONLY` every such
//! destination is unknown (the configuration has no TCP services yet), so the
//! connection is accepted and closed (`BlackHoleCluster`). Inbound, the
//! upstream is the pod's application at the original destination (the
//! outbound traffic policy does not apply).

use std::net::SocketAddr;
use std::sync::Arc;

use meshsim_net::NetStream;

use crate::config::OutboundTrafficPolicy;
use crate::router::Direction;
use crate::runtime::Sidecar;

/// Proxies `down` to `dst` until both directions are closed.
pub(crate) async fn run(
    mut down: NetStream,
    dst: SocketAddr,
    sc: Arc<Sidecar>,
    direction: Direction,
) {
    sc.env.stats.bump(|s| s.tcp_downstream_cx_total += 1);
    if direction == Direction::Outbound
        && sc.config.outbound_traffic_policy == OutboundTrafficPolicy::RegistryOnly
    {
        return;
    }
    sc.env.stats.bump(|s| s.upstream_cx_total += 1);
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
            return;
        }
    };
    if let Err(e) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
        tracing::debug!(%dst, error = %e, "tcp proxy ended with an error");
    }
}
