//! Envoy's local replies, byte for byte.
//!
//! Resets before response headers answer
//! `upstream connect error or disconnect/reset before headers. ` +
//! (`retried and the latest ` after at least one retry) + `reset reason: ` +
//! reason + (`, transport failure reason: ` + detail when there is one), with
//! status 503 (502 for a protocol error) and the reason's flag. Details
//! (`%RESPONSE_CODE_DETAILS%`) spell the reason with `_` for spaces and `|`
//! before the transport detail. Every local reply carries the listener's `server` header (`envoy` outbound, `istio-envoy` inbound),
//! `content-length`, and `content-type: text/plain` when it has a body.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, SERVER};
use http_body_util::Full;
use hyper::Response;
use meshsim_core::ResponseFlags;

use crate::attempt::{AttemptFailure, ResetReason};
use crate::router::ProxyBody;

/// `%RESPONSE_CODE_DETAILS%` of the reply to an `overflow` reset.
const OVERFLOW_DETAILS: &str = "upstream_reset_before_response_started{overflow}";

/// A response the sidecar makes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status.
    pub status: u16,
    /// Body text (may be empty).
    pub body: String,
    /// Response flags.
    pub flags: ResponseFlags,
    /// `%RESPONSE_CODE_DETAILS%`.
    pub details: String,
}

impl LocalReply {
    fn new(status: u16, body: &str, flags: ResponseFlags, details: &str) -> LocalReply {
        LocalReply {
            status,
            body: body.to_string(),
            flags,
            details: details.to_string(),
        }
    }

    /// The reply to a reset before response headers; `retried` when at least
    /// one retry happened.
    pub fn upstream_reset(failure: &AttemptFailure, retried: bool) -> LocalReply {
        let reason = failure.reason.as_str();
        let detail = failure.transport_failure.as_deref();
        let body = format!(
            "upstream connect error or disconnect/reset before headers. {}reset reason: {reason}{}",
            if retried {
                "retried and the latest "
            } else {
                ""
            },
            detail
                .map(|d| format!(", transport failure reason: {d}"))
                .unwrap_or_default(),
        );
        let details = format!(
            "upstream_reset_before_response_started{{{reason}{}}}",
            detail.map(|d| format!("|{d}")).unwrap_or_default(),
        )
        .replace(' ', "_");
        let status = if failure.reason == ResetReason::ProtocolError {
            502
        } else {
            503
        };
        LocalReply {
            status,
            body,
            flags: failure.reason.response_flag(),
            details,
        }
    }

    /// 503 `no healthy upstream` (UH).
    pub fn no_healthy_upstream() -> LocalReply {
        LocalReply::new(
            503,
            "no healthy upstream",
            ResponseFlags::UH,
            "no_healthy_upstream",
        )
    }

    /// 504 `upstream request timeout` (UT): the route timeout.
    pub fn route_timeout() -> LocalReply {
        LocalReply::new(
            504,
            "upstream request timeout",
            ResponseFlags::UT,
            "response_timeout",
        )
    }

    /// 504 `upstream request timeout` (UT): the last per-try timeout, not retried.
    pub fn per_try_timeout() -> LocalReply {
        LocalReply::new(
            504,
            "upstream request timeout",
            ResponseFlags::UT,
            "upstream_per_try_timeout",
        )
    }

    /// 404 with no body (NR): a virtual host matched but no route.
    pub fn route_not_found() -> LocalReply {
        LocalReply::new(404, "", ResponseFlags::NR, "route_not_found")
    }

    /// 503 with no body (NC): the route's cluster does not exist.
    pub fn cluster_not_found() -> LocalReply {
        LocalReply::new(503, "", ResponseFlags::NC, "cluster_not_found")
    }

    /// Istio's `block_all` direct response under `REGISTRY_ONLY`: 502, no body.
    pub fn registry_only_block() -> LocalReply {
        LocalReply::new(502, "", ResponseFlags::NONE, "direct_response")
    }

