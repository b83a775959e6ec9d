//! The real backend: kernel sockets on 127.0.0.0/8.
//!
//! Every scenario address (10.0.0.5, 52.1.1.10...) is mapped onto its own
//! loopback address (127.1.0.1, 127.1.0.2...), every listener binds port 0 and
//! is registered under its scenario address, and a connect looks the scenario
//! address up. A destination that is neither registered nor on loopback is
//! refused with [`NetError::NotLoopback`] before any packet is sent: real mode
//! cannot reach another machine.
//!
//! Capture uses the PROXY protocol v2 (crate `ppp`): a captured connect goes to
//! the sidecar's capture listener and first writes a header carrying the
//! original destination, which the listener reads before handing the stream
//! over, per connection and off the accept loop (module `capture`, which also
//! keeps the fallback of [`crate::Net::set_capture_fallback`] for clients
//! that send no header).
//!
//! Drops: a black-holed address makes connects wait for their timeout; on an
//! established flow, reads stall while it lasts and writes go into the
//! kernel unread, so they arrive when it ends, as after a retransmission
//! (module `end`). The kernel's timers cannot see a drop kept in the
//! process, so the backend runs them itself, on real time, with the
//! settings of [`RealConfig`]: data held in a black hole makes its writer
//! fail with `ETIMEDOUT` after the retransmission give-up (Linux
//! `tcp_retries2`, 924.6 s), and a stream with keepalive on gets emulated
//! probes (module `keepalive`) that cross the in-process path, so a black
//! hole or a middlebox's drop tears it down with `ETIMEDOUT` and an idle
//! timer sees them; the kernel's own probes run too.
//!
//! Idle-timer middleboxes ([`crate::middlebox`], module `idle`) are kept
//! like the firewalls below: one shared state per connection, a verdict per
//! packet (write, shutdown, data-or-EOF-or-RST read, keepalive probe); a
//! box's RST makes the end that sent the packet fail with `ECONNRESET`, the
//! other end is not told, and a FIN or RST the peer's kernel sends into a
//! forgotten flow is eaten where the reader meets it.
//!
//! DNS-learning firewalls ([`crate::firewall`], module `fw`): a crossing
//! connect to an unlearned address is refused at once (`OnUnknown::Reset`)
//! or waits on real time through Linux's SYN retransmissions (1 s, 3 s,
//! 7 s..., each checked again) up to its timeout (`OnUnknown::Drop`). An
//! admitted connection's firewall state is shared by its two ends (keyed by
//! the scenario ends `(client, server)` from the connect to the accept);
//! every write, shutdown and data-or-EOF read of either end asks it for a
//! verdict. A reset makes both ends fail with `ECONNRESET` from then on
//! (a parked reader is woken through the world's `faults` notification;
//! no RST crosses the wire, but an end that has seen the reset closes its
//! socket with one, SO_LINGER 0); a black hole
//! behaves as a flow black hole above. Snooping firewalls
//! learn from DNS answers as [`RealUdp`]'s `send_to` sends them. Without a
//! firewall or idle timer installed a stream pays only `Option` checks and
//! a black-hole lookup per operation. (A connect whose
//! connection is never accepted leaves its small state registered until the
//! same ends connect again.)

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use crate::middlebox::Verdict;
use crate::stream::{NetListener, NetStream, NetUdp};
use crate::{Bind, Keepalive, NetError, firewall};

mod capture;
mod config;
mod end;
mod fw;
mod idle;
mod keepalive;
mod loopback;
mod ports;

use capture::Origin;
pub use config::RealConfig;
use end::End;
use fw::{FwLink, reset_error};
use idle::IdleLink;

/// How long a capture listener waits for a connection's PROXY header.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Linux gives up an unanswered SYN after `tcp_syn_retries` (6): 127 s.
const SYN_GIVE_UP: Duration = Duration::from_secs(127);
const PROXY_V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

