//! HTTP/2 mode: one accepted connection served with the `h2` crate (h2c with
//! prior knowledge), with frame-level incident knobs ([`Http2Mode`]).
//!
//! The connection task drives `h2`'s server connection (accepting streams is
//! what moves its frames) and serves each stream in a task of its own, so
//! streams are concurrent: the route's latency of one stream does not hold
//! up another. Refusing a stream is an RST_STREAM `REFUSED_STREAM` before its
//! request is read.
//!
//! GOAWAY is `h2`'s graceful shutdown: a first GOAWAY (last stream id
//! 2^31-1) and a PING; on the PING's answer the final GOAWAY carries the
//! highest stream id processed, and the connection closes once the streams
//! it took have finished. Go's and gRPC's servers send a single GOAWAY with
//! the highest processed id at once; a stream the client sent before it saw
//! that GOAWAY is above the last stream id and the client treats it as
//! refused. Here such a stream (one accepted after the shutdown started) is
//! refused with RST_STREAM `REFUSED_STREAM`, which a client reports with the
//! same reset reason, so the two are the same to the sidecar.
//!
//! `stop(Close)` is a graceful GOAWAY on every connection (the listener is
//! closed at once, streams in flight finish); `stop(Reset)` resets the TCP
//! connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::{Connection, SendResponse};
use h2::{Reason, RecvStream};
use http::{Request, Response};
use meshsim_net::NetStream;
use meshsim_net::clock::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Http2Mode;
use crate::server::{Command, Shared, stopped};

/// Serves one HTTP/2 connection until it ends.
pub(crate) async fn serve(
    stream: NetStream,
    shared: Arc<Shared>,
    mut cmd: watch::Receiver<Command>,
) {
    let _open = shared.stats.connection_opened();
    let opened = meshsim_net::clock::Instant::now();
    let goaway = shared.goaway_signal();
    let mode = shared.http2_mode();
    let mut io = Resettable::new(stream);
    let reset = io.reset_flag();
    let mut builder = h2::server::Builder::new();
    if let Some(max) = mode.max_concurrent_streams {
        builder.max_concurrent_streams(max);
    }
    let handshake = builder.handshake::<_, Bytes>(&mut io);
    let conn = tokio::select! {
        biased;
        how = stopped(&mut cmd) => {
            reset.set(how == Command::Reset);
            return;
        }
        conn = handshake => conn,
    };
    let Ok(conn) = conn else {
        tracing::debug!("h2 handshake failed");
        return;
    };
    let mut served = Served {
        conn,
        streams: JoinSet::new(),
        in_flight: Arc::new(AtomicU32::new(0)),
        accepted: 0,
        going_away: false,
        opened,
        goaway,
        shared,
    };
    let how = served.run(&mut cmd).await;
    reset.set(how == Some(Command::Reset));
    served.streams.abort_all();
    while served.streams.join_next().await.is_some() {}
}

/// One served connection's state.
struct Served<'io> {
    conn: Connection<&'io mut Resettable, Bytes>,
    streams: JoinSet<()>,
    /// Streams of this connection being served now.
    in_flight: Arc<AtomicU32>,
    /// Streams accepted on this connection (refused ones included).
    accepted: u32,
    /// A GOAWAY was started.
    going_away: bool,
    /// When the connection was accepted (for `max_connection_age`).
    opened: Instant,
    /// [`crate::UpstreamHandle::go_away`]'s signal.
    goaway: watch::Receiver<u64>,
    shared: Arc<Shared>,
}

