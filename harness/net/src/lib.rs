//! The Net seam: every socket in meshsim comes from here.
//!
//! Components (DNS server, fake upstreams, sidecar, application model) never
//! touch `tokio::net`. They get a [`Stack`]: the network as seen by one process
//! on one host, and open streams, listeners and datagram sockets through it.
//! Two backends sit behind the same types:
//!
//! - **sim** ([`Net::sim`]): in-memory TCP streams and UDP datagrams on tokio's
//!   clock, which a paused current-thread runtime turns into virtual time. Refused
//!   connects, silent drops, RST, FIN and half-close, black-holed flows and
//!   per-link latency behave like the kernel's, idle-timer middleboxes
//!   ([`middlebox`]) forget idle flows, and the same seed gives the same run;
//! - **real** ([`Net::real`]): kernel sockets on 127.0.0.0/8. Every scenario
//!   address is mapped onto a loopback address and every listener binds port 0;
//!   a destination that maps to nothing off loopback is refused with a clear
//!   error, so real mode cannot send a packet off the machine. Black holes
//!   and middleboxes are kept in the process around the kernel sockets,
//!   with the kernel timers they hide (keepalive, retransmission give-up)
//!   emulated on real time ([`Net::real_with`], [`RealConfig`]).
//!
//! **Capture** models istio-init's iptables rules: a [`Stack`] made with
//! [`Net::pod_stack`] and a [`Capture`] sends its outbound TCP connects to the
//! sidecar's outbound port (15001) on its own host, keeping the original
//! destination, which the sidecar reads with [`NetStream::original_dst`]. The
//! sidecar's own stack (Istio's uid 1337) is not captured. While nothing listens
//! on 15001 the application gets `connection refused`, as in a pod whose
//! sidecar has not started.
//!
//! **Inbound capture** models the `ISTIO_INBOUND` chain: once
//! [`Net::set_inbound_capture`] is set for a pod's address, a connect from any
//! *other* host to one of that address's ports goes to the pod's inbound
//! capture port (15006) instead, with the original destination kept, except
//! for the excluded ports (Istio: 15008, 15020, 15021, 15090). Connects from
//! the pod's own host are never redirected, so the sidecar reaches its
//! application at `pod-ip:port` directly, as Istio ≥ 1.10 does.
//!
//! **Loopback**: every host has its own `127.0.0.1` ([`Bind`]): a listener
//! bound to it (an app listening on `localhost`) answers only its own host's
//! connects to `127.0.0.1:port`, which are never captured; a listener on
//! every address answers them too, one bound to the host's address does not.
//!
//! Module map:
//! - [`sim`]: the simulated backend (`world`: hosts, listeners, faults;
//!   `pipe`: one in-memory TCP connection);
//! - [`real`]: the loopback backend (address map, PROXY protocol v2 for capture);
//! - [`stream`]: [`NetStream`], [`NetListener`], [`NetUdp`], the types both share.
//!
//! ```
//! use std::time::Duration;
//! use meshsim_net::{Net, SimConfig};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
//! rt.block_on(async {
//!     let net = Net::sim(SimConfig::default());
//!     let server = net.stack("10.0.0.2".parse().unwrap());
//!     let client = net.stack("10.0.0.1".parse().unwrap());
//!     let listener = server.listen(80).await.unwrap();
//!     let mut c = client.connect("10.0.0.2:80".parse().unwrap(), Duration::from_secs(1)).await.unwrap();
//!     let (mut s, _) = listener.accept().await.unwrap();
//!     c.write_all(b"ping").await.unwrap();
//!     let mut buf = [0u8; 4];
//!     s.read_exact(&mut buf).await.unwrap();
//!     assert_eq!(&buf, b"ping");
//!     // Nothing listens on port 81: refused at once.
//!     let err = client.connect("10.0.0.2:81".parse().unwrap(), Duration::from_secs(1)).await.unwrap_err();
//!     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
//! });
//! ```

pub mod clock;
pub mod firewall;
pub mod keepalive;
pub mod middlebox;
pub mod real;
pub mod sim;
pub mod stream;

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::RunMode;

