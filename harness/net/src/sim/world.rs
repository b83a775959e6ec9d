//! Hosts, listeners, UDP sockets and path faults of the simulated network.

mod loopback;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Instant;
use bytes::Bytes;
use meshsim_core::SimRng;
use tokio::sync::{Notify, mpsc};

use super::idle::{IdleBox, IdleFlow};
use super::pipe::{Conn, SimStream};
use crate::Bind;
use crate::firewall::{self, DnsFirewall, FirewallHandle, FwFlow, OnUnknown};
use crate::middlebox::{IdleTimer, IdleTimerHandle};
use crate::stream::{NetListener, NetStream, NetUdp};

/// Settings of a simulated network. Every field has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of the jitter stream. Default 0.
    pub seed: u64,
    /// One-way latency of every path. Default 50 µs.
    pub base_latency: Duration,
    /// Extra one-way latency drawn uniformly from `[0, jitter)` per write or
    /// datagram. Default 0.
    pub jitter: Duration,
    /// How long an unanswered SYN is retried before connect fails with
    /// `TimedOut` (Linux `tcp_syn_retries` = 6: 127 s).
    pub syn_give_up: Duration,
    /// How long a segment that a drop stops from arriving is retransmitted,
    /// counted from its first transmission, before the connection fails with
    /// `TimedOut` (Linux `tcp_retries2` = 15 with `TCP_RTO_MIN` 200 ms: the
    /// kernel's `ip-sysctl` documentation gives "a hypothetical timeout of
    /// 924.6 seconds" as the lower bound of the effective timeout).
    pub retransmission_give_up: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            base_latency: Duration::from_micros(50),
            jitter: Duration::ZERO,
            syn_give_up: Duration::from_secs(127),
            retransmission_give_up: crate::RETRANSMISSION_GIVE_UP,
        }
    }
}

const EPHEMERAL_FIRST: u16 = 32768;
const EPHEMERAL_LAST: u16 = 60999;

pub(crate) struct World {
    pub(crate) config: SimConfig,
    /// Fast path: false while no address is black-holed.
    any_blackhole: AtomicBool,
    /// Fast path: false while no DNS firewall is installed.
    any_firewall: AtomicBool,
    /// Notified whenever a drop starts or ends, so stalled readers re-check.
    faults: Arc<Notify>,
    // Short critical sections only; never held across an await.
    state: Mutex<State>,
}

struct State {
    listeners: BTreeMap<SocketAddr, mpsc::UnboundedSender<SimStream>>,
    /// Listeners on a host's own 127.0.0.1, by `host:port` ([`Bind::Loopback`]).
    loopback_listeners: BTreeMap<SocketAddr, mpsc::UnboundedSender<SimStream>>,
    /// Listeners of `listeners` bound to the host's address only
    /// ([`Bind::Host`]): a connect to 127.0.0.1 from the host misses them.
    host_only: BTreeSet<SocketAddr>,
    udp: BTreeMap<SocketAddr, Arc<UdpQueue>>,
    next_port: BTreeMap<IpAddr, u16>,
    /// Black-holed addresses and since when.
    blackholed: BTreeMap<IpAddr, Instant>,
    /// Black-holed flows (ends in address order) and since when.
    flows: BTreeMap<(SocketAddr, SocketAddr), Instant>,
    host_latency: BTreeMap<IpAddr, Duration>,
    /// Idle-timer middleboxes, in the order they were added.
    idle_boxes: Vec<Arc<IdleBox>>,
    /// DNS-learning firewalls, in the order they were added.
    firewalls: Vec<Arc<firewall::Core>>,
    rng: SimRng,
}

