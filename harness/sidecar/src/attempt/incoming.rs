//! An upstream response body as the router streams it: hyper's for
//! HTTP/1.1, `h2`'s for HTTP/2.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::error::SidecarError;
use crate::pool::multiplex::H2Body;

/// The body of an upstream response, whichever protocol carried it.
pub(crate) enum UpstreamIncoming {
    /// An HTTP/1.1 response body.
    Http1(Incoming),
    /// An HTTP/2 response body (the stream's DATA frames).
    Http2(Box<H2Body>),
}

impl Body for UpstreamIncoming {
    type Data = Bytes;
    type Error = SidecarError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, SidecarError>>> {
        match self.get_mut() {
            UpstreamIncoming::Http1(b) => Pin::new(b)
                .poll_frame(cx)
                .map_err(|source| SidecarError::UpstreamBody { source }),
            UpstreamIncoming::Http2(b) => Pin::new(b.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamIncoming::Http1(b) => b.is_end_stream(),
            UpstreamIncoming::Http2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamIncoming::Http1(b) => b.size_hint(),
            UpstreamIncoming::Http2(b) => b.size_hint(),
        }
    }
}
