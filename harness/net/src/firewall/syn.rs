//! How a new connection's SYN meets the firewalls, shared by both backends:
//! the first crossing firewall that denies it decides, and a dropped SYN is
//! retransmitted on Linux's schedule, each copy checked again.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;

use super::{Core, OnUnknown};

/// Linux's initial SYN retransmission timeout (`TCP_TIMEOUT_INIT`).
const SYN_RTO_INITIAL: Duration = Duration::from_secs(1);

/// What the firewalls do with a SYN from `from` to `target`: `None` when
/// every crossing firewall admits it (each counts the admission), else what
/// the first that denies it does.
pub(crate) fn syn_verdict(
    firewalls: &[Arc<Core>],
    from: IpAddr,
    target: SocketAddr,
) -> Option<OnUnknown> {
    firewalls
        .iter()
        .filter(|f| f.crosses(from, target.ip()))
        .find_map(|f| f.connect(from, target))
}

/// A SYN a firewall dropped is retransmitted by the kernel (Linux: after
/// 1 s, then doubling: 1 s, 3 s, 7 s, 15 s... after the first) until
/// `deadline`; each copy meets the firewalls `firewalls()` lists then. True
/// once one is admitted (the address was learned meanwhile); false, at
/// `deadline`, when none was.
pub(crate) async fn syn_retransmitted(
    firewalls: impl Fn() -> Vec<Arc<Core>>,
    from: IpAddr,
    target: SocketAddr,
    deadline: Instant,
) -> bool {
    let mut wait = SYN_RTO_INITIAL;
    let mut at = Instant::now() + wait;
    while at < deadline {
        crate::clock::sleep_until(at).await;
        let fws = firewalls();
        let crossing = fws.iter().filter(|f| f.crosses(from, target.ip()));
        if crossing.clone().all(|f| f.admits(target.ip())) {
            // Every crossing firewall counts the admission.
            let admitted: Vec<bool> = crossing
                .map(|f| f.connect(from, target).is_none())
                .collect();
            return admitted.iter().all(|a| *a);
        }
        wait *= 2;
        at += wait;
    }
    crate::clock::sleep_until(deadline).await;
    false
}
