//! Clusters: where a request's hosts come from, and which one it gets.
//!
//! - ORIGINAL_DST: the host is the original destination of the downstream
//!   connection, so every request of an application connection is pinned to
//!   the address the application dialled;
//! - STATIC: fixed endpoints;
//! - EDS: endpoints pushed at run time ([`ClusterState::update_endpoints`]);
//!   endpoints that leave the assignment have their pools drained;
//! - STRICT_DNS: every address of the latest answer is a host; hosts that
//!   leave the answer have their pools drained;
//! - LOGICAL_DNS: one logical host whose address is the first of the latest
//!   answer, used only when a new connection is opened; never drained.
//!
//! STATIC, EDS and STRICT_DNS pick among their hosts with the cluster's
//! `lb_policy` ([`lb`]), skipping hosts ejected by outlier detection
//! ([`outlier`]) unless the share of healthy hosts is below
//! `healthy_panic_threshold` (panic mode: every host is a candidate). No
//! candidate at all is a 503 UH.
//!
//! DNS and EDS clusters start uninitialized; a request waits for the first
//! resolution or assignment (Envoy's cluster init), bounded by the connect
//! timeout. The refresh loop and its pure schedule are in [`dns`].

pub mod dns;
pub mod lb;
pub(crate) mod outlier;
pub(crate) mod view;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use meshsim_net::clock::Instant;
use tokio::sync::watch;

use crate::attempt::{Attempt, AttemptResult};
use crate::circuit::CircuitBreaker;
use crate::config::{Cluster, Discovery, Endpoint, RetryPolicy, UpstreamProtocol};
use crate::error::SidecarError;
use crate::pool::Pool;
use crate::runtime::Env;
use crate::tls::{Carried, Connector};
use outlier::{Detector, HostResult};

/// A chosen host: the pool to use and where a new connection goes. While it
/// lives, the host counts one more active request (least request).
pub(crate) struct Target {
    pub(crate) pool: Arc<Pool>,
    pub(crate) connect_to: SocketAddr,
    _active: Option<ActiveRequest>,
}

/// One active request on a host: counted from the pick to the attempt's
/// result (Envoy counts until the response ends; meshsim's HTTP/1.1 attempts
/// end at response headers).
struct ActiveRequest(Arc<AtomicU64>);

