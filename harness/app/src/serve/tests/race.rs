//! The keep-alive close race between an app server's idle timeout and a
//! client's pool, and the determinism of a whole chain.

use std::time::Duration;

use meshsim_core::{ErrorKind, Outcome, ProxyLog, RequestRecord, SimRng};
use meshsim_net::clock::Instant;

use super::support::*;
use crate::config::{AppConfig, AppDeps};
use crate::ids::{RecordSink, RequestIds};
use crate::profile::ClientProfile;
use crate::serve::{CallMode, DownstreamCall, RouteSpec};

/// Drives `profile` at one request every 6 s for 12 s against a server
/// that closes idle connections after 5 s; returns the records.
async fn against_node_idle_timeout(profile: &str) -> Vec<RequestRecord> {
    let net = sim();
    let mut node = config(vec![route("/", 200, Duration::ZERO)]);
    node.idle_timeout = Some(5 * SEC);
    let _server = start(&net, "10.0.0.2", node).await;
    let app = AppConfig {
        profile: ClientProfile::named(profile).unwrap(),
        calls: vec![crate::tests::fixture::call(
            "http://10.0.0.2/",
            "10/m",
            Default::default(),
        )],
        dns_servers: vec![],
    };
    let deps = AppDeps {
        rng: SimRng::new(1),
        proxy_log: ProxyLog::new(),
        start: Instant::now(),
        load_for: 12 * SEC,
        drain_for: SEC,
    };
    let (sink, records) = RecordSink::list();
    let client = net.stack("10.0.0.1".parse().unwrap());
    crate::drive_with(app, client, deps, RequestIds::new(), sink)
        .await
        .unwrap();
    records.lock().unwrap().clone()
}

/// incidents.md A2 and A3, fact sheet §4.1 ("upstream closes an idle pooled
/// connection"): urllib3 keeps a connection the server closed at its
/// keep-alive timeout and its next request fails; Go's transport notices
/// the FIN and dials again.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_client_that_misses_the_servers_idle_close_fails_its_next_request() {
    let python = against_node_idle_timeout("python-requests").await;
    assert_eq!(python[0].outcome, Outcome::Ok { status: 200 });
    assert_eq!(
        python[1].outcome,
        Outcome::Error(ErrorKind::ConnectionClosed)
    );
    assert!(python[1].reused_connection);
    let go = against_node_idle_timeout("go").await;
    assert!(go.iter().all(|r| r.outcome.is_ok()), "{go:?}");
    assert!(go.iter().all(|r| !r.reused_connection), "{go:?}");
}

/// A chain with jitter, run twice with the same seed, gives the same records.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_chain_with_jitter_is_reproducible() {
    async fn once() -> (Vec<RequestRecord>, Vec<Duration>) {
        let net = sim();
        let jittery = RouteSpec {
            latency_jitter: SEC,
            ..route("/", 200, SEC)
        };
        let _c = start(&net, "10.0.0.3", config(vec![jittery])).await;
        let fan = RouteSpec {
            calls: (0..3)
                .map(|n| DownstreamCall {
                    url: "http://10.0.0.3/".into(),
                    method: http::Method::GET,
                    call: n,
                })
                .collect(),
            call_mode: CallMode::Parallel,
            ..route("/", 200, Duration::ZERO)
        };
        let a = start(&net, "10.0.0.2", config(vec![fan])).await;
        let mut took = Vec::new();
        for _ in 0..3 {
            took.push(get(&net, addr("10.0.0.2:80"), "/").await.1);
        }
        (a.records(), took)
    }
    let first = once().await;
    assert_eq!(first.0.len(), 9);
    assert_eq!(first, once().await);
}