impl World {
    pub(crate) fn new(config: SimConfig) -> Arc<World> {
        let rng = SimRng::fork(config.seed, "net.jitter");
        Arc::new(World {
            config,
            any_blackhole: AtomicBool::new(false),
            any_firewall: AtomicBool::new(false),
            faults: Arc::new(Notify::new()),
            state: Mutex::new(State {
                listeners: BTreeMap::new(),
                loopback_listeners: BTreeMap::new(),
                host_only: BTreeSet::new(),
                udp: BTreeMap::new(),
                next_port: BTreeMap::new(),
                blackholed: BTreeMap::new(),
                flows: BTreeMap::new(),
                host_latency: BTreeMap::new(),
                idle_boxes: Vec::new(),
                firewalls: Vec::new(),
                rng,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_blackhole(&self, ip: IpAddr, on: bool) {
        {
            let mut st = self.lock();
            if on {
                st.blackholed.entry(ip).or_insert_with(Instant::now);
            } else {
                st.blackholed.remove(&ip);
            }
            self.any_blackhole.store(st.any_drop(), Ordering::Relaxed);
        }
        self.faults.notify_waiters();
    }

    pub(crate) fn add_idle_timer(&self, timer: IdleTimer) -> IdleTimerHandle {
        let b = Arc::new(IdleBox::new(timer));
        let handle = IdleTimerHandle {
            counters: b.counters.clone(),
        };
        self.lock().idle_boxes.push(b);
        handle
    }

    /// The middleboxes' state for a new connection between `a` and `b`, in
    /// path order (the order they were added). Once per connection.
    pub(crate) fn idle_flows(&self, a: SocketAddr, b: SocketAddr) -> Vec<IdleFlow> {
        let st = self.lock();
        st.idle_boxes.iter().filter_map(|x| x.track(a, b)).collect()
    }

    pub(crate) fn add_dns_firewall(&self, cfg: DnsFirewall) -> FirewallHandle {
        let core = firewall::Core::new(cfg);
        self.lock().firewalls.push(core.clone());
        self.any_firewall.store(true, Ordering::Relaxed);
        FirewallHandle { core }
    }

    /// The installed firewalls (none without a lock on the fast path).
    fn firewalls(&self) -> Vec<Arc<firewall::Core>> {
        if !self.any_firewall.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.lock().firewalls.clone()
    }

    /// The firewalls' state for a new connection from `client` to `server`,
    /// in the order they were added. Once per connection.
    pub(crate) fn fw_flows(&self, client: SocketAddr, server: SocketAddr) -> Vec<FwFlow> {
        if !self.any_firewall.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let st = self.lock();
        st.firewalls
            .iter()
            .filter(|f| f.crosses(client.ip(), server.ip()))
            .map(|f| f.flow(client, server))
            .collect()
    }

    /// What the firewalls do with a SYN from `from` to `target`: the first
    /// that denies it decides.
    fn firewall_syn(&self, from: IpAddr, target: SocketAddr) -> Option<OnUnknown> {
        firewall::syn_verdict(&self.firewalls(), from, target)
    }

    /// A SYN a firewall dropped is retransmitted until `deadline` (see
    /// [`firewall::syn_retransmitted`]).
    async fn syn_retransmitted(&self, from: IpAddr, target: SocketAddr, deadline: Instant) -> bool {
        firewall::syn_retransmitted(|| self.firewalls(), from, target, deadline).await
    }

    pub(crate) fn set_flow_blackhole(&self, a: SocketAddr, b: SocketAddr, on: bool) {
        {
            let mut st = self.lock();
            let key = flow_key(a, b);
            if on {
                st.flows.entry(key).or_insert_with(Instant::now);
            } else {
                st.flows.remove(&key);
            }
            self.any_blackhole.store(st.any_drop(), Ordering::Relaxed);
        }
        self.faults.notify_waiters();
    }

    /// Since when the flow between `a` and `b` drops everything, if it does:
    /// its path, or the flow itself.
    pub(crate) fn flow_dropped(&self, a: SocketAddr, b: SocketAddr) -> Option<Instant> {
        let path = self.path_dropped(a.ip(), b.ip());
        if !self.any_blackhole.load(Ordering::Relaxed) {
            return None;
        }
        let flow = self.lock().flows.get(&flow_key(a, b)).copied();
        match (path, flow) {
            (Some(p), Some(f)) => Some(p.min(f)),
            (p, f) => p.or(f),
        }
    }

    pub(crate) fn is_blackholed(&self, ip: IpAddr) -> bool {
        self.any_blackhole.load(Ordering::Relaxed) && self.lock().blackholed.contains_key(&ip)
    }

    /// Since when the path between `a` and `b` drops everything, if it does.
    pub(crate) fn path_dropped(&self, a: IpAddr, b: IpAddr) -> Option<Instant> {
        if !self.any_blackhole.load(Ordering::Relaxed) {
            return None;
        }
        let st = self.lock();
        let (x, y) = (
            st.blackholed.get(&a).copied(),
            st.blackholed.get(&b).copied(),
        );
        match (x, y) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Notified whenever a drop starts or ends.
    pub(crate) fn faults(&self) -> Arc<Notify> {
        self.faults.clone()
    }

    pub(crate) fn set_host_latency(&self, ip: IpAddr, one_way: Duration) {
        self.lock().host_latency.insert(ip, one_way);
    }

    /// One-way latency of one packet from `a` to `b`. Traffic within one host
    /// (a pod's app and its sidecar share one network namespace) has none.
    ///
    /// Note: tokio's timer wheel has 1 ms resolution, so a non-zero latency is
    /// delivered at the next whole millisecond at the earliest.
    pub(crate) fn latency(&self, a: IpAddr, b: IpAddr) -> Duration {
        if a == b {
            return Duration::ZERO;
        }
        let base = self.config.base_latency;
        let jitter = self.config.jitter;
        let mut st = self.lock();
        let extra = st.host_latency.get(&a).copied().unwrap_or_default()
            + st.host_latency.get(&b).copied().unwrap_or_default();
        let j = if jitter.is_zero() {
            Duration::ZERO
        } else {
            st.rng.duration_below(jitter)
        };
        base + extra + j
    }

    fn ephemeral_port(st: &mut State, ip: IpAddr) -> u16 {
        let next = st.next_port.entry(ip).or_insert(EPHEMERAL_FIRST);
        for _ in EPHEMERAL_FIRST..=EPHEMERAL_LAST {
            let port = *next;
            *next = if port == EPHEMERAL_LAST {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            let addr = SocketAddr::new(ip, port);
            if !st.listeners.contains_key(&addr) && !st.udp.contains_key(&addr) {
                return port;
            }
        }
        // Every ephemeral port is bound by a listener: share one; in sim a
        // connection is an object, not a 4-tuple.
        EPHEMERAL_FIRST
    }

    pub(crate) async fn connect(
        self: &Arc<Self>,
        from: IpAddr,
        target: SocketAddr,
        original_dst: Option<SocketAddr>,
        timeout: Duration,
    ) -> io::Result<NetStream> {
        let give_up = timeout.min(self.config.syn_give_up);
        let deadline = Instant::now() + give_up;
        if self.path_dropped(from, target.ip()).is_some() {
            crate::clock::sleep_until(deadline).await;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {target} timed out after {give_up:?}"),
            ));
        }
        let rtt = self.latency(from, target.ip()) + self.latency(target.ip(), from);
        if rtt >= give_up {
            crate::clock::sleep_until(deadline).await;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect to {target} timed out"),
            ));
        }
        match self.firewall_syn(from, target) {
            None => {}
            Some(OnUnknown::Drop) if !self.syn_retransmitted(from, target, deadline).await => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connect to {target} timed out after {give_up:?} (a firewall drops it)"
                    ),
                ));
            }
            Some(OnUnknown::Drop) => {}
            Some(OnUnknown::Reset) => {
                crate::clock::sleep(rtt).await;
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connection to {target} refused (reset by a firewall)"),
                ));
            }
        }
        if !rtt.is_zero() {
            crate::clock::sleep(rtt).await;
        }
        let (local, tx) = {
            let mut st = self.lock();
            let Some(tx) = st.listeners.get(&target).cloned() else {
                return Err(refused(target));
            };
            (
                SocketAddr::new(from, Self::ephemeral_port(&mut st, from)),
                tx,
            )
        };
        let conn = Conn::new(self.clone(), local, target);
        let client = SimStream::new(conn.clone(), 0, None);
        let server = SimStream::new(conn, 1, original_dst);
        match tx.send(server) {
            Ok(()) => Ok(NetStream::Sim(client)),
            Err(_) => Err(refused(target)),
        }
    }

    pub(crate) fn listen(self: &Arc<Self>, addr: SocketAddr) -> io::Result<NetListener> {
        let mut st = self.lock();
        let addr = if addr.port() == 0 {
            SocketAddr::new(addr.ip(), Self::ephemeral_port(&mut st, addr.ip()))
        } else {
            addr
        };
        if st.listeners.contains_key(&addr) {
            return Err(crate::NetError::AddrInUse { addr }.into());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        st.listeners.insert(addr, tx);
        Ok(NetListener::Sim(SimListener {
            world: self.clone(),
            addr,
            bind: Bind::Any,
            rx: tokio::sync::Mutex::new(rx),
        }))
    }

    fn unlisten(&self, addr: SocketAddr, bind: Bind) {
        let mut st = self.lock();
        match bind {
            Bind::Loopback => st.loopback_listeners.remove(&addr),
            Bind::Any | Bind::Host => {
                st.host_only.remove(&addr);
                st.listeners.remove(&addr)
            }
        };
    }

    pub(crate) fn bind_udp(self: &Arc<Self>, addr: SocketAddr) -> io::Result<NetUdp> {
        let mut st = self.lock();
        let addr = if addr.port() == 0 {
            SocketAddr::new(addr.ip(), Self::ephemeral_port(&mut st, addr.ip()))
        } else {
            addr
        };
        if st.udp.contains_key(&addr) {
            return Err(crate::NetError::AddrInUse { addr }.into());
        }
        let queue = Arc::new(UdpQueue::default());
        st.udp.insert(addr, queue.clone());
        Ok(NetUdp::Sim(SimUdp {
            world: self.clone(),
            addr,
            queue,
        }))
    }

    fn send_datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        if self.path_dropped(from.ip(), to.ip()).is_some() {
            return;
        }
        for fw in self.firewalls() {
            fw.observe_datagram(from, to, data);
        }
        let latency = self.latency(from.ip(), to.ip());
        let Some(queue) = self.lock().udp.get(&to).cloned() else {
            return; // port unreachable: an unconnected UDP sender never hears of it
        };
        let mut q = queue.items.lock().unwrap_or_else(|e| e.into_inner());
        // Datagrams from one sender keep their order; different senders
        // interleave by arrival time.
        let at = Instant::now() + latency;
        let at = q
            .iter()
            .filter(|d| d.from == from)
            .map(|d| d.deliver_at)
            .fold(at, Instant::max);
        let pos = q.iter().position(|d| d.deliver_at > at).unwrap_or(q.len());
        q.insert(
            pos,
            Datagram {
                data: Bytes::copy_from_slice(data),
                from,
                deliver_at: at,
            },
        );
        drop(q);
        queue.notify.notify_one();
    }
}

