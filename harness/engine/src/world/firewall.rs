//! A `dns_firewall` that learns on its own (`learn: own`, FortiGate / Palo
//! Alto FQDN objects, incidents.md INC-05): its resolver looks every name up
//! every `refresh`, in its own view of the names, and the firewall keeps what
//! it saw until the next look-up (at least the record's TTL, clamped by the
//! box's own bounds).

use std::net::IpAddr;
use std::time::Duration;

use meshsim_dns::ZoneSet;
use meshsim_net::FirewallHandle;
use tokio::task::JoinHandle;

use crate::scenario::{FirewallSpec, Scenario};

/// Starts the firewall's own resolver: one look-up of every name now, then
/// one every `spec.refresh`. The names are the world's DNS names and those
/// of the box's `view`.
pub(super) fn own_resolver(
    scenario: &Scenario,
    spec: &FirewallSpec,
    zones: ZoneSet,
    handle: FirewallHandle,
) -> JoinHandle<()> {
    let mut names: Vec<String> = scenario
        .dns
        .records
        .iter()
        .map(|r| r.name.clone())
        .collect();
    names.extend(spec.view.keys().cloned());
    names.sort();
    names.dedup();
    let view = spec.view.clone();
    let refresh = spec.refresh;
    tokio::spawn(async move {
        loop {
            for name in &names {
                let (addrs, ttl) = answer(&zones, &view, name);
                if !addrs.is_empty() {
                    // Kept until the next look-up at least.
                    handle.learn(name, &addrs, ttl.max(refresh));
                }
            }
            meshsim_net::clock::sleep(refresh).await;
        }
    })
}

/// What the firewall's resolver gets for `name`: its view's answer, or the
/// world's records now.
fn answer(
    zones: &ZoneSet,
    view: &std::collections::BTreeMap<String, Vec<IpAddr>>,
    name: &str,
) -> (Vec<IpAddr>, Duration) {
    let ttl = zones.ttl(name).unwrap_or_default();
    match view.get(name) {
        Some(addrs) => (addrs.clone(), ttl),
        None => (zones.addrs(name), ttl),
    }
}
