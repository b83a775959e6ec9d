//! The running sidecar's shared state: configuration, clusters and the
//! environment every task uses (stack, counters, tasks, random stream).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::Stack;

use crate::access_log::http::Sinks;
use crate::access_log::{AccessLogSample, LogWriter};
use crate::agent::Phase;
use crate::agent::lifecycle::Lifecycle;
use crate::cluster::ClusterState;
use crate::config::{InboundPort, Route, SidecarConfig};
use crate::stats::Counters;
use crate::tasks::Tasks;
use crate::xds::Live;

/// What every part of the sidecar needs.
#[derive(Debug)]
pub(crate) struct Env {
    /// The sidecar's own (uncaptured) stack.
    pub(crate) stack: Stack,
    /// Counters.
    pub(crate) stats: Counters,
    /// Every spawned task.
    pub(crate) tasks: Tasks,
    /// The sidecar's seeded random stream (back-off, DNS jitter, LB start).
    rng: Mutex<SimRng>,
    /// The report's access-log sample, when one was given
    /// (`SidecarHandle::sample_access_log`); kept across config pushes.
    pub(crate) access_log_sample: OnceLock<AccessLogSample>,
    /// The live configuration, once the sidecar runs (weak: each generation
    /// holds this environment).
    pub(crate) live: OnceLock<Weak<Live>>,
    /// The Envoy process's phase as pilot-agent sees it (start-up, drain,
    /// exit), and the pushes held until the first one.
    pub(crate) lifecycle: Lifecycle,
    /// The workload's certificate (Istio's SDS secret), when it has one:
    /// without it the sidecar originates and accepts plaintext only.
    pub(crate) identity: OnceLock<Arc<crate::tls::WorkloadIdentity>>,
}

impl Env {
    /// The environment of a sidecar that is ready at once ([`crate::spawn`]).
    pub(crate) fn new(stack: Stack, rng: SimRng) -> Arc<Env> {
        Env::starting_at(stack, rng, Phase::Ready)
    }

    /// The environment of a sidecar whose lifecycle starts at `phase`.
    pub(crate) fn starting_at(stack: Stack, rng: SimRng, phase: Phase) -> Arc<Env> {
        Arc::new(Env {
            stack,
            stats: Counters::default(),
            tasks: Tasks::default(),
            rng: Mutex::new(rng),
            access_log_sample: OnceLock::new(),
            live: OnceLock::new(),
            lifecycle: Lifecycle::new(phase),
            identity: OnceLock::new(),
        })
    }

    /// Cluster `name` of the configuration in force now, as Envoy's router
    /// looks it up again by name before every retry ("clusters can
    /// technically get removed by CDS during a retry"): the replacement
    /// after a push that changed it, `None` after one that removed it.
    /// Without a live configuration (a sidecar being built), `fallback`.
    pub(crate) fn cluster_now(
        &self,
        name: &str,
        fallback: &Arc<ClusterState>,
    ) -> Option<Arc<ClusterState>> {
        match self.live.get().and_then(Weak::upgrade) {
            Some(live) => live.current().clusters.get(name).cloned(),
            None => Some(fallback.clone()),
        }
    }

    /// Draws from the random stream.
    pub(crate) fn draw<R>(&self, f: impl FnOnce(&mut SimRng) -> R) -> R {
        f(&mut self.rng.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One sidecar.
pub(crate) struct Sidecar {
    /// Its configuration.
    pub(crate) config: SidecarConfig,
    /// Its environment.
    pub(crate) env: Arc<Env>,
    /// Clusters by name, `PassthroughCluster` included.
    pub(crate) clusters: BTreeMap<String, Arc<ClusterState>>,
    /// Istio's `allow_any` catch-all route.
    pub(crate) passthrough_route: Route,
    /// `config.virtual_hosts` indexed by port and domain.
    pub(crate) vhost_index: crate::route::VirtualHostIndex,
    /// The inbound HTTP route of each declared HTTP port (`inbound|PORT||`).
    pub(crate) inbound_routes: BTreeMap<u16, Route>,
    /// Where access-log facts go for the application to pick up.
    pub(crate) proxy_log: ProxyLog,
    /// The file access log's writer, when `config.access_log` is set.
    pub(crate) access_log: Option<Arc<LogWriter>>,
}

impl Sidecar {
    /// Where this generation's access-log lines go: the file log and the
    /// report's sample. Empty when neither is on.
    pub(crate) fn log_sinks(&self) -> Sinks {
        Sinks {
            writer: self.access_log.clone(),
            sample: self.env.access_log_sample.get().cloned(),
        }
    }

    /// Builds the clusters; nothing is spawned yet.
    pub(crate) fn new(config: SidecarConfig, env: Arc<Env>, proxy_log: ProxyLog) -> Arc<Sidecar> {
        let mut clusters = BTreeMap::new();
        for c in crate::xds::all_clusters(&config) {
            clusters
                .entry(c.name.clone())
                .or_insert_with(|| ClusterState::new(c, env.clone()));
        }
        let access_log = config.access_log.as_ref().map(LogWriter::new);
        Sidecar::with_clusters(config, env, proxy_log, clusters, access_log)
    }

    /// A generation with clusters already built (a push keeps the unchanged
    /// ones of the previous generation) and its access log (a push keeps
    /// writing the same log).
    pub(crate) fn with_clusters(
        config: SidecarConfig,
        env: Arc<Env>,
        proxy_log: ProxyLog,
        clusters: BTreeMap<String, Arc<ClusterState>>,
        access_log: Option<Arc<LogWriter>>,
    ) -> Arc<Sidecar> {
        let passthrough_route = Route {
            name: "allow_any".to_string(),
            cluster: config.passthrough.name.clone(),
            ..Route::default()
        };
        let inbound_routes = config
            .inbound
            .iter()
            .flat_map(|i| i.ports.iter())
            .filter(|p| p.http)
            .map(|p| (p.port, inbound_route(p)))
            .collect();
        let vhost_index = crate::route::VirtualHostIndex::new(&config.virtual_hosts);
        Arc::new(Sidecar {
            vhost_index,
            access_log,
            config,
            env,
            clusters,
            passthrough_route,
            inbound_routes,
            proxy_log,
        })
    }
}

/// Istio's inbound route of a port: everything to `inbound|PORT||`, no
/// timeout, the version's inbound retry policy.
fn inbound_route(port: &InboundPort) -> Route {
    Route {
        name: "default".to_string(),
        prefix: "/".to_string(),
        cluster: port.cluster_name(),
        timeout: None,
        retry_policy: port.retry_policy.clone(),
        ..Route::default()
    }
}
