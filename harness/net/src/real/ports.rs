//! Source ports of real-mode connections, and the connect itself.
//!
//! Every connection of a scenario host leaves from that host's own loopback
//! address, so the socket is bound before it connects. Left to the kernel
//! (`bind(ip, 0)`), the port is found by a linear walk from a random start
//! over ports in use on that address, TIME_WAIT ones included. A run opening
//! thousands of connections a second (Go's client keeps 2 idle connections
//! per host) fills the ephemeral range with TIME_WAIT sockets, which last
//! 60 s of wall time whatever the time scale, and each bind then costs up to
//! a millisecond of kernel time: the run falls behind its clock.
//!
//! So ports are handed out in turn over the kernel's ephemeral range
//! (`ip_local_port_range`, where servers do not listen), with
//! `SO_REUSEADDR`: a port whose last connection is in TIME_WAIT binds at
//! once, and the connect reuses the TIME_WAIT 4-tuple, which Linux allows on
//! loopback (`tcp_tw_reuse` = 2, its default). A port some socket holds
//! otherwise (one the kernel chose, a live connection to the same
//! destination) is skipped: the bind or the connect says so, and the next
//! port is tried.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::{TcpSocket, TcpStream};

use super::World;

/// Linux's default ephemeral range, when `/proc` does not say.
const DEFAULT_RANGE: (u16, u16) = (32_768, 60_999);

/// The kernel's ephemeral port range, read once.
fn range() -> (u16, u16) {
    static RANGE: OnceLock<(u16, u16)> = OnceLock::new();
    *RANGE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| parse_range(&s))
            .unwrap_or(DEFAULT_RANGE)
    })
}

/// `"32768\t60999\n"` -> `(32768, 60999)`; `None` unless `low <= high`.
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    let (low, high) = (it.next()?.ok()?, it.next()?.ok()?);
    (low <= high).then_some((low, high))
}

/// How many ports a connect tries before it lets the kernel choose.
const TRIES: usize = 64;

/// The next port to hand out, for the whole process: a new world does not
/// start over on the ports its predecessor's TIME_WAIT sockets hold.
static NEXT: AtomicU32 = AtomicU32::new(0);

fn next_port() -> u16 {
    let (low, high) = range();
    let count = u32::from(high - low) + 1;
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % count;
    u16::try_from(u32::from(low) + n).unwrap_or(high)
}

/// What the kernel says when a 4-tuple is taken: at bind (`EADDRINUSE`) or
/// at connect (`EADDRNOTAVAIL`).
fn taken(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
    )
}

impl World {
    /// Connects from loopback address `ip` to the kernel address
    /// `real_target` (scenario address `target`, for errors) by `deadline`.
    /// `bound(port)` runs once the source port is known, before the
    /// handshake (state the accepting end will look up); `undo(port, retry)`
    /// when that attempt fails, `retry` when another port is tried next (the
    /// failed attempt was never a flow). Returns the stream, its source port
    /// and what `bound` gave.
    pub(super) async fn dial<T>(
        &self,
        ip: Ipv4Addr,
        real_target: SocketAddr,
        target: SocketAddr,
        deadline: crate::clock::Instant,
        mut bound: impl FnMut(u16) -> T,
        mut undo: impl FnMut(u16, bool),
    ) -> io::Result<(TcpStream, u16, T)> {
        for attempt in 0..=TRIES {
            let socket = TcpSocket::new_v4()?;
            if attempt < TRIES {
                socket.set_reuseaddr(true)?;
                match socket.bind(SocketAddr::new(IpAddr::V4(ip), next_port())) {
                    Ok(()) => {}
                    Err(e) if taken(&e) => continue,
                    Err(e) => return Err(e),
                }
            } else {
                socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
            }
            let port = socket.local_addr()?.port();
            let state = bound(port);
            match self.handshake(socket, real_target, target, deadline).await {
                Ok(tcp) => return Ok((tcp, port, state)),
                Err(e) => {
                    let retry = taken(&e) && attempt < TRIES;
                    undo(port, retry);
                    if !retry {
                        return Err(e);
                    }
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("no source port left for a connect to {target}"),
        ))
    }

    async fn handshake(
        &self,
        socket: TcpSocket,
        real_target: SocketAddr,
        target: SocketAddr,
        deadline: crate::clock::Instant,
    ) -> io::Result<TcpStream> {
        match crate::clock::timeout_at(deadline, socket.connect(real_target)).await {
            Ok(r) => {
                let tcp = r?;
                tcp.set_nodelay(true)?;
                Ok(tcp)
            }
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {target} timed out"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_handed_out_in_turn_within_the_ephemeral_range() {
        let (low, high) = range();
        let a = next_port();
        let b = next_port();
        assert!((low..=high).contains(&a) && (low..=high).contains(&b));
        // Other tests may take ports in between: b comes after a, modulo
        // the range.
        let span = u32::from(high - low) + 1;
        let step = (u32::from(b) + span - u32::from(a)) % span;
        assert!((1..1000).contains(&step), "{a} then {b}");
    }

    #[test]
    fn the_range_is_read_as_the_kernel_writes_it() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32_768, 60_999)));
        assert_eq!(parse_range("1024 1024"), Some((1_024, 1_024)));
        assert_eq!(parse_range("60999 32768"), None);
        assert_eq!(parse_range("x"), None);
    }
}
