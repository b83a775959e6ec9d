//! Envoy's load-balancing policies as pure functions over a host list, the
//! hosts' active-request counts and the sidecar's seeded random stream.
//!
//! All weights are taken as equal, which is what Envoy's `unweightedHostPick`
//! paths do (and what Istio's Kubernetes endpoints are):
//! - round robin: `hosts[cursor++ % len]`, the cursor starting at a random
//!   position when the cluster is built;
//! - least request: power of two choices (`choice_count` 2): two uniform draws
//!   with replacement, the one with fewer active requests wins, a tie keeps
//!   the first draw;
//! - random: one uniform draw.
//!
//! `CLUSTER_PROVIDED` is not a choice among hosts: ORIGINAL_DST picks the
//! original destination itself.

use std::net::SocketAddr;

use meshsim_core::SimRng;

use crate::config::LbPolicy;

/// Picks a host of `hosts` under `policy`. `active` gives a host's active
/// requests (least request only); `cursor` is the round-robin position.
/// `None` only when `hosts` is empty.
pub fn choose(
    policy: LbPolicy,
    hosts: &[SocketAddr],
    active: impl Fn(SocketAddr) -> u64,
    cursor: &mut u64,
    rng: &mut SimRng,
) -> Option<SocketAddr> {
    match policy {
        LbPolicy::RoundRobin | LbPolicy::ClusterProvided => round_robin(hosts, cursor),
        LbPolicy::LeastRequest => least_request(hosts, active, rng),
        LbPolicy::Random => random(hosts, rng),
    }
}

/// The host at `cursor`, then the cursor moves on.
pub fn round_robin(hosts: &[SocketAddr], cursor: &mut u64) -> Option<SocketAddr> {
    if hosts.is_empty() {
        return None;
    }
    let i = (*cursor % hosts.len() as u64) as usize;
    *cursor = cursor.wrapping_add(1);
    Some(hosts[i])
}

/// A uniformly random host.
pub fn random(hosts: &[SocketAddr], rng: &mut SimRng) -> Option<SocketAddr> {
    if hosts.is_empty() {
        return None;
    }
    Some(hosts[rng.below(hosts.len() as u64) as usize])
}

/// Envoy's P2C: the less busy of two uniform draws (the first on a tie).
pub fn least_request(
    hosts: &[SocketAddr],
    active: impl Fn(SocketAddr) -> u64,
    rng: &mut SimRng,
) -> Option<SocketAddr> {
    let first = random(hosts, rng)?;
    let second = random(hosts, rng)?;
    Some(if active(second) < active(first) {
        second
    } else {
        first
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn hosts(n: usize) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([10, 0, 1, i as u8], 80)))
            .collect()
    }

    /// The load of a host of [`hosts`]: indexed by its last octet.
    fn load_of(load: &[u64], h: SocketAddr) -> u64 {
        match h.ip() {
            std::net::IpAddr::V4(v4) => load[usize::from(v4.octets()[3])],
            std::net::IpAddr::V6(_) => 0,
        }
    }

    fn policy() -> impl Strategy<Value = LbPolicy> {
        prop_oneof![
            Just(LbPolicy::RoundRobin),
            Just(LbPolicy::LeastRequest),
            Just(LbPolicy::Random),
        ]
    }

    #[test]
    fn every_policy_finds_no_host_in_an_empty_set() {
        let mut rng = SimRng::new(1);
        for p in [
            LbPolicy::RoundRobin,
            LbPolicy::LeastRequest,
            LbPolicy::Random,
        ] {
            assert_eq!(choose(p, &[], |_| 0, &mut 0, &mut rng), None);
        }
    }

    proptest! {
        #[test]
        fn a_host_outside_the_set_is_never_chosen(
            seed in any::<u64>(), n in 1usize..20, start in any::<u64>(), p in policy(),
            load in proptest::collection::vec(0u64..5, 20),
        ) {
            let hs = hosts(n);
            let mut rng = SimRng::new(seed);
            let mut cursor = start;
            for _ in 0..50 {
                let h = choose(p, &hs, |h| load_of(&load, h), &mut cursor, &mut rng).unwrap();
                prop_assert!(hs.contains(&h));
            }
        }

        #[test]
        fn round_robin_visits_every_host_once_per_cycle(n in 1usize..20, start in any::<u64>(), cycles in 1usize..4) {
            let hs = hosts(n);
            let mut cursor = start;
            for _ in 0..cycles {
                let mut seen: Vec<SocketAddr> = (0..n).map(|_| round_robin(&hs, &mut cursor).unwrap()).collect();
                seen.sort();
                let mut all = hs.clone();
                all.sort();
                prop_assert_eq!(seen, all);
            }
        }

        #[test]
        fn p2c_never_picks_the_busier_of_its_two_draws(
            seed in any::<u64>(), n in 1usize..10,
            load in proptest::collection::vec(0u64..4, 10),
        ) {
            let hs = hosts(n);
            let active: BTreeMap<SocketAddr, u64> = hs.iter().zip(&load).map(|(h, l)| (*h, *l)).collect();
            // Replay the two draws P2C makes from the same stream.
            let mut replay = SimRng::new(seed);
            let a = random(&hs, &mut replay).unwrap();
            let b = random(&hs, &mut replay).unwrap();
            let chosen = least_request(&hs, |h| active[&h], &mut SimRng::new(seed)).unwrap();
            prop_assert!(chosen == a || chosen == b);
            prop_assert!(active[&chosen] <= active[&a].min(active[&b]));
            if active[&a] == active[&b] {
                prop_assert_eq!(chosen, a, "a tie keeps the first draw");
            }
        }
    }

    #[test]
    fn least_request_spreads_away_from_a_busy_host() {
        let hs = hosts(2);
        let mut rng = SimRng::new(9);
        let busy = hs[0];
        let picks = (0..1000)
            .filter(|_| least_request(&hs, |h| u64::from(h == busy), &mut rng) == Some(busy))
            .count();
        // The busy host wins only when both draws are it: about 1 in 4.
        assert!((180..320).contains(&picks), "{picks}");
    }
}
