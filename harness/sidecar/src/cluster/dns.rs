//! DNS refresh of STRICT_DNS and LOGICAL_DNS clusters.
//!
//! As Envoy's DNS cluster does it: resolve at startup, then after every
//! answer wait the TTL when `respect_dns_ttl` is on and the answer is non-empty
//! with a non-zero TTL, else `dns_refresh_rate`; add a seeded jitter of
//! `[0, dns_jitter)` whole milliseconds. A failed resolution keeps the hosts,
//! counts `update_failure` and retries after `dns_refresh_rate` (Istio sets no
//! `dns_failure_refresh_rate`), without jitter. NXDOMAIN and NODATA are
//! answers with no address (c-ares as Envoy uses it), not failures; a
//! LOGICAL_DNS cluster, though, does not accept an answer with no address: it
//! counts `update_failure`, keeps its address and is rescheduled as a failure.
//!
//! TTL: STRICT_DNS waits the smallest TTL of the answer, as Envoy does.
//! Envoy's LOGICAL_DNS waits the TTL of the first address; the stub resolver
//! (`meshsim_dns::Lookup`) only reports the smallest TTL of the answer chain
//! (CNAMEs included), so LOGICAL_DNS uses that too. The two differ only when
//! the records of one answer carry different TTLs.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::SimRng;

use super::ClusterState;
use crate::config::{Discovery, DnsRefresh};
use crate::error::SidecarError;

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Addresses in answer order (may be empty: NXDOMAIN or NODATA).
    pub addrs: Vec<IpAddr>,
    /// The answer's TTL (the smallest record TTL; LOGICAL_DNS uses it in place
    /// of Envoy's first-address TTL).
    pub ttl: Duration,
}

/// The boxed future a [`Resolve`] returns.
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Resolved, SidecarError>> + Send + 'a>>;

/// What the sidecar needs from a DNS stub resolver.
pub trait Resolve: Send + Sync + 'static {
    /// Looks up the A/AAAA addresses of `name`.
    ///
    /// # Errors
    /// [`SidecarError::DnsLookup`] when no answer came (timeout, SERVFAIL,
    /// REFUSED...); an empty answer is `Ok` with no address.
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a>;
}

/// A resolver answering from a table the caller changes at will (tests,
/// and runs that script DNS without a DNS server).
#[derive(Debug, Default)]
pub struct ScriptedResolver {
    answers: Mutex<BTreeMap<String, Option<Resolved>>>,
}

impl ScriptedResolver {
    /// An empty table: every name fails.
    pub fn new() -> Arc<ScriptedResolver> {
        Arc::new(ScriptedResolver::default())
    }

    /// Answers `name` with `addrs` and `ttl` from now on.
    pub fn set(&self, name: &str, addrs: Vec<IpAddr>, ttl: Duration) {
        self.table()
            .insert(name.to_string(), Some(Resolved { addrs, ttl }));
    }

    /// Fails lookups of `name` from now on (as a SERVFAIL or a timeout would).
    pub fn fail(&self, name: &str) {
        self.table().insert(name.to_string(), None);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<Resolved>>> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Resolve for ScriptedResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        let answer = self.table().get(name).cloned().flatten();
        Box::pin(async move {
            answer.ok_or_else(|| SidecarError::DnsLookup {
                name: name.to_string(),
                source: "scripted failure".into(),
            })
        })
    }
}

/// The scenario's stub resolver (`meshsim-dns`), as Envoy's c-ares uses it:
/// no cache, NXDOMAIN and NODATA are answers with no address, everything else
/// (timeout, SERVFAIL, REFUSED...) is a failure that keeps the hosts.
impl Resolve for meshsim_dns::Resolver {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            match self.lookup_ip(name).await {
                Ok(lookup) => Ok(Resolved {
                    addrs: lookup.addrs,
                    ttl: lookup.ttl,
                }),
                Err(
                    meshsim_dns::DnsError::NxDomain { .. } | meshsim_dns::DnsError::NoData { .. },
                ) => Ok(Resolved {
                    addrs: Vec::new(),
                    ttl: Duration::ZERO,
                }),
                Err(e) => Err(SidecarError::DnsLookup {
                    name: name.to_string(),
                    source: Box::new(e),
                }),
            }
        })
    }
}

