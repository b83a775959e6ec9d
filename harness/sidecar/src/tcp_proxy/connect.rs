//! The upstream connect of one proxied connection, with Envoy's
//! `max_connect_attempts`.

use std::io;
use std::net::SocketAddr;

use meshsim_core::ResponseFlags;

use super::Chain;
use crate::access_log::http::PendingLine;
use crate::access_log::tcp as log;
use crate::attempt::classify_connect_error;
use crate::cluster::Target;
use crate::runtime::Sidecar;
use crate::tls::UpstreamIo;

/// Connects upstream: a host per attempt (the load balancer's choice; the
/// original destination for ORIGINAL_DST), up to `max_connect_attempts`
/// (at least 1). The error is the access log's flags: `UH` when the cluster
/// has no host, `UF,URX` when every attempt failed (the access log `line`
/// then names the last host tried and its transport failure).
pub(super) async fn establish(
    sc: &Sidecar,
    chain: &Chain<'_>,
    dst: SocketAddr,
    mut line: Option<&mut PendingLine>,
) -> Result<(UpstreamIo, SocketAddr, Target), ResponseFlags> {
    let cluster = chain.cluster;
    cluster.wait_ready().await;
    let attempts = chain.settings.max_connect_attempts.max(1);
    let mut tried = Vec::new();
    for _ in 0..attempts {
        let Some(target) = cluster.pick(dst, &tried, None) else {
            return Err(ResponseFlags::UH);
        };
        sc.env.stats.bump(|s| s.upstream_cx_total += 1);
        let name = &cluster.config.name;
        sc.env.stats.cluster(name, |c| c.upstream_cx_total += 1);
        let timeout = cluster.config.connect_timeout;
        let deadline = meshsim_net::clock::Instant::now() + timeout;
        match sc.env.stack.connect(target.connect_to, timeout).await {
            Ok(mut up) => {
                if let Err(e) = up.set_keepalive(cluster.config.pool.tcp_keepalive) {
                    tracing::debug!(error = %e, "setting tcp keepalive failed");
                }
                let local = up.local_addr();
                let tls = cluster.tcp_connector(target.connect_to);
                match crate::tls::secure(&sc.env, tls.as_ref(), up, deadline).await {
                    Ok(up) => return Ok((up, local, target)),
                    Err(failure) => {
                        sc.env
                            .stats
                            .cluster(name, |c| c.upstream_cx_connect_fail += 1);
                        if let Some(line) = line.as_deref_mut() {
                            let host = target.connect_to;
                            log::connect_failed(line, host, failure.transport_failure);
                        }
                        tried.push(target.connect_to);
                    }
                }
            }
            Err(e) => {
                connect_failed(sc, name, target.connect_to, &e);
                if let Some(line) = line.as_deref_mut() {
                    let reason = classify_connect_error(&e).transport_failure;
                    log::connect_failed(line, target.connect_to, reason);
                }
                tried.push(target.connect_to);
            }
        }
    }
    sc.env
        .stats
        .bump(|s| s.upstream_cx_connect_attempts_exceeded += 1);
    Err(ResponseFlags::UF | ResponseFlags::URX)
}

fn connect_failed(sc: &Sidecar, cluster: &str, host: SocketAddr, e: &io::Error) {
    tracing::debug!(%host, error = %e, "tcp proxy upstream connect failed");
    let timed_out = e.kind() == io::ErrorKind::TimedOut;
    sc.env.stats.bump(|s| {
        s.upstream_cx_connect_fail += 1;
        s.upstream_cx_connect_timeout += u64::from(timed_out);
    });
    sc.env.stats.cluster(cluster, |c| {
        c.upstream_cx_connect_fail += 1;
        c.upstream_cx_connect_timeout += u64::from(timed_out);
    });
}
