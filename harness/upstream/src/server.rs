//! The server's lifecycle: spawn, the accept loop, stop modes, start and
//! shutdown.
//!
//! Ownership: the [`UpstreamHandle`] owns the accept-loop task while the
//! server serves; the accept loop owns the listener and a `JoinSet` of its
//! connection tasks. Each serving period ("generation") has its own
//! `watch` channel of [`Command`]s: `stop(Close | Reset)` sends the command,
//! which the accept loop and every connection of that generation see at their
//! next await; the accept loop then drops the listener (new connects are
//! refused) and waits for its connections, so when `stop` returns every task of
//! the generation is gone. `start` binds a new listener on the same address and
//! opens a new generation. A blackhole is not a server state at all: it is a
//! path fault of the network, so listener and connections stay as they are.

use std::any::Any;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_net::{NetListener, Stack};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tracing::Instrument as _;

use crate::config::{Http2Mode, UpstreamConfig};
use crate::connection;
use crate::error::UpstreamError;
use crate::http2;
use crate::response::filler;
use crate::server_first;
use crate::stats::{StatsCell, UpstreamStats};

/// Pause after a failed accept (real mode: e.g. out of file descriptors) so
/// the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// Body of the `404` sent when no route matches.
const NOT_FOUND_BODY: &[u8] = b"not found";

/// How [`UpstreamHandle::stop`] takes a server down, as real incidents do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Like a process exit: the listener closes (new connects are refused)
    /// and every open connection is closed at once with a FIN, even with a
    /// response in flight (a connection with unread request bytes gets a RST,
    /// as `close(2)` does).
    Close,
    /// Open connections are closed abortively (RST: the peer's next read or
    /// write fails with `ConnectionReset`) and the listener closes, so new
    /// connects are refused.
    Reset,
    /// The host's address is black-holed on the network
    /// (`Net::set_blackhole(ip, true)`): everything to or from it is silently
    /// dropped; listener and connections stay. Affects every server sharing
    /// that IP.
    Blackhole,
}

impl std::str::FromStr for StopMode {
    type Err = UpstreamError;

    /// Parses the scenario words `close`, `reset` and `blackhole`.
    fn from_str(s: &str) -> Result<StopMode, UpstreamError> {
        match s {
            "close" => Ok(StopMode::Close),
            "reset" => Ok(StopMode::Reset),
            "blackhole" => Ok(StopMode::Blackhole),
            _ => Err(UpstreamError::UnknownStopMode {
                value: s.to_owned(),
            }),
        }
    }
}

impl std::fmt::Display for StopMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopMode::Close => "close",
            StopMode::Reset => "reset",
            StopMode::Blackhole => "blackhole",
        })
    }
}

/// What the connections of one generation are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Serve,
    Close,
    Reset,
}

/// Waits until the generation is told to stop; a dropped sender means close.
pub(crate) async fn stopped(cmd: &mut watch::Receiver<Command>) -> Command {
    loop {
        let now = *cmd.borrow_and_update();
        if now != Command::Serve {
            return now;
        }
        if cmd.changed().await.is_err() {
            return Command::Close;
        }
    }
}

/// State shared by the handle, the accept loop and the connections.
pub(crate) struct Shared {
    pub(crate) config: UpstreamConfig,
    /// Body of each route, in route order, rendered once.
    bodies: Vec<Vec<u8>>,
    pub(crate) stats: StatsCell,
    /// The first panic of a task, re-raised by `shutdown`.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// HTTP/2 streams received so far, all connections (refused included).
    streams_seen: AtomicU64,
    /// HTTP/2: refuse every new stream (a window set by
    /// [`UpstreamHandle::set_refuse_streams`]).
    refuse_all: AtomicBool,
    /// HTTP/2: the knobs in force now (from the config, changed by
    /// [`UpstreamHandle::set_http2`]).
    http2: Mutex<Http2Mode>,
    /// HTTP/2: bumped by [`UpstreamHandle::go_away`]; every connection
    /// watches it.
    goaway: watch::Sender<u64>,
}

/// The response a request gets.
pub(crate) struct Answer<'a> {
    pub(crate) status: u16,
    pub(crate) body: &'a [u8],
    pub(crate) latency: Duration,
}

impl Shared {
    fn new(config: UpstreamConfig) -> Shared {
        let bodies = config.routes.iter().map(|r| filler(r.body_bytes)).collect();
        let config_http2 = config.http2.clone().unwrap_or_default();
        Shared {
            config,
            bodies,
            stats: StatsCell::default(),
            panic: Mutex::new(None),
            streams_seen: AtomicU64::new(0),
            refuse_all: AtomicBool::new(false),
            http2: Mutex::new(config_http2),
            goaway: watch::Sender::new(0),
        }
    }

