//! A host's own loopback (`127.0.0.1`) in real mode: a listener bound to it
//! ([`Bind::Loopback`]) is a kernel listener registered under the host and
//! port in a table of its own, so only a connect from that host to
//! `127.0.0.1:port` finds it; a listener bound to the host's address only
//! ([`Bind::Host`]) is left out of such connects.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::{RealListener, RealStream, World};
use crate::stream::{NetListener, NetStream};
use crate::{Bind, NetError};

impl World {
    /// Listens on `addr` (`host:port`) as `bind` says.
    pub(crate) async fn listen_bound(
        self: &Arc<Self>,
        addr: SocketAddr,
        bind: Bind,
    ) -> io::Result<NetListener> {
        match bind {
            Bind::Any => self.listen(addr, false).await,
            Bind::Host => {
                let l = self.listen(addr, false).await?;
                self.lock().host_only.insert(l.local_addr());
                Ok(l)
            }
            Bind::Loopback => self.listen_loopback(addr).await,
        }
    }

    async fn listen_loopback(self: &Arc<Self>, addr: SocketAddr) -> io::Result<NetListener> {
        let ip = self.loopback_for(addr.ip());
        let listener = super::bind_listener(SocketAddr::new(IpAddr::V4(ip), 0))?;
        let real = listener.local_addr()?;
        let port = if addr.port() == 0 {
            real.port()
        } else {
            addr.port()
        };
        let key = SocketAddr::new(addr.ip(), port);
        {
            let mut st = self.lock();
            if st.loopback_tcp.contains_key(&key) {
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
                return Err(NetError::AddrInUse { addr }.into());
            }
            st.loopback_tcp.insert(key, real);
        }
        Ok(NetListener::Real(RealListener {
            world: self.clone(),
            listener,
            addr: key,
            proxy: false,
            bind: Bind::Loopback,
            handshakes: super::capture::Handshakes::default(),
        }))
    }

    /// The kernel address a connect from `host` to `127.0.0.1:port` reaches:
    /// the host's loopback listener, else its listener on all addresses.
    fn local_target(&self, host: IpAddr, port: u16) -> Option<SocketAddr> {
        let st = self.lock();
        let key = SocketAddr::new(host, port);
        st.loopback_tcp
            .get(&key)
            .or_else(|| st.tcp.get(&key).filter(|_| !st.host_only.contains(&key)))
            .copied()
    }

    /// A connect from `host` to `127.0.0.1:port`: refused when nothing of
    /// the host listens there (the kernel's own 127.0.0.1 is never reached).
    pub(crate) async fn connect_local(
        self: &Arc<Self>,
        host: IpAddr,
        port: u16,
        timeout: Duration,
    ) -> io::Result<NetStream> {
        let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let Some(real) = self.local_target(host, port) else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("connection to {target} refused"),
            ));
        };
        self.dial_local(host, real, target, timeout).await
    }

    async fn dial_local(
        self: &Arc<Self>,
        host: IpAddr,
        real: SocketAddr,
        target: SocketAddr,
        timeout: Duration,
    ) -> io::Result<NetStream> {
        let deadline = crate::clock::Instant::now() + timeout;
        let ip = self.loopback_for(host);
        let (tcp, port, ()) = self
            .dial(ip, real, target, deadline, |_| (), |_, _| {})
            .await?;
        Ok(NetStream::Real(Box::new(RealStream {
            tcp,
            world: self.clone(),
            faults: None,
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            peer: target,
            original_dst: None,
            fw: None,
            end: super::End::new(0, None),
        })))
    }
}
