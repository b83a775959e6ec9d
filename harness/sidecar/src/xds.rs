//! Hot configuration updates: the control plane's push (`SidecarHandle::apply`).
//!
//! A running sidecar is one immutable *generation* ([`Sidecar`]: its
//! configuration, route tables and clusters) behind a lock. Every request
//! takes the current generation once, when it starts, and keeps it to the
//! end; a push builds the next generation and swaps it in. So, as in Envoy:
//!
//! - **RDS**: new requests see the new routes at once; in-flight requests keep
//!   the routes they matched.
//! - **CDS** (Envoy's `ClusterManagerImpl::addOrUpdateCluster`, compared by the
//!   config's hash): an *unchanged* cluster is the same object in the next
//!   generation (pools, hosts, outlier state, DNS loop untouched); an *added*
//!   one starts (DNS refresh, outlier sweep, EDS wait); a *removed* one, and
//!   the old object of a *changed* one, are drained as Envoy's thread-local
//!   `ClusterEntry` destructor drains its pools (`drainConnPools`,
//!   `DrainExistingConnections`): idle connections close at once, busy ones
//!   after their in-flight request; their DNS loop and outlier sweep stop.
//! - **EDS of a changed EDS cluster**: Envoy warms the new cluster until it
//!   has an assignment and keeps the old one serving meanwhile (cluster
//!   warming, `arch_overview_cluster_warming`); Istio answers the warming
//!   cluster's EDS request with the same endpoints (and newer Envoys replay
//!   the cached assignment, `eds_resources_cache`). meshsim folds that into
//!   the swap: the new cluster starts with the old one's latest assignment.
//! - **Listeners (LDS)**: a change of the capture ports, of the set of HTTP
//!   ports, of the inbound ports or of the DNS servers is refused with
//!   [`SidecarError::ListenerChangeNotModelled`]: Envoy drains the old
//!   listener (INC-16's 503 burst), which meshsim does not model.
//!
//! The request path pays one read lock and one `Arc` clone per request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::cluster::ClusterState;
use crate::cluster::dns::{Resolve, refresh_loop};
use crate::config::{Cluster, Discovery, SidecarConfig};
use crate::error::SidecarError;
use crate::runtime::Sidecar;

/// The current generation and what a push needs to start clusters.
pub(crate) struct Live {
    current: RwLock<Arc<Sidecar>>,
    resolver: Arc<dyn Resolve>,
    /// The DNS loop and outlier sweep of each running cluster, by name.
    cluster_tasks: Mutex<BTreeMap<String, Vec<AbortHandle>>>,
    /// Bumped at every swap of the generation (start-up waits on it).
    generation: watch::Sender<u64>,
}

/// What one push did, cluster by cluster (Envoy's `cluster_manager.*`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CdsDelta {
    pub(crate) added: u64,
    pub(crate) modified: u64,
    pub(crate) removed: u64,
}

impl Live {
    /// Wraps the first generation and starts its clusters' tasks.
    pub(crate) fn start(sidecar: Arc<Sidecar>, resolver: Arc<dyn Resolve>) -> Arc<Live> {
        let live = Live::idle(sidecar, resolver);
        live.start_all();
        live
    }

    /// Wraps the first generation without starting anything (a booting
    /// sidecar before its first CDS/LDS).
    pub(crate) fn idle(sidecar: Arc<Sidecar>, resolver: Arc<dyn Resolve>) -> Arc<Live> {
        Arc::new(Live {
            current: RwLock::new(sidecar),
            resolver,
            cluster_tasks: Mutex::new(BTreeMap::new()),
            generation: watch::channel(0).0,
        })
    }

    /// Starts the tasks of every cluster of the current generation.
    pub(crate) fn start_all(&self) {
        let sidecar = self.current();
        for cluster in sidecar.clusters.values() {
            self.start_cluster(&sidecar, cluster);
        }
    }

    /// Swaps in a generation whose clusters were never started, replacing
    /// one whose clusters were never started either (a booting sidecar's
    /// first push).
    pub(crate) fn replace_unstarted(&self, next: Arc<Sidecar>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        self.generation.send_modify(|g| *g += 1);
    }

