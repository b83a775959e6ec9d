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
//!
//! New connections after expiry are new flows and pass. Expiry is detected
//! lazily, on the flow's next packet, so the cost is one lock per packet and
//! no timer; nothing happens to a flow nobody sends on (the Azure option
//! that resets both ends at expiry is not modelled).
//!
//! Only the simulated backend has middleboxes; the real backend refuses them
//! with [`crate::NetError::Unsupported`] (kernel loopback sockets have no
//! path to put a box on; in-process relays would be needed).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// RSTs it sent in answer to packets of forgotten flows.
    pub resets: u64,
    /// Flows it black-holed after expiry.
    pub dropped: u64,
}

/// The counters of one middlebox, shared with the flows crossing it.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tracked: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) resets: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
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
}