pub(crate) struct World {
    config: RealConfig,
    // Short critical sections only; never held across an await.
    state: Mutex<State>,
    /// Notified whenever a drop starts or ends, so stalled readers re-check.
    faults: Arc<Notify>,
    /// Whether any address or flow is black-holed: while none is, the
    /// per-operation drop checks of every stream skip the state lock.
    any_drop: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Scenario IP -> loopback IP.
    ips: BTreeMap<IpAddr, Ipv4Addr>,
    /// Loopback IP -> scenario IP.
    ips_rev: BTreeMap<Ipv4Addr, IpAddr>,
    next_ip: u32,
    tcp: BTreeMap<SocketAddr, SocketAddr>,
    /// Listeners on a host's own 127.0.0.1, by scenario `host:port`
    /// ([`Bind::Loopback`]) -> the kernel address.
    loopback_tcp: BTreeMap<SocketAddr, SocketAddr>,
    /// Listeners of `tcp` bound to the host's address only ([`Bind::Host`]).
    host_only: BTreeSet<SocketAddr>,
    udp: BTreeMap<SocketAddr, SocketAddr>,
    blackholed: BTreeSet<IpAddr>,
    /// Black-holed flows (scenario ends in address order).
    flows: BTreeSet<(SocketAddr, SocketAddr)>,
    /// DNS-learning firewalls, in the order they were added.
    firewalls: Vec<Arc<firewall::Core>>,
    /// Firewall state of connects not yet accepted, by `(client, server)`.
    fw_pending: BTreeMap<(SocketAddr, SocketAddr), Arc<FwLink>>,
    /// Idle-timer middleboxes, in the order they were added.
    idle_boxes: Vec<Arc<crate::sim::idle::IdleBox>>,
    /// Idle-timer state of connects not yet accepted, by `(client, server)`.
    idle_pending: BTreeMap<(SocketAddr, SocketAddr), Arc<IdleLink>>,
    /// Capture listener (scenario address) -> the original destination of
    /// its connections that come without a PROXY header.
    capture_fallback: BTreeMap<SocketAddr, SocketAddr>,
}

impl World {
    pub(crate) fn new(config: RealConfig) -> Arc<World> {
        Arc::new(World {
            config,
            state: Mutex::new(State::default()),
            faults: Arc::new(Notify::new()),
            any_drop: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loopback address serving scenario address `ip`.
    fn loopback_for(&self, ip: IpAddr) -> Ipv4Addr {
        if let IpAddr::V4(v4) = ip
            && v4.is_loopback()
        {
            return v4;
        }
        let mut st = self.lock();
        if let Some(l) = st.ips.get(&ip) {
            return *l;
        }
        st.next_ip += 1;
        // 127.1.0.1 upwards: clear of 127.0.0.1 and of the loopback addresses
        // people use by hand.
        let n = 0x7f01_0000 + st.next_ip;
        let l = Ipv4Addr::from(n);
        st.ips.insert(ip, l);
        st.ips_rev.insert(l, ip);
        l
    }

    pub(crate) fn register_host(&self, ip: IpAddr) {
        let _ = self.loopback_for(ip);
    }

    fn scenario_addr(&self, real: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.scenario_ip(real.ip()), real.port())
    }

    fn scenario_ip(&self, real: IpAddr) -> IpAddr {
        match real {
            IpAddr::V4(v4) => self.lock().ips_rev.get(&v4).copied().unwrap_or(real),
            IpAddr::V6(_) => real,
        }
    }

    pub(crate) fn set_blackhole(&self, ip: IpAddr, on: bool) {
        {
            let mut st = self.lock();
            if on {
                st.blackholed.insert(ip);
            } else {
                st.blackholed.remove(&ip);
            }
            self.note_drops(&st);
        }
        self.faults.notify_waiters();
    }

    pub(crate) fn set_capture_fallback(&self, listener: SocketAddr, dst: Option<SocketAddr>) {
        let mut st = self.lock();
        match dst {
            Some(d) => st.capture_fallback.insert(listener, d),
            None => st.capture_fallback.remove(&listener),
        };
    }

    fn capture_fallback(&self, listener: SocketAddr) -> Option<SocketAddr> {
        self.lock().capture_fallback.get(&listener).copied()
    }

    pub(crate) fn is_blackholed(&self, ip: IpAddr) -> bool {
        self.lock().blackholed.contains(&ip)
    }

    pub(crate) fn set_flow_blackhole(&self, a: SocketAddr, b: SocketAddr, on: bool) {
        {
            let mut st = self.lock();
            let key = if a <= b { (a, b) } else { (b, a) };
            if on {
                st.flows.insert(key);
            } else {
                st.flows.remove(&key);
            }
            self.note_drops(&st);
        }
        self.faults.notify_waiters();
    }

    /// Called with the state locked after a drop changed.
    fn note_drops(&self, st: &State) {
        let any = !st.blackholed.is_empty() || !st.flows.is_empty();
        self.any_drop.store(any, Ordering::Release);
    }

    fn flow_dropped(&self, a: SocketAddr, b: SocketAddr) -> bool {
        if !self.any_drop.load(Ordering::Acquire) {
            return false;
        }
        let key = if a <= b { (a, b) } else { (b, a) };
        self.path_dropped(a.ip(), b.ip()) || self.lock().flows.contains(&key)
    }

    fn path_dropped(&self, a: IpAddr, b: IpAddr) -> bool {
        if !self.any_drop.load(Ordering::Acquire) {
            return false;
        }
        let st = self.lock();
        st.blackholed.contains(&a) || st.blackholed.contains(&b)
    }

    pub(crate) fn lookup_tcp(&self, scenario: SocketAddr) -> Option<SocketAddr> {
        self.lock().tcp.get(&scenario).copied()
    }

    pub(crate) fn lookup_udp(&self, scenario: SocketAddr) -> Option<SocketAddr> {
        self.lock().udp.get(&scenario).copied()
    }

    /// Where a connect to scenario address `target` really goes.
    fn resolve_tcp(&self, target: SocketAddr) -> io::Result<SocketAddr> {
        let st = self.lock();
        if let Some(real) = st.tcp.get(&target) {
            return Ok(*real);
        }
        if st.ips.contains_key(&target.ip()) {
            // A scenario host with nothing listening on that port.
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("connection to {target} refused"),
            ));
        }
        if target.ip().is_loopback() {
            return Ok(target);
        }
        Err(NetError::NotLoopback { addr: target }.into())
    }