impl ActiveRequest {
    fn new(counter: Arc<AtomicU64>) -> ActiveRequest {
        counter.fetch_add(1, Ordering::Relaxed);
        ActiveRequest(counter)
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
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
    /// Current hosts, in answer (or assignment) order, without duplicates.
    hosts: Vec<SocketAddr>,
    /// Round-robin position.
    rr: u64,
    /// Pools by host (ORIGINAL_DST, STATIC, EDS, STRICT_DNS).
    pools: BTreeMap<SocketAddr, Arc<Pool>>,
    /// The logical host's pool (LOGICAL_DNS).
    logical: Option<Arc<Pool>>,
    /// Active requests by host (host-list clusters).
    active: BTreeMap<SocketAddr, Arc<AtomicU64>>,
    /// The latest EDS assignment (weights and labels are kept for later).
    endpoints: Vec<Endpoint>,
    /// Outlier detection of host-list clusters that configure it.
    outlier: Option<Detector>,
}

/// How a host's HTTP connections are secured: the cluster's TLS, the
/// host's EDS `endpoint` (auto mTLS reads its labels), the sidecar's
/// certificate.
fn connector(config: &Cluster, endpoint: Option<&Endpoint>, env: &Env) -> Option<Connector> {
    let carried = match config.upstream_protocol {
        UpstreamProtocol::Http1 => Carried::Http1,
        UpstreamProtocol::Http2 => Carried::Http2,
    };
    let identity = env.identity.get().map(|id| &**id);
    Connector::for_host(&config.tls, endpoint, identity, carried)
}

/// Whether `d` chooses among a list of hosts with the load balancer.
fn is_host_list(d: &Discovery) -> bool {
    matches!(
        d,
        Discovery::Static { .. } | Discovery::StrictDns { .. } | Discovery::Eds { .. }
    )
}

impl ClusterState {
    /// A cluster with its static hosts, if any. DNS and EDS clusters start
    /// not ready.
    pub(crate) fn new(config: Cluster, env: Arc<Env>) -> Arc<ClusterState> {
        let (hosts, ready) = match &config.discovery {
            Discovery::Static { endpoints } => (dedup(endpoints.iter().copied()), true),
            Discovery::OriginalDst => (Vec::new(), true),
            Discovery::StrictDns { .. } | Discovery::LogicalDns { .. } | Discovery::Eds { .. } => {
                (Vec::new(), false)
            }
        };
        // Envoy starts round robin at a random position.
        let rr = env.draw(|r| r.next_u64() >> 1);
        let breaker = CircuitBreaker::new(&config.pool);
        let logical = matches!(config.discovery, Discovery::LogicalDns { .. }).then(|| {
            let tls = connector(&config, None, &env);
            Pool::for_cluster(env.clone(), &config, breaker.clone(), tls)
        });
        let mut outlier = config
            .outlier_detection
            .clone()
            .filter(|_| is_host_list(&config.discovery))
            .map(Detector::new);
        if let Some(d) = outlier.as_mut() {
            d.set_hosts(&hosts);
            env.stats.outlier(&config.name, &d.stats);
        }
        let state = HostState {
            hosts,
            rr,
            pools: BTreeMap::new(),
            logical,
            active: BTreeMap::new(),
            endpoints: Vec::new(),
            outlier,
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

    /// Waits until the first DNS resolution or EDS assignment, at most the
    /// connect timeout. False when it did not come.
    pub(crate) async fn wait_ready(&self) -> bool {
        if *self.ready.borrow() {
            return true;
        }
        let mut rx = self.ready.subscribe();
        meshsim_net::clock::timeout(self.config.connect_timeout, rx.wait_for(|r| *r))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits, without bound, for the first DNS resolution or EDS assignment:
    /// Envoy's cluster initialization, with Istio's `initial_fetch_timeout`
    /// 0 (wait forever).
    pub(crate) async fn initialized(&self) {
        let mut rx = self.ready.subscribe();
        // The sender lives in `self`: no error to handle.
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Marks the first resolution (or assignment) done.
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
            Discovery::OriginalDst => Some(self.target(&mut st, original_dst, false)),
            Discovery::LogicalDns { .. } => {
                let connect_to = *st.hosts.first()?;
                let pool = st.logical.clone()?;
                Some(Target {
                    pool,
                    connect_to,
                    _active: None,
                })
            }
            Discovery::Static { .. } | Discovery::StrictDns { .. } | Discovery::Eds { .. } => {
                let extra = policy.filter(|p| p.previous_hosts_predicate && !tried.is_empty());
                let reselect = extra.map_or(0, |p| p.host_selection_retry_max_attempts);
                let host = {
                    let HostState {
                        hosts,
                        rr,
                        active,
                        outlier,
                        ..
                    } = &mut *st;
                    let healthy = self.healthy_subset(hosts, outlier.as_ref());
                    let candidates = healthy.as_deref().unwrap_or(hosts);
                    let mut host = self.choose(candidates, active, rr)?;
                    for _ in 0..reselect {
                        if !tried.contains(&host) {
                            break;
                        }
                        host = self.choose(candidates, active, rr)?;
                    }
                    host
                };
                Some(self.target(&mut st, host, true))
            }
        }
    }

    /// The hosts the load balancer may use when they are not all of them:
    /// the healthy (not ejected) ones, unless the healthy share is below the
    /// panic threshold (then all hosts: `None`). `None` too when nothing is
    /// ejected, so the common case costs no allocation per request.
    fn healthy_subset(
        &self,
        hosts: &[SocketAddr],
        outlier: Option<&Detector>,
    ) -> Option<Vec<SocketAddr>> {
        let det = outlier.filter(|d| d.stats.ejections_active > 0)?;
        let healthy: Vec<SocketAddr> = hosts
            .iter()
            .filter(|h| !det.is_ejected(**h))
            .copied()
            .collect();
        let threshold = u64::from(self.config.healthy_panic_threshold.min(100));
        if 100 * (healthy.len() as u64) < threshold * hosts.len() as u64 {
            self.env.stats.bump(|s| s.lb_healthy_panic += 1);
            return None;
        }
        Some(healthy)
    }

    fn choose(
        &self,
        candidates: &[SocketAddr],
        active: &BTreeMap<SocketAddr, Arc<AtomicU64>>,
        rr: &mut u64,
    ) -> Option<SocketAddr> {
        let load = |h: SocketAddr| active.get(&h).map_or(0, |c| c.load(Ordering::Relaxed));
        let policy = self.config.lb_policy;
        self.env
            .draw(|rng| lb::choose(policy, candidates, load, rr, rng))
    }

    fn target(&self, st: &mut HostState, host: SocketAddr, count: bool) -> Target {
        let HostState {
            pools, endpoints, ..
        } = st;
        let pool = pools
            .entry(host)
            .or_insert_with(|| {
                let endpoint = endpoints.iter().find(|e| e.addr == host);
                let tls = connector(&self.config, endpoint, &self.env);
                Pool::for_cluster(self.env.clone(), &self.config, self.breaker.clone(), tls)
            })
            .clone();
        let active = count.then(|| ActiveRequest::new(st.active.entry(host).or_default().clone()));
        Target {
            pool,
            connect_to: host,
            _active: active,
        }
    }

    /// How the TCP proxy secures its connection to `host` (Istio's TCP ALPN).
    pub(crate) fn tcp_connector(&self, host: SocketAddr) -> Option<Connector> {
        if self.config.tls == crate::tls::ClusterTls::Plaintext {
            return None;
        }
        let st = self.lock();
        let endpoint = st.endpoints.iter().find(|e| e.addr == host);
        let identity = self.env.identity.get().map(|id| &**id);
        Connector::for_host(&self.config.tls, endpoint, identity, Carried::Tcp)
    }

    /// Takes an attempt's result: the host's active request ends, and outlier
    /// detection hears how the host did.
    pub(crate) fn report(&self, target: Target, attempt: &Attempt) {
        drop(target);
        let result = match &attempt.result {
            AttemptResult::Headers(resp, _) => Some(HostResult::Response(resp.status().as_u16())),
            AttemptResult::Failed(f) => HostResult::of_failure(f),
        };
        let mut st = self.lock();
        let (Some(det), Some(result)) = (st.outlier.as_mut(), result) else {
            return;
        };
        let now = Instant::now();
        self.env
            .draw(|rng| det.report(attempt.host, result, now, rng));
        self.env.stats.outlier(&self.config.name, &det.stats);
    }

    /// The outlier sweep period, when outlier detection is on.
    pub(crate) fn outlier_interval(&self) -> Option<std::time::Duration> {
        self.lock().outlier.as_ref().map(Detector::interval)
    }

    /// One outlier sweep (un-ejections, back-off decay).
    pub(crate) fn outlier_sweep(&self) {
        let mut st = self.lock();
        if let Some(det) = st.outlier.as_mut() {
            det.sweep(Instant::now());
            self.env.stats.outlier(&self.config.name, &det.stats);
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
        self.set_hosts(dedup(addrs.iter().map(|ip| SocketAddr::new(*ip, port))));
    }

    /// Applies an EDS assignment: endpoints that left it are drained as
    /// STRICT_DNS drains removed hosts; an empty one leaves no host. The
    /// first assignment makes the cluster ready.
    ///
    /// # Errors
    /// [`SidecarError::NotEdsCluster`] when the cluster is not EDS.
    pub(crate) fn update_endpoints(&self, endpoints: Vec<Endpoint>) -> Result<(), SidecarError> {
        if !matches!(self.config.discovery, Discovery::Eds { .. }) {
            return Err(SidecarError::NotEdsCluster {
                cluster: self.config.name.clone(),
            });
        }
        let hosts = dedup(endpoints.iter().map(|e| e.addr));
        // Labels first: a pool made for a new host reads them.
        self.lock().endpoints = endpoints;
        self.set_hosts(hosts);
        self.mark_ready();
        Ok(())
    }

    /// Replaces the host set, draining the pools of hosts that left it.
    fn set_hosts(&self, new: Vec<SocketAddr>) {
        let removed: Vec<Arc<Pool>> = {
            let mut st = self.lock();
            let gone: Vec<SocketAddr> = st
                .hosts
                .iter()
                .filter(|h| !new.contains(h))
                .copied()
                .collect();
            st.hosts = new;
            let HostState {
                hosts,
                outlier,
                active,
                ..
            } = &mut *st;
            active.retain(|h, _| hosts.contains(h));
            if let Some(det) = outlier.as_mut() {
                det.set_hosts(hosts);
                self.env.stats.outlier(&self.config.name, &det.stats);
            }
            gone.iter().filter_map(|h| st.pools.remove(h)).collect()
        };
        for pool in removed {
            pool.drain();
        }
    }

    /// Drains every pool of a cluster that a push removed or replaced
    /// (Envoy's `ClusterEntry` destructor): idle connections close now, busy
    /// ones after their request. The pools stay, draining, for the requests
    /// that still hold this cluster.
    pub(crate) fn drain_all(&self) {
        let pools: Vec<Arc<Pool>> = {
            let st = self.lock();
            st.pools
                .values()
                .chain(st.logical.iter())
                .cloned()
                .collect()
        };
        for pool in pools {
            pool.drain();
        }
    }

    /// The latest EDS assignment, if one came.
    pub(crate) fn assignment(&self) -> Option<Vec<Endpoint>> {
        let ready = *self.ready.borrow();
        let is_eds = matches!(self.config.discovery, Discovery::Eds { .. });
        (ready && is_eds).then(|| self.lock().endpoints.clone())
    }

    /// The pool of `host`, if one exists.
    #[cfg(test)]
    pub(crate) fn pool_of(&self, host: SocketAddr) -> Option<Arc<Pool>> {
        self.lock().pools.get(&host).cloned()
    }

    /// Whether outlier detection has `host` ejected.
    #[cfg(test)]
    pub(crate) fn is_ejected(&self, host: SocketAddr) -> bool {
        self.lock()
            .outlier
            .as_ref()
            .is_some_and(|d| d.is_ejected(host))
    }

    /// The latest EDS assignment.
    #[cfg(test)]
    pub(crate) fn endpoints(&self) -> Vec<Endpoint> {
        self.lock().endpoints.clone()
    }
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
mod selection_tests;
#[cfg(test)]
mod tests;
