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

use crate::attempt::ResetReason;
use crate::config::{RetryOn, RetryPolicy};

pub use backoff::BackOff;

/// gRPC status codes `retry_on` knows by name.
const GRPC_CANCELLED: u32 = 1;
const GRPC_DEADLINE_EXCEEDED: u32 = 4;
const GRPC_RESOURCE_EXHAUSTED: u32 = 8;
const GRPC_INTERNAL: u32 = 13;
const GRPC_UNAVAILABLE: u32 = 14;

/// What one attempt produced, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEvent {
    /// The upstream answered with response headers (a real upstream response;
    /// the sidecar's own local replies never come here).
    Response {
        /// `:status`.
        status: u16,
        /// `grpc-status` in the response headers, if any.
        grpc_status: Option<u32>,
        /// Whether the response carried `x-envoy-ratelimited`.
        envoy_ratelimited: bool,
    },
    /// The attempt was reset before response headers: connect failure,
    /// connection termination, per-try timeout (a local reset)...
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
    /// Retry (after a back-off).
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
    event: &AttemptEvent,
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
pub fn would_retry(policy: &RetryPolicy, event: &AttemptEvent) -> bool {
    match *event {
        AttemptEvent::Response {
            status,
            grpc_status,
            envoy_ratelimited,
        } => would_retry_headers(policy, status, grpc_status, envoy_ratelimited),
        AttemptEvent::Reset {
            reason,
            request_sent,
        } => would_retry_reset(policy, reason, request_sent),
        AttemptEvent::AfterHeaders => false,
    }
}

/// Envoy's `wouldRetryFromHeaders`.
fn would_retry_headers(p: &RetryPolicy, status: u16, grpc: Option<u32>, ratelimited: bool) -> bool {
    if ratelimited {
        // The header alone decides: only `envoy-ratelimited` retries it.
        return p.has(RetryOn::EnvoyRateLimited);
    }
    (p.has(RetryOn::FiveXx) && (500..600).contains(&status))
        || (p.has(RetryOn::GatewayError) && matches!(status, 502..=504))
        || (p.has(RetryOn::Retriable4xx) && status == 409)
        || (p.has(RetryOn::RetriableStatusCodes) && p.retriable_status_codes.contains(&status))
        || grpc.is_some_and(|code| grpc_matches(p, code))
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

/// Envoy's `wouldRetryFromReset`, in its order.
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