    pub(crate) async fn connect(
        self: &Arc<Self>,
        from: IpAddr,
        target: SocketAddr,
        original_dst: Option<SocketAddr>,
        timeout: Duration,
    ) -> io::Result<NetStream> {
        if self.path_dropped(from, target.ip()) {
            // A silent drop: no RST, no answer, whether or not anything listens.
            crate::clock::sleep(timeout.min(SYN_GIVE_UP)).await;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {target} timed out"),
            ));
        }
        let deadline = crate::clock::Instant::now() + timeout.min(SYN_GIVE_UP);
        self.pass_firewalls(from, target, deadline).await?;
        let real_target = self.resolve_tcp(target)?;
        // The firewall and idle-timer state is registered for the accepting
        // end once the port is bound, before the handshake.
        let link = |port| SocketAddr::new(from, port);
        let (mut tcp, port, (fw, idle)) = self
            .dial(
                self.loopback_for(from),
                real_target,
                target,
                deadline,
                |port| {
                    let local = link(port);
                    (
                        self.open_fw_link(local, target),
                        self.open_idle_link(local, target),
                    )
                },
                |port, retry| {
                    let _ = self.take_fw_link(link(port), target);
                    let idle = self.take_idle_link(link(port), target);
                    if let Some(l) = idle.filter(|_| retry) {
                        l.untrack();
                    }
                },
            )
            .await?;
        let local = link(port);
        if let Some(dst) = original_dst {
            tcp.write_all(&proxy_v2_header(local, dst)?).await?;
        }
        Ok(NetStream::Real(Box::new(RealStream {
            tcp,
            world: self.clone(),
            faults: None,
            local,
            peer: target,
            original_dst: None,
            fw,
            end: End::new(0, idle),
        })))
    }

    pub(crate) async fn listen(
        self: &Arc<Self>,
        addr: SocketAddr,
        proxy: bool,
    ) -> io::Result<NetListener> {
        let ip = self.loopback_for(addr.ip());
        let listener = bind_listener(SocketAddr::new(IpAddr::V4(ip), 0))?;
        let real = listener.local_addr()?;
        let scen = if addr.port() == 0 {
            SocketAddr::new(addr.ip(), real.port())
        } else {
            addr
        };
        {
            let mut st = self.lock();
            if st.tcp.contains_key(&scen) {
                return Err(NetError::AddrInUse { addr: scen }.into());
            }
            st.tcp.insert(scen, real);
        }
        Ok(NetListener::Real(RealListener {
            world: self.clone(),
            listener,
            addr: scen,
            proxy,
            bind: Bind::Any,
            handshakes: capture::Handshakes::default(),
        }))
    }

    pub(crate) async fn bind_udp(self: &Arc<Self>, addr: SocketAddr) -> io::Result<NetUdp> {
        let ip = self.loopback_for(addr.ip());
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip), 0)).await?;
        let real = socket.local_addr()?;
        let scen = if addr.port() == 0 {
            SocketAddr::new(addr.ip(), real.port())
        } else {
            addr
        };
        {
            let mut st = self.lock();
            if st.udp.contains_key(&scen) {
                return Err(NetError::AddrInUse { addr: scen }.into());
            }
            st.udp.insert(scen, real);
        }
        Ok(NetUdp::Real(RealUdp {
            world: self.clone(),
            socket,
            addr: scen,
        }))
    }
}

