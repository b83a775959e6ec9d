//! The socket types components use, the same for both backends.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Keepalive;
use crate::real::{RealListener, RealStream, RealUdp};
use crate::sim::{SimListener, SimStream, SimUdp};

/// A TCP connection.
///
/// Dropping it closes it like `close(2)`: a FIN, or a RST when received data
/// was left unread. [`NetStream::reset`] closes it abortively (RST).
#[derive(Debug)]
pub enum NetStream {
    /// In-memory.
    Sim(SimStream),
    /// Kernel socket.
    Real(Box<RealStream>),
}

impl NetStream {
    /// This end's address (scenario address in both modes).
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            NetStream::Sim(s) => s.local_addr(),
            NetStream::Real(s) => s.local_addr(),
        }
    }

    /// The other end's address.
    pub fn peer_addr(&self) -> SocketAddr {
        match self {
            NetStream::Sim(s) => s.peer_addr(),
            NetStream::Real(s) => s.peer_addr(),
        }
    }

    /// For a connection accepted on a capture port: where the application
    /// meant to connect (iptables `SO_ORIGINAL_DST`).
    pub fn original_dst(&self) -> Option<SocketAddr> {
        match self {
            NetStream::Sim(s) => s.original_dst(),
            NetStream::Real(s) => s.original_dst(),
        }
    }

    /// Switches TCP keepalive on with `settings`, or off with `None`
    /// (Envoy's `upstream_connection_options.tcp_keepalive`). See
    /// [`crate::keepalive`] for what the probes do. In real mode the kernel
    /// probes (time and interval in whole seconds, at least 1 s), and so
    /// does an in-process emulation with the settings as given, whose probes
    /// cross the black holes and middleboxes the kernel cannot see (see
    /// [`crate::real`]); [`NetStream::keepalive`] reads back its settings.
    ///
    /// # Errors
    /// Real mode: the kernel's `setsockopt` error.
    pub fn set_keepalive(&mut self, settings: Option<Keepalive>) -> io::Result<()> {
        match self {
            NetStream::Sim(s) => {
                s.set_keepalive(settings);
                Ok(())
            }
            NetStream::Real(s) => s.set_keepalive(settings),
        }
    }

    /// The keepalive settings in force (`None` when keepalive is off). Real
    /// mode reads them back from the kernel.
    ///
    /// # Errors
    /// Real mode: the kernel's `getsockopt` error.
    pub fn keepalive(&self) -> io::Result<Option<Keepalive>> {
        match self {
            NetStream::Sim(s) => Ok(s.keepalive()),
            NetStream::Real(s) => s.keepalive(),
        }
    }

    /// Closes abortively: the peer's next read or write fails with
    /// `ConnectionReset` (`SO_LINGER 0` then close, in real mode).
    pub fn reset(self) {
        match self {
            NetStream::Sim(s) => s.reset(),
            NetStream::Real(s) => s.reset(),
        }
    }
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Sim(s) => Pin::new(s).poll_read(cx, buf),
            NetStream::Real(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Sim(s) => Pin::new(s).poll_write(cx, buf),
            NetStream::Real(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Sim(s) => Pin::new(s).poll_flush(cx),
            NetStream::Real(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Sim(s) => Pin::new(s).poll_shutdown(cx),
            NetStream::Real(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A TCP listener. Dropping it closes it: later connects are refused and
/// connections not yet accepted are reset.
#[derive(Debug)]
pub enum NetListener {
    /// In-memory.
    Sim(SimListener),
    /// Kernel socket.
    Real(RealListener),
}

impl NetListener {
    /// Waits for the next connection.
    ///
    /// # Errors
    /// Real mode: the kernel's accept error; a capture listener skips
    /// connections whose PROXY header is bad rather than failing.
    pub async fn accept(&self) -> io::Result<(NetStream, SocketAddr)> {
        match self {
            NetListener::Sim(l) => l.accept().await,
            NetListener::Real(l) => l.accept().await,
        }
    }

    /// The bound (scenario) address.
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            NetListener::Sim(l) => l.local_addr(),
            NetListener::Real(l) => l.local_addr(),
        }
    }
}

/// A UDP socket.
#[derive(Debug)]
pub enum NetUdp {
    /// In-memory.
    Sim(SimUdp),
    /// Kernel socket.
    Real(RealUdp),
}

impl NetUdp {
    /// Sends one datagram. Datagrams to nobody, or across a drop, vanish.
    ///
    /// # Errors
    /// Real mode: `PermissionDenied` for a destination off loopback.
    pub async fn send_to(&self, buf: &[u8], dst: SocketAddr) -> io::Result<usize> {
        match self {
            NetUdp::Sim(u) => Ok(u.send_to(buf, dst)),
            NetUdp::Real(u) => u.send_to(buf, dst).await,
        }
    }

    /// Receives one datagram (truncated to `buf`).
    ///
    /// # Errors
    /// Real mode: the kernel's receive error.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self {
            NetUdp::Sim(u) => u.recv_from(buf).await,
            NetUdp::Real(u) => u.recv_from(buf).await,
        }
    }

    /// The bound (scenario) address.
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            NetUdp::Sim(u) => u.local_addr(),
            NetUdp::Real(u) => u.local_addr(),
        }
    }
}
