//! The Envoy-like sidecar forwarder.
//!
//! A sidecar takes the application's captured outbound connections on its
//! capture port (15001), and forwards them the way an Istio sidecar's Envoy
//! does, faithful where it exists to the fact sheet
//! (`shared/reference/envoy-istio-facts.md`): same routes and clusters, same
//! connection pool behaviour, same retries, same local replies byte for byte
//! (`503` `upstream connect error or disconnect/reset before headers. reset
//! reason: connection termination`, `server: envoy`, flags `UC`, `UF`, `URX`...).
//!
//! A request reads top to bottom as it travels:
//! `listener::run` (accept; HTTP port or TCP?) → `router::handle` →
//! [`route::select_indexed`] → fault filter → `ClusterState::pick` → `Pool::checkout` →
//! `attempt::send` → [`retry::decide`] → local reply or upstream response.
//!
//! Module map:
//! - [`config`]: Envoy's listener / route / cluster model (built by `istio`);
//! - `listener`: the accept loop and the per-port protocol choice;
//! - `sniff`: protocol detection on undeclared ports (`http_inspector`);
//! - [`route`]: virtual host and route matching, weighted clusters (pure);
//! - [`fault`]: the fault filter (Istio's `fault`: delay `DI`, abort `FI`);
//! - `router`: one request: route, attempts under the route timeout, reply;
//! - [`cluster`]: host sets (ORIGINAL_DST, STATIC, EDS, STRICT_DNS,
//!   LOGICAL_DNS), load balancing ([`cluster::lb`]) with the previous-hosts
//!   predicate, outlier detection and panic mode, DNS refresh ([`cluster::dns`]);
//! - `pool`: the per-host HTTP/1.1 connection pool and its timers;
//! - [`circuit`]: a cluster's circuit breakers (connections, pending
//!   requests, requests, retries or the retry budget);
//! - [`attempt`]: one try and the classification of failures into Envoy
//!   reset reasons;
//! - [`retry`]: the pure retry decision and Envoy's back-off;
//! - [`local_reply`]: Envoy's local replies;
//! - [`access_log`]: the proxy-log entry and Envoy's file access log in
//!   Istio's formats ([`AccessLog`]);
//! - `admin`: Envoy admin (15000: `/stats`, `/clusters`, `/config_dump`,
//!   `/ready`) and readiness (15021 `/healthz/ready`);
//! - [`agent`]: pilot-agent and the Envoy process's lifecycle: [`boot`]'s
//!   start-up phases, `pilot-agent wait` ([`agent::wait_ready`]), the drain
//!   and exit, the status server (15020 `/quitquitquit`, `/drain`);
//! - `tcp_proxy`: non-HTTP ports;
//! - [`stats`]: Envoy-named counters; [`error`]: [`SidecarError`].
//!
//! ```
//! use meshsim_net::{Capture, Net, SimConfig};
//! use meshsim_sidecar::{SidecarConfig, SidecarDeps, spawn};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use std::time::Duration;
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
//! rt.block_on(async {
//!     let net = Net::sim(SimConfig::default());
//!     let pod = "10.0.0.1".parse().unwrap();
//!     let deps = SidecarDeps {
//!         rng: meshsim_core::SimRng::new(7),
//!         proxy_log: Default::default(),
//!         identity: None,
//!     };
//!     let sidecar = spawn(SidecarConfig::default(), net.stack(pod), deps).await.unwrap();
//!     // The app dials 10.0.0.9:80, where nothing listens; its connect is captured.
//!     let app = net.pod_stack(pod, Capture::default());
//!     let mut c = app.connect("10.0.0.9:80".parse().unwrap(), Duration::from_secs(1)).await.unwrap();
//!     c.write_all(b"GET / HTTP/1.1\r\nhost: 10.0.0.9\r\nconnection: close\r\n\r\n").await.unwrap();
//!     let mut response = String::new();
//!     c.read_to_string(&mut response).await.unwrap();
//!     assert!(response.starts_with("HTTP/1.1 503"));
//!     assert!(response.ends_with("transport failure reason: delayed connect error: 111"));
//!     assert_eq!(sidecar.stats().upstream_cx_connect_fail, 1);
//!     sidecar.shutdown().await;
//! });
//! ```

pub mod access_log;
mod admin;
pub mod agent;
pub mod attempt;
pub mod circuit;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fault;
mod listener;
pub mod local_reply;
mod pool;
pub mod retry;
pub mod route;
mod router;
mod runtime;
mod sniff;
pub mod stats;
mod tasks;
mod tcp_proxy;
pub mod tls;
mod xds;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::Stack;

pub use access_log::{AccessLog, AccessLogSample};
pub use agent::{Drain, Phase, Startup, boot, boot_with_resolver};
pub use cluster::dns::{NoResolver, Resolve, ResolveFuture, Resolved, ScriptedResolver};
pub use config::*;
pub use error::SidecarError;
pub use stats::{ClusterStats, DnsClusterStats, OutlierStats, SidecarStats};

