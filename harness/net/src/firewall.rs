//! The DNS-learning egress firewall (incidents.md INC-04, INC-05): a Cilium
//! or Calico FQDN policy, an egress gateway with DNS interception, a
//! FortiGate or Palo Alto FQDN object.
//!
//! A [`DnsFirewall`] sits on the egress path of a set of client hosts. It
//! admits a new TCP connection from a client to an outside address only while
//! it has *learned* that address from DNS, and it forgets each address when
//! the learned TTL (clamped to `[min_ttl, max_ttl]`) plus `grace` runs out:
//!
//! - **Learning.** [`Learning::Snoop`] (Cilium's DNS proxy, Azure Firewall's
//!   DNS proxy): every DNS answer (UDP from port 53) that reaches a client
//!   teaches it the answer's addresses under the question's name, so any
//!   client's re-resolution refreshes the entry for every client.
//!   [`Learning::Own`] (FortiGate, Palo Alto): it learns only through
//!   [`FirewallHandle::learn`], which the caller drives from the firewall's
//!   own resolver, on its own schedule and possibly with another view of the
//!   names than the clients' (INC-05).
//! - **New connections** to an address not currently learned meet
//!   [`OnUnknown`]: a RST (the client's connect fails with `connection
//!   refused`) or a silent drop (the client's connect runs into its timeout).
//! - **Established flows** whose address expires meet [`OnExpired`] on their
//!   next packet: both ends reset, the flow black-holed from then on, or the
//!   flow kept (firewalls that check only at connection setup). With
//!   `keep_active` set, a flow that has carried a packet within that window
//!   is still kept past the expiry (an active session survives); once it goes
//!   quiet that long, its next packet meets [`OnExpired`].
//!
//! Only flows between a client and an address outside every `inside` range
//! cross it (the cluster's own traffic does not go through an egress
//! firewall); DNS itself (UDP) always passes.
//!
//! Expiry is found lazily, on the flow's next packet or connect, so the cost
//! is one map lookup per packet and per learned address, and no timer runs.
//! The log keeps what it learned, admitted (the first connection per learned
//! entry), denied, reset, black-holed and kept, and when each entry expired.
//!
//! Both backends use this core. The SYN check and Linux's SYN
//! retransmission (1 s, then doubling, each copy checked again) are shared
//! (`syn`). The **sim** backend asks a flow's verdict per segment and
//! delivers the firewall's RSTs over the path. The **real** backend
//! ([`crate::real`]) asks it around kernel sockets, on real time: every
//! write, shutdown and successful read of either end is a packet, the two
//! ends share one flow state, and DNS answers are snooped as `send_to` from
//! port 53 passes. What real mode cannot express: a cut flow fails with
//! `ECONNRESET` at both ends without a RST on the wire (an end that has
//! seen the reset closes its socket with one, SO_LINGER 0); a black-holed
//! flow stalls until the emulated keepalive or retransmission give-up ends
//! it (a RST an application sends into it is not dropped); a segment
//! already in the receiving kernel when the flow is cut is discarded by the
//! reader, not held back on the way.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Instant;
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::RData;

use crate::NetError;
use crate::middlebox::Verdict;

mod syn;

pub(crate) use syn::{syn_retransmitted, syn_verdict};

/// The most events a firewall's log keeps; later ones are only counted.
pub const LOG_CAP: usize = 1000;

/// An address range, e.g. `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The range of `prefix` leading bits of `addr`.
    ///
    /// # Errors
    /// [`NetError::InvalidCidr`] when `prefix` is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, NetError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(NetError::InvalidCidr {
                text: format!("{addr}/{prefix}"),
            });
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(a.to_bits()), u128::from(b.to_bits()), 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

