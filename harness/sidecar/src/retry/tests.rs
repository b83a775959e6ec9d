use std::sync::LazyLock;

use http::HeaderMap;
use proptest::prelude::*;

use super::*;
use crate::config::HeaderMatch;

fn policy(tokens: &str, num_retries: u32) -> RetryPolicy {
    RetryPolicy {
        retry_on: tokens.split(',').filter_map(RetryOn::parse).collect(),
        num_retries,
        previous_hosts_predicate: true,
        host_selection_retry_max_attempts: 5,
        ..RetryPolicy::default()
    }
}

static NO_HEADERS: LazyLock<HeaderMap> = LazyLock::new(HeaderMap::new);

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, v.parse().unwrap());
    }
    h
}

fn response(status: u16, headers: &HeaderMap) -> AttemptEvent<'_> {
    AttemptEvent::Response { status, headers }
}

/// Istio >= 1.24 default outbound policy (no retriable status codes).
fn istio_default() -> RetryPolicy {
    policy(
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        2,
    )
}

fn reset(reason: ResetReason, request_sent: bool) -> AttemptEvent<'static> {
    AttemptEvent::Reset {
        reason,
        request_sent,
    }
}

fn status(status: u16) -> AttemptEvent<'static> {
    response(status, &NO_HEADERS)
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

/// Fact sheet §1.1: `envoy-ratelimited` precedence: with the header only
/// that token decides; without it the token matches nothing.
#[test]
fn envoy_ratelimited_header_alone_decides() {
    let h = headers(&[("x-envoy-ratelimited", "true")]);
    let limited = response(503, &h);
    assert!(!would_retry(
        &policy("5xx,gateway-error,retriable-4xx", 1),
        &limited
    ));
    assert!(would_retry(&policy("envoy-ratelimited", 1), &limited));
    assert!(would_retry(
        &policy("envoy-ratelimited,5xx", 1),
        &response(200, &h)
    ));
    assert!(!would_retry(&policy("envoy-ratelimited", 1), &status(503)));
}

/// Fact sheet §1.1: each gRPC token matches its `grpc-status` code in the
/// response headers, and only that one.
#[test]
fn each_grpc_token_matches_its_own_grpc_status_code_in_response_headers() {
    let codes = [
        ("cancelled", 1),
        ("deadline-exceeded", 4),
        ("resource-exhausted", 8),
        ("internal", 13),
        ("unavailable", 14),
    ];
    for (token, code) in codes {
        let p = policy(token, 1);
        for (_, other) in codes {
            let h = headers(&[("grpc-status", &other.to_string())]);
            assert_eq!(
                would_retry(&p, &response(200, &h)),
                other == code,
                "{token} vs {other}"
            );
        }
        assert!(
            !would_retry(&p, &status(200)),
            "{token} without grpc-status"
        );
    }
}

#[test]
fn grpc_tokens_ignore_unknown_and_garbled_grpc_status() {
    let p = policy(
        "cancelled,deadline-exceeded,resource-exhausted,internal,unavailable",
        1,
    );
    for v in ["0", "2", "16", "x", ""] {
        let h = headers(&[("grpc-status", v)]);
        assert!(!would_retry(&p, &response(200, &h)), "{v:?}");
    }
}

/// Fact sheet §1.1: `retriable-headers` retries a response with a header
/// matching one of the policy's `retriable_headers` matchers.
#[test]
fn retriable_headers_match_policy_matchers_on_response_headers() {
    let mut p = policy("retriable-headers", 1);
    p.retriable_headers = vec![
        HeaderMatcher {
            name: "x-upstream".into(),
            matches: HeaderMatch::Exact("busy".into()),
            invert: false,
            treat_missing_as_empty: false,
        },
        HeaderMatcher {
            name: "x-shard".into(),
            matches: HeaderMatch::Prefix("moved-".into()),
            invert: false,
            treat_missing_as_empty: false,
        },
    ];
    assert!(would_retry(
        &p,
        &response(200, &headers(&[("x-upstream", "busy")]))
    ));
    assert!(!would_retry(
        &p,
        &response(200, &headers(&[("x-upstream", "idle")]))
    ));
    assert!(would_retry(
        &p,
        &response(200, &headers(&[("x-shard", "moved-3")]))
    ));
    assert!(!would_retry(&p, &status(503)));
    // Without the token the matchers do nothing.
    p.retry_on = vec![RetryOn::FiveXx];
    assert!(!would_retry(
        &p,
        &response(200, &headers(&[("x-upstream", "busy")]))
    ));
}