    /// A receiver that sees every later swap of the generation.
    pub(crate) fn generations(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The generation new requests use.
    pub(crate) fn current(&self) -> Arc<Sidecar> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Spawns a cluster's background tasks: DNS refresh, outlier sweep.
    fn start_cluster(&self, sc: &Sidecar, cluster: &Arc<ClusterState>) {
        let mut handles = Vec::new();
        if let Discovery::StrictDns { hostname, port } | Discovery::LogicalDns { hostname, port } =
            &cluster.config.discovery
        {
            let task = refresh_loop(
                cluster.clone(),
                self.resolver.clone(),
                hostname.clone(),
                *port,
            );
            handles.extend(sc.env.tasks.spawn_abortable(task));
        }
        if cluster.config.outlier_detection.is_some() {
            let sweep = crate::cluster::outlier::interval_loop(cluster.clone());
            handles.extend(sc.env.tasks.spawn_abortable(sweep));
        }
        self.tasks().insert(cluster.config.name.clone(), handles);
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<AbortHandle>>> {
        self.cluster_tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops a cluster that left the configuration (or was replaced): its
    /// tasks end and its pools drain.
    fn retire(&self, cluster: &ClusterState) {
        if let Some(handles) = self.tasks().remove(&cluster.config.name) {
            handles.iter().for_each(AbortHandle::abort);
        }
        cluster.drain_all();
    }

    /// Applies a push: validates `new`, refuses listener changes, builds the
    /// next generation (unchanged clusters kept, changed ones replaced, new
    /// ones started), swaps it in, then retires what left.
    pub(crate) fn apply(&self, new: SidecarConfig) -> Result<CdsDelta, SidecarError> {
        new.validate()?;
        let old = self.current();
        check_listeners(&old.config, &new)?;
        let mut delta = CdsDelta::default();
        let mut clusters = BTreeMap::new();
        let mut started = Vec::new();
        let mut retired = Vec::new();
        for c in all_clusters(&new) {
            let state = match old.clusters.get(&c.name) {
                Some(o) if o.config == c => o.clone(),
                Some(o) => {
                    delta.modified += 1;
                    retired.push(o.clone());
                    let next = ClusterState::new(c, old.env.clone());
                    carry_endpoints(o, &next);
                    started.push(next.clone());
                    next
                }
                None => {
                    delta.added += 1;
                    let next = ClusterState::new(c, old.env.clone());
                    started.push(next.clone());
                    next
                }
            };
            clusters.entry(state.config.name.clone()).or_insert(state);
        }
        for (name, o) in &old.clusters {
            if !clusters.contains_key(name) {
                delta.removed += 1;
                retired.push(o.clone());
            }
        }
        // The access log goes on in the same log unless the push changes it.
        let log = match (&old.access_log, &new.access_log) {
            (Some(w), Some(c)) if old.config.access_log.as_ref() == Some(c) => Some(w.clone()),
            (_, c) => c.as_ref().map(crate::access_log::LogWriter::new),
        };
        let env = old.env.clone();
        let next = Sidecar::with_clusters(new, env, old.proxy_log.clone(), clusters, log);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next.clone();
        self.generation.send_modify(|g| *g += 1);
        retired.iter().for_each(|c| self.retire(c));
        started.iter().for_each(|c| self.start_cluster(&next, c));
        next.env.stats.bump(|s| {
            s.cds_update_success += 1;
            s.cluster_added += delta.added;
            s.cluster_modified += delta.modified;
            s.cluster_removed += delta.removed;
        });
        Ok(delta)
    }
}

/// Every cluster a configuration runs: its clusters, `PassthroughCluster`
/// and the inbound clusters (`inbound|PORT||`).
pub(crate) fn all_clusters(config: &SidecarConfig) -> Vec<Cluster> {
    let inbound = (config.inbound.iter()).flat_map(|i| i.ports.iter().map(|p| i.cluster(p)));
    config
        .clusters
        .iter()
        .cloned()
        .chain(std::iter::once(config.passthrough.clone()))
        .chain(inbound)
        .collect()
}

/// A replaced EDS cluster starts with the old one's latest assignment.
fn carry_endpoints(old: &ClusterState, new: &ClusterState) {
    let both_eds = matches!(old.config.discovery, Discovery::Eds { .. })
        && matches!(new.config.discovery, Discovery::Eds { .. });
    if let (true, Some(endpoints)) = (both_eds, old.assignment()) {
        // Both are EDS: the update cannot fail.
        let _ = new.update_endpoints(endpoints);
    }
}

/// What the listeners are bound to and how they split HTTP from TCP.
#[derive(Debug, PartialEq)]
struct ListenerShape {
    outbound_port: u16,
    http_ports: Vec<u16>,
    inbound: Option<(u16, Vec<(u16, bool)>)>,
    dns_servers: Vec<std::net::SocketAddr>,
}

fn shape(c: &SidecarConfig) -> ListenerShape {
    let mut http_ports = c.http_ports.clone();
    http_ports.sort_unstable();
    http_ports.dedup();
    let inbound = c.inbound.as_ref().map(|i| {
        let mut ports: Vec<(u16, bool)> = i.ports.iter().map(|p| (p.port, p.http)).collect();
        ports.sort_unstable();
        (i.port, ports)
    });
    ListenerShape {
        outbound_port: c.outbound_port,
        http_ports,
        inbound,
        dns_servers: c.dns_servers.clone(),
    }
}

/// Refuses a push that would change a listener (not modelled).
pub(crate) fn check_listeners(
    old: &SidecarConfig,
    new: &SidecarConfig,
) -> Result<(), SidecarError> {
    let (a, b) = (shape(old), shape(new));
    let what = if a.outbound_port != b.outbound_port {
        Some("the outbound capture port")
    } else if a.http_ports != b.http_ports {
        Some("the set of outbound HTTP ports (a listener added, removed or switched to TCP)")
    } else if a.inbound != b.inbound {
        Some("the inbound listener or its ports")
    } else if a.dns_servers != b.dns_servers {
        Some("the DNS servers (bootstrap configuration)")
    } else {
        None
    };
    match what {
        Some(what) => Err(SidecarError::ListenerChangeNotModelled { what }),
        None => Ok(()),
    }
}
