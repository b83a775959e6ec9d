use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn policy(tokens: &str, num_retries: u32) -> RetryPolicy {
    RetryPolicy {
        retry_on: tokens.split(',').filter_map(RetryOn::parse).collect(),
        num_retries,
        per_try_timeout: None,
        retriable_status_codes: Vec::new(),
        previous_hosts_predicate: true,
        host_selection_retry_max_attempts: 5,
        base_interval: Duration::from_millis(25),
        max_interval: Duration::from_millis(250),
    }
}

/// Istio >= 1.24 default outbound policy (no retriable status codes).
fn istio_default() -> RetryPolicy {
    policy(
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        2,
    )
}

fn reset(reason: ResetReason, request_sent: bool) -> AttemptEvent {
    AttemptEvent::Reset {
        reason,
        request_sent,
    }
}

fn status(status: u16) -> AttemptEvent {
    AttemptEvent::Response {
        status,
        grpc_status: None,
        envoy_ratelimited: false,
    }
}

#[test]
fn istio_default_policy_does_not_retry_a_connection_termination_uc() {
    let p = istio_default();
    let uc = reset(ResetReason::ConnectionTermination, true);
    assert_eq!(decide(Some(&p), 2, &uc), RetryDecision::NoRetry);
}

#[test]
fn istio_default_policy_retries_connect_failures_of_every_kind() {
    let p = istio_default();
    for r in [
        ResetReason::RemoteConnectionFailure,
        ResetReason::LocalConnectionFailure,
        ResetReason::ConnectionTimeout,
    ] {
        assert_eq!(
            decide(Some(&p), 2, &reset(r, false)),
            RetryDecision::Retry,
            "{r:?}"
        );
    }
}

#[test]
fn no_policy_never_retries() {
    let e = reset(ResetReason::RemoteConnectionFailure, false);
    assert_eq!(decide(None, 5, &e), RetryDecision::NoRetry);
}

#[test]
fn retriable_failure_without_retries_left_is_limit_exceeded() {
    let p = istio_default();
    let e = reset(ResetReason::RemoteConnectionFailure, false);
    assert_eq!(decide(Some(&p), 0, &e), RetryDecision::LimitExceeded);
    // A non-retriable failure stays NoRetry (no URX) even at zero.
    assert_eq!(decide(Some(&p), 0, &status(500)), RetryDecision::NoRetry);
}

#[test]
fn per_try_timeout_local_reset_is_retried_under_5xx_gateway_error_and_reset_only() {
    let per_try = reset(ResetReason::LocalReset, true);
    for t in ["5xx", "gateway-error", "reset"] {
        assert!(would_retry(&policy(t, 1), &per_try), "{t}");
    }
    for t in [
        "connect-failure",
        "reset-before-request",
        "refused-stream",
        "retriable-4xx",
    ] {
        assert!(!would_retry(&policy(t, 1), &per_try), "{t}");
    }
}

#[test]
fn reset_before_request_only_retries_when_no_request_byte_was_written() {
    let p = policy("reset-before-request", 2);
    assert!(would_retry(
        &p,
        &reset(ResetReason::ConnectionTermination, false)
    ));
    assert!(!would_retry(
        &p,
        &reset(ResetReason::ConnectionTermination, true)
    ));
    // A connect failure never wrote a byte: it qualifies too (Envoy falls through).
    assert!(would_retry(
        &p,
        &reset(ResetReason::RemoteConnectionFailure, false)
    ));
}

#[test]
fn overflow_is_never_retried() {
    let p = policy("5xx,reset,connect-failure,reset-before-request", 3);
    assert!(!would_retry(&p, &reset(ResetReason::Overflow, false)));
}

#[test]
fn five_xx_and_gateway_error_differ_on_responses_but_not_on_resets() {
    let five = policy("5xx", 1);
    let gw = policy("gateway-error", 1);
    assert!(would_retry(&five, &status(500)));
    assert!(!would_retry(&gw, &status(500)));
    for s in [502, 503, 504] {
        assert!(would_retry(&gw, &status(s)));
    }
    let uc = reset(ResetReason::ConnectionTermination, true);
    assert!(would_retry(&five, &uc) && would_retry(&gw, &uc));
    assert!(!would_retry(&five, &status(404)));
}