/// A kernel listener with Linux's largest default accept queue
/// (`net.core.somaxconn`, 4096 since Linux 5.4): a queue that overflows
/// drops SYNs, and the kernel's 1 s SYN retransmission is not scaled with
/// `--time-scale`, so a burst of connects must not meet a short queue.
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The kernel takes keepalive times in whole seconds, at least 1.
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().max(1))
}

fn proxy_v2_header(src: SocketAddr, dst: SocketAddr) -> io::Result<Vec<u8>> {
    use ppp::v2::{Builder, Command, Protocol, Version};
    let (src, dst) = match (src, dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            (src, dst)
        }
        // Mixed families: carry both as IPv6 (v4-mapped).
        _ => (to_v6(src), to_v6(dst)),
    };
    Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, (src, dst)).build()
}

fn to_v6(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

/// Reads one PROXY v2 header; returns (source, original destination).
async fn read_proxy_v2(tcp: &mut TcpStream) -> io::Result<(SocketAddr, SocketAddr)> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad PROXY v2 header: {why}"),
        )
    };
    let mut head = [0u8; 16];
    tcp.read_exact(&mut head).await?;
    if head[..12] != PROXY_V2_SIGNATURE || head[12] >> 4 != 2 {
        return Err(bad("signature or version"));
    }
    let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
    let mut buf = head.to_vec();
    buf.resize(16 + len, 0);
    tcp.read_exact(&mut buf[16..]).await?;
    let header = ppp::v2::Header::try_from(buf.as_slice()).map_err(|e| bad(&e.to_string()))?;
    match header.addresses {
        ppp::v2::Addresses::IPv4(a) => Ok((
            SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V4(a.destination_address), a.destination_port),
        )),
        ppp::v2::Addresses::IPv6(a) => Ok((
            SocketAddr::new(unmap(a.source_address.into()), a.source_port),
            SocketAddr::new(unmap(a.destination_address.into()), a.destination_port),
        )),
        _ => Err(bad("not an IP address block")),
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A kernel TCP connection with scenario addresses.
pub struct RealStream {
    tcp: TcpStream,
    world: Arc<World>,
    /// Woken when a drop starts or ends.
    faults: Option<Pin<Box<OwnedNotified>>>,
    local: SocketAddr,
    peer: SocketAddr,
    original_dst: Option<SocketAddr>,
    /// The firewalls' state, shared with the other end, when the flow
    /// crosses a firewall.
    fw: Option<Arc<FwLink>>,
    /// The idle timers, the emulated kernel timers and what they decided.
    end: End,
}

impl std::fmt::Debug for RealStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

impl RealStream {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    pub(crate) fn original_dst(&self) -> Option<SocketAddr> {
        self.original_dst
    }