impl FromStr for Cidr {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Cidr, NetError> {
        let bad = || NetError::InvalidCidr {
            text: s.to_string(),
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        Cidr::new(addr, prefix).map_err(|_| bad())
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Where a firewall learns addresses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Learning {
    /// From the DNS answers its clients receive (DNS interception).
    #[default]
    Snoop,
    /// Only from [`FirewallHandle::learn`]: its own resolver.
    Own,
}

/// What a new connection to an address the firewall does not know meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUnknown {
    /// A RST: the client's connect fails at once (`connection refused`).
    Reset,
    /// A silent drop: the client's connect runs into its timeout.
    #[default]
    Drop,
}

/// What an established flow meets when its address has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExpired {
    /// Its next packet is refused and both ends are reset.
    #[default]
    Reset,
    /// Its next packet and every later one are silently dropped.
    Blackhole,
    /// Nothing: only new connections are checked.
    Keep,
}

/// A DNS-learning firewall on the egress path of `clients`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsFirewall {
    /// The hosts behind it.
    pub clients: Vec<IpAddr>,
    /// Destinations that do not cross it (the cluster's own ranges).
    pub inside: Vec<Cidr>,
    /// Where it learns addresses from.
    pub learning: Learning,
    /// Shortest time it keeps a learned address (Cilium `--tofqdns-min-ttl`,
    /// 0 today; FortiGate's minimum refresh 60 s).
    pub min_ttl: Duration,
    /// Longest time it keeps a learned address without a new answer.
    pub max_ttl: Option<Duration>,
    /// Extra time after the (clamped) TTL before the address is forgotten.
    pub grace: Duration,
    /// New connections to an unknown address.
    pub on_unknown: OnUnknown,
    /// Established flows to an expired address.
    pub on_expired: OnExpired,
    /// A flow with a packet within this window is kept past the expiry.
    pub keep_active: Option<Duration>,
}

impl Default for DnsFirewall {
    fn default() -> Self {
        DnsFirewall {
            clients: Vec::new(),
            inside: Vec::new(),
            learning: Learning::Snoop,
            min_ttl: Duration::ZERO,
            max_ttl: None,
            grace: Duration::ZERO,
            on_unknown: OnUnknown::Drop,
            on_expired: OnExpired::Reset,
            keep_active: None,
        }
    }
}

/// What a firewall has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirewallStats {
    /// Addresses learned (new, or again after they expired).
    pub learned: u64,
    /// Answers that extended an address still learned.
    pub refreshed: u64,
    /// Learned addresses that expired.
    pub expired: u64,
    /// New connections admitted.
    pub admitted: u64,
    /// New connections denied (reset or dropped).
    pub denied: u64,
    /// Established flows reset after their address expired.
    pub flows_reset: u64,
    /// Established flows black-holed after their address expired.
    pub flows_blackholed: u64,
    /// Active flows kept past their address's expiry.
    pub flows_kept: u64,
}

/// The kinds of firewall log events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FirewallEventKind {
    /// An address learned (new, or again after it expired).
    Learned,
    /// A learned address expired.
    Expired,
    /// The first connection admitted to an address since it was learned.
    Admitted,
    /// A new connection denied.
    Denied,
    /// An established flow reset.
    Reset,
    /// An established flow black-holed.
    Blackholed,
    /// An active flow kept past its address's expiry.
    Kept,
}

impl FirewallEventKind {
    /// The event's name in reports.
    pub fn label(self) -> &'static str {
        match self {
            FirewallEventKind::Learned => "learned",
            FirewallEventKind::Expired => "expired",
            FirewallEventKind::Admitted => "admitted",
            FirewallEventKind::Denied => "denied",
            FirewallEventKind::Reset => "reset",
            FirewallEventKind::Blackholed => "blackholed",
            FirewallEventKind::Kept => "kept",
        }
    }
}

/// One line of a firewall's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallEvent {
    /// When it happened.
    pub at: Instant,
    /// What happened.
    pub kind: FirewallEventKind,
    /// The outside address.
    pub addr: IpAddr,
    /// The name it was learned under, when known.
    pub name: Option<String>,
    /// The connection, `(client end, outside end)`, when about one.
    pub flow: Option<(SocketAddr, SocketAddr)>,
}

/// A handle on an installed firewall.
#[derive(Debug, Clone)]
pub struct FirewallHandle {
    pub(crate) core: Arc<Core>,
}

impl FirewallHandle {
    /// The counters so far (expired entries counted up to now).
    pub fn stats(&self) -> FirewallStats {
        let now = Instant::now();
        let t = self.core.lock();
        let mut s = t.stats;
        s.expired += t.entries.values().filter(|e| e.expires <= now).count() as u64;
        s
    }

    /// The log so far, oldest first, with the expiry of every entry that has
    /// run out by now; and how many events did not fit in [`LOG_CAP`].
    pub fn events(&self) -> (Vec<FirewallEvent>, u64) {
        let now = Instant::now();
        let t = self.core.lock();
        let mut log = t.log.clone();
        for (addr, e) in &t.entries {
            if e.expires <= now {
                log.push(expired_event(*addr, e));
            }
        }
        log.sort_by_key(|e| e.at);
        (log, t.omitted)
    }

