//! App-side retry on connect failure (INC-07's "App-side: [...] retry with
//! back-off. Errors 0 at the app level; latency rises").

use meshsim_core::{ErrorKind, Outcome, ResponseFlags};

use super::*;
use crate::retry::{AppRetry, RetryOn};

fn retrying(attempts: u32, backoff: Duration, max_backoff: Duration) -> App {
    let mut app = App::new("go", "http://10.0.0.2/", "1/s");
    app.calls[0].count = Some(1);
    app.profile.retry = Some(AppRetry {
        attempts,
        backoff,
        max_backoff,
        on: RetryOn::ConnectFailure,
    });
    app
}

/// Starts the scripted server on 10.0.0.2:80 at `at` from now.
fn listen_at(net: &Net, at: Duration, script: Script) {
    let net = net.clone();
    tokio::spawn(async move {
        meshsim_net::clock::sleep(at).await;
        serve(&net, "10.0.0.2:80".parse().unwrap(), script).await;
    });
}

/// Fact sheet §6.2 "Window of failure": until Envoy binds 15001 the app's
/// connects are refused (RST). Here the listener appears 1 s after the first
/// call; the app's retries (100, 200, 400, then 400 ms capped) ride over the
/// gap (INC-07's app-side mitigation).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retry_on_connect_failure_backs_off_exponentially_and_records_once() {
    let net = sim();
    listen_at(&net, ms(1000), Script::default());
    let app = retrying(10, ms(100), ms(400));
    let (records, stats, _) = run_lc(&net, app, Lifecycle::default()).await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.outcome, Outcome::Ok { status: 200 });
    // Tries start at 0, 0.1, 0.3, 0.7 s (each refused after a round trip,
    // then the wait), and 1.1 s succeeds.
    let refused_waits = 4 * REFUSED + ms(100 + 200 + 400 + 400);
    assert_eq!(r.latency(), refused_waits + FRESH);
    assert_eq!(stats.app_retries, 4);
    assert_eq!((stats.scheduled, stats.connections_opened), (1, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retry_gives_up_after_its_attempts_with_the_last_tries_outcome() {
    let net = sim();
    let app = retrying(2, ms(100), ms(1000));
    let (records, stats, _) = run_lc(&net, app, Lifecycle::default()).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].outcome,
        Outcome::Error(ErrorKind::ConnectRefused)
    );
    assert_eq!(records[0].latency(), 3 * REFUSED + ms(100 + 200));
    assert_eq!(records[0].upstream_attempts, 0);
    assert_eq!(stats.app_retries, 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_request_timeout_bounds_every_try_and_wait() {
    let net = sim();
    let mut app = retrying(10, ms(100), ms(100));
    app.profile.request_timeout = Some(ms(250));
    let (records, stats, _) = run_lc(&net, app, Lifecycle::default()).await;
    assert_eq!(
        records[0].outcome,
        Outcome::Error(ErrorKind::RequestTimeout)
    );
    assert_eq!(records[0].latency(), ms(250));
    // Tries at 0, 0.101 and 0.202 s; the timeout cuts the next wait.
    assert_eq!(stats.app_retries, 2);
}

/// A try that reached a server is never repeated: the server may have acted.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retry_does_not_repeat_a_request_that_reached_the_server() {
    for (script, kind) in [
        (
            Script {
                reset: true,
                ..Script::default()
            },
            ErrorKind::ConnectionReset,
        ),
        (
            Script {
                status: 503,
                ..Script::default()
            },
            ErrorKind::Http {
                status: 503,
                flags: ResponseFlags::NONE,
            },
        ),
    ] {
        let net = sim();
        let seen = serve(&net, "10.0.0.2:80".parse().unwrap(), script).await;
        let (records, stats, _) =
            run_lc(&net, retrying(5, ms(100), ms(100)), Lifecycle::default()).await;
        assert_eq!(records[0].outcome, Outcome::Error(kind));
        assert_eq!(records[0].upstream_attempts, 1);
        assert_eq!(stats.app_retries, 0);
        assert_eq!(seen.lock().unwrap().heads.len(), 1, "{kind:?} was repeated");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_retry_cap_below_the_first_wait_is_an_error_before_any_request() {
    let net = sim();
    let app = retrying(1, ms(500), ms(100));
    let mut app = app;
    app.seed = 1;
    app.load_for = SEC;
    app.drain_for = SEC;
    let (config, deps) = app.parts();
    let (sink, _) = RecordSink::list();
    let stack = net.stack(ip("10.0.0.1"));
    let err = crate::drive_with(config, stack, deps, RequestIds::new(), sink)
        .await
        .unwrap_err();
    assert!(
        matches!(err, crate::AppError::InvalidRetryBackoff { .. }),
        "{err}"
    );
}
