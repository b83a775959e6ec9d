//! One accepted connection: read a request, wait the route's latency, write
//! the response, repeat, until the client or a timer or the server ends it.
//!
//! Every await races the generation's stop command (`biased`, command first),
//! so `stop(Close | Reset)` ends a connection at once, even in the middle of a
//! route's latency or a slow write.

use std::future::Future;
use std::sync::Arc;

use bytes::{Buf as _, BytesMut};
use meshsim_net::NetStream;
use meshsim_net::clock::Instant;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

use crate::error::UpstreamError;
use crate::request::{RequestHead, read_request};
use crate::response::{ConnectionHeader, render};
use crate::server::{Command, Shared, stopped};

/// Bytes reserved for each read.
const READ_CHUNK: usize = 8 * 1024;
/// Body of the `400` answering a malformed request.
const BAD_REQUEST_BODY: &[u8] = b"bad request";

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Close like `close(2)`: FIN (RST if request bytes were left unread).
    Close,
    /// Abortive close: RST.
    Reset,
}

/// Serves one connection until it ends, then closes it.
pub(crate) async fn serve(stream: NetStream, shared: Arc<Shared>, cmd: watch::Receiver<Command>) {
    let _open = shared.stats.connection_opened();
    let mut conn = Connection {
        stream,
        buf: BytesMut::new(),
        responses: 0,
        shared,
        cmd,
    };
    let end = conn.run().await;
    tracing::debug!(?end, responses = conn.responses, "connection ends");
    match end {
        End::Close => drop(conn.stream),
        End::Reset => conn.stream.reset(),
    }
}

struct Connection {
    stream: NetStream,
    /// Received bytes not yet consumed by a request (pipelining).
    buf: BytesMut,
    /// Responses written so far.
    responses: u64,
    shared: Arc<Shared>,
    cmd: watch::Receiver<Command>,
}

/// The result of waiting for more request bytes.
#[derive(Debug)]
enum Read {
    /// Some bytes arrived.
    Data,
    /// The client closed its side.
    Eof,
    /// The connection failed (reset, timed out).
    Failed(std::io::Error),
    /// Nothing arrived within the keep-alive timeout.
    Idle,
}

impl Connection {
    async fn run(&mut self) -> End {
        // The keep-alive clock: since accept, the last response or the last
        // received byte, whichever is latest.
        let mut last_activity = Instant::now();
        loop {
            let head = match self.next_request(&mut last_activity).await {
                Ok(head) => head,
                Err(end) => return end,
            };
            if let Err(end) = self.respond(&head).await {
                return end;
            }
            last_activity = Instant::now();
        }
    }

    /// The next complete request, reading as needed.
    async fn next_request(&mut self, last_activity: &mut Instant) -> Result<RequestHead, End> {
        loop {
            match read_request(&self.buf) {
                Ok(Some((head, used))) => {
                    self.buf.advance(used);
                    return Ok(head);
                }
                Ok(None) => {}
                Err(e) => return Err(self.reject(e).await),
            }
            let deadline = self
                .shared
                .config
                .keepalive_timeout
                .map(|t| *last_activity + t);
            match until_stopped(
                &mut self.cmd,
                read_more(&mut self.stream, &mut self.buf, deadline),
            )
            .await?
            {
                Read::Data => *last_activity = Instant::now(),
                Read::Failed(error) => {
                    tracing::debug!(%error, "read failed");
                    return Err(End::Close);
                }
                other => {
                    tracing::debug!(read = ?other, pending = self.buf.len(), "no further request");
                    return Err(End::Close);
                }
            }
        }
    }

    /// Answers one request; `Err` ends the connection after it.
    async fn respond(&mut self, head: &RequestHead) -> Result<(), End> {
        self.shared.stats.request(head.attempt_count());
        let answer = self.shared.answer(head.route_path());
        if !answer.latency.is_zero() {
            until_stopped(&mut self.cmd, meshsim_net::clock::sleep(answer.latency)).await?;
        }
        self.responses += 1;
        let limit = self.shared.config.max_requests_per_connection;
        let close = !head.keep_alive() || limit.is_some_and(|m| self.responses >= u64::from(m));
        let connection = match (close, head.version) {
            (true, _) => ConnectionHeader::Close,
            (false, 0) => ConnectionHeader::KeepAlive,
            (false, _) => ConnectionHeader::Omit,
        };
        let bytes = render(
            answer.status,
            answer.body,
            connection,
            head.method != "HEAD",
        );
        if let Err(e) = until_stopped(&mut self.cmd, self.stream.write_all(&bytes)).await? {
            tracing::debug!(error = %e, "response write failed");
            return Err(End::Close);
        }
        if close { Err(End::Close) } else { Ok(()) }
    }

    /// Answers bytes that are not a request with `400` and ends the connection.
    async fn reject(&mut self, error: UpstreamError) -> End {
        tracing::debug!(%error, "malformed request");
        self.shared.stats.malformed_request();
        let bytes = render(400, BAD_REQUEST_BODY, ConnectionHeader::Close, true);
        match until_stopped(&mut self.cmd, self.stream.write_all(&bytes)).await {
            Ok(_) => End::Close,
            Err(end) => end,
        }
    }
}

/// Reads more bytes into `buf`, giving up at `deadline` (keep-alive expiry).
async fn read_more(stream: &mut NetStream, buf: &mut BytesMut, deadline: Option<Instant>) -> Read {
    buf.reserve(READ_CHUNK);
    let read = stream.read_buf(buf);
    let result = match deadline {
        Some(at) => match meshsim_net::clock::timeout_at(at, read).await {
            Ok(r) => r,
            Err(_) => return Read::Idle,
        },
        None => read.await,
    };
    match result {
        Ok(0) => Read::Eof,
        Ok(_) => Read::Data,
        Err(e) => Read::Failed(e),
    }
}

/// Runs `fut` unless the generation is told to stop first.
async fn until_stopped<F: Future>(
    cmd: &mut watch::Receiver<Command>,
    fut: F,
) -> Result<F::Output, End> {
    tokio::select! {
        biased;
        how = stopped(cmd) => Err(if how == Command::Reset { End::Reset } else { End::Close }),
        out = fut => Ok(out),
    }
}