pub use firewall::{
    Cidr, DnsFirewall, FirewallEvent, FirewallEventKind, FirewallHandle, FirewallStats, Learning,
    OnExpired, OnUnknown,
};
pub use keepalive::Keepalive;
pub use middlebox::{
    IdleEventKind, IdleTimer, IdleTimerEvent, IdleTimerHandle, IdleTimerStats, OnExpiry,
};
pub use real::RealConfig;
pub use sim::SimConfig;
pub use stream::{NetListener, NetStream, NetUdp};

/// Istio's outbound capture port.
pub const OUTBOUND_CAPTURE_PORT: u16 = 15001;
/// Istio's inbound capture port.
pub const INBOUND_CAPTURE_PORT: u16 = 15006;
/// How long Linux retransmits a segment nobody acknowledges before the
/// connection fails with `ETIMEDOUT` (`tcp_retries2` = 15 with `TCP_RTO_MIN`
/// 200 ms: the kernel's `ip-sysctl` documentation gives "a hypothetical
/// timeout of 924.6 seconds" as the lower bound of the effective timeout).
/// The default of both backends' give-up.
pub const RETRANSMISSION_GIVE_UP: Duration = Duration::from_millis(924_600);

/// Errors of the Net seam that are not plain socket errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Real mode was asked to reach an address that is neither loopback nor
    /// mapped onto loopback.
    #[error(
        "refusing to connect to {addr}: real mode only reaches 127.0.0.0/8 and the scenario's own hosts"
    )]
    NotLoopback {
        /// The destination that was refused.
        addr: SocketAddr,
    },
    /// The address is already bound.
    #[error("address {addr} is already in use")]
    AddrInUse {
        /// The address.
        addr: SocketAddr,
    },
    /// The backend cannot model this (e.g. a middlebox in real mode).
    #[error("{what} is not supported in {mode} mode")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
        /// The backend's mode (`sim` or `real`).
        mode: &'static str,
    },
    /// An idle-timer middlebox was given a zero idle time.
    #[error("an idle timer needs a non-zero idle time")]
    ZeroIdleTime,
    /// An address range that does not parse (`10.0.0.0/8`).
    #[error("{text:?} is not an address range (e.g. 10.0.0.0/8)")]
    InvalidCidr {
        /// The text.
        text: String,
    },
}

impl From<NetError> for io::Error {
    fn from(e: NetError) -> io::Error {
        let kind = match e {
            NetError::NotLoopback { .. } => io::ErrorKind::PermissionDenied,
            NetError::AddrInUse { .. } => io::ErrorKind::AddrInUse,
            NetError::Unsupported { .. } => io::ErrorKind::Unsupported,
            NetError::ZeroIdleTime | NetError::InvalidCidr { .. } => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// Outbound capture rules of a pod (the part of istio-init's iptables that
/// matters for connects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Where captured connects go on the pod's own host (Istio: 15001).
    pub outbound_port: u16,
    /// Destination ports that bypass the sidecar (`excludeOutboundPorts`).
    pub exclude_ports: Vec<u16>,
    /// Destination ranges that bypass the sidecar
    /// (`traffic.sidecar.istio.io/excludeOutboundIPRanges`: a `RETURN` rule
    /// before the catch-all redirect).
    pub exclude_ranges: Vec<Cidr>,
}

impl Default for Capture {
    fn default() -> Self {
        Capture {
            outbound_port: OUTBOUND_CAPTURE_PORT,
            exclude_ports: Vec::new(),
            exclude_ranges: Vec::new(),
        }
    }
}

impl Capture {
    /// Whether a connect to `dst` from a pod on `host` is redirected. Traffic to
    /// loopback and to the pod's own address is never captured (the
    /// `ISTIO_OUTPUT` chain returns it).
    pub fn captures(&self, host: IpAddr, dst: SocketAddr) -> bool {
        !dst.ip().is_loopback()
            && dst.ip() != host
            && !self.exclude_ports.contains(&dst.port())
            && !self.exclude_ranges.iter().any(|r| r.contains(dst.ip()))
    }
}

/// Which of its host's addresses a listener is bound to. Every host (a pod's
/// network namespace) has its own `127.0.0.1`: a connect from the host to
/// `127.0.0.1:port` reaches the host's listener bound to its loopback, else
/// its listener bound to every address; other hosts never reach loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bind {
    /// `0.0.0.0`: the host's address and its loopback. The default, and what
    /// [`Stack::listen`] binds.
    #[default]
    Any,
    /// The host's (pod's) address only: a connect to `127.0.0.1` misses it.
    Host,
    /// `127.0.0.1` only: reachable from the host itself, never through its
    /// address (a connect to `host:port` is refused).
    Loopback,
}

/// Inbound capture rules of a pod (istio-init's `ISTIO_INBOUND` chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundCapture {
    /// Where captured inbound connects go on the pod's host (Istio: 15006).
    pub inbound_port: u16,
    /// Destination ports that are not redirected (`-d 15090,15021,15020`,
    /// 15008, `excludeInboundPorts`).
    pub exclude_ports: Vec<u16>,
}