/// Envoy's c-ares defaults: 5 s per query, 4 tries.
pub(crate) fn envoy_resolver(
    stack: meshsim_net::Stack,
    servers: Vec<std::net::SocketAddr>,
    rng: SimRng,
) -> Arc<dyn Resolve> {
    if servers.is_empty() {
        return Arc::new(NoResolver);
    }
    let config = meshsim_dns::ResolverConfig {
        servers,
        timeout: Duration::from_secs(5),
        attempts: 4,
        cache: meshsim_dns::CachePolicy::None,
        negative_ttl: None,
    };
    Arc::new(meshsim_dns::Resolver::new(stack, config, rng))
}

/// A resolver that has nothing to ask: every lookup fails.
#[derive(Debug, Default)]
pub struct NoResolver;

impl Resolve for NoResolver {
    fn resolve<'a>(&'a self, name: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            Err(SidecarError::NoResolver {
                name: name.to_string(),
            })
        })
    }
}

/// How a resolution ended, for the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// An answer (possibly with no address).
    Answer {
        /// Its TTL.
        ttl: Duration,
        /// Whether it had no address.
        empty: bool,
    },
    /// No answer.
    Failure,
}

/// The wait before the next resolution.
pub fn next_refresh(policy: &DnsRefresh, outcome: RefreshOutcome, rng: &mut SimRng) -> Duration {
    let RefreshOutcome::Answer { ttl, empty } = outcome else {
        return policy.refresh_rate;
    };
    let base = if policy.respect_dns_ttl && !empty && !ttl.is_zero() {
        ttl
    } else {
        policy.refresh_rate
    };
    let jitter_ms = u64::try_from(policy.jitter.as_millis()).unwrap_or(u64::MAX);
    if jitter_ms == 0 {
        return base;
    }
    base + Duration::from_millis(rng.below(jitter_ms))
}

/// Resolves `hostname` for `cluster` forever: the first time at once, then
/// on the schedule of [`next_refresh`].
pub(crate) async fn refresh_loop(
    cluster: Arc<ClusterState>,
    resolver: Arc<dyn Resolve>,
    hostname: String,
    port: u16,
) {
    let env = cluster.env.clone();
    loop {
        env.stats
            .dns(&cluster.config.name, |d| d.update_attempt += 1);
        let answer = resolver.resolve(&hostname).await;
        let outcome = apply(&cluster, answer, port);
        cluster.mark_ready();
        let wait = env.draw(|rng| next_refresh(&cluster.config.dns, outcome, rng));
        meshsim_net::clock::sleep(wait).await;
    }
}

