//! Accept loops and connections of a serving application.
//!
//! Each connection is one task running hyper's HTTP/1.1 server (keep-alive,
//! pipelining, `connection: close`, chunked bodies), with no `date` header so
//! that runs are byte-identical. hyper's header-read timeout starts when the
//! connection waits for the next request head, after the previous response
//! (or the accept), so it is exactly a server keep-alive idle timeout: on
//! expiry the connection is closed without a response, as Node's
//! `keepAliveTimeout` does. Every task watches one stop signal; the mode it
//! carries decides whether a connection's socket is closed (FIN) or reset.
//! A connection's first bytes are read here (`preface`): an HTTP/2 preface
//! gets Go's `400` and a close; other bytes go to hyper first.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use meshsim_net::{NetListener, NetStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use crate::serve::StopMode;
use crate::serve::handler::handle;
use crate::serve::preface;
use crate::serve::state::Server;
use crate::tasks::Tracker;

/// Pause after a failed accept (real mode: out of file descriptors) so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The stop signal: `None` while serving.
pub(crate) type Stop = watch::Receiver<Option<StopMode>>;

/// Waits for the stop signal; a dropped sender means [`StopMode::Close`].
pub(crate) async fn stopped(stop: &mut Stop) -> StopMode {
    match stop.wait_for(Option::is_some).await {
        Ok(how) => how.unwrap_or(StopMode::Close),
        Err(_) => StopMode::Close,
    }
}

/// Accepts connections on `listener` until stopped, one task each; the
/// listener is closed (dropped) when it returns. One connection's failure
/// never stops it.
pub(crate) async fn accept_loop(
    listener: NetListener,
    server: Arc<Server>,
    tasks: Tracker,
    stop: Stop,
) {
    loop {
        let mut watch = stop.clone();
        let accepted = tokio::select! {
            biased;
            _ = stopped(&mut watch) => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _peer)) => {
                server.count_connection();
                tasks.spawn(connection(stream, server.clone(), stop.clone()));
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                meshsim_net::clock::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// One connection, served until the client closes it, the idle timeout
/// fires, or the server stops (the socket then closes as the stop mode says).
/// An HTTP/2 preface is answered `400` and closed first (`preface`).
async fn connection(mut stream: NetStream, server: Arc<Server>, mut stop: Stop) {
    let idle = server.idle_timeout;
    let first = tokio::select! {
        biased;
        _ = stopped(&mut stop) => return drop(ConnIo::new(stream, Vec::new(), stop)),
        first = preface::read_first(&mut stream, idle) => first,
    };
    let read = match first {
        preface::First::Other(read) => read,
        preface::First::H2Preface => return preface::reject(stream).await,
        preface::First::Idle => return,
    };
    let io = ConnIo::new(stream, read, stop.clone());
    let service = service_fn(move |req| handle(server.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .auto_date_header(false)
        .header_read_timeout(idle)
        .serve_connection(TokioIo::new(io), service);
    tokio::select! {
        biased;
        _ = stopped(&mut stop) => {}
        r = conn => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
    }
}

/// The connection's socket: on drop it is reset instead of closed when the
/// server was stopped with [`StopMode::Reset`].
struct ConnIo {
    /// `Some` until dropped.
    stream: Option<NetStream>,
    /// Bytes read before hyper took the connection, given to it first.
    read: Vec<u8>,
    stop: Stop,
}

impl ConnIo {
    fn new(stream: NetStream, read: Vec<u8>, stop: Stop) -> ConnIo {
        ConnIo {
            stream: Some(stream),
            read,
            stop,
        }
    }

    fn stream(&mut self) -> io::Result<&mut NetStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        let reset = *self.stop.borrow() == Some(StopMode::Reset);
        if let (true, Some(s)) = (reset, self.stream.take()) {
            s.reset();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.read.is_empty() {
            let n = this.read.len().min(buf.remaining());
            buf.put_slice(&this.read[..n]);
            this.read.drain(..n);
            return Poll::Ready(Ok(()));
        }
        match this.stream() {
            Ok(s) => Pin::new(s).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(s) => Pin::new(s).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => Pin::new(s).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(s) => Pin::new(s).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