#[test]
fn retriable_status_codes_match_only_listed_upstream_statuses() {
    let mut p = policy("retriable-status-codes", 2);
    assert!(!would_retry(&p, &status(503)), "empty list matches nothing");
    p.retriable_status_codes = vec![503];
    assert!(would_retry(&p, &status(503)));
    assert!(!would_retry(&p, &status(502)));
    // A local 503 UC is a reset, never a status.
    assert!(!would_retry(
        &p,
        &reset(ResetReason::ConnectionTermination, true)
    ));
}

#[test]
fn retriable_4xx_is_409_only() {
    let p = policy("retriable-4xx", 1);
    assert!(would_retry(&p, &status(409)));
    assert!(!would_retry(&p, &status(429)));
}

#[test]
fn refused_stream_matches_only_refused_stream_resets() {
    let p = policy("refused-stream", 1);
    assert!(would_retry(
        &p,
        &reset(ResetReason::RemoteRefusedStreamReset, true)
    ));
    assert!(!would_retry(&p, &reset(ResetReason::RemoteReset, true)));
}

#[test]
fn envoy_ratelimited_header_alone_decides() {
    let limited = AttemptEvent::Response {
        status: 503,
        grpc_status: None,
        envoy_ratelimited: true,
    };
    assert!(!would_retry(&policy("5xx", 1), &limited));
    assert!(would_retry(&policy("envoy-ratelimited", 1), &limited));
}

#[test]
fn grpc_tokens_match_grpc_status_in_response_headers() {
    let p = istio_default();
    let unavailable = AttemptEvent::Response {
        status: 200,
        grpc_status: Some(14),
        envoy_ratelimited: false,
    };
    let internal = AttemptEvent::Response {
        status: 200,
        grpc_status: Some(13),
        envoy_ratelimited: false,
    };
    assert!(would_retry(&p, &unavailable));
    assert!(!would_retry(&p, &internal));
}

fn any_event() -> impl Strategy<Value = AttemptEvent> {
    let reasons = prop_oneof![
        Just(ResetReason::RemoteConnectionFailure),
        Just(ResetReason::ConnectionTimeout),
        Just(ResetReason::ConnectionTermination),
        Just(ResetReason::LocalReset),
        Just(ResetReason::Overflow),
        Just(ResetReason::ProtocolError),
    ];
    prop_oneof![
        (reasons, any::<bool>()).prop_map(|(reason, request_sent)| AttemptEvent::Reset {
            reason,
            request_sent
        }),
        (100u16..600, proptest::option::of(0u32..17), any::<bool>()).prop_map(
            |(status, grpc_status, envoy_ratelimited)| {
                AttemptEvent::Response {
                    status,
                    grpc_status,
                    envoy_ratelimited,
                }
            }
        ),
    ]
}

fn any_tokens() -> impl Strategy<Value = Vec<RetryOn>> {
    proptest::sample::subsequence(
        RetryOn::ALL.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        0..6,
    )
}

proptest! {
    #[test]
    fn retries_never_exceed_num_retries(
        tokens in any_tokens(), num_retries in 0u32..6, events in proptest::collection::vec(any_event(), 1..20),
    ) {
        let mut p = policy("", num_retries);
        p.retry_on = tokens;
        p.retriable_status_codes = vec![503, 409];
        let mut retries_left = num_retries;
        let mut attempts = 0u32;
        for e in &events {
            attempts += 1;
            match decide(Some(&p), retries_left, e) {
                RetryDecision::Retry => retries_left -= 1,
                RetryDecision::NoRetry => break,
                RetryDecision::LimitExceeded => {
                    prop_assert_eq!(retries_left, 0);
                    prop_assert!(would_retry(&p, e));
                    break;
                }
            }
        }
        prop_assert!(attempts <= 1 + num_retries);
    }

    #[test]
    fn nothing_is_retried_once_response_headers_went_downstream(
        tokens in any_tokens(), retries_left in 0u32..6,
    ) {
        // Envoy's router only consults the retry state while it awaits
        // upstream headers; after forwarding them a reset is passed on.
        let mut p = policy("", retries_left);
        p.retry_on = tokens;
        p.retriable_status_codes = vec![503, 409];
        prop_assert_eq!(decide(Some(&p), retries_left, &AttemptEvent::AfterHeaders), RetryDecision::NoRetry);
    }
}
