//! Init containers (INC-08): each call once, in order, until one fails.

use meshsim_core::{ErrorKind, ResponseFlags};

use super::*;
use crate::init::{InitFailure, run_once};
use crate::retry::{AppRetry, RetryOn};
use crate::schedule::Arrival;

/// Runs `app`'s calls as an init container from 10.0.0.1; returns its result
/// and the virtual time it exited.
async fn init(net: &Net, app: App) -> (Result<(), InitFailure>, Duration) {
    let (config, deps) = app.parts();
    let start = deps.start;
    let stack = net.stack(ip("10.0.0.1"));
    let result = run_once(config, stack, deps, RequestIds::new())
        .await
        .unwrap();
    (result, start.elapsed())
}

fn calls(urls: &[&str]) -> App {
    let mut app = App::new("go", urls[0], "1/s");
    app.calls = urls
        .iter()
        .map(|u| call(u, "1/s", Arrival::Constant))
        .collect();
    app
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn run_once_makes_each_call_once_in_order() {
    let net = sim();
    let seen = serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let app = calls(&["http://10.0.0.2/config", "http://10.0.0.2/migrate"]);
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let (result, exit) = init(&net, app).await;
    assert_eq!(result, Ok(()));
    let heads = seen.lock().unwrap().heads.clone();
    assert_eq!(heads.len(), 2);
    assert!(heads[0].starts_with("GET /config "), "{}", heads[0]);
    assert!(heads[1].starts_with("GET /migrate "), "{}", heads[1]);
    // The second call reused the first one's connection.
    assert_eq!(exit, FRESH + POOLED);
    wait_closed(&seen, 1).await;
    let alive = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert_eq!(alive, baseline, "no task or connection is left");
}

/// INC-08's failing init container: a step that fails ends the container;
/// later steps never run. A non-2xx status is a failure too.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn run_once_stops_at_the_first_failed_call() {
    let net = sim();
    let ok = serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let missing = Script {
        status: 404,
        ..Script::default()
    };
    serve(&net, "10.0.0.3:80".parse().unwrap(), missing).await;
    let app = calls(&[
        "http://10.0.0.2/a",
        "http://10.0.0.3/b",
        "http://10.0.0.2/c",
    ]);
    let (result, exit) = init(&net, app).await;
    let kind = ErrorKind::Http {
        status: 404,
        flags: ResponseFlags::NONE,
    };
    let at = 2 * FRESH;
    assert_eq!(result, Err(InitFailure { call: 1, kind, at }));
    assert_eq!(exit, at);
    assert_eq!(ok.lock().unwrap().heads.len(), 1, "call 2 never ran");
}

/// Fact sheet §6.5: with Istio CNI, a user init container's outbound TCP is
/// redirected while no proxy runs -> connection failures (INC-08): refused
/// at once...
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn run_once_without_retry_fails_on_the_first_refused_connect() {
    let net = sim();
    let (result, _) = init(&net, calls(&["http://10.0.0.2/"])).await;
    let failure = result.unwrap_err();
    assert_eq!((failure.call, failure.kind), (0, ErrorKind::ConnectRefused));
    assert_eq!(failure.at, REFUSED);
}

/// ...and an `until curl ...; do sleep 1; done` loop (a generous retry)
/// succeeds once a listener appears (with native sidecars, fact sheet §6.4,
/// the proxy runs before user init containers).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn run_once_succeeds_once_a_listener_appears_within_the_retries() {
    let net = sim();
    let late = net.clone();
    tokio::spawn(async move {
        meshsim_net::clock::sleep(ms(3500)).await;
        serve(&late, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    });
    let mut app = calls(&["http://10.0.0.2/"]);
    app.profile.retry = Some(AppRetry {
        attempts: 60,
        backoff: SEC,
        max_backoff: SEC,
        on: RetryOn::ConnectFailure,
    });
    let (result, exit) = init(&net, app).await;
    assert_eq!(result, Ok(()));
    // Refused at 0, 1, 2, 3 s (plus a round trip each); the fifth try works.
    assert_eq!(exit, 4 * (REFUSED + SEC) + FRESH);
}