    pub(crate) fn reset(self) {
        // SO_LINGER 0 then close: the kernel sends a RST.
        let _ = self.tcp.set_zero_linger();
        drop(self.tcp);
    }

    /// The kernel's keepalive (whole seconds), and the emulation that
    /// sees the in-process path (see `keepalive`).
    pub(crate) fn set_keepalive(&mut self, settings: Option<Keepalive>) -> io::Result<()> {
        let sock = socket2::SockRef::from(&self.tcp);
        match settings {
            None => sock.set_keepalive(false)?,
            Some(k) => {
                let ka = socket2::TcpKeepalive::new()
                    .with_time(whole_seconds(k.time))
                    .with_interval(whole_seconds(k.interval))
                    .with_retries(k.probes);
                sock.set_tcp_keepalive(&ka)?;
            }
        }
        self.emulate_keepalive(settings);
        Ok(())
    }

    /// The settings as given (the emulation's), else the kernel's.
    pub(crate) fn keepalive(&self) -> io::Result<Option<Keepalive>> {
        if let Some(k) = self.end.keepalive() {
            return Ok(Some(k));
        }
        let sock = socket2::SockRef::from(&self.tcp);
        if !sock.keepalive()? {
            return Ok(None);
        }
        Ok(Some(Keepalive {
            time: sock.tcp_keepalive_time()?,
            interval: sock.tcp_keepalive_interval()?,
            probes: sock.tcp_keepalive_retries()?,
        }))
    }

    fn dropped(&self) -> bool {
        self.fw.as_ref().is_some_and(|f| f.dropped())
            || self.end.idle.as_ref().is_some_and(|l| l.dropped())
            || self.world.flow_dropped(self.local, self.peer)
    }

    /// Whether a firewall reset the flow; the first time this end sees it,
    /// its socket is set to close with a RST.
    fn fw_reset(&self) -> bool {
        let reset = self.fw.as_ref().is_some_and(|f| f.is_reset());
        if reset {
            let _ = self.tcp.set_zero_linger();
        }
        reset
    }

    /// Ready when the world's faults change (a drop starts or ends, a
    /// firewall cuts a flow); the watch is re-armed after it fires.
    fn poll_faults(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let watch = self
            .faults
            .get_or_insert_with(|| Box::pin(self.world.faults.clone().notified_owned()));
        if watch.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.faults = None;
        Poll::Ready(())
    }
}

impl AsyncRead for RealStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        }
        let poll = this.poll_read_path(cx, buf);
        if poll.is_pending() {
            this.end.park(cx);
        }
        poll
    }
}

impl AsyncWrite for RealStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.known_error() {
            return Poll::Ready(Err(e));
        }
        if this.gave_up(None) {
            return Poll::Ready(Err(end::timed_out()));
        }
        if buf.is_empty() {
            return Pin::new(&mut this.tcp).poll_write(cx, buf);
        }
        // Answered by a box's RST (seen by the next operation): accepted by
        // the kernel but never delivered.
        if matches!(this.send_verdict(), Verdict::Reset | Verdict::ResetBoth) {
            return Poll::Ready(Ok(buf.len()));
        }
        // Into a black hole the data waits in the kernel, unread.
        let dropped = this.dropped();
        let n = std::task::ready!(Pin::new(&mut this.tcp).poll_write(cx, buf))?;
        this.wrote(dropped);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.has_boxes() {
            if let Some(e) = this.known_error() {
                return Poll::Ready(Err(e));
            }
            // The FIN is a packet too; one a box answers never arrives.
            match this.send_verdict() {
                Verdict::Reset | Verdict::ResetBoth => return Poll::Ready(Ok(())),
                Verdict::Forward => this.sent_fin(),
                Verdict::Drop => {}
            }
        }
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

/// A kernel TCP listener registered under a scenario address.
pub struct RealListener {
    world: Arc<World>,
    listener: TcpListener,
    /// The scenario `host:port`, whatever the bind.
    addr: SocketAddr,
    proxy: bool,
    bind: Bind,
    /// A capture listener's PROXY header reads in flight.
    handshakes: capture::Handshakes,
}

