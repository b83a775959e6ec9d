//! One attempt: pool checkout, send, wait for response headers, classify.
//!
//! Failures are classified into Envoy's stream reset reasons
//! ([`ResetReason`]), which decide both the retry ([`crate::retry`]) and the
//! local reply ([`crate::local_reply`]):
//! - connect refused: `remote connection failure`, transport failure reason
//!   `delayed connect error: 111` (UF);
//! - connect timeout: `connection timeout` (UF);
//! - the upstream closed or reset the connection before response headers
//!   (hyper's incomplete message, EOF, ECONNRESET): `connection termination` (UC);
//! - per-try timeout: `local reset` (the sidecar reset the stream);
//! - unparseable response: `protocol error` (502 UPE).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use meshsim_core::ResponseFlags;

pub(crate) use incoming::UpstreamIncoming;

use crate::pool::{Lease, Pool, multiplex};
use crate::retry::AttemptEvent;
use crate::runtime::Env;

mod incoming;

/// Envoy's `Http::StreamResetReason`, with `resetReasonToString` spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResetReason {
    /// The sidecar's own socket failed before the connection completed.
    LocalConnectionFailure,
    /// The peer refused or reset the connection before it completed.
    RemoteConnectionFailure,
    /// `connect_timeout` expired.
    ConnectionTimeout,
    /// The connection closed before response headers.
    ConnectionTermination,
    /// The sidecar reset the stream (per-try timeout).
    LocalReset,
    /// The sidecar refused the stream.
    LocalRefusedStreamReset,
    /// A circuit breaker refused the request.
    Overflow,
    /// The upstream reset the stream (HTTP/2 RST_STREAM).
    RemoteReset,
    /// The upstream refused the stream (HTTP/2 REFUSED_STREAM).
    RemoteRefusedStreamReset,
    /// The upstream sent malformed HTTP.
    ProtocolError,
}

impl ResetReason {
    /// Envoy's `resetReasonToString`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::LocalConnectionFailure => "local connection failure",
            ResetReason::RemoteConnectionFailure => "remote connection failure",
            ResetReason::ConnectionTimeout => "connection timeout",
            ResetReason::ConnectionTermination => "connection termination",
            ResetReason::LocalReset => "local reset",
            ResetReason::LocalRefusedStreamReset => "local refused stream reset",
            ResetReason::Overflow => "overflow",
            ResetReason::RemoteReset => "remote reset",
            ResetReason::RemoteRefusedStreamReset => "remote refused stream reset",
            ResetReason::ProtocolError => "protocol error",
        }
    }

    /// Envoy's `streamResetReasonToResponseFlag`.
    pub fn response_flag(self) -> ResponseFlags {
        match self {
            ResetReason::LocalConnectionFailure
            | ResetReason::RemoteConnectionFailure
            | ResetReason::ConnectionTimeout => ResponseFlags::UF,
            ResetReason::ConnectionTermination => ResponseFlags::UC,
            ResetReason::LocalReset | ResetReason::LocalRefusedStreamReset => ResponseFlags::LR,
            ResetReason::Overflow => ResponseFlags::UO,
            ResetReason::RemoteReset | ResetReason::RemoteRefusedStreamReset => ResponseFlags::UR,
            ResetReason::ProtocolError => ResponseFlags::UPE,
        }
    }

    /// True for the three connect failures (`connect-failure` retries them).
    pub fn is_connect_failure(self) -> bool {
        matches!(
            self,
            ResetReason::LocalConnectionFailure
                | ResetReason::RemoteConnectionFailure
                | ResetReason::ConnectionTimeout
        )
    }
}

