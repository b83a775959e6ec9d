//! `world.middleboxes`: stateful boxes on the simulated path (incidents.md
//! A4, INC-04, INC-05), validated into [`MiddleboxSpec`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use meshsim_net::{DnsFirewall, Learning, OnExpiry};

/// A middlebox between some entry pods and everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiddleboxSpec {
    /// `name`, as reports show it.
    pub name: String,
    /// `pods`: the entry pods behind it (default: every `world.pods` entry).
    pub pods: Vec<String>,
    /// Their addresses, in the order of `pods`.
    pub clients: Vec<IpAddr>,
    /// What kind of box, with its settings.
    pub kind: MiddleboxKind,
}

/// The kinds of middlebox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MiddleboxKind {
    /// `kind: idle_timer`: a NAT gateway, cloud load balancer or stateful
    /// firewall that forgets idle flows.
    IdleTimer {
        /// `idle`: how long a flow may go without packets.
        idle: Duration,
        /// `on_expiry`: `reset` (default; AWS NLB / NAT gateway), `drop`
        /// (Azure LB by default, AWS Network Firewall, GCP Cloud NAT) or
        /// `reset_at_expiry` (Azure LB with "TCP reset on idle").
        on_expiry: OnExpiry,
    },
    /// `kind: dns_firewall`: an egress firewall that admits only addresses
    /// it learned from DNS.
    DnsFirewall(FirewallSpec),
}

/// A DNS-learning firewall's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSpec {
    /// The box as the network installs it (clients filled in on install).
    pub config: DnsFirewall,
    /// `refresh` (`learn: own` only): how often its own resolver looks the
    /// names up (FortiGate's minimum refresh, 60 s by default).
    pub refresh: Duration,
    /// `view` (`learn: own` only): the answers its own resolver gets, by
    /// name, where they differ from the world's DNS (INC-05).
    pub view: BTreeMap<String, Vec<IpAddr>>,
}

impl MiddleboxSpec {
    /// The kind's name, as in the scenario file.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            MiddleboxKind::IdleTimer { .. } => "idle_timer",
            MiddleboxKind::DnsFirewall(_) => "dns_firewall",
        }
    }

    /// The firewall's own resolver settings, if it learns on its own.
    pub fn own_resolver(&self) -> Option<&FirewallSpec> {
        match &self.kind {
            MiddleboxKind::DnsFirewall(f) if f.config.learning == Learning::Own => Some(f),
            _ => None,
        }
    }
}