    /// Whether the reply carries `x-envoy-overloaded: true`: Envoy sets it on
    /// the reply to an `overflow` reset (a circuit breaker refused the
    /// request), not on a failure returned because the retry breaker refused
    /// its retry.
    pub fn overloaded(&self) -> bool {
        self.details == OVERFLOW_DETAILS
    }

    /// The HTTP response, with the listener's `server` header.
    pub(crate) fn to_response(&self, server: &'static str) -> Response<ProxyBody> {
        let mut resp = Response::new(ProxyBody::Local(Full::new(Bytes::from(self.body.clone()))));
        *resp.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::SERVICE_UNAVAILABLE);
        let h = resp.headers_mut();
        h.insert(CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        if !self.body.is_empty() {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        h.insert(SERVER, HeaderValue::from_static(server));
        if self.overloaded() {
            h.insert(
                HeaderName::from_static("x-envoy-overloaded"),
                HeaderValue::from_static("true"),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(reason: ResetReason, detail: Option<&str>) -> AttemptFailure {
        AttemptFailure {
            reason,
            transport_failure: detail.map(str::to_string),
            request_sent: true,
            per_try_timeout: false,
        }
    }

    #[test]
    fn connection_termination_body_is_envoys_95_bytes() {
        let r =
            LocalReply::upstream_reset(&failure(ResetReason::ConnectionTermination, None), false);
        assert_eq!(
            r.body,
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
        );
        assert_eq!(r.body.len(), 95);
        assert_eq!((r.status, r.flags), (503, ResponseFlags::UC));
        assert_eq!(
            r.details,
            "upstream_reset_before_response_started{connection_termination}"
        );
    }

    #[test]
    fn refused_connect_body_carries_the_transport_failure_reason() {
        let f = failure(
            ResetReason::RemoteConnectionFailure,
            Some("delayed connect error: 111"),
        );
        let r = LocalReply::upstream_reset(&f, false);
        assert_eq!(
            r.body,
            "upstream connect error or disconnect/reset before headers. reset reason: remote connection \
             failure, transport failure reason: delayed connect error: 111"
        );
        assert_eq!(
            r.details,
            "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_111}"
        );
        assert_eq!(r.flags, ResponseFlags::UF);
    }

    #[test]
    fn a_retried_reset_says_retried_and_the_latest() {
        let r = LocalReply::upstream_reset(&failure(ResetReason::ConnectionTimeout, None), true);
        assert_eq!(
            r.body,
            "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: \
             connection timeout"
        );
    }

    /// Fact sheet §5.1, §5.2: a circuit breaker's reply is 503 `UO`, reset
    /// reason `overflow`, with `x-envoy-overloaded: true`.
    #[test]
    fn an_overflow_reset_is_503_uo_with_x_envoy_overloaded() {
        let r = LocalReply::upstream_reset(&AttemptFailure::overflow(), false);
        assert_eq!(
            r.body,
            "upstream connect error or disconnect/reset before headers. reset reason: overflow"
        );
        assert_eq!((r.status, r.flags), (503, ResponseFlags::UO));
        let resp = r.to_response("envoy");
        assert_eq!(resp.headers()["x-envoy-overloaded"], "true");
        let uc =
            LocalReply::upstream_reset(&failure(ResetReason::ConnectionTermination, None), true);
        assert!(
            !uc.to_response("envoy")
                .headers()
                .contains_key("x-envoy-overloaded")
        );
    }

    #[test]
    fn protocol_errors_are_502_upe() {
        let r = LocalReply::upstream_reset(&failure(ResetReason::ProtocolError, None), false);
        assert_eq!((r.status, r.flags), (502, ResponseFlags::UPE));
    }

    #[test]
    fn local_replies_carry_server_envoy_text_plain_and_content_length() {
        let resp = LocalReply::no_healthy_upstream().to_response("envoy");
        let h = resp.headers();
        assert_eq!(resp.status(), 503);
        assert_eq!(h["server"], "envoy");
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["content-length"], "19");
        let empty = LocalReply::registry_only_block().to_response("envoy");
        assert_eq!(empty.headers()["content-length"], "0");
        assert!(!empty.headers().contains_key("content-type"));
    }
}
