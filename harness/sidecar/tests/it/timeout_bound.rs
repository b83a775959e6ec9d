//! Property: the route timeout bounds a request's whole life at the sidecar,
//! whatever its retries, per-try timeouts, back-offs and upstream failures.
//!
//! Fact sheet §1.2 / §2.3: Envoy's route `timeout` covers all attempts (the
//! retries and their back-offs included); when it fires the request ends
//! with `504` `UT` and is never retried. In the simulated network timers fire
//! on whole milliseconds, so the app sees the answer at most one scheduling
//! step (1 ms) after the timeout: nothing else may stretch it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_sidecar::{Discovery, RetryOn};
use proptest::prelude::*;

use crate::support::*;

const HOST: &str = "api.partner.example";
/// The simulated network's timer resolution.
const STEP: Duration = Duration::from_millis(1);

fn any_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (1u64..3_000).prop_map(|ms| Action::RespondAfter(Duration::from_millis(ms), 503, "busy")),
        (1u64..3_000).prop_map(|ms| Action::RespondAfter(Duration::from_millis(ms), 200, "ok")),
        Just(Action::Respond(503, "busy")),
        Just(Action::Reset),
        Just(Action::Close),
        Just(Action::Hang),
    ]
}

fn any_tokens() -> impl Strategy<Value = Vec<RetryOn>> {
    let tokens = vec![
        RetryOn::FiveXx,
        RetryOn::Reset,
        RetryOn::ConnectFailure,
        RetryOn::GatewayError,
        RetryOn::RetriableStatusCodes,
    ];
    proptest::sample::subsequence(tokens, 0..=5)
}

#[derive(Debug, Clone)]
struct Case {
    route_timeout: Duration,
    per_try_timeout: Option<Duration>,
    num_retries: u32,
    tokens: Vec<RetryOn>,
    /// The upstream's answer to its n-th request (cycled).
    actions: Vec<Action>,
    /// A second endpoint where nothing listens (connects refused).
    dead_endpoint: bool,
}

fn any_case() -> impl Strategy<Value = Case> {
    (
        50u64..4_000,
        proptest::option::of(5u64..2_000),
        0u32..5,
        any_tokens(),
        proptest::collection::vec(any_action(), 1..6),
        any::<bool>(),
    )
        .prop_map(
            |(timeout, per_try, num_retries, tokens, actions, dead)| Case {
                route_timeout: Duration::from_millis(timeout),
                per_try_timeout: per_try.map(Duration::from_millis),
                num_retries,
                tokens,
                actions,
                dead_endpoint: dead,
            },
        )
}

/// Runs one request through a sidecar configured by `case`; returns the
/// status the app saw and how long it took.
async fn run(case: Case) -> (u16, Duration) {
    let mut endpoints = vec![addr("10.0.4.1:80")];
    if case.dead_endpoint {
        endpoints.push(addr("10.0.4.2:80"));
    }
    let mut retry = policy("", case.num_retries);
    retry.retry_on = case.tokens;
    retry.retriable_status_codes = vec![503];
    retry.per_try_timeout = case.per_try_timeout;
    let config = routed(
        HOST,
        cluster("outbound|80||api", Discovery::Static { endpoints }),
        Some(retry),
        Some(case.route_timeout),
    );
    let w = World::start(config).await;
    let served = Arc::new(AtomicUsize::new(0));
    let actions = case.actions;
    let _up = Upstream::spawn(&w.net, addr("10.0.4.1:80"), None, move |_, _| {
        let n = served.fetch_add(1, Ordering::Relaxed);
        actions[n % actions.len()].clone()
    })
    .await;
    let start = Instant::now();
    let r = w.get("10.0.4.1:80", HOST, 1).await;
    (r.status, start.elapsed())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn total_time_never_exceeds_the_route_timeout_by_more_than_one_scheduling_step(case in any_case()) {
        let timeout = case.route_timeout;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let (status, elapsed) = rt.block_on(run(case));
        prop_assert!(elapsed <= timeout + STEP, "took {elapsed:?} for a {timeout:?} route timeout (status {status})");
        if elapsed >= timeout {
            // Only the route timeout ends a request that late, with its 504.
            prop_assert_eq!(status, 504);
        }
    }
}
