//! `pilot-agent wait` (holdApplicationUntilProxyStarts' postStart hook,
//! fact sheet §6.3): poll `GET /healthz/ready` until it answers 200.
//!
//! As Istio's loop: while the deadline (`--timeoutSeconds`, 60 s) has not
//! passed, poll (one request bounded by `--requestTimeoutMillis`, 500 ms),
//! then sleep `--periodMillis` (500 ms). So the first poll is at once, and
//! with refused connects the polls come every 500 ms: 120 of them, then the
//! error at 60 s naming the last failure.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use meshsim_net::clock::Instant;
use meshsim_net::{NetStream, Stack};
use tokio::io::AsyncWriteExt;

use super::app_probe::status_code;
use super::wire::{HeadError, read_body, read_head};
use crate::error::SidecarError;

/// `pilot-agent wait`'s flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitReady {
    /// `--periodMillis`: the sleep after each failed poll. Default 500 ms.
    pub period: Duration,
    /// `--requestTimeoutMillis`: the bound of one poll, connect included.
    /// Default 500 ms.
    pub request_timeout: Duration,
    /// `--timeoutSeconds`: no poll starts after this. Default 60 s.
    pub give_up: Duration,
}

impl Default for WaitReady {
    fn default() -> Self {
        WaitReady {
            period: Duration::from_millis(500),
            request_timeout: Duration::from_millis(500),
            give_up: Duration::from_secs(60),
        }
    }
}

/// A successful wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOutcome {
    /// Polls made, the successful one included.
    pub polls: u32,
    /// When the successful poll got its answer.
    pub ready_at: Instant,
    /// How long the wait took.
    pub waited: Duration,
}

/// Why one poll failed, worded as Go's HTTP client words it in
/// pilot-agent's `Last error`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollFailure {
    /// Nothing listens (`connect: connection refused`).
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The peer closed before a complete response (`EOF`).
    Closed,
    /// No complete response within the request timeout.
    Timeout,
    /// A response other than 200 (`HTTP status code 503`).
    Status(u16),
    /// A response that is not HTTP.
    Malformed,
    /// Another socket error.
    Io(std::io::ErrorKind),
    /// No poll was made (a zero `give_up`; Go prints a nil error).
    NotPolled,
}

impl fmt::Display for PollFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollFailure::Refused => f.write_str("connect: connection refused"),
            PollFailure::Reset => f.write_str("read: connection reset by peer"),
            PollFailure::Closed => f.write_str("EOF"),
            PollFailure::Timeout => f.write_str(
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            ),
            PollFailure::Status(code) => write!(f, "HTTP status code {code}"),
            PollFailure::Malformed => f.write_str("malformed HTTP response"),
            PollFailure::Io(kind) => write!(f, "{kind}"),
            PollFailure::NotPolled => f.write_str("<nil>"),
        }
    }
}

impl PollFailure {
    fn from_io(e: &std::io::Error) -> PollFailure {
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => PollFailure::Refused,
            std::io::ErrorKind::ConnectionReset => PollFailure::Reset,
            std::io::ErrorKind::TimedOut => PollFailure::Timeout,
            kind => PollFailure::Io(kind),
        }
    }

    fn from_head(e: HeadError) -> PollFailure {
        match e {
            HeadError::Eof => PollFailure::Closed,
            HeadError::Io(e) => PollFailure::from_io(&e),
        }
    }
}

/// Polls `GET http://{readiness}/healthz/ready` from `stack` (the app's
/// pod: its own address is never captured) as `pilot-agent wait` does.
///
/// # Errors
/// [`SidecarError::ProxyNotReady`] when `opts.give_up` passed without a 200.
pub async fn wait_ready(
    stack: &Stack,
    readiness: SocketAddr,
    opts: WaitReady,
) -> Result<WaitOutcome, SidecarError> {
    let start = Instant::now();
    let deadline = start + opts.give_up;
    let mut polls = 0;
    let mut last = PollFailure::NotPolled;
    while Instant::now() < deadline {
        polls += 1;
        match poll(stack, readiness, opts.request_timeout).await {
            Ok(()) => {
                let ready_at = Instant::now();
                let waited = ready_at - start;
                tracing::info!(polls, ?waited, "envoy is ready");
                return Ok(WaitOutcome {
                    polls,
                    ready_at,
                    waited,
                });
            }
            Err(failure) => {
                tracing::debug!(%failure, "not ready yet");
                last = failure;
            }
        }
        meshsim_net::clock::sleep(opts.period).await;
    }
    Err(SidecarError::ProxyNotReady {
        readiness,
        polls,
        last,
    })
}

/// One poll, bounded by `timeout`.
async fn poll(stack: &Stack, readiness: SocketAddr, timeout: Duration) -> Result<(), PollFailure> {
    match meshsim_net::clock::timeout(timeout, get(stack, readiness, timeout)).await {
        Err(_) => Err(PollFailure::Timeout),
        Ok(Err(failure)) => Err(failure),
        Ok(Ok(200)) => Ok(()),
        Ok(Ok(status)) => Err(PollFailure::Status(status)),
    }
}

/// The GET, written by hand: its status once the body is read (Go's
/// `io.ReadAll`).
async fn get(stack: &Stack, readiness: SocketAddr, timeout: Duration) -> Result<u16, PollFailure> {
    let mut stream = stack
        .connect(readiness, timeout)
        .await
        .map_err(|e| PollFailure::from_io(&e))?;
    let request = format!(
        "GET /healthz/ready HTTP/1.1\r\nhost: {readiness}\r\nuser-agent: Go-http-client/1.1\r\naccept-encoding: gzip\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| PollFailure::from_io(&e))?;
    read_status(&mut stream).await
}

/// Reads one response: its status code, after its body.
async fn read_status(stream: &mut NetStream) -> Result<u16, PollFailure> {
    let head = read_head(stream).await.map_err(PollFailure::from_head)?;
    let status = status_code(&head.start).ok_or(PollFailure::Malformed)?;
    let len = head.content_length().unwrap_or(0);
    read_body(stream, head.rest, len)
        .await
        .map_err(PollFailure::from_head)?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_worded_as_go_words_them() {
        assert_eq!(
            PollFailure::Refused.to_string(),
            "connect: connection refused"
        );
        assert_eq!(PollFailure::Status(503).to_string(), "HTTP status code 503");
    }
}
