//! Clusters: where a request's hosts come from, and which one it gets.
//!
//! - ORIGINAL_DST: the host is the original destination of the downstream
//!   connection, so every request of an application connection is pinned to
//!   the address the application dialled;
//! - STATIC: fixed endpoints, round robin;
//! - STRICT_DNS: every address of the latest answer is a host, round robin;
//!   hosts that leave the answer have their pools drained;
//! - LOGICAL_DNS: one logical host whose address is the first of the latest
//!   answer, used only when a new connection is opened; never drained.
//!
//! DNS clusters start uninitialized; a request waits for the first resolution
//! (Envoy's cluster init), bounded by the connect timeout. The refresh loop and
//! its pure schedule are in [`dns`].

pub mod dns;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::circuit::CircuitBreaker;
use crate::config::{Cluster, Discovery, RetryPolicy};
use crate::pool::Pool;
use crate::runtime::Env;

/// A chosen host: the pool to use and where a new connection goes.
pub(crate) struct Target {
    pub(crate) pool: Arc<Pool>,
    pub(crate) connect_to: SocketAddr,
}

/// A cluster at run time.
pub(crate) struct ClusterState {
    pub(crate) config: Cluster,
    pub(crate) env: Arc<Env>,
    /// The cluster's circuit breakers, shared by every host's pool.
    pub(crate) breaker: Arc<CircuitBreaker>,
    state: Mutex<HostState>,
    ready: watch::Sender<bool>,
}

struct HostState {
    /// Current hosts, in answer order, without duplicates.
    hosts: Vec<SocketAddr>,
    /// Round-robin position.
    rr: u64,
    /// Pools by host (ORIGINAL_DST, STATIC, STRICT_DNS).
    pools: BTreeMap<SocketAddr, Arc<Pool>>,
    /// The logical host's pool (LOGICAL_DNS).
    logical: Option<Arc<Pool>>,
}

impl ClusterState {
    /// A cluster with its static hosts, if any. DNS clusters start not ready.
    pub(crate) fn new(config: Cluster, env: Arc<Env>) -> Arc<ClusterState> {
        let (hosts, ready) = match &config.discovery {
            Discovery::Static { endpoints } => (dedup(endpoints.iter().copied()), true),
            Discovery::OriginalDst => (Vec::new(), true),
            Discovery::StrictDns { .. } | Discovery::LogicalDns { .. } => (Vec::new(), false),
        };
        // Envoy starts round robin at a random position.
        let rr = env.draw(|r| r.next_u64() >> 1);
        let breaker = CircuitBreaker::new(&config.pool);
        let logical = matches!(config.discovery, Discovery::LogicalDns { .. }).then(|| {
            let settings = config.pool.clone();
            Pool::new(
                env.clone(),
                settings,
                config.connect_timeout,
                breaker.clone(),
            )
        });
        let state = HostState {
            hosts,
            rr,
            pools: BTreeMap::new(),
            logical,
        };
        let (ready, _) = watch::channel(ready);
        Arc::new(ClusterState {
            config,
            env,
            breaker,
            state: Mutex::new(state),
            ready,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HostState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the first DNS resolution finished, at most the connect
    /// timeout. False when it did not.
    pub(crate) async fn wait_ready(&self) -> bool {
        let mut rx = self.ready.subscribe();
        tokio::time::timeout(self.config.connect_timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Marks the first resolution done.
    pub(crate) fn mark_ready(&self) {
        self.ready.send_replace(true);
    }

    /// Current hosts.
    pub(crate) fn hosts(&self) -> Vec<SocketAddr> {
        self.lock().hosts.clone()
    }

    /// Picks a host. With the `previous_hosts` predicate, re-picks up to
    /// `host_selection_retry_max_attempts` times to avoid `tried` hosts; after
    /// that the last pick is used anyway. `None`: no host (503 UH).
    pub(crate) fn pick(
        &self,
        original_dst: SocketAddr,
        tried: &[SocketAddr],
        policy: Option<&RetryPolicy>,
    ) -> Option<Target> {
        let mut st = self.lock();
        match &self.config.discovery {
            Discovery::OriginalDst => Some(self.target(&mut st, original_dst)),
            Discovery::LogicalDns { .. } => {
                let connect_to = *st.hosts.first()?;
                let pool = st.logical.clone()?;
                Some(Target { pool, connect_to })
            }
            Discovery::Static { .. } | Discovery::StrictDns { .. } => {
                let extra = policy.filter(|p| p.previous_hosts_predicate && !tried.is_empty());
                let reselect = extra.map_or(0, |p| p.host_selection_retry_max_attempts);
                let mut host = next_rr(&mut st)?;
                for _ in 0..reselect {
                    if !tried.contains(&host) {
                        break;
                    }
                    host = next_rr(&mut st)?;
                }
                Some(self.target(&mut st, host))
            }
        }
    }

    fn target(&self, st: &mut HostState, host: SocketAddr) -> Target {
        let pool = st
            .pools
            .entry(host)
            .or_insert_with(|| {
                Pool::new(
                    self.env.clone(),
                    self.config.pool.clone(),
                    self.config.connect_timeout,
                    self.breaker.clone(),
                )
            })
            .clone();
        Target {
            pool,
            connect_to: host,
        }
    }

    /// Applies a successful DNS answer. STRICT_DNS drains removed hosts'
    /// pools (an empty answer leaves no host); LOGICAL_DNS only changes where
    /// new connections go, and keeps its address on an empty answer.
    pub(crate) fn update_hosts(&self, addrs: &[IpAddr], port: u16) {
        let logical = matches!(self.config.discovery, Discovery::LogicalDns { .. });
        if logical && addrs.is_empty() {
            return;
        }
        let new = dedup(addrs.iter().map(|ip| SocketAddr::new(*ip, port)));
        let removed: Vec<Arc<Pool>> = {
            let mut st = self.lock();
            let gone: Vec<SocketAddr> = st
                .hosts
                .iter()
                .filter(|h| !new.contains(h))
                .copied()
                .collect();
            st.hosts = new;
            gone.iter().filter_map(|h| st.pools.remove(h)).collect()
        };
        for pool in removed {
            pool.drain();
        }
    }

    /// The pool of `host`, if one exists.
    #[cfg(test)]
    pub(crate) fn pool_of(&self, host: SocketAddr) -> Option<Arc<Pool>> {
        self.lock().pools.get(&host).cloned()
    }
}

fn next_rr(st: &mut HostState) -> Option<SocketAddr> {
    if st.hosts.is_empty() {
        return None;
    }
    let i = (st.rr % st.hosts.len() as u64) as usize;
    st.rr = st.rr.wrapping_add(1);
    Some(st.hosts[i])
}

fn dedup(addrs: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests;
