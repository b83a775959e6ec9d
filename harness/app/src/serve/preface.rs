//! What an HTTP/1.1-only server does with the HTTP/2 connection preface.
//!
//! A sidecar whose inbound cluster speaks HTTP/2 (a Service port declared
//! `http2` / `grpc`; fact sheet §7.1) opens with `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`
//! (RFC 9113 §3.4). Go's `net/http` (without h2c) hands `PRI *` to its
//! `ServeMux`, which answers `*` with `400 Bad Request` and
//! `Connection: close`; Node's and most other HTTP/1.1 servers also answer
//! `400` and close. hyper's HTTP/1.1 server instead closes without a word,
//! so the app server reads a connection's first bytes itself and answers as
//! Go does: the sidecar's HTTP/2 codec then reads `HTTP/1.1 400` where it
//! wanted a SETTINGS frame, a protocol error (`502 UPE`).

use std::time::Duration;

use meshsim_net::NetStream;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The start of the HTTP/2 preface that tells it from any HTTP/1.1 request.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Go's reply to `PRI * HTTP/2.0` (its `Date` header left out so that runs
/// are byte-identical).
pub(crate) const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// What a connection's first bytes were.
pub(crate) enum First {
    /// The HTTP/2 preface: answer [`BAD_REQUEST`] and close.
    H2Preface,
    /// Anything else (maybe nothing: the peer closed): these bytes go to the
    /// HTTP/1.1 server first.
    Other(Vec<u8>),
    /// Nothing came within the idle timeout: close, as hyper's header-read
    /// timeout would have.
    Idle,
}

/// Reads until the bytes are the preface, cannot be, or the peer stops
/// sending (EOF or error), within `idle` when set.
pub(crate) async fn read_first(stream: &mut NetStream, idle: Option<Duration>) -> First {
    let read = read_until_decided(stream);
    match idle {
        Some(t) => meshsim_net::clock::timeout(t, read)
            .await
            .unwrap_or(First::Idle),
        None => read.await,
    }
}

async fn read_until_decided(stream: &mut NetStream) -> First {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        let common = buf.len().min(H2_PREFACE.len());
        if n == 0 || buf[..common] != H2_PREFACE[..common] {
            return First::Other(buf);
        }
        if buf.len() >= H2_PREFACE.len() {
            return First::H2Preface;
        }
    }
}

/// How long Go's server waits between its FIN and closing the socket
/// (`rstAvoidanceDelay` in net/http's `closeWriteAndWait`).
const RST_AVOIDANCE_DELAY: Duration = Duration::from_millis(500);

/// Answers the preface as Go does: the 400, a FIN, then 500 ms before the
/// socket closes. The rest of the preface is never read, and a kernel closes
/// a socket with unread data with a RST: Go waits so that the client reads
/// the 400 first (over real sockets, without the wait, the sidecar sees a
/// reset instead of the 400).
pub(crate) async fn reject(mut stream: NetStream) {
    if stream.write_all(BAD_REQUEST).await.is_ok() && stream.shutdown().await.is_ok() {
        meshsim_net::clock::sleep(RST_AVOIDANCE_DELAY).await;
    }
}