/// Why an attempt produced no response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// Envoy's reset reason.
    pub reason: ResetReason,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%`, e.g. `delayed connect error: 111`.
    pub transport_failure: Option<String>,
    /// Whether a request byte was written on this attempt.
    pub request_sent: bool,
    /// Whether the attempt was ended by `per_try_timeout`.
    pub per_try_timeout: bool,
}

impl AttemptFailure {
    /// A circuit breaker refused the request (`max_pending_requests`,
    /// `max_requests`): reset reason `overflow`, nothing sent.
    pub fn overflow() -> AttemptFailure {
        AttemptFailure::reset(ResetReason::Overflow, false)
    }

    fn reset(reason: ResetReason, request_sent: bool) -> AttemptFailure {
        AttemptFailure {
            reason,
            transport_failure: None,
            request_sent,
            per_try_timeout: false,
        }
    }
}

/// Classifies a failed upstream connect.
pub fn classify_connect_error(err: &io::Error) -> AttemptFailure {
    use io::ErrorKind as K;
    let errno = err.raw_os_error().or(match err.kind() {
        K::ConnectionRefused => Some(111),
        K::ConnectionReset => Some(104),
        K::HostUnreachable => Some(113),
        K::NetworkUnreachable => Some(101),
        K::ConnectionAborted => Some(103),
        _ => None,
    });
    match (err.kind(), errno) {
        (K::TimedOut, _) => AttemptFailure::reset(ResetReason::ConnectionTimeout, false),
        (K::PermissionDenied | K::AddrNotAvailable | K::AddrInUse, _) | (_, None) => {
            AttemptFailure::reset(ResetReason::LocalConnectionFailure, false)
        }
        (_, Some(n)) => AttemptFailure {
            transport_failure: Some(format!("delayed connect error: {n}")),
            ..AttemptFailure::reset(ResetReason::RemoteConnectionFailure, false)
        },
    }
}

/// Classifies a hyper error seen before response headers.
pub fn classify_upstream_error(err: &hyper::Error) -> ResetReason {
    if err.is_parse() || err.is_parse_status() || err.is_parse_too_large() {
        ResetReason::ProtocolError
    } else {
        // Incomplete message (EOF), ECONNRESET, broken pipe, a connection
        // closed while the request was queued: Envoy sees the connection close.
        ResetReason::ConnectionTermination
    }
}

/// What an attempt produced.
pub(crate) enum AttemptResult {
    /// Response headers, with the connection still leased to the body.
    Headers(Box<Response<UpstreamIncoming>>, Lease),
    /// No response headers.
    Failed(AttemptFailure),
}

/// One finished attempt.
pub(crate) struct Attempt {
    /// The upstream address tried (`%UPSTREAM_HOST%`).
    pub(crate) host: SocketAddr,
    /// Whether a pooled connection was reused.
    pub(crate) reused: bool,
    /// Its result.
    pub(crate) result: AttemptResult,
}

impl Attempt {
    /// The event the retry decision sees.
    pub(crate) fn event(&self) -> AttemptEvent<'_> {
        match &self.result {
            AttemptResult::Headers(resp, _) => AttemptEvent::Response {
                status: resp.status().as_u16(),
                headers: resp.headers(),
            },
            AttemptResult::Failed(f) => AttemptEvent::Reset {
                reason: f.reason,
                request_sent: f.request_sent,
            },
        }
    }

    /// Throws the attempt away before a retry. A response that is already
    /// complete leaves its connection reusable; any other is reset.
    pub(crate) fn discard(self) {
        if let AttemptResult::Headers(resp, lease) = self.result
            && hyper::body::Body::is_end_stream(resp.body())
        {
            lease.release();
        }
    }
}

/// Sends `req` on a connection of `pool` and waits for response headers, at
/// most `per_try_timeout` once the connection is obtained. Without an idle
/// connection the attempt waits as a pending request for the first connection
/// to become ready (a new one opened to `connect_to`, or one freed meanwhile);
/// only the route timeout bounds that wait, besides the connect timeout.
pub(crate) async fn send(
    env: &Env,
    pool: &Arc<Pool>,
    connect_to: SocketAddr,
    req: Request<Full<Bytes>>,
    per_try_timeout: Option<Duration>,
) -> Attempt {
    if let Some(h2) = pool.multiplexed() {
        env.stats.bump(|s| s.upstream_rq_total += 1);
        return send_stream(env, pool, h2, connect_to, req, per_try_timeout).await;
    }
    let mut lease = match pool.checkout(connect_to).await {
        Ok(lease) => lease,
        Err(f) => {
            env.stats.bump(|s| s.upstream_rq_total += 1);
            return Attempt {
                host: connect_to,
                reused: false,
                result: AttemptResult::Failed(f),
            };
        }
    };
    let (host, reused) = (lease.peer(), lease.reused());
    env.stats.bump(|s| {
        s.upstream_rq_total += 1;
        s.upstream_rq_reused_cx += u64::from(reused);
    });
    // Envoy counts the request as sent once the pool hands it a connection and
    // the headers go to the codec (`reset-before-request` only covers requests
    // still waiting for a connection), even if the upstream's FIN, already on
    // its way, means no byte ever reaches the socket.
    let request_sent = true;
    let response = lease.send_request(req);
    let outcome = match per_try_timeout {
        Some(t) => meshsim_net::clock::timeout(t, response).await.ok(),
        None => Some(response.await),
    };
    let result = match outcome {
        Some(Ok(resp)) => {
            AttemptResult::Headers(Box::new(resp.map(UpstreamIncoming::Http1)), lease)
        }
        Some(Err(e)) => AttemptResult::Failed(AttemptFailure::reset(
            classify_upstream_error(&e),
            request_sent,
        )),
        None => {
            env.stats.bump(|s| s.upstream_rq_per_try_timeout += 1);
            AttemptResult::Failed(AttemptFailure {
                per_try_timeout: true,
                ..AttemptFailure::reset(ResetReason::LocalReset, request_sent)
            })
        }
    };
    Attempt {
        host,
        reused,
        result,
    }
}

/// [`send`] on an HTTP/2 cluster: the request goes on a stream of the
/// host's multiplexed pool.
async fn send_stream(
    env: &Env,
    pool: &Arc<Pool>,
    h2: &Arc<multiplex::H2Pool>,
    connect_to: SocketAddr,
    req: Request<Full<Bytes>>,
    per_try_timeout: Option<Duration>,
) -> Attempt {
    let (host, reused, result) = multiplex::send(env, h2, connect_to, req, per_try_timeout).await;
    let result = match result {
        multiplex::StreamResult::Headers(resp, stream) => AttemptResult::Headers(
            Box::new(resp.map(|b| UpstreamIncoming::Http2(Box::new(b)))),
            Lease::stream(pool.clone(), stream),
        ),
        multiplex::StreamResult::Failed(f) => AttemptResult::Failed(f),
    };
    Attempt {
        host,
        reused,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_refused_is_remote_connection_failure_with_delayed_connect_error_111() {
        let e = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let f = classify_connect_error(&e);
        assert_eq!(f.reason, ResetReason::RemoteConnectionFailure);
        assert_eq!(
            f.transport_failure.as_deref(),
            Some("delayed connect error: 111")
        );
        assert_eq!(f.reason.response_flag(), ResponseFlags::UF);
        assert!(!f.request_sent);
    }

    #[test]
    fn connect_timeout_is_connection_timeout_without_transport_detail() {
        let f = classify_connect_error(&io::Error::new(io::ErrorKind::TimedOut, "t"));
        assert_eq!(f.reason, ResetReason::ConnectionTimeout);
        assert_eq!(f.transport_failure, None);
        assert_eq!(f.reason.response_flag(), ResponseFlags::UF);
    }

    #[test]
    fn reset_reasons_map_to_envoy_flags_and_strings() {
        assert_eq!(
            ResetReason::ConnectionTermination.response_flag(),
            ResponseFlags::UC
        );
        assert_eq!(
            ResetReason::ConnectionTermination.as_str(),
            "connection termination"
        );
        assert_eq!(ResetReason::LocalReset.response_flag(), ResponseFlags::LR);
        assert_eq!(
            ResetReason::ProtocolError.response_flag(),
            ResponseFlags::UPE
        );
        assert_eq!(ResetReason::Overflow.response_flag(), ResponseFlags::UO);
        assert!(!ResetReason::ConnectionTermination.is_connect_failure());
    }
}
