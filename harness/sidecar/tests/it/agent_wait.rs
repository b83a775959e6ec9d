//! `pilot-agent wait` (`meshsim_sidecar::agent::wait_ready`): fact sheet
//! §6.3 and INC-07's mitigation (holdApplicationUntilProxyStarts).

use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_sidecar::agent::{PollFailure, WaitReady, wait_ready};
use meshsim_sidecar::{SidecarConfig, SidecarError, Startup};

use crate::boot::{eds_routed, with_admin};
use crate::support::*;

/// A sidecar whose EDS cluster never gets an assignment: never ready.
fn never_ready() -> SidecarConfig {
    eds_routed()
}

/// Fact sheet §6.3 (`--periodMillis` 500, `--timeoutSeconds` 60) and
/// istio#41086 (`timeout waiting for Envoy proxy to become ready ...
/// connection refused`): against a sidecar that never starts its workers,
/// 15021 refuses every poll; polls at 0, 0.5, ..., 59.5 s (120), then the
/// error at 60 s naming the refused connect.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pilot_agent_wait_polls_every_500ms_and_gives_up_after_60s() {
    let t0 = Instant::now();
    let w = World::boot(never_ready(), Startup::default()).await;
    let readiness = w.sidecar.readiness_addr().unwrap();
    let err = wait_ready(&w.app, readiness, WaitReady::default())
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), Duration::from_secs(60));
    let SidecarError::ProxyNotReady { polls, last, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!((*polls, last), (120, &PollFailure::Refused));
    assert_eq!(
        err.to_string(),
        "timeout waiting for Envoy proxy to become ready. Last error: connect: connection refused"
    );
}

/// Fact sheet §6.3: the first poll is at once, then one every 500 ms; a
/// sidecar ready at 1.1 s is seen by the poll at 1.5 s, the fourth.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pilot_agent_wait_returns_at_the_first_poll_after_ready() {
    let t0 = Instant::now();
    let w = World::boot(with_admin(SidecarConfig::default()), Startup::default()).await;
    let readiness = w.sidecar.readiness_addr().unwrap();
    let outcome = wait_ready(&w.app, readiness, WaitReady::default())
        .await
        .unwrap();
    assert_eq!(outcome.polls, 4);
    assert_eq!(outcome.ready_at - t0, Duration::from_millis(1500));
    assert_eq!(outcome.waited, Duration::from_millis(1500));
}

/// Fact sheet §6.2, §6.3: a readiness port that answers 503 (a spawned
/// sidecar whose EDS cluster waits) fails each poll with `HTTP status code
/// 503`; with `give_up` 2 s the wait ends after 4 polls.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pilot_agent_wait_names_the_last_status_when_it_gives_up() {
    let t0 = Instant::now();
    let w = World::start(never_ready()).await;
    let opts = WaitReady {
        give_up: Duration::from_secs(2),
        ..WaitReady::default()
    };
    let err = wait_ready(&w.app, w.sidecar.readiness_addr().unwrap(), opts)
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    let SidecarError::ProxyNotReady { polls, last, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!((*polls, last), (4, &PollFailure::Status(503)));
    assert!(
        err.to_string()
            .ends_with("Last error: HTTP status code 503")
    );
}

/// Fact sheet §6.3 (`--requestTimeoutMillis` 500): a readiness port that
/// accepts and never answers costs each poll its 500 ms timeout before the
/// 500 ms sleep, so polls come every second.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pilot_agent_wait_bounds_each_poll_by_the_request_timeout() {
    let t0 = Instant::now();
    let w = World::boot(never_ready(), Startup::default()).await;
    let silent = addr("10.0.0.1:15099");
    let _hang = Upstream::spawn(&w.net, silent, None, |_, _| Action::Hang).await;
    let opts = WaitReady {
        give_up: Duration::from_secs(3),
        ..WaitReady::default()
    };
    let err = wait_ready(&w.app, silent, opts).await.unwrap_err();
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    let SidecarError::ProxyNotReady { polls, last, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!((*polls, last), (3, &PollFailure::Timeout));
}
