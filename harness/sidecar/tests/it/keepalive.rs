//! TCP keepalive on upstream connections (`upstream_connection_options.
//! tcp_keepalive`, fact sheet §4.2) against a flow that a middlebox silently
//! dropped while it sat idle in the pool.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_net::{Keepalive, Net};
use meshsim_sidecar::{Cluster, PoolSettings, Route, SidecarConfig, VirtualHost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::support::*;

const UPSTREAM: &str = "52.1.1.10:80";

/// time 10 s, interval 2 s, 3 probes: a dead flow is gone 16 s after it fell
/// silent.
const KA: Keepalive = Keepalive {
    time: Duration::from_secs(10),
    interval: Duration::from_secs(2),
    probes: 3,
};

/// Host `api` through `PassthroughCluster` with a 15 s route timeout, the
/// cluster's keepalive as given.
fn config(tcp_keepalive: Option<Keepalive>) -> SidecarConfig {
    let passthrough = Cluster {
        pool: PoolSettings {
            tcp_keepalive,
            ..Cluster::passthrough().pool
        },
        ..Cluster::passthrough()
    };
    let route = Route {
        name: "api".to_string(),
        cluster: passthrough.name.clone(),
        timeout: Some(Duration::from_secs(15)),
        ..Route::default()
    };
    SidecarConfig {
        virtual_hosts: vec![VirtualHost {
            name: "api:80".to_string(),
            port: 80,
            domains: vec!["api".to_string()],
            routes: vec![route],
        }],
        passthrough,
        ..SidecarConfig::default()
    }
}

/// An HTTP upstream answering `200 ok` to every request, recording the
/// sidecar-side address of each connection it accepts.
struct FlowUpstream {
    peers: Arc<Mutex<Vec<SocketAddr>>>,
    task: JoinHandle<()>,
}

impl Drop for FlowUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FlowUpstream {
    async fn spawn(net: &Net) -> FlowUpstream {
        let dst = addr(UPSTREAM);
        let listener = net.stack(dst.ip()).listen(dst.port()).await.unwrap();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                seen.lock().unwrap().push(peer);
                tokio::spawn(answer_ok(stream));
            }
        });
        FlowUpstream { peers, task }
    }

    fn peers(&self) -> Vec<SocketAddr> {
        self.peers.lock().unwrap().clone()
    }
}

async fn answer_ok(mut stream: meshsim_net::NetStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if stream.write_all(resp).await.is_err() {
                return;
            }
        }
    }
}

/// One request, then the pooled connection's flow is silently dropped and
/// stays idle for a minute; returns the second request's response and how
/// long it took.
async fn request_after_flow_dies(w: &World, up: &FlowUpstream) -> (Resp, Duration) {
    assert_eq!(w.get(UPSTREAM, "api", 1).await.status, 200);
    let flow = up.peers()[0];
    w.net.set_flow_blackhole(flow, addr(UPSTREAM), true);
    meshsim_net::clock::sleep(Duration::from_secs(60)).await;
    let start = Instant::now();
    let resp = w.get(UPSTREAM, "api", 2).await;
    (resp, start.elapsed())
}

/// Fact sheet §4.2 (`tcp.tcpKeepalive` not set: no `SO_KEEPALIVE`) and
/// §5.1 (route timeout: 504 `upstream request timeout`, `UT`): Envoy reuses
/// the pooled connection whose flow died, the request goes into the void
/// and the route timeout ends it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_keepalive_a_request_on_a_silently_dropped_pooled_connection_hangs_until_the_route_timeout()
 {
    let w = World::start(config(None)).await;
    let up = FlowUpstream::spawn(&w.net).await;
    let (resp, took) = request_after_flow_dies(&w, &up).await;
    assert_eq!(resp.status, 504);
    assert_eq!(resp.body_text(), "upstream request timeout");
    assert_eq!(took, Duration::from_secs(15));
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.upstream_cx_total, stats.upstream_rq_reused_cx),
        (1, 1)
    );
    assert_eq!(stats.upstream_cx_destroy_remote, 0);
}

/// Fact sheet §4.2 (`tcp.tcpKeepalive` → `upstream_connection_options.
/// tcp_keepalive`): the kernel's probes go unanswered, the socket fails with
/// `ETIMEDOUT` `time + interval × probes` after the flow fell silent, Envoy
/// sees a read error (a remote close, `upstream_cx_destroy_remote`) and
/// drops the connection from the pool; the next request opens a fresh one.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn with_keepalive_a_silently_dropped_pooled_connection_is_removed_and_the_next_request_succeeds()
 {
    let w = World::start(config(Some(KA))).await;
    let up = FlowUpstream::spawn(&w.net).await;
    let (resp, took) = request_after_flow_dies(&w, &up).await;
    assert_eq!(resp.status, 200);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(up.peers().len(), 2, "a fresh connection served it");
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.upstream_cx_total, stats.upstream_rq_reused_cx),
        (2, 0)
    );
    assert_eq!(stats.upstream_cx_destroy_remote, 1);
}

/// Fact sheet §4.2: keepalive probes to a live upstream are answered, so an
/// idle pooled connection stays in the pool and is reused.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn with_keepalive_an_idle_pooled_connection_to_a_live_upstream_is_kept_and_reused() {
    let w = World::start(config(Some(KA))).await;
    let up = FlowUpstream::spawn(&w.net).await;
    assert_eq!(w.get(UPSTREAM, "api", 1).await.status, 200);
    // 200 s: many probe rounds, within the passthrough idle timeout (5 min).
    meshsim_net::clock::sleep(Duration::from_secs(200)).await;
    assert_eq!(w.get(UPSTREAM, "api", 2).await.status, 200);
    assert_eq!(up.peers().len(), 1);
    let stats = w.sidecar.stats();
    assert_eq!(
        (stats.upstream_cx_total, stats.upstream_rq_reused_cx),
        (1, 1)
    );
}
