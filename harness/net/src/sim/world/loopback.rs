//! A host's own loopback (`127.0.0.1`), as each pod's network namespace has
//! one: listeners bound to it ([`Bind::Loopback`]) or to every address of
//! the host ([`Bind::Any`], the `0.0.0.0` bind), and connects from the host
//! to `127.0.0.1:port`. Loopback connections cross no middlebox and take no
//! time (both ends are `127.0.0.1`); another host never reaches them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Conn, SimListener, SimStream, World, refused};
use crate::Bind;
use crate::stream::{NetListener, NetStream};

/// `127.0.0.1`.
pub(super) const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl World {
    /// Listens on `addr` (`host:port`) as `bind` says.
    pub(crate) fn listen_bound(
        self: &Arc<Self>,
        addr: SocketAddr,
        bind: Bind,
    ) -> io::Result<NetListener> {
        match bind {
            Bind::Any => self.listen(addr),
            Bind::Host => {
                let l = self.listen(addr)?;
                self.lock().host_only.insert(l.local_addr());
                Ok(l)
            }
            Bind::Loopback => self.listen_loopback(addr),
        }
    }

    fn listen_loopback(self: &Arc<Self>, addr: SocketAddr) -> io::Result<NetListener> {
        let mut st = self.lock();
        let addr = if addr.port() == 0 {
            SocketAddr::new(addr.ip(), Self::ephemeral_port(&mut st, addr.ip()))
        } else {
            addr
        };
        if st.loopback_listeners.contains_key(&addr) {
            let addr = SocketAddr::new(LOCALHOST, addr.port());
            return Err(crate::NetError::AddrInUse { addr }.into());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        st.loopback_listeners.insert(addr, tx);
        Ok(NetListener::Sim(SimListener {
            world: self.clone(),
            addr,
            bind: Bind::Loopback,
            rx: tokio::sync::Mutex::new(rx),
        }))
    }

    /// What a connect from `host` to its own `127.0.0.1:port` reaches: a
    /// listener bound to the host's loopback, else one bound to all of its
    /// addresses (not one bound to the host's address only).
    fn local_listener(&self, host: IpAddr, port: u16) -> Option<mpsc::UnboundedSender<SimStream>> {
        let st = self.lock();
        let key = SocketAddr::new(host, port);
        if let Some(tx) = st.loopback_listeners.get(&key) {
            return Some(tx.clone());
        }
        st.listeners
            .get(&key)
            .filter(|_| !st.host_only.contains(&key))
            .cloned()
    }

    /// A connect from `host` to `127.0.0.1:port`, at once; refused when
    /// nothing of the host listens there (a listener bound to the host's
    /// address only does not count).
    pub(crate) fn connect_local(
        self: &Arc<Self>,
        host: IpAddr,
        port: u16,
    ) -> io::Result<NetStream> {
        let target = SocketAddr::new(LOCALHOST, port);
        let Some(tx) = self.local_listener(host, port) else {
            return Err(refused(target));
        };
        let local = {
            let mut st = self.lock();
            SocketAddr::new(LOCALHOST, Self::ephemeral_port(&mut st, LOCALHOST))
        };
        let conn = Conn::new(self.clone(), local, target);
        let client = SimStream::new(conn.clone(), 0, None);
        let server = SimStream::new(conn, 1, None);
        match tx.send(server) {
            Ok(()) => Ok(NetStream::Sim(client)),
            Err(_) => Err(refused(target)),
        }
    }
}
