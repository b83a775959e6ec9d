//! How real-mode (loopback) connections meet the DNS-learning firewalls
//! (see [`crate::firewall`]).
//!
//! Both ends of a loopback connection live in this process, so the
//! firewall's state for a flow ([`FwLink`]) is one object the two
//! [`RealStream`](super::RealStream)s share: the connect registers it under
//! the flow's scenario ends `(client, server)` before the kernel handshake,
//! and the accept takes it from there (the server's peer address and the
//! client's local address are the same scenario address).
//!
//! Every write, shutdown and successful read of either end is a packet of
//! the flow and asks its verdict: a cut (reset) is kept in the link, and
//! the other end, possibly parked in a read, is woken through the world's
//! `faults` notification.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Instant;

use super::World;
use crate::firewall::{self, DnsFirewall, FirewallHandle, FwFlow, OnUnknown};
use crate::middlebox::Verdict;

/// The firewalls' state for one admitted loopback connection, shared by its
/// two ends.
pub(crate) struct FwLink {
    /// One per crossing firewall, in the order they were added.
    flows: Vec<FwFlow>,
    /// A firewall reset the flow: both ends fail with `ECONNRESET`.
    reset: AtomicBool,
}

impl FwLink {
    /// Whether a firewall has reset the flow.
    pub(super) fn is_reset(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }

    /// Whether a firewall black-holes the flow.
    pub(super) fn dropped(&self) -> bool {
        self.flows.iter().any(|f| f.dropped_since().is_some())
    }

    /// What the firewalls do with a packet of the flow now: the first that
    /// does not forward it decides. A reset is recorded (both ends see it
    /// from then on) and returned as [`Verdict::Reset`]; the world's parked
    /// readers are woken when the flow is cut.
    pub(super) fn packet(&self, world: &World) -> Verdict {
        if self.is_reset() {
            return Verdict::Reset;
        }
        let was_dropped = self.dropped();
        let verdict = self
            .flows
            .iter()
            .map(|f| f.packet(false))
            .find(|v| *v != Verdict::Forward)
            .unwrap_or(Verdict::Forward);
        match verdict {
            Verdict::Forward => return Verdict::Forward,
            Verdict::Drop if was_dropped => return Verdict::Drop,
            Verdict::Drop => {}
            Verdict::Reset | Verdict::ResetBoth => self.reset.store(true, Ordering::Release),
        }
        world.faults.notify_waiters();
        match verdict {
            Verdict::Drop => Verdict::Drop,
            _ => Verdict::Reset,
        }
    }
}

/// The error both ends of a flow a firewall reset meet.
pub(super) fn reset_error(peer: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("connection to {peer} reset by a firewall"),
    )
}

impl World {
    pub(crate) fn add_dns_firewall(&self, cfg: DnsFirewall) -> FirewallHandle {
        let core = firewall::Core::new(cfg);
        self.lock().firewalls.push(core.clone());
        FirewallHandle { core }
    }

    fn firewalls(&self) -> Vec<Arc<firewall::Core>> {
        self.lock().firewalls.clone()
    }

    /// A new connection from `from` to `target` meets the firewalls: `Ok`
    /// when admitted (at once, or by a SYN retransmitted before
    /// `deadline`); `ConnectionRefused` from a resetting firewall;
    /// `TimedOut`, at `deadline`, behind a dropping one.
    pub(super) async fn pass_firewalls(
        &self,
        from: IpAddr,
        target: SocketAddr,
        deadline: Instant,
    ) -> io::Result<()> {
        let fws = self.firewalls();
        if fws.is_empty() {
            return Ok(());
        }
        match firewall::syn_verdict(&fws, from, target) {
            None => Ok(()),
            Some(OnUnknown::Reset) => Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("connection to {target} refused (reset by a firewall)"),
            )),
            Some(OnUnknown::Drop) => {
                if firewall::syn_retransmitted(|| self.firewalls(), from, target, deadline).await {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connect to {target} timed out (a firewall drops it)"),
                    ))
                }
            }
        }
    }

    /// The firewalls' state for a connection from `client` to `server`
    /// about to be opened, registered for the accepting end; `None` when no
    /// firewall is crossed.
    pub(super) fn open_fw_link(
        &self,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Option<Arc<FwLink>> {
        let mut st = self.lock();
        let flows: Vec<FwFlow> = st
            .firewalls
            .iter()
            .filter(|f| f.crosses(client.ip(), server.ip()))
            .map(|f| f.flow(client, server))
            .collect();
        if flows.is_empty() {
            return None;
        }
        let link = Arc::new(FwLink {
            flows,
            reset: AtomicBool::new(false),
        });
        st.fw_pending.insert((client, server), link.clone());
        Some(link)
    }

    /// The accepting end takes the state the connect registered (or the
    /// connect, when it failed, forgets it).
    pub(super) fn take_fw_link(
        &self,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Option<Arc<FwLink>> {
        let mut st = self.lock();
        if st.fw_pending.is_empty() {
            return None;
        }
        st.fw_pending.remove(&(client, server))
    }

    /// A datagram from `from` to `to` passes: snooping firewalls learn
    /// from DNS answers.
    pub(super) fn observe_datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let fws = {
            let st = self.lock();
            if st.firewalls.is_empty() {
                return;
            }
            st.firewalls.clone()
        };
        for fw in fws {
            fw.observe_datagram(from, to, data);
        }
    }
}