impl Default for InboundCapture {
    fn default() -> Self {
        InboundCapture {
            inbound_port: INBOUND_CAPTURE_PORT,
            exclude_ports: vec![15008, 15020, 15021, 15090],
        }
    }
}

impl InboundCapture {
    /// Whether a connect to `port` of the pod is redirected to the inbound
    /// capture port (never the capture port itself).
    pub fn captures(&self, port: u16) -> bool {
        port != self.inbound_port && !self.exclude_ports.contains(&port)
    }
}

#[derive(Clone)]
enum Backend {
    Sim(Arc<sim::World>),
    Real(Arc<real::World>),
}

/// A whole network: the hosts of one scenario run and the faults on their paths.
///
/// Cheap to clone; every clone is the same network.
#[derive(Clone)]
pub struct Net {
    backend: Backend,
    /// Inbound capture rules by pod address.
    inbound: Arc<Mutex<BTreeMap<IpAddr, InboundCapture>>>,
    /// kube-proxy's service rules: VIP:port -> endpoints.
    services: Arc<Mutex<BTreeMap<SocketAddr, ServiceRule>>>,
}

/// One service port's endpoints as kube-proxy programs them, and the next
/// one to pick (round robin, IPVS's default; iptables mode picks at random,
/// the same spread on average).
#[derive(Debug, Default)]
struct ServiceRule {
    endpoints: Vec<SocketAddr>,
    next: usize,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net").field("mode", &self.mode()).finish()
    }
}

impl Net {
    /// A simulated network. Must be used inside a tokio runtime; a paused
    /// current-thread runtime makes it deterministic.
    pub fn sim(config: SimConfig) -> Net {
        Net {
            backend: Backend::Sim(sim::World::new(config)),
            inbound: Arc::default(),
            services: Arc::default(),
        }
    }

    /// A real network on loopback, with [`RealConfig`]'s defaults.
    pub fn real() -> Net {
        Net::real_with(RealConfig::default())
    }

    /// A real network on loopback whose in-process timers (see [`real`])
    /// take `config`.
    pub fn real_with(config: RealConfig) -> Net {
        Net {
            backend: Backend::Real(real::World::new(config)),
            inbound: Arc::default(),
            services: Arc::default(),
        }
    }

    /// Sim or real.
    pub fn mode(&self) -> RunMode {
        match self.backend {
            Backend::Sim(_) => RunMode::Sim,
            Backend::Real(_) => RunMode::Real,
        }
    }

    /// The network as seen by an uncaptured process on `host` (a server, the
    /// DNS server, a sidecar running as uid 1337, a non-mesh client).
    pub fn stack(&self, host: IpAddr) -> Stack {
        self.register_host(host);
        Stack {
            net: self.clone(),
            host,
            capture: None,
        }
    }

    /// The network as seen by an application container of a pod whose outbound
    /// TCP is captured to its sidecar.
    pub fn pod_stack(&self, host: IpAddr, capture: Capture) -> Stack {
        self.register_host(host);
        Stack {
            net: self.clone(),
            host,
            capture: Some(capture),
        }
    }

    /// Makes `host` part of this network (real mode maps it onto loopback), so
    /// a connect to one of its ports where nothing listens is refused rather
    /// than rejected as off-loopback.
    fn register_host(&self, host: IpAddr) {
        if let Backend::Real(w) = &self.backend {
            w.register_host(host);
        }
    }