    /// Teaches the firewall that `name` has `addrs` for `ttl` (its own
    /// resolver's answer), as a snooped answer would.
    pub fn learn(&self, name: &str, addrs: &[IpAddr], ttl: Duration) {
        self.core.learn(name, addrs, ttl);
    }

    /// Whether a new connection to `addr` would be admitted now.
    pub fn admits(&self, addr: IpAddr) -> bool {
        self.core.lock().alive(addr, Instant::now())
    }
}

fn expired_event(addr: IpAddr, e: &Entry) -> FirewallEvent {
    FirewallEvent {
        at: e.expires,
        kind: FirewallEventKind::Expired,
        addr,
        name: Some(e.name.clone()),
        flow: None,
    }
}

/// One learned address.
struct Entry {
    name: String,
    expires: Instant,
    /// An admission was logged since the entry was learned.
    admitted_logged: bool,
}

struct Table {
    entries: BTreeMap<IpAddr, Entry>,
    stats: FirewallStats,
    log: Vec<FirewallEvent>,
    omitted: u64,
}

impl Table {
    fn alive(&self, addr: IpAddr, now: Instant) -> bool {
        self.entries.get(&addr).is_some_and(|e| e.expires > now)
    }

    fn name(&self, addr: IpAddr) -> Option<String> {
        self.entries.get(&addr).map(|e| e.name.clone())
    }

    fn log(&mut self, event: FirewallEvent) {
        if self.log.len() < LOG_CAP {
            self.log.push(event);
        } else {
            self.omitted += 1;
        }
    }

    fn log_flow(&mut self, kind: FirewallEventKind, flow: (SocketAddr, SocketAddr)) {
        let addr = flow.1.ip();
        let event = FirewallEvent {
            at: Instant::now(),
            kind,
            addr,
            name: self.name(addr),
            flow: Some(flow),
        };
        self.log(event);
    }
}

/// An installed firewall: its settings and its table.
pub(crate) struct Core {
    clients: BTreeSet<IpAddr>,
    cfg: DnsFirewall,
    table: Mutex<Table>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsFirewall")
            .field("clients", &self.clients)
            .finish()
    }
}

