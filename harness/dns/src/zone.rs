//! Zone data: the names the server is authoritative for, their records and
//! their scripted failures.
//!
//! A [`ZoneSet`] is a shared handle: the engine keeps one clone to apply
//! timeline events while the server reads another. The lock is held only for
//! one change or one lookup and never across an await, so a change takes
//! effect for the next query the server reads.

mod lookup;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::wire::{normalize, validate_name};

pub(crate) use lookup::{QType, Resolution, Rr, RrData, SoaInfo};

/// A scripted failure for a name and every name below it.
///
/// The closest setting wins: `Drop` on `example.com` with `Answer` on
/// `api.example.com` drops every query under `example.com` except those for
/// `api.example.com` and below. The behaviour applies before the zone check,
/// so it also covers names outside every zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer normally from the zone data (the default).
    Answer,
    /// Never answer: the client waits for its timeout (a dead or black-holed server).
    Drop,
    /// Answer SERVFAIL (a broken upstream of a recursive server).
    ServFail,
    /// Answer REFUSED (a server that stopped serving the zone).
    Refused,
    /// Answer normally after this delay (an overloaded server). Over TCP the
    /// answers of one connection stay in order.
    Delay(Duration),
}

/// The zone data of one DNS server. Cheap to clone; every clone is the same data.
///
/// Names are case-insensitive and may be written with or without the trailing
/// dot. A name that is not a valid host name is ignored (with a warning): use
/// [`crate::validate_name`] to reject it while loading a scenario.
#[derive(Debug, Clone, Default)]
pub struct ZoneSet {
    inner: Arc<Mutex<ZoneData>>,
}

#[derive(Debug, Default)]
pub(crate) struct ZoneData {
    /// Apex -> negative TTL (SOA minimum).
    zones: BTreeMap<String, Duration>,
    nodes: BTreeMap<String, Node>,
    behaviours: BTreeMap<String, Behaviour>,
    /// SOA serial: counts changes, so a client can see the zone moved.
    serial: u32,
}

/// The records of one name. A name holds either addresses or a CNAME.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    addr_ttl: Duration,
    cname: Option<(String, Duration)>,
}

impl ZoneSet {
    /// An empty set: every query is refused until a zone is added.
    pub fn new() -> ZoneSet {
        ZoneSet::default()
    }

    fn lock(&self) -> MutexGuard<'_, ZoneData> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the server authoritative for `apex` and every name below it. The
    /// zone's SOA carries `negative_ttl` as its TTL and minimum, which is how
    /// long resolvers cache NXDOMAIN and NODATA answers (RFC 2308). Adding an
    /// existing zone updates its negative TTL.
    pub fn add_zone(&self, apex: &str, negative_ttl: Duration) {
        if let Some(key) = checked(apex) {
            self.lock().change().zones.insert(key, negative_ttl);
        }
    }

    /// Replaces the A (IPv4) and AAAA (IPv6) records of `name`, and any CNAME
    /// it had, with `addrs`, all with `ttl`. An empty list leaves the name in
    /// place with no address (NODATA).
    pub fn set_a(&self, name: &str, addrs: Vec<IpAddr>, ttl: Duration) {
        let Some(key) = checked(name) else { return };
        let mut node = Node {
            addr_ttl: ttl,
            ..Node::default()
        };
        for a in addrs {
            match a {
                IpAddr::V4(v4) => node.v4.push(v4),
                IpAddr::V6(v6) => node.v6.push(v6),
            }
        }
        self.lock().change().nodes.insert(key, node);
    }

    /// Makes `name` an alias of `target` (replacing its addresses).
    pub fn set_cname(&self, name: &str, target: &str, ttl: Duration) {
        let (Some(key), Some(target)) = (checked(name), checked(target)) else {
            return;
        };
        let node = Node {
            cname: Some((target, ttl)),
            ..Node::default()
        };
        self.lock().change().nodes.insert(key, node);
    }

    /// Changes the TTL of every record of `name`; no effect on a name without records.
    pub fn set_ttl(&self, name: &str, ttl: Duration) {
        let key = normalize(name);
        let mut data = self.lock();
        if let Some(node) = data.change().nodes.get_mut(&key) {
            node.addr_ttl = ttl;
            if let Some((_, t)) = node.cname.as_mut() {
                *t = ttl;
            }
        }
    }

    /// Removes `name` and its records: queries get NXDOMAIN afterwards (or
    /// NODATA while names below it still exist).
    pub fn remove(&self, name: &str) {
        let key = normalize(name);
        self.lock().change().nodes.remove(&key);
    }

    /// Scripts a failure for `name` and every name below it.
    pub fn set_behaviour(&self, name: &str, behaviour: Behaviour) {
        let key = normalize(name);
        self.lock().behaviours.insert(key, behaviour);
    }

    /// Removes the behaviour set on `name` itself (one set on a parent still applies).
    pub fn clear_behaviour(&self, name: &str) {
        let key = normalize(name);
        self.lock().behaviours.remove(&key);
    }

    /// The addresses `name` has now (A then AAAA, in the order they were set),
    /// without following CNAMEs. Empty for an unknown name.
    pub fn addrs(&self, name: &str) -> Vec<IpAddr> {
        let data = self.lock();
        let Some(node) = data.nodes.get(&normalize(name)) else {
            return Vec::new();
        };
        let v4 = node.v4.iter().map(|a| IpAddr::V4(*a));
        v4.chain(node.v6.iter().map(|a| IpAddr::V6(*a))).collect()
    }

    /// The TTL `name` has now (of its addresses, or of its CNAME), if it has records.
    pub fn ttl(&self, name: &str) -> Option<Duration> {
        let data = self.lock();
        let node = data.nodes.get(&normalize(name))?;
        Some(node.cname.as_ref().map_or(node.addr_ttl, |(_, t)| *t))
    }

    /// Runs `f` on the data under the lock (one query's worth of work).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&ZoneData) -> T) -> T {
        f(&self.lock())
    }
}

impl ZoneData {
    /// Marks a change (new SOA serial) and gives access to the data.
    fn change(&mut self) -> &mut ZoneData {
        self.serial = self.serial.wrapping_add(1);
        self
    }

    /// The behaviour of the closest name at or above `key` that has one.
    pub(crate) fn behaviour_for(&self, key: &str) -> Behaviour {
        let mut cur = key;
        loop {
            if let Some(b) = self.behaviours.get(cur) {
                return *b;
            }
            match cur.split_once('.') {
                Some((_, parent)) => cur = parent,
                None if !cur.is_empty() => cur = "",
                None => return Behaviour::Answer,
            }
        }
    }
}

/// The key of a name that is valid on the wire, or `None` (with a warning).
fn checked(name: &str) -> Option<String> {
    match validate_name(name) {
        Ok(()) => Some(normalize(name)),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring zone change for an invalid name");
            None
        }
    }
}