use runtime::{Env, Sidecar};
use xds::Live;

/// What a sidecar shares with the rest of the run.
#[derive(Debug, Clone)]
pub struct SidecarDeps {
    /// The sidecar's random stream (back-off, DNS jitter, load-balancer start).
    pub rng: SimRng,
    /// Where the sidecar puts each request's access-log facts, keyed by the
    /// request's numeric `x-request-id`.
    pub proxy_log: ProxyLog,
    /// The workload's mesh certificate ([`tls::MeshCa::issue`]); `None`: no
    /// certificate, so plaintext only (mTLS clusters connect in plaintext,
    /// a STRICT inbound port accepts nothing).
    pub identity: Option<Arc<tls::WorkloadIdentity>>,
}

/// Starts a sidecar: binds `config.outbound_port` (and `config.inbound`'s
/// port, when set) with [`Stack::listen_capture`], starts DNS clusters' first
/// resolution, and
/// serves until [`SidecarHandle::shutdown`]. `stack` is the sidecar's own,
/// uncaptured stack (Istio's uid 1337).
///
/// DNS clusters resolve with `meshsim-dns`'s stub resolver asking
/// `config.dns_servers` (c-ares defaults: no cache, 5 s per try, 4 tries; an
/// NXDOMAIN or NODATA answer means zero hosts). With no DNS server every
/// resolution fails and DNS clusters keep no host. [`spawn_with_resolver`]
/// takes any other [`Resolve`].
///
/// # Errors
/// `InvalidInput` for an invalid configuration; the bind error otherwise.
pub async fn spawn(
    config: SidecarConfig,
    stack: Stack,
    mut deps: SidecarDeps,
) -> io::Result<SidecarHandle> {
    // The resolver's query ids get their own stream, seeded from the sidecar's.
    let dns_rng = SimRng::new(deps.rng.next_u64());
    let servers = config.dns_servers.clone();
    let resolver = cluster::dns::envoy_resolver(stack.clone(), servers, dns_rng);
    spawn_with_resolver(config, stack, deps, resolver).await
}

/// [`spawn`] with the DNS resolver of STRICT_DNS / LOGICAL_DNS clusters.
///
/// # Errors
/// As [`spawn`].
pub async fn spawn_with_resolver(
    config: SidecarConfig,
    stack: Stack,
    deps: SidecarDeps,
    resolver: Arc<dyn Resolve>,
) -> io::Result<SidecarHandle> {
    config.validate()?;
    let listener = stack.listen_capture(config.outbound_port).await?;
    let addr = listener.local_addr();
    let env = Env::new(stack, deps.rng);
    if let Some(id) = deps.identity {
        let _ = env.identity.set(id);
    }
    let sidecar = Sidecar::new(config, env, deps.proxy_log);
    let live = Live::start(sidecar.clone(), resolver);
    let _ = sidecar.env.live.set(Arc::downgrade(&live));
    let outbound = listener::run(listener, live.clone(), router::Direction::Outbound);
    sidecar.env.tasks.spawn(outbound);
    if let Some(inbound) = &sidecar.config.inbound {
        let listener = sidecar.env.stack.listen_capture(inbound.port).await?;
        let task = listener::run(listener, live.clone(), router::Direction::Inbound);
        sidecar.env.tasks.spawn(task);
    }
    let (admin_addr, readiness_addr) = bind_admin(&sidecar, &live).await?;
    // No agent life here: the status port is bound for the app probers (it
    // answers /quitquitquit and /drain as pilot-agent's does).
    let probers = sidecar.config.admin.as_ref().map(|a| &a.app_probers);
    let status_addr = match probers.is_some_and(|p| !p.probes.is_empty()) {
        true => agent::status_server(&sidecar).await?,
        false => None,
    };
    Ok(SidecarHandle {
        addr,
        live,
        admin_addr,
        readiness_addr,
        status_addr,
    })
}

/// Binds Envoy admin and the readiness port on the sidecar's own stack, when
/// `config.admin` asks for them (after the capture listeners: readiness
/// requires them bound). They serve the current generation.
async fn bind_admin(
    sidecar: &Arc<Sidecar>,
    live: &Arc<Live>,
) -> io::Result<(Option<SocketAddr>, Option<SocketAddr>)> {
    let Some(admin) = sidecar.config.admin.clone() else {
        return Ok((None, None));
    };
    let stack = &sidecar.env.stack;
    let listener = stack.listen(admin.port).await?;
    let admin_addr = listener.local_addr();
    let task = admin::run(listener, live.clone(), admin::Port::Admin);
    sidecar.env.tasks.spawn(task);
    let Some(port) = admin.readiness_port else {
        return Ok((Some(admin_addr), None));
    };
    let listener = stack.listen(port).await?;
    let readiness_addr = listener.local_addr();
    let task = admin::run(listener, live.clone(), admin::Port::Readiness);
    sidecar.env.tasks.spawn(task);
    Ok((Some(admin_addr), Some(readiness_addr)))
}