    /// The HTTP/2 knobs in force now.
    pub(crate) fn http2_mode(&self) -> Http2Mode {
        self.http2.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Watches [`UpstreamHandle::go_away`] from now on.
    pub(crate) fn goaway_signal(&self) -> watch::Receiver<u64> {
        self.goaway.subscribe()
    }

    /// Counts one more HTTP/2 stream; its 1-based number on the server.
    pub(crate) fn next_stream(&self) -> u64 {
        self.streams_seen.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether a refusal window is open.
    pub(crate) fn refusing(&self) -> bool {
        self.refuse_all.load(Ordering::Relaxed)
    }

    /// The answer for a request path: the first matching route, else 404.
    pub(crate) fn answer(&self, path: &str) -> Answer<'_> {
        match self.config.route_index(path) {
            Some(i) => {
                let r = &self.config.routes[i];
                Answer {
                    status: r.status,
                    body: &self.bodies[i],
                    latency: r.latency,
                }
            }
            None => Answer {
                status: 404,
                body: NOT_FOUND_BODY,
                latency: Duration::ZERO,
            },
        }
    }

    fn note_join(&self, result: Result<(), JoinError>) {
        let Err(e) = result else { return };
        if !e.is_panic() {
            return;
        }
        tracing::error!(upstream = %self.config.name, "upstream task panicked");
        let mut slot = self.panic.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e.into_panic());
        }
    }

    fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.panic.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// One serving period: a listener's accept loop and its connections.
struct Generation {
    cmd: watch::Sender<Command>,
    task: JoinHandle<()>,
}

impl Generation {
    fn start(listener: NetListener, shared: Arc<Shared>) -> Generation {
        let (cmd, rx) = watch::channel(Command::Serve);
        let span = tracing::debug_span!("upstream", name = %shared.config.name, addr = %listener.local_addr());
        let task = tokio::spawn(accept_loop(listener, shared, rx).instrument(span));
        Generation { cmd, task }
    }

    /// Tells the generation to stop and waits until all its tasks are gone.
    async fn stop(self, how: Command, shared: &Shared) {
        self.cmd.send_replace(how);
        shared.note_join(self.task.await);
    }
}

async fn accept_loop(
    listener: NetListener,
    shared: Arc<Shared>,
    mut cmd: watch::Receiver<Command>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stopped(&mut cmd) => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => shared.note_join(done),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let span = tracing::debug_span!("conn", %peer);
                    if shared.config.server_first {
                        conns.spawn(server_first::serve(stream, shared.clone(), cmd.clone()).instrument(span));
                    } else if shared.config.http2.is_some() {
                        conns.spawn(http2::serve(stream, shared.clone(), cmd.clone()).instrument(span));
                    } else {
                        conns.spawn(connection::serve(stream, shared.clone(), cmd.clone()).instrument(span));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    meshsim_net::clock::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    // Close the listener first: from here on connects are refused.
    drop(listener);
    while let Some(done) = conns.join_next().await {
        shared.note_join(done);
    }
}

/// Starts a fake upstream listening on `port` of `stack`'s host (0 for an
/// ephemeral port).
///
/// # Errors
/// `InvalidInput` (carrying an [`crate::UpstreamError`]) for a configuration
/// that fails [`UpstreamConfig::validate`]; the listen error (`AddrInUse`...)
/// otherwise.
pub async fn spawn(config: UpstreamConfig, stack: Stack, port: u16) -> io::Result<UpstreamHandle> {
    config.validate()?;
    let listener = stack.listen(port).await?;
    let addr = listener.local_addr();
    let shared = Arc::new(Shared::new(config));
    let serving = Generation::start(listener, shared.clone());
    let life = Lifecycle {
        serving: Some(serving),
        blackholed: false,
    };
    Ok(UpstreamHandle {
        shared,
        stack,
        addr,
        life: tokio::sync::Mutex::new(life),
    })
}

struct Lifecycle {
    /// `None` after `stop(Close | Reset)`: nothing listens.
    serving: Option<Generation>,
    /// This server black-holed its address and has not lifted it yet.
    blackholed: bool,
}

/// The control surface of one running fake upstream.
///
/// Dropping it without [`UpstreamHandle::shutdown`] aborts its tasks.
pub struct UpstreamHandle {
    shared: Arc<Shared>,
    stack: Stack,
    addr: SocketAddr,
    /// Serialises stop / start / shutdown (held across their awaits, hence a
    /// tokio mutex).
    life: tokio::sync::Mutex<Lifecycle>,
}

impl std::fmt::Debug for UpstreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamHandle")
            .field("name", &self.shared.config.name)
            .field("addr", &self.addr)
            .finish()
    }
}

