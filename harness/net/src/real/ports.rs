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
//! So ports are handed out in turn from a range below the kernel's ephemeral
//! one, with `SO_REUSEADDR`: a port whose last connection is in TIME_WAIT
//! binds at once, and the connect reuses the TIME_WAIT 4-tuple, which Linux
//! allows on loopback (`tcp_tw_reuse` = 2, its default). A port some socket
//! holds otherwise (a listener, a live connection to the same destination)
//! is skipped: the bind or the connect says so, and the next port is tried.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::{TcpSocket, TcpStream};

use super::World;

/// The ports handed out: below Linux's default ephemeral range
/// (32768-60999), so the kernel's own choices never meet them.
const FIRST: u32 = 10_000;
const COUNT: u32 = 32_768 - FIRST;

/// How many ports a connect tries before it lets the kernel choose.
const TRIES: usize = 64;

/// The next port to hand out, for the whole process: a new world does not
/// start over on the ports its predecessor's TIME_WAIT sockets hold.
static NEXT: AtomicU32 = AtomicU32::new(0);

fn next_port() -> u16 {
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % COUNT;
    u16::try_from(FIRST + n).unwrap_or(u16::MAX)
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
    /// handshake (state the accepting end will look up); `undo(port)` when
    /// that attempt fails. Returns the stream, its source port and what
    /// `bound` gave.
    pub(super) async fn dial<T>(
        &self,
        ip: Ipv4Addr,
        real_target: SocketAddr,
        target: SocketAddr,
        deadline: crate::clock::Instant,
        mut bound: impl FnMut(u16) -> T,
        mut undo: impl FnMut(u16),
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
                    undo(port);
                    if !(taken(&e) && attempt < TRIES) {
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
    fn ports_are_handed_out_in_turn_below_the_ephemeral_range() {
        let a = next_port();
        let b = next_port();
        assert!((10_000..32_768).contains(&a) && (10_000..32_768).contains(&b));
        // Other tests may take ports in between, never the same one twice
        // in a row.
        assert_ne!(a, b);
    }
}
