//! Transport failures to [`ErrorKind`], by walking the error's causes.
//!
//! Like pingora and linkerd, we never look at message text: the chain of
//! [`std::error::Error::source`] is walked from the outside in, and the first
//! link that says something decides. hyper says "the connection ended before
//! a complete message" (`is_incomplete_message`: Envoy's "connection
//! termination", Python's `RemoteDisconnected`) or "the bytes were not HTTP"
//! (`is_parse`); an [`io::Error`] says refused, reset or timed out.

use std::error::Error as StdError;
use std::io;

use meshsim_core::ErrorKind;

/// Where in a request a failure happened: the same `io::ErrorKind` means
/// different things during a connect and on an established connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The TCP connect.
    Connect,
    /// Writing the request or reading the response on a connection.
    Exchange,
}

/// Classifies a transport failure.
///
/// During [`Stage::Connect`]: refused -> `ConnectRefused`, timed out ->
/// `ConnectTimeout`, a reset -> `ConnectRefused` (a RST answering the SYN).
/// During [`Stage::Exchange`]: EOF before a complete response ->
/// `ConnectionClosed`, reset / broken pipe / aborted -> `ConnectionReset`,
/// the kernel's retransmission give-up (`TimedOut` on an established flow) ->
/// `ConnectionReset` (the connection is gone, not the application's timer),
/// malformed HTTP -> `ProtocolError`. A connection that hyper had already
/// closed when the request was handed to it is `ConnectionClosed`.
pub fn classify(stage: Stage, err: &(dyn StdError + 'static)) -> ErrorKind {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(kind) = hyper_kind(e) {
            return kind;
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return io_kind(stage, io.kind());
        }
        cur = e.source();
    }
    match stage {
        Stage::Connect => ErrorKind::ConnectRefused,
        Stage::Exchange => ErrorKind::ProtocolError,
    }
}

/// What a hyper error says by itself, if it says something decisive; an I/O
/// error inside it is left to its cause.
fn hyper_kind(e: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    let h = e.downcast_ref::<hyper::Error>()?;
    if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
        Some(ErrorKind::ConnectionClosed)
    } else if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
        Some(ErrorKind::ProtocolError)
    } else if h.is_timeout() {
        Some(ErrorKind::RequestTimeout)
    } else {
        None
    }
}

/// The kind of an I/O failure at `stage`.
pub(crate) fn io_kind(stage: Stage, kind: io::ErrorKind) -> ErrorKind {
    use io::ErrorKind as K;
    match (stage, kind) {
        (Stage::Connect, K::TimedOut) => ErrorKind::ConnectTimeout,
        (Stage::Connect, _) => ErrorKind::ConnectRefused,
        (Stage::Exchange, K::UnexpectedEof) => ErrorKind::ConnectionClosed,
        (Stage::Exchange, K::InvalidData) => ErrorKind::ProtocolError,
        (Stage::Exchange, _) => ErrorKind::ConnectionReset,
    }
}

#[cfg(test)]
mod tests;