impl std::fmt::Debug for RealListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealListener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl RealListener {
    /// The next connection. On a capture listener, the next one whose
    /// PROXY header has been read (or which the fallback takes as it is):
    /// headers are read per connection, off this loop (module `capture`),
    /// and a connection whose header is bad or late is dropped.
    pub(crate) async fn accept(&self) -> io::Result<(NetStream, SocketAddr)> {
        if !self.proxy {
            let (tcp, real_peer) = self.listener.accept().await?;
            tcp.set_nodelay(true)?;
            let peer = self.world.scenario_addr(real_peer);
            return Ok(self.accepted(tcp, peer, None));
        }
        loop {
            tokio::select! {
                biased;
                started = self.handshakes.next() => match started {
                    Ok((tcp, real_peer, origin)) => {
                        let (peer, dst) = match origin {
                            Origin::Header { src, dst } => (src, dst),
                            Origin::Fallback { dst } => (self.world.scenario_addr(real_peer), dst),
                        };
                        return Ok(self.accepted(tcp, peer, Some(dst)));
                    }
                    Err(e) => tracing::debug!(error = %e, "dropping capture connection"),
                },
                accepted = self.listener.accept() => {
                    let (tcp, real_peer) = accepted?;
                    tcp.set_nodelay(true)?;
                    let fallback = self.world.capture_fallback(self.addr);
                    self.handshakes.start(tcp, real_peer, fallback);
                }
            }
        }
    }

    /// The stream of an accepted connection from (scenario) `peer`.
    fn accepted(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        original_dst: Option<SocketAddr>,
    ) -> (NetStream, SocketAddr) {
        let stream = RealStream {
            tcp,
            world: self.world.clone(),
            faults: None,
            local: self.local_addr(),
            peer,
            original_dst,
            fw: self.world.take_fw_link(peer, self.addr),
            end: End::new(1, self.world.take_idle_link(peer, self.addr)),
        };
        (NetStream::Real(Box::new(stream)), peer)
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        match self.bind {
            Bind::Loopback => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.addr.port()),
            Bind::Any | Bind::Host => self.addr,
        }
    }
}

impl Drop for RealListener {
    fn drop(&mut self) {
        let mut st = self.world.lock();
        match self.bind {
            Bind::Loopback => st.loopback_tcp.remove(&self.addr),
            Bind::Any | Bind::Host => {
                st.host_only.remove(&self.addr);
                st.tcp.remove(&self.addr)
            }
        };
    }
}

/// A kernel UDP socket registered under a scenario address.
pub struct RealUdp {
    world: Arc<World>,
    socket: UdpSocket,
    addr: SocketAddr,
}

impl std::fmt::Debug for RealUdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealUdp").field("addr", &self.addr).finish()
    }
}

impl RealUdp {
    pub(crate) async fn send_to(&self, buf: &[u8], dst: SocketAddr) -> io::Result<usize> {
        if self.world.path_dropped(self.addr.ip(), dst.ip()) {
            return Ok(buf.len());
        }
        let real = {
            let st = self.world.lock();
            match st.udp.get(&dst) {
                Some(r) => Some(*r),
                None if st.ips.contains_key(&dst.ip()) => None, // nobody bound: vanishes
                None if dst.ip().is_loopback() => Some(dst),
                None => return Err(NetError::NotLoopback { addr: dst }.into()),
            }
        };
        // A firewall on the path sees the datagram (a DNS answer teaches it).
        self.world.observe_datagram(self.addr, dst, buf);
        match real {
            Some(r) => self.socket.send_to(buf, r).await,
            None => Ok(buf.len()),
        }
    }

    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let (n, real) = self.socket.recv_from(buf).await?;
            let from = {
                let st = self.world.lock();
                st.udp.iter().find(|(_, r)| **r == real).map(|(s, _)| *s)
            }
            .unwrap_or_else(|| SocketAddr::new(self.world.scenario_ip(real.ip()), real.port()));
            if self.world.path_dropped(from.ip(), self.addr.ip()) {
                continue;
            }
            return Ok((n, from));
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for RealUdp {
    fn drop(&mut self) {
        self.world.lock().udp.remove(&self.addr);
    }
}
