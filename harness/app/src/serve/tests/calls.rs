//! Downstream calls made while serving: chains, fan-outs, failures, records
//! and request ids.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{ErrorKind, Outcome, ProxyLog, SimRng};
use meshsim_net::clock::Instant;

use super::support::*;
use crate::config::{AppConfig, AppDeps};
use crate::ids::{RecordSink, RequestIds};
use crate::serve::{CallMode, DownstreamCall, OnError, RouteSpec};
use crate::tests::fixture::{self, Script};

fn call(url: &str, id: usize) -> DownstreamCall {
    DownstreamCall {
        url: url.into(),
        method: http::Method::GET,
        call: id,
    }
}

fn calling(calls: Vec<DownstreamCall>, mode: CallMode) -> RouteSpec {
    RouteSpec {
        calls,
        call_mode: mode,
        ..route("/", 200, SEC)
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_chain_answers_after_its_own_latency_plus_its_calls() {
    let net = sim();
    let _c = start(&net, "10.0.0.4", config(vec![route("/", 200, 3 * SEC)])).await;
    let b_route = calling(vec![call("http://10.0.0.4/c", 2)], CallMode::Sequential);
    let b = start(&net, "10.0.0.3", config(vec![b_route])).await;
    let a_route = calling(vec![call("http://10.0.0.3/b", 1)], CallMode::Sequential);
    let a = start(&net, "10.0.0.2", config(vec![a_route])).await;
    let (reply, took) = get(&net, addr("10.0.0.2:80"), "/").await;
    assert_eq!(reply.status, 200);
    assert!(about(took, 5 * SEC), "{took:?}");
    let (a_calls, b_calls) = (a.records(), b.records());
    assert_eq!((a_calls.len(), b_calls.len()), (1, 1));
    assert_eq!((a_calls[0].call, b_calls[0].call), (1, 2));
    assert_eq!(a_calls[0].outcome, Outcome::Ok { status: 200 });
    assert!(about(a_calls[0].latency(), 4 * SEC), "{:?}", a_calls[0]);
    assert_eq!(a_calls[0].upstream_host, Some(addr("10.0.0.3:80")));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_fan_out_runs_its_calls_at_once_and_waits_for_the_slowest() {
    let net = sim();
    let _b = start(&net, "10.0.0.3", config(vec![route("/", 200, 2 * SEC)])).await;
    let _c = start(&net, "10.0.0.4", config(vec![route("/", 200, 3 * SEC)])).await;
    let calls = vec![call("http://10.0.0.3/", 1), call("http://10.0.0.4/", 2)];
    let a = start(
        &net,
        "10.0.0.2",
        config(vec![calling(calls, CallMode::Parallel)]),
    )
    .await;
    let (reply, took) = get(&net, addr("10.0.0.2:80"), "/").await;
    assert_eq!(reply.status, 200);
    assert!(about(took, 4 * SEC), "{took:?}");
    let records = a.records();
    assert_eq!(
        records.iter().map(|r| r.call).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(records.iter().all(|r| r.started == records[0].started));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn sequential_calls_stop_at_the_first_failure_and_propagate_its_status() {
    let net = sim();
    let _b = start(
        &net,
        "10.0.0.3",
        config(vec![route("/", 503, Duration::ZERO)]),
    )
    .await;
    let _c = start(
        &net,
        "10.0.0.4",
        config(vec![route("/", 200, Duration::ZERO)]),
    )
    .await;
    let calls = vec![call("http://10.0.0.3/", 1), call("http://10.0.0.4/", 2)];
    let a = start(
        &net,
        "10.0.0.2",
        config(vec![calling(calls, CallMode::Sequential)]),
    )
    .await;
    let (reply, _) = get(&net, addr("10.0.0.2:80"), "/").await;
    assert_eq!(reply.status, 503);
    let records = a.records();
    assert_eq!(records.len(), 1, "the second call is never made");
    assert!(matches!(
        records[0].outcome,
        Outcome::Error(ErrorKind::Http { status: 503, .. })
    ));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_call_that_failed_without_a_status_is_answered_502() {
    let net = sim();
    // Nothing listens on 10.0.0.3: connect refused.
    let calls = vec![call("http://10.0.0.3/", 1)];
    let a = start(
        &net,
        "10.0.0.2",
        config(vec![calling(calls, CallMode::Sequential)]),
    )
    .await;
    let (reply, _) = get(&net, addr("10.0.0.2:80"), "/").await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        a.records()[0].outcome,
        Outcome::Error(ErrorKind::ConnectRefused)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_fixed_on_error_status_replaces_the_failure_and_a_fan_out_makes_every_call() {
    let net = sim();
    let _c = start(&net, "10.0.0.4", config(vec![route("/", 200, SEC)])).await;
    let calls = vec![call("http://10.0.0.3/", 1), call("http://10.0.0.4/", 2)];
    let fixed = RouteSpec {
        on_error: OnError::Status(500),
        ..calling(calls, CallMode::Parallel)
    };
    let a = start(&net, "10.0.0.2", config(vec![fixed])).await;
    let (reply, _) = get(&net, addr("10.0.0.2:80"), "/").await;
    assert_eq!(reply.status, 500);
    let outcomes: Vec<_> = a.records().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Error(ErrorKind::ConnectRefused),
            Outcome::Ok { status: 200 }
        ]
    );
}

/// The pod's sidecar keys its proxy log by `x-request-id`, so the ids of the
/// pod's own load and of its serving routes' calls never collide.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn drive_and_serve_of_one_pod_draw_unique_request_ids() {
    let net = sim();
    let seen = fixture::serve(&net, addr("10.0.0.3:80"), Script::default()).await;
    let ids = RequestIds::new();
    let pod = net.stack("10.0.0.2".parse().unwrap());
    let route = calling(
        vec![call("http://10.0.0.3/from-serve", 9)],
        CallMode::Sequential,
    );
    let _a = start_on(pod.clone(), config(vec![route]), ids.clone()).await;
    let load = fixture::call("http://10.0.0.3/from-drive", "2/s", Default::default());
    let app = AppConfig {
        profile: crate::profile::ClientProfile::go(),
        calls: vec![load],
        dns_servers: vec![],
    };
    let deps = AppDeps {
        rng: SimRng::new(1),
        proxy_log: ProxyLog::new(),
        start: Instant::now(),
        load_for: 2 * SEC,
        drain_for: SEC,
    };
    let records = Arc::new(Mutex::new(0usize));
    let count = records.clone();
    let sink = RecordSink::new(move |_| *count.lock().unwrap() += 1);
    let driving = tokio::spawn(crate::drive_with(app, pod, deps, ids.clone(), sink));
    for _ in 0..3 {
        get(&net, addr("10.0.0.2:80"), "/").await;
    }
    driving.await.unwrap().unwrap();
    let heads = seen.lock().unwrap().heads.clone();
    let mut got: Vec<u64> = heads.iter().map(|h| request_id(h)).collect();
    assert_eq!(got.len(), 7);
    got.sort_unstable();
    assert_eq!(got, (1..=7).collect::<Vec<_>>());
    assert_eq!(*records.lock().unwrap(), 4);
    assert_eq!(ids.issued(), 7);
}

fn request_id(head: &str) -> u64 {
    head.lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("x-request-id")
}