/// Applies one resolution to `cluster` and counts it. STRICT_DNS takes any
/// answer, an empty one included (no host left). LOGICAL_DNS only accepts a
/// non-empty answer: an empty one is an `update_failure` that keeps the
/// address and is rescheduled like a failure (Envoy's LOGICAL_DNS
/// `isSuccessfulResponse`).
fn apply(
    cluster: &ClusterState,
    answer: Result<Resolved, SidecarError>,
    port: u16,
) -> RefreshOutcome {
    let name = &cluster.config.name;
    let stats = &cluster.env.stats;
    let logical = matches!(cluster.config.discovery, Discovery::LogicalDns { .. });
    let accepted = match answer {
        Ok(answer) if !(logical && answer.addrs.is_empty()) => Some(answer),
        Ok(_) => {
            tracing::debug!(cluster = %name, "empty answer for a logical dns cluster; address kept");
            None
        }
        Err(e) => {
            tracing::debug!(cluster = %name, error = %e, "dns refresh failed; hosts kept");
            None
        }
    };
    let Some(answer) = accepted else {
        stats.dns(name, |d| d.update_failure += 1);
        return RefreshOutcome::Failure;
    };
    cluster.update_hosts(&answer.addrs, port);
    let hosts = cluster.hosts().len() as u64;
    stats.dns(name, |d| {
        d.update_success += 1;
        d.hosts = hosts;
    });
    RefreshOutcome::Answer {
        ttl: answer.ttl,
        empty: answer.addrs.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn istio() -> DnsRefresh {
        DnsRefresh::default()
    }

    fn dns_cluster(discovery: Discovery) -> Arc<ClusterState> {
        let net = meshsim_net::Net::sim(meshsim_net::SimConfig::default());
        let env = crate::runtime::Env::new(net.stack([10, 0, 0, 1].into()), SimRng::new(3));
        let config = crate::config::Cluster {
            name: "c".into(),
            discovery,
            dns: istio(),
            ..crate::config::Cluster::default()
        };
        ClusterState::new(config, env)
    }

    fn answer(addrs: &[[u8; 4]], ttl_s: u64) -> Result<Resolved, SidecarError> {
        Ok(Resolved {
            addrs: addrs.iter().map(|a| IpAddr::from(*a)).collect(),
            ttl: Duration::from_secs(ttl_s),
        })
    }

    fn counters(c: &ClusterState) -> (u64, u64, u64) {
        let d = c.env.stats.snapshot().dns["c"].clone();
        (d.update_success, d.update_failure, d.hosts)
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn logical_dns_rejects_an_empty_answer_as_update_failure_and_keeps_its_address() {
        let c = dns_cluster(Discovery::LogicalDns {
            hostname: "api".into(),
            port: 80,
        });
        let first = apply(&c, answer(&[[52, 1, 1, 10]], 5), 80);
        assert_eq!(
            first,
            RefreshOutcome::Answer {
                ttl: Duration::from_secs(5),
                empty: false
            }
        );
        let empty = apply(&c, answer(&[], 5), 80);
        assert_eq!(empty, RefreshOutcome::Failure, "rescheduled like a failure");
        assert_eq!(counters(&c), (1, 1, 1));
        assert_eq!(
            c.hosts(),
            vec![std::net::SocketAddr::from(([52, 1, 1, 10], 80))]
        );
        // So the next resolution comes at the refresh rate, without jitter.
        let wait = next_refresh(&istio(), empty, &mut SimRng::new(1));
        assert_eq!(wait, Duration::from_secs(60));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn strict_dns_takes_an_empty_answer_as_update_success_with_no_host() {
        let c = dns_cluster(Discovery::StrictDns {
            hostname: "api".into(),
            port: 80,
        });
        apply(&c, answer(&[[52, 1, 1, 10]], 5), 80);
        let empty = apply(&c, answer(&[], 5), 80);
        assert_eq!(
            empty,
            RefreshOutcome::Answer {
                ttl: Duration::from_secs(5),
                empty: true
            }
        );
        assert_eq!(counters(&c), (2, 0, 0));
    }

    #[test]
    fn respected_ttl_schedules_the_next_refresh_at_ttl_plus_jitter() {
        let mut rng = SimRng::new(1);
        let ttl = Duration::from_secs(30);
        let wait = next_refresh(
            &istio(),
            RefreshOutcome::Answer { ttl, empty: false },
            &mut rng,
        );
        assert!(
            wait >= ttl && wait < ttl + Duration::from_millis(100),
            "{wait:?}"
        );
    }

    #[test]
    fn ttl_zero_falls_back_to_the_refresh_rate() {
        let mut rng = SimRng::new(1);
        let wait = next_refresh(
            &istio(),
            RefreshOutcome::Answer {
                ttl: Duration::ZERO,
                empty: false,
            },
            &mut rng,
        );
        assert!(wait >= Duration::from_secs(60) && wait < Duration::from_millis(60_100));
    }

    #[test]
    fn ttl_is_ignored_without_respect_dns_ttl_and_for_empty_answers() {
        let mut rng = SimRng::new(1);
        let p = DnsRefresh {
            respect_dns_ttl: false,
            jitter: Duration::ZERO,
            ..istio()
        };
        let ttl = Duration::from_secs(5);
        assert_eq!(
            next_refresh(&p, RefreshOutcome::Answer { ttl, empty: false }, &mut rng),
            p.refresh_rate
        );
        let q = DnsRefresh {
            jitter: Duration::ZERO,
            ..istio()
        };
        assert_eq!(
            next_refresh(&q, RefreshOutcome::Answer { ttl, empty: true }, &mut rng),
            q.refresh_rate
        );
    }

    #[test]
    fn failures_retry_at_the_refresh_rate_without_jitter() {
        let mut rng = SimRng::new(1);
        assert_eq!(
            next_refresh(&istio(), RefreshOutcome::Failure, &mut rng),
            Duration::from_secs(60)
        );
    }

    proptest! {
        #[test]
        fn jitter_stays_in_whole_milliseconds_below_dns_jitter(seed in any::<u64>(), ttl_s in 1u64..600, jitter_ms in 1u64..1000) {
            let p = DnsRefresh { jitter: Duration::from_millis(jitter_ms), ..istio() };
            let ttl = Duration::from_secs(ttl_s);
            let wait = next_refresh(&p, RefreshOutcome::Answer { ttl, empty: false }, &mut SimRng::new(seed));
            let extra = wait - ttl;
            prop_assert!(extra < Duration::from_millis(jitter_ms));
            prop_assert_eq!(extra.subsec_nanos() % 1_000_000, 0);
        }
    }
}