    /// Installs (`Some`) or removes (`None`) the inbound capture of the pod at
    /// `pod`: connects from other hosts to its ports then reach its inbound
    /// capture port, carrying the original destination.
    pub fn set_inbound_capture(&self, pod: IpAddr, rule: Option<InboundCapture>) {
        let mut map = self.inbound.lock().unwrap_or_else(|e| e.into_inner());
        match rule {
            Some(r) => map.insert(pod, r),
            None => map.remove(&pod),
        };
    }

    /// kube-proxy's rules for the service port `vip`: an unredirected connect
    /// to it (a pod without a sidecar, the sidecar's passthrough, an init
    /// container running as 1337) is sent to one of `endpoints` (the pods'
    /// address and target port), each connection to the next one in turn;
    /// with no endpoint it is refused (kube-proxy's REJECT for a service
    /// without endpoints). An empty list keeps the VIP, so the rule stays;
    /// [`Net::remove_service`] deletes it. A captured connect goes to the
    /// sidecar first, which sees the VIP as its original destination (Istio's
    /// `ISTIO_OUTPUT` chain runs before kube-proxy's).
    pub fn set_service(&self, vip: SocketAddr, endpoints: Vec<SocketAddr>) {
        let mut map = self.services.lock().unwrap_or_else(|e| e.into_inner());
        let rule = map.entry(vip).or_default();
        if rule.endpoints != endpoints {
            rule.endpoints = endpoints;
            rule.next = 0;
        }
    }