impl Served<'_> {
    /// Drives the connection; `Some(Command::Reset)` when told to reset.
    async fn run(&mut self, cmd: &mut watch::Receiver<Command>) -> Option<Command> {
        let mut stopping = false;
        loop {
            let aged = self.age_deadline();
            tokio::select! {
                biased;
                how = stopped(cmd), if !stopping => {
                    if how == Command::Reset {
                        return Some(Command::Reset);
                    }
                    stopping = true;
                    self.go_away();
                }
                Ok(()) = self.goaway.changed(), if !self.going_away => self.go_away(),
                () = sleep_until_some(aged), if aged.is_some() => self.go_away(),
                Some(_) = self.streams.join_next(), if !self.streams.is_empty() => {}
                next = self.conn.accept() => match next {
                    Some(Ok((req, respond))) => self.on_stream(req, respond),
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "h2 connection error");
                        return None;
                    }
                    None => return None,
                },
            }
        }
    }

    /// When the connection reaches `max_connection_age` (`None`: never, or
    /// its GOAWAY has started).
    fn age_deadline(&self) -> Option<Instant> {
        let age = self.shared.http2_mode().max_connection_age?;
        (!self.going_away).then_some(self.opened + age)
    }

    /// Starts the graceful GOAWAY once.
    fn go_away(&mut self) {
        if !self.going_away {
            self.going_away = true;
            self.shared.stats.goaway_sent();
            self.conn.graceful_shutdown();
        }
    }

    /// Refuses the stream or serves it in a task of its own.
    fn on_stream(&mut self, req: Request<RecvStream>, mut respond: SendResponse<Bytes>) {
        self.accepted += 1;
        let seen = self.shared.next_stream();
        let mode = self.shared.http2_mode();
        if self.refuses(&mode, seen) {
            self.shared.stats.stream_refused();
            respond.send_reset(Reason::REFUSED_STREAM);
            return;
        }
        if mode
            .goaway_after_streams
            .is_some_and(|n| self.accepted >= n)
        {
            self.go_away();
        }
        let guard = InFlight::enter(self.in_flight.clone());
        let shared = self.shared.clone();
        self.streams.spawn(async move {
            let _guard = guard;
            if let Err(e) = answer(req, respond, &shared).await {
                tracing::debug!(error = %e, "h2 stream failed");
            }
        });
    }

    /// Whether the `seen`-th stream of the server is refused.
    fn refuses(&self, mode: &Http2Mode, seen: u64) -> bool {
        let nth = mode
            .refuse_every_nth
            .is_some_and(|n| seen.is_multiple_of(u64::from(n)));
        let over = mode
            .refuse_over_in_flight
            .is_some_and(|n| self.in_flight.load(Ordering::Relaxed) >= n);
        // A stream taken after the GOAWAY started is above its last stream id.
        let after_goaway = self.going_away;
        nth || over || after_goaway || self.shared.refusing()
    }
}

/// Sleeps until `at`; never returns for `None`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => meshsim_net::clock::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reads the request, waits the route's latency and writes the response.
async fn answer(
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: &Shared,
) -> Result<(), h2::Error> {
    let (parts, mut body) = req.into_parts();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let attempt = parts
        .headers
        .get("x-envoy-attempt-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    shared.stats.request(attempt);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = shared.answer(path);
    if !answer.latency.is_zero() {
        meshsim_net::clock::sleep(answer.latency).await;
    }
    let data = Bytes::copy_from_slice(answer.body);
    let end = data.is_empty() || parts.method == http::Method::HEAD;
    let response = Response::builder()
        .status(answer.status)
        .header(http::header::CONTENT_LENGTH, data.len())
        .body(())
        .map_err(|_| h2::Error::from(Reason::INTERNAL_ERROR))?;
    let mut send = respond.send_response(response, end)?;
    if !end {
        send.send_data(data, true)?;
    }
    Ok(())
}

/// Counts a stream in flight on its connection until dropped.
struct InFlight(Arc<AtomicU32>);

impl InFlight {
    fn enter(count: Arc<AtomicU32>) -> InFlight {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's socket, closed with a RST instead of a FIN when asked.
struct Resettable {
    stream: Option<NetStream>,
    reset: ResetFlag,
}

/// Whether [`Resettable`] resets its socket when dropped.
#[derive(Clone, Default)]
struct ResetFlag(Arc<std::sync::atomic::AtomicBool>);

impl ResetFlag {
    fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

impl Resettable {
    fn new(stream: NetStream) -> Resettable {
        Resettable {
            stream: Some(stream),
            reset: ResetFlag::default(),
        }
    }

    fn reset_flag(&self) -> ResetFlag {
        self.reset.clone()
    }

    fn inner(&mut self) -> Pin<&mut NetStream> {
        Pin::new(
            self.stream
                .as_mut()
                .expect("the socket lives until the wrapper drops"),
        )
    }
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take()
            && self.reset.0.load(Ordering::Relaxed)
        {
            stream.reset();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.get_mut().inner().poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().inner().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().inner().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().inner().poll_shutdown(cx)
    }
}