impl Core {
    pub(crate) fn new(cfg: DnsFirewall) -> Arc<Core> {
        Arc::new(Core {
            clients: cfg.clients.iter().copied().collect(),
            cfg,
            table: Mutex::new(Table {
                entries: BTreeMap::new(),
                stats: FirewallStats::default(),
                log: Vec::new(),
                omitted: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a connection from `from` to `to` crosses the firewall: from a
    /// client to an address outside every inside range.
    pub(crate) fn crosses(&self, from: IpAddr, to: IpAddr) -> bool {
        self.clients.contains(&from)
            && !self.clients.contains(&to)
            && !self.cfg.inside.iter().any(|c| c.contains(to))
    }

    /// A new connection from `from` to `to` (which crosses the firewall):
    /// `None` when admitted, else what the client meets.
    pub(crate) fn connect(&self, from: IpAddr, to: SocketAddr) -> Option<OnUnknown> {
        let now = Instant::now();
        let mut t = self.lock();
        let flow = (SocketAddr::new(from, 0), to);
        if !t.alive(to.ip(), now) {
            t.stats.denied += 1;
            t.log_flow(FirewallEventKind::Denied, flow);
            return Some(self.cfg.on_unknown);
        }
        t.stats.admitted += 1;
        let first = t
            .entries
            .get_mut(&to.ip())
            .map(|e| !std::mem::replace(&mut e.admitted_logged, true));
        if first == Some(true) {
            t.log_flow(FirewallEventKind::Admitted, flow);
        }
        None
    }

    /// Whether an address is learned now (a retransmitted SYN's check,
    /// counted only when [`Core::connect`] follows).
    pub(crate) fn admits(&self, to: IpAddr) -> bool {
        self.lock().alive(to, Instant::now())
    }

    /// The firewall's state for an admitted connection.
    pub(crate) fn flow(self: &Arc<Self>, client: SocketAddr, outside: SocketAddr) -> FwFlow {
        FwFlow {
            core: self.clone(),
            ends: (client, outside),
            state: Mutex::new(FwState {
                last: Instant::now(),
                cut: None,
                kept: false,
            }),
        }
    }

    /// Learns `addrs` under `name` for `ttl` (clamped, plus grace).
    pub(crate) fn learn(&self, name: &str, addrs: &[IpAddr], ttl: Duration) {
        let now = Instant::now();
        let mut ttl = ttl.max(self.cfg.min_ttl);
        if let Some(max) = self.cfg.max_ttl {
            ttl = ttl.min(max);
        }
        let expires = now + ttl + self.cfg.grace;
        let mut t = self.lock();
        for addr in addrs {
            self.learn_one(&mut t, name, *addr, expires, now);
        }
    }

    fn learn_one(&self, t: &mut Table, name: &str, addr: IpAddr, expires: Instant, now: Instant) {
        if let Some(e) = t.entries.get_mut(&addr)
            && e.expires > now
        {
            e.expires = e.expires.max(expires);
            t.stats.refreshed += 1;
            return;
        }
        if let Some(old) = t.entries.remove(&addr) {
            t.stats.expired += 1;
            let event = expired_event(addr, &old);
            t.log(event);
        }
        t.entries.insert(
            addr,
            Entry {
                name: name.to_string(),
                expires,
                admitted_logged: false,
            },
        );
        t.stats.learned += 1;
        t.log(FirewallEvent {
            at: now,
            kind: FirewallEventKind::Learned,
            addr,
            name: Some(name.to_string()),
            flow: None,
        });
    }

    /// A datagram from `from` reaches `to`: a DNS answer to a client teaches
    /// a snooping firewall its addresses.
    pub(crate) fn observe_datagram(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        if self.cfg.learning != Learning::Snoop
            || from.port() != 53
            || !self.clients.contains(&to.ip())
        {
            return;
        }
        if let Some((name, addrs, ttl)) = parse_answer(data) {
            self.learn(&name, &addrs, ttl);
        }
    }
}

/// The question name, the addresses (A and AAAA) and their smallest TTL of a
/// DNS answer, if it is one with addresses.
fn parse_answer(data: &[u8]) -> Option<(String, Vec<IpAddr>, Duration)> {
    let msg = Message::from_vec(data).ok()?;
    if msg.metadata.message_type != MessageType::Response {
        return None;
    }
    let name = msg.queries.first()?.name.to_string();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut ttl = u32::MAX;
    let mut addrs = Vec::new();
    for r in &msg.answers {
        let ip = match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        addrs.push(ip);
        ttl = ttl.min(r.ttl);
    }
    if addrs.is_empty() {
        return None;
    }
    Some((name, addrs, Duration::from_secs(u64::from(ttl))))
}

struct FwState {
    /// When the firewall last passed a packet of the flow, or when it cut it.
    last: Instant,
    /// What the firewall did to the flow, once it cut it.
    cut: Option<OnExpired>,
    /// The flow was kept past its address's expiry (logged once).
    kept: bool,
}

/// The firewall's state for one admitted connection.
pub(crate) struct FwFlow {
    core: Arc<Core>,
    /// `(client end, outside end)`.
    ends: (SocketAddr, SocketAddr),
    state: Mutex<FwState>,
}

impl FwFlow {
    fn lock(&self) -> MutexGuard<'_, FwState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A packet of the flow reaches the firewall now. `is_rst`: a RST is
    /// never answered.
    pub(crate) fn packet(&self, is_rst: bool) -> Verdict {
        let now = Instant::now();
        let mut st = self.lock();
        match st.cut {
            Some(OnExpired::Blackhole) => return Verdict::Drop,
            Some(_) => return Verdict::Reset,
            None => {}
        }
        let cfg = &self.core.cfg;
        let mut t = self.core.lock();
        if cfg.on_expired == OnExpired::Keep || t.alive(self.ends.1.ip(), now) {
            st.last = now;
            return Verdict::Forward;
        }
        if cfg
            .keep_active
            .is_some_and(|w| now.duration_since(st.last) < w)
        {
            st.last = now;
            if !std::mem::replace(&mut st.kept, true) {
                t.stats.flows_kept += 1;
                t.log_flow(FirewallEventKind::Kept, self.ends);
            }
            return Verdict::Forward;
        }
        st.cut = Some(cfg.on_expired);
        st.last = now;
        if cfg.on_expired == OnExpired::Blackhole {
            t.stats.flows_blackholed += 1;
            t.log_flow(FirewallEventKind::Blackholed, self.ends);
            return Verdict::Drop;
        }
        t.stats.flows_reset += 1;
        t.log_flow(FirewallEventKind::Reset, self.ends);
        if is_rst {
            Verdict::Reset
        } else {
            Verdict::ResetBoth
        }
    }

    /// Since when the firewall black-holes the flow, if it does.
    pub(crate) fn dropped_since(&self) -> Option<Instant> {
        let st = self.lock();
        match st.cut {
            Some(OnExpired::Blackhole) => Some(st.last),
            _ => None,
        }
    }
}
