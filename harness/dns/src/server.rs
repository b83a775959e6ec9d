//! The authoritative server: one UDP socket and one TCP listener on the same
//! port of a [`Stack`], answering from a [`ZoneSet`].
//!
//! Lifecycle: [`spawn`] binds both sockets and starts two tasks (the UDP loop
//! and the TCP accept loop). Delayed UDP answers and TCP connections are child
//! tasks of those loops. [`DnsHandle::shutdown`] stops the loops, which stop
//! their children, and returns once every task and socket is gone; dropping
//! the handle aborts them instead. One bad packet or one broken connection
//! never stops a loop.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use meshsim_net::{NetListener, NetStream, NetUdp, Stack};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::ZoneSet;
use crate::answer::{Served, Transport, serve};
use crate::wire::{rcode_name, read_frame, write_frame};

/// A TCP connection with no complete query for this long is closed (BIND's
/// `tcp-idle-timeout` is 30 s).
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server has seen since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Packets received (UDP datagrams and TCP messages), answered or not.
    pub queries: u64,
    /// Answers sent (or scheduled, when delayed) by response code name:
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, `FORMERR`, `NOTIMP`.
    pub by_rcode: BTreeMap<String, u64>,
    /// Packets left unanswered (the `Drop` behaviour, unreadable headers, responses).
    pub dropped: u64,
    /// Of `queries`, how many came over TCP.
    pub tcp_queries: u64,
    /// UDP answers sent with TC=1 because they did not fit.
    pub truncated: u64,
    /// Answers held back by a `Delay` behaviour.
    pub delayed: u64,
}

impl DnsStats {
    /// How many answers carried the response code named `rcode` (`"NOERROR"`...).
    pub fn rcode(&self, rcode: &str) -> u64 {
        self.by_rcode.get(rcode).copied().unwrap_or(0)
    }
}

type SharedStats = Arc<Mutex<DnsStats>>;

fn lock(stats: &SharedStats) -> MutexGuard<'_, DnsStats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running DNS server.
#[derive(Debug)]
pub struct DnsHandle {
    addr: SocketAddr,
    stats: SharedStats,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsHandle {
    /// The address clients send to (UDP and TCP share it).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DnsStats {
        lock(&self.stats).clone()
    }

    /// Stops the server and waits until every task and socket is gone.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for DnsHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts a server for `zones` on UDP and TCP `stack.host():port` (0 picks an
/// ephemeral port, the same for both).
///
/// # Errors
/// The socket error when the UDP port or the TCP port is taken.
pub async fn spawn(zones: ZoneSet, stack: &Stack, port: u16) -> io::Result<DnsHandle> {
    let udp = stack.bind_udp(port).await?;
    let addr = udp.local_addr();
    let listener = stack.listen(addr.port()).await?;
    let stats = SharedStats::default();
    let (stop, stopped) = watch::channel(false);
    let udp_task = tokio::spawn(udp_loop(
        Arc::new(udp),
        zones.clone(),
        stats.clone(),
        stopped.clone(),
    ));
    let tcp_task = tokio::spawn(tcp_loop(listener, zones, stats.clone(), stopped));
    Ok(DnsHandle {
        addr,
        stats,
        stop,
        tasks: vec![udp_task, tcp_task],
    })
}

/// Counts one packet and decides what to do with it.
fn account(zones: &ZoneSet, stats: &SharedStats, packet: &[u8], transport: Transport) -> Served {
    let served = serve(zones, packet, transport);
    let mut s = lock(stats);
    s.queries += 1;
    if transport == Transport::Tcp {
        s.tcp_queries += 1;
    }
    match &served {
        Served::Drop => s.dropped += 1,
        Served::Reply {
            rcode,
            delay,
            truncated,
            ..
        } => {
            *s.by_rcode.entry(rcode_name(*rcode)).or_default() += 1;
            s.truncated += u64::from(*truncated);
            s.delayed += u64::from(!delay.is_zero());
        }
    }
    served
}

async fn udp_loop(
    udp: Arc<NetUdp>,
    zones: ZoneSet,
    stats: SharedStats,
    mut stop: watch::Receiver<bool>,
) {
    let mut delayed = JoinSet::new();
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(_) = delayed.join_next(), if !delayed.is_empty() => {}
            received = udp.recv_from(&mut buf) => {
                let (n, from) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "dns udp receive failed");
                        tokio::task::yield_now().await;
                        continue;
                    }
                };
                let Served::Reply { bytes, delay, .. } = account(&zones, &stats, &buf[..n], Transport::Udp) else {
                    continue;
                };
                if delay.is_zero() {
                    send(&udp, &bytes, from).await;
                } else {
                    let udp = udp.clone();
                    delayed.spawn(async move {
                        meshsim_net::clock::sleep(delay).await;
                        send(&udp, &bytes, from).await;
                    });
                }
            }
        }
    }
    delayed.shutdown().await;
}

async fn send(udp: &NetUdp, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = udp.send_to(bytes, to).await {
        tracing::debug!(error = %e, %to, "dns udp answer not sent");
    }
}

async fn tcp_loop(
    listener: NetListener,
    zones: ZoneSet,
    stats: SharedStats,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_tcp(stream, zones.clone(), stats.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "dns tcp accept failed");
                    tokio::task::yield_now().await;
                }
            }
        }
    }
    conns.shutdown().await;
}

/// Answers length-prefixed queries on one connection, in order, until the
/// client closes it, an I/O error, or the idle timeout.
async fn serve_tcp(mut stream: NetStream, zones: ZoneSet, stats: SharedStats) {
    loop {
        let frame =
            match meshsim_net::clock::timeout(TCP_IDLE_TIMEOUT, read_frame(&mut stream)).await {
                Ok(Ok(Some(frame))) => frame,
                Ok(Ok(None)) | Err(_) => return,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "dns tcp connection failed");
                    return;
                }
            };
        let Served::Reply { bytes, delay, .. } = account(&zones, &stats, &frame, Transport::Tcp)
        else {
            continue;
        };
        if !delay.is_zero() {
            meshsim_net::clock::sleep(delay).await;
        }
        if write_frame(&mut stream, &bytes).await.is_err() {
            return;
        }
    }
}
