//! One attempt on an HTTP/2 stream: the request translated h1 -> h2, the
//! response h2 -> h1, and `h2`'s errors classified into Envoy's reset
//! reasons.
//!
//! Classification (Envoy's `ClientConnectionImpl::onStreamClose` and its
//! HTTP/2 library):
//! - RST_STREAM `REFUSED_STREAM` from the upstream: `remote refused stream
//!   reset` (UR);
//! - any other RST_STREAM from the upstream: `remote reset` (UR);
//! - a stream above the last stream id of the upstream's GOAWAY: the HTTP/2
//!   library closes it with `REFUSED_STREAM`, so `remote refused stream reset`
//!   too (retriable under `refused-stream`), and the connection drains;
//! - the connection closed or failed under the stream: `connection
//!   termination` (UC);
//! - a malformed frame or header block, or bytes that are not HTTP/2 at all
//!   (an HTTP/1.1 server answering the h2c preface with `HTTP/1.1 400`): the
//!   codec fails (Envoy's `CodecClient::onData` marks `protocol_error_` and
//!   closes), so `protocol error` (502 UPE).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::{Reason, RecvStream};
use http::header::HOST;
use http::{Request, Response, Uri, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, SizeHint};

use super::{Grant, H2Pool};
use crate::attempt::{AttemptFailure, ResetReason};
use crate::error::SidecarError;
use crate::runtime::Env;

/// A stream leased to one attempt. Dropped, it frees its slot on the
/// connection; `h2` resets the stream (RST_STREAM CANCEL) if its response
/// was not read to the end. The connection stays.
pub(crate) struct StreamLease {
    pool: Arc<H2Pool>,
    grant: Option<Grant>,
    /// The stream ended normally or by the peer: no reset of ours to count.
    ended: bool,
}

impl StreamLease {
    /// The upstream address of the connection.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.grant
            .as_ref()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |g| g.peer)
    }

    /// Whether the connection had carried a stream before.
    pub(crate) fn reused(&self) -> bool {
        self.grant.as_ref().is_some_and(|g| g.reused)
    }

    /// The response is complete: the stream's slot frees.
    pub(crate) fn release(mut self) {
        self.ended = true;
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        let Some(grant) = self.grant.take() else {
            return;
        };
        if !self.ended {
            self.pool.env.stats.bump(|s| s.upstream_rq_tx_reset += 1);
        }
        let mut st = self.pool.lock();
        self.pool.stream_done(&mut st, grant.id, true);
    }
}

/// What one stream attempt produced.
pub(crate) enum StreamResult {
    /// Response headers; the body holds the stream.
    Headers(Box<Response<H2Body>>, Box<StreamLease>),
    /// No response headers.
    Failed(AttemptFailure),
}

/// Sends `req` on a stream of `pool` and waits for response headers, at most
/// `per_try_timeout` once the stream is granted. Returns the host and
/// whether the connection was reused, with the result.
pub(crate) async fn send(
    env: &Env,
    pool: &Arc<H2Pool>,
    connect_to: SocketAddr,
    req: Request<Full<Bytes>>,
    per_try_timeout: Option<Duration>,
) -> (SocketAddr, bool, StreamResult) {
    let grant = match pool.checkout(connect_to).await {
        Ok(grant) => grant,
        Err(f) => return (connect_to, false, StreamResult::Failed(f)),
    };
    let mut lease = StreamLease {
        pool: pool.clone(),
        grant: Some(grant),
        ended: false,
    };
    let (host, reused) = (lease.peer(), lease.reused());
    let exchange = exchange(&mut lease, req);
    let outcome = match per_try_timeout {
        Some(t) => meshsim_net::clock::timeout(t, exchange).await.ok(),
        None => Some(exchange.await),
    };
    let result = match outcome {
        Some(Ok(resp)) => {
            let resp = resp.map(|recv| H2Body { recv, done: false });
            StreamResult::Headers(Box::new(resp), Box::new(lease))
        }
        Some(Err(e)) => {
            let reason = classify_stream_error(&e);
            if e.is_go_away() && e.is_remote() {
                pool.goaway_seen(lease.grant.as_ref().map_or(0, |g| g.id));
            }
            lease.ended = true;
            env.stats
                .bump(|s| s.upstream_rq_rx_reset += u64::from(e.is_remote()));
            StreamResult::Failed(AttemptFailure {
                reason,
                transport_failure: None,
                request_sent: true,
                per_try_timeout: false,
            })
        }
        None => {
            env.stats.bump(|s| s.upstream_rq_per_try_timeout += 1);
            StreamResult::Failed(AttemptFailure {
                reason: ResetReason::LocalReset,
                transport_failure: None,
                request_sent: true,
                per_try_timeout: true,
            })
        }
    };
    (host, reused, result)
}