impl State {
    fn any_drop(&self) -> bool {
        !self.blackholed.is_empty() || !self.flows.is_empty()
    }
}

/// A flow's key: its two ends in address order.
fn flow_key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

fn refused(target: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("connection to {target} refused"),
    )
}

/// A simulated TCP listener.
pub struct SimListener {
    world: Arc<World>,
    /// `host:port`, whatever the bind.
    addr: SocketAddr,
    bind: Bind,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<SimStream>>,
}

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimListener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimListener {
    pub(crate) async fn accept(&self) -> io::Result<(NetStream, SocketAddr)> {
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some(s) => {
                let peer = s.peer_addr();
                Ok((NetStream::Sim(s), peer))
            }
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "listener closed",
            )),
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        match self.bind {
            Bind::Loopback => SocketAddr::new(loopback::LOCALHOST, self.addr.port()),
            Bind::Any | Bind::Host => self.addr,
        }
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        self.world.unlisten(self.addr, self.bind);
        // Connections completed by the kernel but never accepted are reset.
        if let Ok(mut rx) = self.rx.try_lock() {
            rx.close();
            while let Ok(s) = rx.try_recv() {
                s.reset();
            }
        }
    }
}

#[derive(Default)]
struct UdpQueue {
    items: Mutex<VecDeque<Datagram>>,
    notify: Notify,
}