/// Fact sheet §1.1: names in the request's `x-envoy-retriable-header-names`
/// become presence matchers for that request.
#[test]
fn request_retriable_header_names_add_presence_matchers() {
    let p = policy("retriable-headers", 1);
    let req = headers(&[(RETRIABLE_HEADER_NAMES, "x-retry-me, X-Other")]);
    let effective = request_policy(Some(&p), &req).unwrap();
    assert!(matches!(effective, Cow::Owned(_)));
    assert!(would_retry(
        &effective,
        &response(200, &headers(&[("x-retry-me", "1")]))
    ));
    assert!(would_retry(
        &effective,
        &response(200, &headers(&[("x-other", "")]))
    ));
    assert!(!would_retry(
        &p,
        &response(200, &headers(&[("x-retry-me", "1")]))
    ));
    // Nothing added: the route's policy is used as is; no policy stays none.
    assert!(matches!(
        request_policy(Some(&p), &HeaderMap::new()),
        Some(Cow::Borrowed(_))
    ));
    assert!(request_policy(None, &req).is_none());
}

/// Fact sheet §1.1: the reset evaluation order, one row per reset reason and
/// token: `overflow` never; connect failures only under `connect-failure`
/// (or the catch-alls); `reset-before-request` only if nothing was sent;
/// `reset`/`5xx`/`gateway-error` any reset; `refused-stream` its own reset.
#[test]
fn reset_evaluation_follows_envoys_order_for_every_token() {
    use ResetReason as R;
    let all = [
        R::LocalConnectionFailure,
        R::RemoteConnectionFailure,
        R::ConnectionTimeout,
        R::ConnectionTermination,
        R::LocalReset,
        R::LocalRefusedStreamReset,
        R::Overflow,
        R::RemoteReset,
        R::RemoteRefusedStreamReset,
        R::ProtocolError,
    ];
    for reason in all {
        for sent in [false, true] {
            let e = reset(reason, sent);
            let not_overflow = reason != R::Overflow;
            let cases = [
                (
                    "connect-failure",
                    not_overflow && reason.is_connect_failure(),
                ),
                ("reset-before-request", not_overflow && !sent),
                ("reset", not_overflow),
                ("5xx", not_overflow),
                ("gateway-error", not_overflow),
                ("refused-stream", reason == R::RemoteRefusedStreamReset),
                ("retriable-4xx", false),
                ("retriable-status-codes", false),
                ("retriable-headers", false),
                ("envoy-ratelimited", false),
                ("http3-post-connect-failure", false),
                ("unavailable", false),
            ];
            for (token, want) in cases {
                assert_eq!(
                    would_retry(&policy(token, 1), &e),
                    want,
                    "{token} {reason:?} sent={sent}"
                );
            }
        }
    }
}

/// Fact sheet §1.1: status-code tokens see only real upstream responses; a
/// local 503 (UF, UC, UO...) is a reset, which they never match.
#[test]
fn status_code_tokens_never_match_the_sidecars_own_local_replies() {
    let mut p = policy("retriable-status-codes,retriable-4xx", 2);
    p.retriable_status_codes = vec![503, 502, 504];
    for reason in [
        ResetReason::RemoteConnectionFailure,
        ResetReason::ConnectionTermination,
        ResetReason::Overflow,
        ResetReason::LocalReset,
    ] {
        assert!(!would_retry(&p, &reset(reason, true)), "{reason:?}");
    }
}

fn any_event() -> impl Strategy<Value = Event> {
    let reasons = prop_oneof![
        Just(ResetReason::RemoteConnectionFailure),
        Just(ResetReason::ConnectionTimeout),
        Just(ResetReason::ConnectionTermination),
        Just(ResetReason::LocalReset),
        Just(ResetReason::Overflow),
        Just(ResetReason::ProtocolError),
    ];
    prop_oneof![
        (reasons, any::<bool>())
            .prop_map(|(reason, request_sent)| Event::Reset(reason, request_sent)),
        (100u16..600, proptest::option::of(0u32..17), any::<bool>()).prop_map(
            |(status, grpc, ratelimited)| {
                let mut h = HeaderMap::new();
                if let Some(code) = grpc {
                    h.insert("grpc-status", code.into());
                }
                if ratelimited {
                    h.insert("x-envoy-ratelimited", "true".parse().unwrap());
                }
                Event::Response(status, h)
            }
        ),
    ]
}

/// An owned [`AttemptEvent`] for property tests.
#[derive(Debug, Clone)]
enum Event {
    Reset(ResetReason, bool),
    Response(u16, HeaderMap),
}

impl Event {
    fn view(&self) -> AttemptEvent<'_> {
        match self {
            Event::Reset(reason, request_sent) => reset(*reason, *request_sent),
            Event::Response(status, h) => response(*status, h),
        }
    }
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
            let e = &e.view();
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
