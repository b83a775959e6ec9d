//! Protocol detection on ports whose protocol is not declared: Envoy's
//! `http_inspector` listener filter as Istio configures it (fact sheet §7.2).
//!
//! The inspector reads the first bytes the client sends: an HTTP/1.x request
//! line (`METHOD SP target SP HTTP/1.x CRLF`) or the h2c connection preface
//! sends the connection to the HTTP chain; any other bytes to the TCP chain.
//! It waits while the bytes are a plausible start of either. A client that
//! sends nothing is waited for until the listener filter timeout
//! (`protocolDetectionTimeout`): with none (Istio's `0s`, the default since
//! 1.8) forever, so a server-first protocol (MySQL greets first) hangs; on
//! expiry, Istio's `continue_on_listener_filters_timeout: true` sends the
//! connection to the TCP chain. Envoy peeks, so no byte is consumed: here the
//! bytes read are handed on with the verdict ([`Sniffed::bytes`]) and passed
//! first to whichever chain takes the connection ([`Rewind`] for HTTP).
//!
//! Not modelled: `tls_inspector` (a TLS ClientHello simply is not HTTP, so it
//! takes the TCP chain, as Istio's TLS-less sniffed chains do).

mod rewind;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

pub(crate) use rewind::Rewind;

/// The h2c connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The most the inspector reads before deciding (Envoy's
/// `MAX_INSPECT_SIZE`, 64 KiB): a longer request line is not HTTP to it.
const MAX_INSPECT: usize = 64 * 1024;

/// What the inspector decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detected {
    /// An HTTP/1.0 or HTTP/1.1 request line (`http/1.0`, `http/1.1`).
    Http1,
    /// The HTTP/2 prior-knowledge preface (`h2c`).
    H2c,
    /// Anything else, or nothing before the timeout: raw TCP.
    Tcp,
}

/// The verdict and the bytes read to reach it.
#[derive(Debug)]
pub(crate) struct Sniffed {
    /// The chain the connection takes.
    pub(crate) detected: Detected,
    /// The client's first bytes, to be passed on before anything else.
    pub(crate) bytes: Vec<u8>,
    /// Whether the listener filter timeout decided (Envoy's
    /// `downstream_pre_cx_timeout`).
    pub(crate) timed_out: bool,
}

/// Reads from `stream` until its first bytes decide the protocol, the
/// `timeout` expires (`None`: never), or the client closes. `None` when the
/// client closed (or the socket failed) before sending a byte: Envoy closes
/// the connection.
pub(crate) async fn sniff<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Option<Duration>,
) -> Option<Sniffed> {
    let deadline = timeout.map(|t| meshsim_net::clock::Instant::now() + t);
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(detected) = classify(&bytes) {
            return Some(Sniffed {
                detected,
                bytes,
                timed_out: false,
            });
        }
        let read = stream.read(&mut chunk);
        let read = match deadline {
            Some(at) => match meshsim_net::clock::timeout_at(at, read).await {
                Ok(r) => r,
                Err(_) => {
                    return Some(Sniffed {
                        detected: Detected::Tcp,
                        bytes,
                        timed_out: true,
                    });
                }
            },
            None => read.await,
        };
        match read {
            Ok(n) if n > 0 => bytes.extend_from_slice(&chunk[..n]),
            // End of stream (or a failure) mid-detection: what was sent goes
            // to the TCP chain; nothing sent, nothing to proxy.
            _ if bytes.is_empty() => return None,
            _ => {
                return Some(Sniffed {
                    detected: Detected::Tcp,
                    bytes,
                    timed_out: false,
                });
            }
        }
    }
}

/// The protocol `buf` (the client's first bytes) shows; `None` while they
/// are still a plausible start of an HTTP/1 request line or the h2c preface.
pub(crate) fn classify(buf: &[u8]) -> Option<Detected> {
    if buf.is_empty() {
        return None;
    }
    let n = buf.len().min(H2_PREFACE.len());
    if buf[..n] == H2_PREFACE[..n] {
        return (n == H2_PREFACE.len()).then_some(Detected::H2c);
    }
    if buf.len() >= MAX_INSPECT {
        return Some(Detected::Tcp);
    }
    match request_line(buf) {
        Line::Http1 => Some(Detected::Http1),
        Line::Partial => None,
        Line::Not => Some(Detected::Tcp),
    }
}

/// How far `buf` is from an HTTP/1.x request line.
enum Line {
    Http1,
    Partial,
    Not,
}

/// Checks `METHOD SP target SP HTTP/1.(0|1) CRLF` as far as `buf` goes. The
/// method is an upper-case token (the parser Envoy uses knows only
/// upper-case methods).
fn request_line(buf: &[u8]) -> Line {
    let method_ok = |b: u8| b.is_ascii_uppercase() || b == b'-' || b == b'_';
    let Some(sp) = buf.iter().position(|&b| !method_ok(b)) else {
        return Line::Partial;
    };
    if sp == 0 || buf[sp] != b' ' {
        return Line::Not;
    }
    let rest = &buf[sp + 1..];
    let Some(sp2) = rest.iter().position(|&b| !b.is_ascii_graphic()) else {
        return Line::Partial;
    };
    if sp2 == 0 || rest[sp2] != b' ' {
        return Line::Not;
    }
    version(&rest[sp2 + 1..])
}

/// `HTTP/1.0` or `HTTP/1.1` then CRLF, as far as `buf` goes.
fn version(buf: &[u8]) -> Line {
    let candidates: [&[u8]; 2] = [b"HTTP/1.0\r\n", b"HTTP/1.1\r\n"];
    let mut partial = false;
    for c in candidates {
        let n = buf.len().min(c.len());
        if buf[..n] == c[..n] {
            if n == c.len() {
                return Line::Http1;
            }
            partial = true;
        }
    }
    if partial { Line::Partial } else { Line::Not }
}

#[cfg(test)]
mod tests;