struct Datagram {
    data: Bytes,
    from: SocketAddr,
    deliver_at: Instant,
}

/// A simulated UDP socket.
pub struct SimUdp {
    world: Arc<World>,
    addr: SocketAddr,
    queue: Arc<UdpQueue>,
}

impl std::fmt::Debug for SimUdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimUdp").field("addr", &self.addr).finish()
    }
}

impl SimUdp {
    pub(crate) fn send_to(&self, buf: &[u8], dst: SocketAddr) -> usize {
        self.world.send_datagram(self.addr, dst, buf);
        buf.len()
    }

    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let next = {
                let mut q = self.queue.items.lock().unwrap_or_else(|e| e.into_inner());
                match q.front() {
                    Some(d) if d.deliver_at <= Instant::now() => q.pop_front().map(Ok),
                    Some(d) => Some(Err(d.deliver_at)),
                    None => None,
                }
            };
            match next {
                Some(Ok(d)) => {
                    // A drop that started while the datagram was on the wire eats it.
                    let dropped = self.world.path_dropped(d.from.ip(), self.addr.ip());
                    if dropped.is_some_and(|since| since < d.deliver_at) {
                        continue;
                    }
                    let n = d.data.len().min(buf.len());
                    buf[..n].copy_from_slice(&d.data[..n]);
                    return Ok((n, d.from));
                }
                Some(Err(at)) => crate::clock::sleep_until(at).await,
                None => self.queue.notify.notified().await,
            }
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SimUdp {
    fn drop(&mut self) {
        self.world.lock().udp.remove(&self.addr);
    }
}