    /// Deletes kube-proxy's rules for `vip`.
    pub fn remove_service(&self, vip: SocketAddr) {
        let mut map = self.services.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&vip);
    }

    /// kube-proxy's DNAT: `Some(Some(endpoint))` for a service VIP with
    /// endpoints, `Some(None)` for one without, `None` for any other address.
    fn service_dnat(&self, dst: SocketAddr) -> Option<Option<SocketAddr>> {
        let mut map = self.services.lock().unwrap_or_else(|e| e.into_inner());
        let rule = map.get_mut(&dst)?;
        if rule.endpoints.is_empty() {
            return Some(None);
        }
        let pick = rule.endpoints[rule.next % rule.endpoints.len()];
        rule.next = rule.next.wrapping_add(1);
        Some(Some(pick))
    }

    /// Where a connect from `from` to `dst` really goes, if an inbound rule
    /// redirects it.
    fn inbound_redirect(&self, from: IpAddr, dst: SocketAddr) -> Option<SocketAddr> {
        if from == dst.ip() {
            return None;
        }
        let map = self.inbound.lock().unwrap_or_else(|e| e.into_inner());
        let rule = map.get(&dst.ip()).filter(|r| r.captures(dst.port()))?;
        Some(SocketAddr::new(dst.ip(), rule.inbound_port))
    }

    /// Silently drops every packet to or from `ip` while `on` (a dead host, a
    /// firewall drop): connects time out, established flows stall, writes still
    /// succeed. Turning it off lets stalled flows resume (in sim mode the data
    /// written meanwhile arrives, as after TCP retransmission).
    pub fn set_blackhole(&self, ip: IpAddr, on: bool) {
        match &self.backend {
            Backend::Sim(w) => w.set_blackhole(ip, on),
            Backend::Real(w) => w.set_blackhole(ip, on),
        }
    }

    /// Silently drops every packet of the one TCP connection between `a` and
    /// `b` (its two scenario addresses, in either order) while `on`: a
    /// middlebox that lost the flow's state and drops it, while new
    /// connections between the same hosts pass. Established-flow semantics
    /// are those of [`Net::set_blackhole`].
    pub fn set_flow_blackhole(&self, a: SocketAddr, b: SocketAddr, on: bool) {
        match &self.backend {
            Backend::Sim(w) => w.set_flow_blackhole(a, b, on),
            Backend::Real(w) => w.set_flow_blackhole(a, b, on),
        }
    }

    /// Puts an idle-timer middlebox between `timer.clients` and everything
    /// else (see [`middlebox`]): it forgets a flow idle for `timer.idle` and
    /// answers its next packet with a RST or black-holes it. Only flows
    /// opened after this call cross it.
    ///
    /// Both backends take it. Real mode (see [`real`]) keeps the box in the
    /// process, around the kernel sockets, as it does a firewall: the two
    /// ends of a connection share the flow's state, each write, shutdown,
    /// data-or-EOF read and emulated keepalive probe is a packet, and a
    /// box's RST makes its end fail with `ECONNRESET` (at once rather than
    /// one one-way latency later).
    ///
    /// # Errors
    /// [`NetError::ZeroIdleTime`] for a zero idle time.
    pub fn add_idle_timer(&self, timer: IdleTimer) -> Result<IdleTimerHandle, NetError> {
        if timer.idle.is_zero() {
            return Err(NetError::ZeroIdleTime);
        }
        match &self.backend {
            Backend::Sim(w) => Ok(w.add_idle_timer(timer)),
            Backend::Real(w) => Ok(w.add_idle_timer(timer)),
        }
    }

    /// Puts a DNS-learning firewall on the egress path of `cfg.clients` (see
    /// [`firewall`]): it admits connections only to addresses it learned
    /// from DNS and cuts established flows when they expire. Only
    /// connections opened after this call cross it.
    ///
    /// Both backends take it. Real mode (see [`real`]) checks it in the
    /// process, around the kernel sockets: a cut flow fails with
    /// `ECONNRESET` at both ends without a RST on the wire (the sockets are
    /// set to close with one), a black-holed flow stalls until keepalive or
    /// the retransmission give-up ([`RealConfig`]) ends it, and a dropped
    /// connect waits on real time.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for settings a backend cannot
    /// express.
    pub fn add_dns_firewall(&self, cfg: DnsFirewall) -> Result<FirewallHandle, NetError> {
        match &self.backend {
            Backend::Sim(w) => Ok(w.add_dns_firewall(cfg)),
            Backend::Real(w) => Ok(w.add_dns_firewall(cfg)),
        }
    }

    /// Whether `ip` is black-holed.
    pub fn is_blackholed(&self, ip: IpAddr) -> bool {
        match &self.backend {
            Backend::Sim(w) => w.is_blackholed(ip),
            Backend::Real(w) => w.is_blackholed(ip),
        }
    }

    /// Envoy's `allow_requests_without_proxy_protocol` on the capture
    /// listener at scenario address `listener` (a sidecar's `pod:15001` or
    /// `pod:15006`): with `Some(dst)`, a connection that does not start with
    /// the PROXY protocol v2 signature is accepted as it is (no byte
    /// consumed) as a captured connection whose original destination is
    /// `dst`; connections with a header still carry their own. `None`
    /// removes the setting: such connections are dropped again. Applies to
    /// connections accepted after the call, whether the listener exists yet
    /// or not. It lets a plain client (a load generator) reach a sidecar's
    /// capture port directly.
    ///
    /// Real mode only: in sim mode a captured connect carries its original
    /// destination in-band and there is no header to miss, so the setting
    /// has no effect.
    pub fn set_capture_fallback(&self, listener: SocketAddr, original_dst: Option<SocketAddr>) {
        if let Backend::Real(w) = &self.backend {
            w.set_capture_fallback(listener, original_dst);
        }
    }

    /// One-way latency added to every packet to or from `ip` (sim mode; real
    /// mode ignores it). Added on top of the network's base latency.
    pub fn set_host_latency(&self, ip: IpAddr, one_way: Duration) {
        if let Backend::Sim(w) = &self.backend {
            w.set_host_latency(ip, one_way);
        }
    }

    /// In real mode, the loopback address a scenario address is served on.
    pub fn real_addr(&self, scenario: SocketAddr) -> Option<SocketAddr> {
        match &self.backend {
            Backend::Sim(_) => None,
            Backend::Real(w) => w.lookup_tcp(scenario),
        }
    }

    /// In real mode, the loopback address a scenario UDP socket is bound
    /// on (the DNS server's: `dig @ip -p port` asks it); `None` in sim mode
    /// or when nothing is bound there.
    pub fn real_udp_addr(&self, scenario: SocketAddr) -> Option<SocketAddr> {
        match &self.backend {
            Backend::Sim(_) => None,
            Backend::Real(w) => w.lookup_udp(scenario),
        }
    }
}

/// The network as seen by one process on one host.
#[derive(Clone, Debug)]
pub struct Stack {
    net: Net,
    host: IpAddr,
    capture: Option<Capture>,
}

impl Stack {
    /// The host's address.
    pub fn host(&self) -> IpAddr {
        self.host
    }

