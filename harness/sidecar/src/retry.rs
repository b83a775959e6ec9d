//! The retry decision, as Envoy's `RetryStateImpl` makes it.
//!
//! [`decide`] is pure: it sees the route's policy, how many retries are left
//! and what the last attempt produced ([`AttemptEvent`]). It answers
//! [`RetryDecision::Retry`], [`RetryDecision::NoRetry`] (the failure is not
//! retriable under the policy) or [`RetryDecision::LimitExceeded`] (it would be,
//! but `num_retries` is spent: Envoy adds `URX` and counts
//! `upstream_rq_retry_limit_exceeded`). The caller never asks once response
//! headers went downstream, and never asks about the route timeout, which Envoy
//! never retries. Back-off between attempts is in [`backoff`].

pub mod backoff;

use std::borrow::Cow;

use http::HeaderMap;

use crate::attempt::ResetReason;
use crate::config::{HeaderMatcher, RetryOn, RetryPolicy};

pub use backoff::BackOff;

/// gRPC status codes `retry_on` knows by name.
const GRPC_CANCELLED: u32 = 1;
const GRPC_DEADLINE_EXCEEDED: u32 = 4;
const GRPC_RESOURCE_EXHAUSTED: u32 = 8;
const GRPC_INTERNAL: u32 = 13;
const GRPC_UNAVAILABLE: u32 = 14;

/// The request header whose comma-separated names become presence matchers
/// of `retriable-headers` for that request.
pub const RETRIABLE_HEADER_NAMES: &str = "x-envoy-retriable-header-names";

/// What one attempt produced, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEvent<'a> {
    /// The upstream answered with response headers (a real upstream response;
    /// the sidecar's own local replies never come here).
    Response {
        /// `:status`.
        status: u16,
        /// The response headers (`grpc-status`, `x-envoy-ratelimited`, and
        /// whatever `retriable_headers` look at). Trailers are never seen.
        headers: &'a HeaderMap,
    },
    /// The attempt was reset before response headers: connect failure,
    /// connection termination, per-try timeout (a local reset), overflow...
    Reset {
        /// Envoy's reset reason.
        reason: ResetReason,
        /// Whether any request byte was written on this attempt
        /// (`first_upstream_tx_byte_sent`).
        request_sent: bool,
    },
    /// The upstream stream failed after its response headers were forwarded
    /// downstream (a reset mid-body, the route timeout while streaming).
    /// Envoy never retries then: the client already has the headers.
    AfterHeaders,
}

/// The answer of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry (after a back-off), if the cluster's retry breaker or budget
    /// lets it (else Envoy adds `UO` and returns this failure).
    Retry,
    /// Not retriable under the policy: the failure goes to the client as is.
    NoRetry,
    /// Retriable, but no retry is left: the failure goes to the client with
    /// `URX` added.
    LimitExceeded,
}

/// Decides whether to retry after `event`, with `retries_left` retries left
/// (`num_retries` minus retries already made). No policy means no retry.
pub fn decide(
    policy: Option<&RetryPolicy>,
    retries_left: u32,
    event: &AttemptEvent<'_>,
) -> RetryDecision {
    let Some(policy) = policy else {
        return RetryDecision::NoRetry;
    };
    if matches!(event, AttemptEvent::AfterHeaders) || !would_retry(policy, event) {
        RetryDecision::NoRetry
    } else if retries_left == 0 {
        RetryDecision::LimitExceeded
    } else {
        RetryDecision::Retry
    }
}

/// Whether `event` matches the policy's `retry_on` conditions.
pub fn would_retry(policy: &RetryPolicy, event: &AttemptEvent<'_>) -> bool {
    match *event {
        AttemptEvent::Response { status, headers } => would_retry_headers(policy, status, headers),
        AttemptEvent::Reset {
            reason,
            request_sent,
        } => would_retry_reset(policy, reason, request_sent),
        AttemptEvent::AfterHeaders => false,
    }
}

/// The policy one request runs under: the route's, plus a presence matcher
/// for every name in the request's `x-envoy-retriable-header-names` (Envoy's
/// `RetryStateImpl` adds them to `retriable_headers`). Borrowed when the
/// request adds nothing.
pub fn request_policy<'p>(
    policy: Option<&'p RetryPolicy>,
    request: &HeaderMap,
) -> Option<Cow<'p, RetryPolicy>> {
    let policy = policy?;
    let names: Vec<HeaderMatcher> = request
        .get_all(RETRIABLE_HEADER_NAMES)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(HeaderMatcher::present)
        .collect();
    if names.is_empty() {
        return Some(Cow::Borrowed(policy));
    }
    let mut owned = policy.clone();
    owned.retriable_headers.extend(names);
    Some(Cow::Owned(owned))
}

/// `grpc-status` of response headers, when it is a number.
pub fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Envoy's `wouldRetryFromHeaders`, in its order.
fn would_retry_headers(p: &RetryPolicy, status: u16, headers: &HeaderMap) -> bool {
    if headers.contains_key("x-envoy-ratelimited") {
        // The header alone decides: only `envoy-ratelimited` retries it.
        return p.has(RetryOn::EnvoyRateLimited);
    }
    (p.has(RetryOn::FiveXx) && (500..600).contains(&status))
        || (p.has(RetryOn::GatewayError) && matches!(status, 502..=504))
        || (p.has(RetryOn::Retriable4xx) && status == 409)
        || (p.has(RetryOn::RetriableStatusCodes) && p.retriable_status_codes.contains(&status))
        || (p.has(RetryOn::RetriableHeaders)
            && p.retriable_headers.iter().any(|m| m.matches(headers)))
        || grpc_status(headers).is_some_and(|code| grpc_matches(p, code))
}

fn grpc_matches(p: &RetryPolicy, code: u32) -> bool {
    match code {
        GRPC_CANCELLED => p.has(RetryOn::Cancelled),
        GRPC_DEADLINE_EXCEEDED => p.has(RetryOn::DeadlineExceeded),
        GRPC_RESOURCE_EXHAUSTED => p.has(RetryOn::ResourceExhausted),
        GRPC_INTERNAL => p.has(RetryOn::Internal),
        GRPC_UNAVAILABLE => p.has(RetryOn::Unavailable),
        _ => false,
    }
}

/// Envoy's `wouldRetryFromReset`, in its order: `overflow` never;
/// connect failures under `connect-failure`; `reset-before-request` when no
/// byte was sent; `reset`, `5xx`, `gateway-error` for any other reset;
/// `refused-stream` for refused-stream resets. (`http3-post-connect-failure`
/// never fires: meshsim has no HTTP/3.)
fn would_retry_reset(p: &RetryPolicy, reason: ResetReason, request_sent: bool) -> bool {
    if reason == ResetReason::Overflow {
        return false;
    }
    if reason.is_connect_failure() && p.has(RetryOn::ConnectFailure) {
        return true;
    }
    if p.has(RetryOn::ResetBeforeRequest) && !request_sent {
        return true;
    }
    if p.has(RetryOn::Reset) || p.has(RetryOn::FiveXx) || p.has(RetryOn::GatewayError) {
        return true;
    }
    p.has(RetryOn::RefusedStream) && reason == ResetReason::RemoteRefusedStreamReset
}

#[cfg(test)]
mod tests;
