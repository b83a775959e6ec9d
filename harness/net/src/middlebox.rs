//! Stateful middleboxes on the path: the idle timer of a NAT gateway, a cloud
//! load balancer or a stateful firewall (incidents.md A4).
//!
//! An [`IdleTimer`] sits between a set of client hosts and everything else.
//! Every TCP connection with exactly one end on a client host crosses it and
//! is tracked from its SYN; any packet of the flow in either direction (data,
//! FIN, RST, keepalive probe) refreshes it. After [`IdleTimer::idle`] without
//! packets the box forgets the flow, and the next packet of that flow meets
//! [`OnExpiry`]:
//!
//! - [`OnExpiry::Reset`] (AWS NLB: "if a client or a target sends data after
//!   the idle timeout period elapses, it receives a TCP RST"; AWS NAT gateway
//!   towards the inside): the packet is not forwarded and its sender gets a
//!   RST, one one-way latency later. The other end learns nothing until it
//!   sends, and is then reset the same way. A RST is never answered.
//! - [`OnExpiry::Drop`] (Azure Load Balancer by default, AWS Network Firewall):
//!   that packet and every later one of the flow are silently dropped, from
//!   both ends: the flow is black-holed from the first packet after expiry
//!   on, with the semantics of [`crate::Net::set_flow_blackhole`]
//!   (retransmission give-up, keepalive `ETIMEDOUT`).
//! - [`OnExpiry::ResetAtExpiry`] (Azure Load Balancer with "TCP reset on
//!   idle"): the moment the flow expires the box sends a RST to both ends,
//!   each reaching its end one one-way latency later, so an idle pooled
//!   connection is closed before anyone reuses it. A packet that still
//!   reaches the box afterwards is answered with a RST.
//!
//! The box counts what it does and logs, per forgotten flow, when it expired
//! and its first reset or drop ([`IdleTimerHandle::events`]).
//!
//! New connections after expiry are new flows and pass. Expiry is detected
//! lazily, on the flow's next packet, so the cost is one lock per packet and
//! no timer; with `Reset` and `Drop` nothing happens to a flow nobody sends
//! on. With `ResetAtExpiry` an end's parked read waits for the expiry as for
//! any arrival (the moment moves with every packet), and the box's counters
//! and log record the expiry when an end next reads, writes or is dropped.
//!
//! **Per direction.** The AWS NAT gateway answers packets from the inside
//! with a RST but has no mapping left for packets from the outside, which
//! it drops. `Reset` answers both directions: the outside end of a
//! forgotten flow gets a RST where it would retransmit into the void until
//! it gives up. What the inside (the client the report measures) sees is
//! the same either way: it learns nothing until it sends, then is reset.
//!
//! Both backends have them. The simulated path asks the box per segment.
//! The real backend ([`crate::real`]) keeps the box in the process around
//! the kernel sockets, on real time: the two ends of a connection share the
//! flow's state, each write, shutdown, data-or-EOF read and emulated
//! keepalive probe of either end is a packet, a box's RST reaches its end
//! at once, and a FIN the kernel sends when a process closes its socket
//! meets the box where the other end reads it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

/// What a middlebox does with one packet of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Passed on (and the flow refreshed).
    Forward,
    /// Not passed on; its sender gets a RST (unless it is a RST).
    Reset,
    /// Not passed on; both ends get a RST (a firewall cutting a flow).
    ResetBoth,
    /// Silently dropped: the flow is black-holed.
    Drop,
}

/// What an idle-timer middlebox does with the next packet of a flow it forgot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExpiry {
    /// Answer the sender with a RST (AWS NLB, AWS NAT gateway).
    #[default]
    Reset,
    /// Drop it and every later packet of the flow (Azure LB by default).
    Drop,
    /// RST both ends at the moment of expiry (Azure LB with "TCP reset on
    /// idle").
    ResetAtExpiry,
}

/// An idle-timer middlebox between `clients` and everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleTimer {
    /// Hosts on the inside (a pod's address, a node's).
    pub clients: Vec<IpAddr>,
    /// How long a flow may go without packets before it is forgotten
    /// (AWS NLB and NAT gateway 350 s, Azure LB 240 s, GCP Cloud NAT 1200 s).
    pub idle: Duration,
    /// What the next packet of a forgotten flow meets.
    pub on_expiry: OnExpiry,
}

/// What one idle-timer middlebox has seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdleTimerStats {
    /// Flows (TCP connections) that crossed it.
    pub tracked: u64,
    /// Flows it forgot and then saw a packet of.
    pub expired: u64,
    /// RSTs it sent: `Reset`, one per packet of a forgotten flow it
    /// answered; `ResetAtExpiry`, the two it sent at expiry (packets that
    /// still reach it afterwards are answered, not counted).
    pub resets: u64,
    /// Flows it black-holed after expiry.
    pub dropped: u64,
}

/// The most events an idle timer's log keeps; later ones are only counted.
pub const IDLE_LOG_CAP: usize = 1000;

/// What an idle timer did to one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdleEventKind {
    /// The flow went `idle` without packets and was forgotten (at that
    /// moment, found on its next packet).
    Expired,
    /// The box answered a packet of the forgotten flow with a RST.
    Reset,
    /// The box black-holed the forgotten flow.
    Dropped,
}

impl IdleEventKind {
    /// The event's name in reports.
    pub fn label(self) -> &'static str {
        match self {
            IdleEventKind::Expired => "expired",
            IdleEventKind::Reset => "reset",
            IdleEventKind::Dropped => "dropped",
        }
    }
}

/// One line of an idle timer's log: the first reset or drop of each
/// forgotten flow, and when it was forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimerEvent {
    /// When it happened.
    pub at: Instant,
    /// What happened.
    pub kind: IdleEventKind,
    /// The flow, `(inside end, outside end)`.
    pub flow: (SocketAddr, SocketAddr),
}

/// The counters and log of one middlebox, shared with the flows crossing it.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tracked: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) resets: AtomicU64,
    pub(crate) dropped: AtomicU64,
    /// The log, and how many events did not fit in it.
    log: Mutex<(Vec<IdleTimerEvent>, u64)>,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn log(&self, event: IdleTimerEvent) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.0.len() < IDLE_LOG_CAP {
            log.0.push(event);
        } else {
            log.1 += 1;
        }
    }
}

/// A handle on an installed idle-timer middlebox: its counters.
#[derive(Debug, Clone)]
pub struct IdleTimerHandle {
    pub(crate) counters: Arc<Counters>,
}

impl IdleTimerHandle {
    /// The counters so far.
    pub fn stats(&self) -> IdleTimerStats {
        let c = &self.counters;
        IdleTimerStats {
            tracked: c.tracked.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// The log so far, oldest first, and how many events did not fit in
    /// [`IDLE_LOG_CAP`].
    pub fn events(&self) -> (Vec<IdleTimerEvent>, u64) {
        let log = self.counters.log.lock().unwrap_or_else(|e| e.into_inner());
        let mut events = log.0.clone();
        events.sort_by_key(|e| e.at);
        (events, log.1)
    }
}