    /// The network this stack belongs to.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Opens a TCP connection to `dst`, giving up after `timeout` (the
    /// application's connect timeout; a silent drop waits that long).
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing listens (or, for a captured connect, when
    /// the sidecar has not bound its outbound port; or a service VIP without
    /// endpoints, see [`Net::set_service`]), `TimedOut` across a silent
    /// drop, `PermissionDenied` for a non-loopback destination in real mode.
    pub async fn connect(&self, dst: SocketAddr, timeout: Duration) -> io::Result<NetStream> {
        if let Some(local) = self.connect_local(dst, timeout).await {
            return local;
        }
        let captured = self.capture.as_ref().filter(|c| c.captures(self.host, dst));
        let (target, original_dst) = match captured {
            Some(c) => (SocketAddr::new(self.host, c.outbound_port), Some(dst)),
            None => {
                // kube-proxy rewrites a service VIP before the packet leaves.
                let dst = match self.net.service_dnat(dst) {
                    Some(Some(endpoint)) => endpoint,
                    Some(None) => return Err(io::ErrorKind::ConnectionRefused.into()),
                    None => dst,
                };
                match self.net.inbound_redirect(self.host, dst) {
                    Some(inbound) => (inbound, Some(dst)),
                    None => (dst, None),
                }
            }
        };
        match &self.net.backend {
            Backend::Sim(w) => w.connect(self.host, target, original_dst, timeout).await,
            Backend::Real(w) => w.connect(self.host, target, original_dst, timeout).await,
        }
    }

    /// A connect to the host's own `127.0.0.1:port` (see [`Bind`]): refused
    /// when nothing of the host listens there. `None` for any other
    /// destination, and for a stack whose host is itself a loopback address.
    async fn connect_local(
        &self,
        dst: SocketAddr,
        timeout: Duration,
    ) -> Option<io::Result<NetStream>> {
        if dst.ip() != IpAddr::V4(std::net::Ipv4Addr::LOCALHOST) || self.host.is_loopback() {
            return None;
        }
        Some(match &self.net.backend {
            Backend::Sim(w) => w.connect_local(self.host, dst.port()),
            Backend::Real(w) => w.connect_local(self.host, dst.port(), timeout).await,
        })
    }

    /// Listens on `port` of this host as `bind` says (0 for an ephemeral
    /// port); [`Stack::listen`] is `Bind::Any`.
    ///
    /// # Errors
    /// `AddrInUse` when the port is taken.
    pub async fn listen_bound(&self, port: u16, bind: Bind) -> io::Result<NetListener> {
        let addr = SocketAddr::new(self.host, port);
        match &self.net.backend {
            Backend::Sim(w) => w.listen_bound(addr, bind),
            Backend::Real(w) => w.listen_bound(addr, bind).await,
        }
    }

    /// Listens on `port` of this host (0 for an ephemeral port), on every
    /// address ([`Bind::Any`]: the host's and its loopback).
    ///
    /// # Errors
    /// `AddrInUse` when the port is taken.
    pub async fn listen(&self, port: u16) -> io::Result<NetListener> {
        let addr = SocketAddr::new(self.host, port);
        match &self.net.backend {
            Backend::Sim(w) => w.listen(addr),
            Backend::Real(w) => w.listen(addr, false).await,
        }
    }

    /// Listens on a capture port (15001, 15006): accepted streams carry the original
    /// destination. In real mode each accepted connection starts with a PROXY
    /// protocol v2 header, read before the stream is handed over.
    ///
    /// # Errors
    /// As [`Stack::listen`].
    pub async fn listen_capture(&self, port: u16) -> io::Result<NetListener> {
        let addr = SocketAddr::new(self.host, port);
        match &self.net.backend {
            Backend::Sim(w) => w.listen(addr),
            Backend::Real(w) => w.listen(addr, true).await,
        }
    }

    /// Binds a UDP socket on `port` of this host (0 for an ephemeral port).
    ///
    /// # Errors
    /// `AddrInUse` when the port is taken.
    pub async fn bind_udp(&self, port: u16) -> io::Result<NetUdp> {
        let addr = SocketAddr::new(self.host, port);
        match &self.net.backend {
            Backend::Sim(w) => w.bind_udp(addr),
            Backend::Real(w) => w.bind_udp(addr).await,
        }
    }
}