/// Opens the stream, writes the request and waits for response headers.
async fn exchange(
    lease: &mut StreamLease,
    req: Request<Full<Bytes>>,
) -> Result<Response<RecvStream>, h2::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let head = to_h2_request(parts);
    let end = body.is_empty();
    let grant = lease.grant.as_mut().expect("a lease holds its grant");
    let (response, mut send) = grant.sender.send_request(head, end)?;
    if !end {
        send.send_data(body, true)?;
    }
    response.await
}

/// The h1 request head as HTTP/2: `:authority` from `Host` (which is
/// dropped), `:scheme` http; hop-by-hop headers were already removed.
fn to_h2_request(parts: http::request::Parts) -> Request<()> {
    let mut parts = parts;
    let authority = parts
        .headers
        .remove(HOST)
        .and_then(|h| h.to_str().ok().map(str::to_owned))
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let uri = Uri::builder()
        .scheme("http")
        .authority(authority.as_str())
        .path_and_query(path.as_str())
        .build()
        .unwrap_or_else(|_| Uri::from_static("http://localhost/"));
    parts.headers.remove("te");
    parts.uri = uri;
    parts.version = Version::HTTP_2;
    Request::from_parts(parts, ())
}

/// Envoy's reset reason for an `h2` error seen before response headers.
pub(crate) fn classify_stream_error(e: &h2::Error) -> ResetReason {
    if e.is_remote() && e.is_reset() {
        return match e.reason() {
            Some(Reason::REFUSED_STREAM) => ResetReason::RemoteRefusedStreamReset,
            _ => ResetReason::RemoteReset,
        };
    }
    if e.is_remote() && e.is_go_away() && e.reason() == Some(Reason::NO_ERROR) {
        return ResetReason::RemoteRefusedStreamReset;
    }
    if e.is_library() && e.reason().is_some_and(is_codec_error) {
        return ResetReason::ProtocolError;
    }
    ResetReason::ConnectionTermination
}

/// Errors `h2` raises on the peer's bytes (a frame too large, such as the
/// first bytes of `HTTP/1.1 400`, a frame out of place, a bad header block):
/// Envoy's codec reports them all as a protocol error.
fn is_codec_error(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::PROTOCOL_ERROR | Reason::FRAME_SIZE_ERROR | Reason::COMPRESSION_ERROR
    )
}

/// An HTTP/2 response body, giving flow-control credit back as it is read.
pub(crate) struct H2Body {
    recv: RecvStream,
    done: bool,
}

impl Body for H2Body {
    type Data = Bytes;
    type Error = SidecarError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, SidecarError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.recv.poll_data(cx) {
            Poll::Ready(Some(Ok(data))) => {
                let _ = this.recv.flow_control().release_capacity(data.len());
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(source))) => {
                this.done = true;
                Poll::Ready(Some(Err(SidecarError::UpstreamH2Body { source })))
            }
            Poll::Ready(None) => match this.recv.poll_trailers(cx) {
                Poll::Ready(Ok(Some(trailers))) => {
                    this.done = true;
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                Poll::Ready(Ok(None)) => {
                    this.done = true;
                    Poll::Ready(None)
                }
                Poll::Ready(Err(source)) => {
                    this.done = true;
                    Poll::Ready(Some(Err(SidecarError::UpstreamH2Body { source })))
                }
                Poll::Pending => Poll::Pending,
            },
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_authority_comes_from_host_and_host_is_dropped() {
        let req = Request::builder()
            .method("POST")
            .uri("/charge?x=1")
            .header(HOST, "api.partner.example")
            .header("content-length", "3")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let h2 = to_h2_request(parts);
        assert_eq!(h2.uri(), "http://api.partner.example/charge?x=1");
        assert_eq!(h2.version(), Version::HTTP_2);
        assert!(h2.headers().get(HOST).is_none());
        assert_eq!(h2.headers()["content-length"], "3");
    }

    #[test]
    fn remote_refused_stream_is_remote_refused_stream_reset() {
        let e = h2::Error::from(Reason::REFUSED_STREAM);
        // A reason-only error is a local (user) reset: not the peer's.
        assert_eq!(
            classify_stream_error(&e),
            ResetReason::ConnectionTermination
        );
        assert_eq!(
            ResetReason::RemoteRefusedStreamReset.as_str(),
            "remote refused stream reset"
        );
    }
}
