//! The start of a connection on a capture listener (15001, 15006) in real
//! mode: the PROXY protocol v2 header that carries the original
//! destination, read per connection off the accept loop, and the fallback
//! for connections that come without one.
//!
//! The fallback is Envoy's `proxy_protocol` listener filter option
//! `allow_requests_without_proxy_protocol`: a connection whose first bytes
//! are not the v2 signature is served as it is, here with the original
//! destination set by [`crate::Net::set_capture_fallback`]. It lets a plain
//! client (a load generator such as `wrk`) talk to a sidecar's capture port
//! directly. The first bytes are peeked, never consumed, so the client's
//! bytes reach the sidecar intact. Without a fallback a connection must
//! start with the header or it is dropped.
//!
//! Each header read runs in its own task (a [`JoinSet`] owned by the
//! listener, so dropping the listener aborts them): a client that connects
//! and sends nothing (or fewer than 12 bytes) holds only its own task, up to
//! the header timeout, never the accept loop.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::{PROXY_HEADER_TIMEOUT, PROXY_V2_SIGNATURE, read_proxy_v2};

/// How long to wait between two peeks while the bytes that have arrived are
/// a strict prefix of the signature (rare: a PROXY header is written in one
/// go, and a plain client whose first bytes are `\r\n\r\n` is odd).
const PARTIAL_SIGNATURE_POLL: Duration = Duration::from_millis(1);

/// A connection whose start has been read: the stream, the kernel's peer
/// address, and where its original destination came from.
pub(crate) type Started = (TcpStream, SocketAddr, Origin);

/// Where a captured connection's original destination came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Its PROXY v2 header: the client's (scenario) source and destination.
    Header {
        /// The source the header names.
        src: SocketAddr,
        /// The original destination.
        dst: SocketAddr,
    },
    /// No header; the listener's fallback destination.
    Fallback {
        /// The original destination.
        dst: SocketAddr,
    },
}

/// The header reads in flight of one capture listener.
#[derive(Default)]
pub(crate) struct Handshakes {
    // Short critical sections only (a spawn, a poll); never held across an await.
    set: Mutex<JoinSet<io::Result<Started>>>,
}

impl Handshakes {
    /// Reads the start of `tcp` in a task of its own: a PROXY v2 header, or,
    /// with a `fallback` destination, nothing when the first bytes are not
    /// the signature.
    pub(crate) fn start(
        &self,
        tcp: TcpStream,
        real_peer: SocketAddr,
        fallback: Option<SocketAddr>,
    ) {
        let read = async move {
            let mut tcp = tcp;
            let header = read_start(&mut tcp, fallback);
            match crate::clock::timeout(PROXY_HEADER_TIMEOUT, header).await {
                Ok(Ok(start)) => Ok((tcp, real_peer, start)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no PROXY header from {real_peer} in time"),
                )),
            }
        };
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .spawn(read);
    }

    /// The next connection whose start has been read (or whose read failed).
    /// Pending while none is in flight. One accept loop per listener: a
    /// second concurrent caller may not be woken.
    pub(crate) async fn next(&self) -> io::Result<Started> {
        std::future::poll_fn(|cx| {
            let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
            match set.poll_join_next(cx) {
                Poll::Ready(Some(Ok(started))) => Poll::Ready(started),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Err(io::Error::other(e))),
                // Nothing in flight: the accept branch wakes the loop.
                Poll::Ready(None) | Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

/// Where the connection's original destination comes from: its header, or
/// the `fallback` when there is one and the connection does not start with
/// the v2 signature.
async fn read_start(tcp: &mut TcpStream, fallback: Option<SocketAddr>) -> io::Result<Origin> {
    if let Some(dst) = fallback
        && !starts_with_signature(tcp).await?
    {
        return Ok(Origin::Fallback { dst });
    }
    let (src, dst) = read_proxy_v2(tcp).await?;
    Ok(Origin::Header { src, dst })
}

/// Whether the connection's first bytes are the PROXY v2 signature, looking
/// only as far as needed (the first byte that differs decides) and leaving
/// every byte in the socket.
async fn starts_with_signature(tcp: &TcpStream) -> io::Result<bool> {
    let mut buf = [0u8; PROXY_V2_SIGNATURE.len()];
    loop {
        let n = tcp.peek(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if buf[..n] != PROXY_V2_SIGNATURE[..n] {
            return Ok(false);
        }
        if n == PROXY_V2_SIGNATURE.len() {
            return Ok(true);
        }
        // A strict prefix: `peek` would answer at once with the same bytes.
        crate::clock::sleep(PARTIAL_SIGNATURE_POLL).await;
    }
}