/// The control surface of a running sidecar. Dropping it aborts the sidecar's
/// tasks without waiting; [`SidecarHandle::shutdown`] waits for them.
pub struct SidecarHandle {
    addr: SocketAddr,
    live: Arc<Live>,
    admin_addr: Option<SocketAddr>,
    readiness_addr: Option<SocketAddr>,
    status_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for SidecarHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SidecarHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SidecarHandle {
    /// The bound outbound capture address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Envoy admin's address (`pod-ip:15000`), when `config.admin` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The readiness endpoint's address (`pod-ip:15021`, `GET
    /// /healthz/ready`), when `config.admin` serves it.
    pub fn readiness_addr(&self) -> Option<SocketAddr> {
        self.readiness_addr
    }

    /// Delivers an EDS assignment for `cluster` (the simulated control
    /// plane's push): the endpoints replace the cluster's hosts; endpoints
    /// that left are drained (idle connections closed at once, busy ones after
    /// their in-flight request); an empty assignment leaves no host (503 UH).
    /// The first assignment ends the cluster's initialization wait. Before
    /// a booting sidecar's first CDS/LDS ([`boot`]), the assignment is held
    /// and delivered with it.
    ///
    /// # Errors
    /// [`SidecarError::UnknownCluster`] for a name the sidecar does not have,
    /// [`SidecarError::NotEdsCluster`] for a cluster that is not EDS.
    pub fn update_endpoints(
        &self,
        cluster: &str,
        endpoints: Vec<Endpoint>,
    ) -> Result<(), SidecarError> {
        let Some(endpoints) = agent::push::hold_endpoints(&self.live, cluster, endpoints)? else {
            return Ok(());
        };
        let sidecar = self.live.current();
        let Some(state) = sidecar.clusters.get(cluster) else {
            return Err(SidecarError::UnknownCluster {
                cluster: cluster.to_string(),
            });
        };
        state.update_endpoints(endpoints)
    }

    /// The access log's lines so far, oldest first (each ends in a
    /// newline); empty when `SidecarConfig::access_log` is `None`.
    pub fn access_log(&self) -> Vec<String> {
        self.access_log_handle()
            .map_or_else(Vec::new, |log| log.lines())
    }

    /// The access log itself (a shared handle that keeps filling), when on.
    pub fn access_log_handle(&self) -> Option<AccessLog> {
        self.live
            .current()
            .access_log
            .as_ref()
            .map(|w| w.log.clone())
    }

    /// Keeps `sample`, the report's small sample of this sidecar's access
    /// log ([`AccessLogSample`]), from now on and across config pushes,
    /// whether or not the file access log is on. Several sidecars may share
    /// one sample (a service's pods). Returns `false`, and changes nothing,
    /// when the sidecar already has a sample.
    pub fn sample_access_log(&self, sample: AccessLogSample) -> bool {
        self.live
            .current()
            .env
            .access_log_sample
            .set(sample)
            .is_ok()
    }

    /// Applies a configuration push from the control plane (xDS), as Envoy
    /// does (see the `xds` module): new requests use the new routes at once,
    /// in-flight ones finish with theirs; an unchanged cluster keeps its
    /// pools, hosts and outlier state; an added cluster starts (DNS
    /// resolution, outlier sweep, EDS wait); a changed cluster is replaced
    /// (new pools; a changed EDS cluster keeps its latest assignment) and the
    /// old one, like a removed one, is drained: idle connections closed now,
    /// busy ones after their request. Counts `cds_update_success`,
    /// `cluster_added`, `cluster_modified`, `cluster_removed`. Before a
    /// booting sidecar's first CDS/LDS ([`boot`]), the push is checked and
    /// held, and the latest one held is the first configuration (no counter).
    ///
    /// # Errors
    /// What [`SidecarConfig::validate`] finds, and
    /// [`SidecarError::ListenerChangeNotModelled`] for a push that changes
    /// the listeners (capture ports, HTTP ports, inbound ports) or the DNS
    /// servers. Nothing changes on an error.
    pub fn apply(&self, config: SidecarConfig) -> Result<(), SidecarError> {
        match agent::push::hold_config(&self.live, config)? {
            Some(config) => self.live.apply(config).map(|_| ()),
            None => Ok(()),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SidecarStats {
        self.live.current().env.stats.snapshot()
    }

    /// Stops the sidecar: every task and socket is gone when this returns
    /// (the capture port is unbound, pooled and proxied connections closed).
    /// Works after an exit too.
    pub async fn shutdown(self) {
        let env = self.live.current().env.clone();
        env.tasks.shutdown().await;
        if env.lifecycle.exit_begun() {
            env.lifecycle.wait_for(Phase::Exited).await;
        }
    }
}

impl Drop for SidecarHandle {
    fn drop(&mut self) {
        self.live.current().env.tasks.abort_all();
    }
}
