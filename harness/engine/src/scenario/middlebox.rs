//! `world.middleboxes`: stateful boxes on the simulated path (incidents.md
//! A4), validated into [`MiddleboxSpec`].

use std::net::IpAddr;
use std::time::Duration;

use meshsim_net::{IdleTimer, OnExpiry};

/// An idle-timer middlebox (NAT gateway, cloud load balancer, stateful
/// firewall) between some entry pods and everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiddleboxSpec {
    /// `name`, as reports show it.
    pub name: String,
    /// `pods`: the entry pods behind it (default: every `world.pods` entry).
    pub pods: Vec<String>,
    /// Their addresses, in the order of `pods`.
    pub clients: Vec<IpAddr>,
    /// `idle`: how long a flow may go without packets.
    pub idle: Duration,
    /// `on_expiry`: `reset` (default; AWS NLB / NAT gateway) or `drop`
    /// (Azure LB by default, AWS Network Firewall).
    pub on_expiry: OnExpiry,
}

impl MiddleboxSpec {
    /// The box as the network installs it.
    pub fn idle_timer(&self) -> IdleTimer {
        IdleTimer {
            clients: self.clients.clone(),
            idle: self.idle,
            on_expiry: self.on_expiry,
        }
    }
}
