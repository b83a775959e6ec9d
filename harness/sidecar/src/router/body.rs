//! Response bodies: a local reply's, or the upstream's streamed through.
//!
//! The upstream body holds the connection's lease. Read to the end, it gives
//! the connection back to the pool; failed, cut by the route timeout, or
//! dropped early (the application went away), it closes the connection. The
//! route timeout keeps running while the body streams, as in Envoy; firing
//! then cuts the downstream response, since headers were already sent.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use meshsim_net::clock::{Instant, Sleep};

use crate::attempt::UpstreamIncoming;
use crate::error::SidecarError;
use crate::pool::Lease;

/// The body of every response the application gets.
pub(crate) enum ProxyBody {
    /// A local reply.
    Local(Full<Bytes>),
    /// An upstream response.
    Upstream(UpstreamBody),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = SidecarError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, SidecarError>>> {
        match self.get_mut() {
            ProxyBody::Local(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            ProxyBody::Upstream(up) => Pin::new(up).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Local(full) => full.is_end_stream(),
            ProxyBody::Upstream(up) => up.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Local(full) => full.size_hint(),
            ProxyBody::Upstream(up) => up.inner.size_hint(),
        }
    }
}

/// An upstream response body holding its connection.
pub(crate) struct UpstreamBody {
    inner: UpstreamIncoming,
    lease: Option<Lease>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    done: bool,
}

impl UpstreamBody {
    /// Wraps `inner`; `deadline` is the route timeout's (instant, length).
    pub(crate) fn new(
        inner: UpstreamIncoming,
        lease: Lease,
        deadline: Option<(Instant, Duration)>,
    ) -> UpstreamBody {
        let deadline =
            deadline.map(|(at, len)| (Box::pin(meshsim_net::clock::sleep_until(at)), len));
        let done = inner.is_end_stream();
        let mut body = UpstreamBody {
            inner,
            lease: Some(lease),
            deadline,
            done,
        };
        if done {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.release();
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }
}

impl Body for UpstreamBody {
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
        if let Some((sleep, timeout)) = this.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            let timeout = *timeout;
            this.done = true;
            this.lease = None; // closes the upstream connection
            return Poll::Ready(Some(Err(SidecarError::RouteTimeoutAfterHeaders {
                timeout,
            })));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done = true;
                this.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.done = true;
                    this.release();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                this.lease = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        UpstreamBody::is_end_stream(self)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.release();
        }
        // Otherwise the lease drops here and closes the connection.
    }
}