impl UpstreamHandle {
    /// The (scenario) address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's configured name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &UpstreamConfig {
        &self.shared.config
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> UpstreamStats {
        self.shared.stats.snapshot()
    }

    /// HTTP/2 mode: opens (`true`) or closes a window in which every new
    /// stream is refused with RST_STREAM `REFUSED_STREAM`. No effect in
    /// HTTP/1.1 mode.
    pub fn set_refuse_streams(&self, refuse: bool) {
        self.shared.refuse_all.store(refuse, Ordering::Relaxed);
    }

    /// HTTP/2 mode: replaces the incident knobs. Streams arriving from now
    /// on, on every connection, follow the new ones (refusals, the
    /// per-connection stream count before GOAWAY, the connection age, which
    /// counts from each connection's accept); `max_concurrent_streams` is
    /// advertised at the handshake, so it changes for new connections only.
    /// No effect in HTTP/1.1 mode.
    ///
    /// # Errors
    /// [`UpstreamError::ZeroHttp2Knob`] for a knob set to 0 (nothing changes).
    pub fn set_http2(&self, mode: Http2Mode) -> Result<(), UpstreamError> {
        mode.validate()?;
        *self.shared.http2.lock().unwrap_or_else(|p| p.into_inner()) = mode;
        Ok(())
    }

    /// HTTP/2 mode: the knobs in force now.
    pub fn http2_mode(&self) -> Http2Mode {
        self.shared.http2_mode()
    }

    /// HTTP/2 mode: starts a graceful GOAWAY on every open connection (a
    /// server draining for a restart, or gRPC's `MAX_CONNECTION_AGE` firing
    /// on all of them): streams already taken finish, later streams on those
    /// connections are refused, and the server keeps accepting new
    /// connections. No effect in HTTP/1.1 mode.
    pub fn go_away(&self) {
        self.shared.goaway.send_modify(|n| *n += 1);
    }

    /// Takes the server down the way `how` says (see [`StopMode`]). For
    /// `Close` and `Reset`, every connection task is gone when this returns.
    /// Stopping a stopped server does nothing. In HTTP/2 mode `Close` is a
    /// graceful GOAWAY: streams in flight finish before the connection
    /// closes (and before this returns).
    pub async fn stop(&self, how: StopMode) {
        let mut life = self.life.lock().await;
        let cmd = match how {
            StopMode::Blackhole => {
                self.stack.net().set_blackhole(self.addr.ip(), true);
                life.blackholed = true;
                return;
            }
            StopMode::Close => Command::Close,
            StopMode::Reset => Command::Reset,
        };
        if let Some(serving) = life.serving.take() {
            serving.stop(cmd, &self.shared).await;
        }
    }

    /// Undoes [`UpstreamHandle::stop`]: binds the same address again if the
    /// listener was closed, and lifts the blackhole if this server set one.
    /// Starting a running server does nothing.
    ///
    /// # Errors
    /// The listen error, e.g. `AddrInUse` if something else took the address.
    pub async fn start(&self) -> io::Result<()> {
        let mut life = self.life.lock().await;
        if life.serving.is_none() {
            let listener = self.stack.listen(self.addr.port()).await?;
            life.serving = Some(Generation::start(listener, self.shared.clone()));
        }
        if life.blackholed {
            self.stack.net().set_blackhole(self.addr.ip(), false);
            life.blackholed = false;
        }
        Ok(())
    }

    /// Stops every task (connections are closed with a FIN) and lifts a
    /// blackhole this server set. Every task the server spawned is gone when
    /// this returns.
    ///
    /// # Panics
    /// Re-raises the first panic of any of the server's tasks.
    pub async fn shutdown(mut self) {
        let life = self.life.get_mut();
        if let Some(serving) = life.serving.take() {
            serving.stop(Command::Close, &self.shared).await;
        }
        if life.blackholed {
            self.stack.net().set_blackhole(self.addr.ip(), false);
            life.blackholed = false;
        }
        if let Some(panic) = self.shared.take_panic() {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for UpstreamHandle {
    fn drop(&mut self) {
        let life = self.life.get_mut();
        if let Some(serving) = life.serving.take() {
            // Aborting the accept loop drops its JoinSet, which aborts the
            // connections.
            serving.task.abort();
        }
        if life.blackholed {
            self.stack.net().set_blackhole(self.addr.ip(), false);
        }
    }
}
