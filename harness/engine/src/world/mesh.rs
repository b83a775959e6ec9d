//! The mesh part of a world: each service's pods (serving app + sidecar with
//! inbound capture), the simulated control plane pushing endpoints (EDS) to
//! every sidecar after `eds_delay`, scaling, and app behaviour windows.
//! Istio resource pushes and pod deletions are in [`control`]; versions
//! (a Deployment per version) and scaling in [`deploy`].

mod control;
mod deploy;
pub(crate) mod kubelet;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_app::{
    Capacity, DownstreamCall, RecordSink, RequestIds, RouteSpec, ServeConfig, ServeDeps,
    ServerHandle, StopMode,
};
use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::clock::Instant;
use meshsim_net::{Capture, InboundCapture, Net};
use meshsim_sidecar::{Endpoint, SidecarDeps, SidecarHandle};

use crate::scenario::{Mitigation, Scenario, ServiceSpec, ServiceVersion};
use deploy::Slot;

/// Everything a pod start needs, fixed for the run.
/// What every sidecar of a run shares besides its resources: the Istio
/// version profile and the Envoy build it imitates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SidecarProfile {
    pub(crate) version: meshsim_istio::IstioVersion,
    pub(crate) retry_backoff: meshsim_sidecar::config::BackOffFormula,
}

impl SidecarProfile {
    pub(crate) fn of(scenario: &crate::Scenario) -> SidecarProfile {
        SidecarProfile {
            version: scenario.istio_version,
            retry_backoff: scenario.retry_backoff,
        }
    }
}

pub(crate) struct MeshEnv {
    pub(crate) net: Net,
    pub(crate) seed: u64,
    pub(crate) start: Instant,
    pub(crate) dns: SocketAddr,
    pub(crate) sink: RecordSink,
    /// The mitigation's resources plus the scenario's services.
    pub(crate) resources: meshsim_istio::Resources,
    pub(crate) profile: SidecarProfile,
    pub(crate) mitigation: Mitigation,
    pub(crate) eds_delay: Duration,
    /// How long an Istio resource change takes to reach the sidecars.
    pub(crate) push_delay: Duration,
    /// How long a replacement pod takes to be ready.
    pub(crate) pod_start: Duration,
    /// Each service's access-log sample, shared by its pods' sidecars.
    pub(crate) samples: BTreeMap<String, meshsim_sidecar::AccessLogSample>,
    /// The mesh CA, which issues every sidecar's certificate.
    pub(crate) ca: Arc<meshsim_sidecar::tls::MeshCa>,
    /// The node's kubelet, which probes the pods of services with a
    /// readiness probe.
    pub(crate) kubelet: Arc<kubelet::Kubelet>,
}

/// A workload certificate for `account` in `namespace` (`None`, logged, if
/// the CA fails: that sidecar then speaks plaintext only).
pub(crate) fn identity(
    ca: &meshsim_sidecar::tls::MeshCa,
    namespace: &str,
    account: &str,
) -> Option<Arc<meshsim_sidecar::tls::WorkloadIdentity>> {
    ca.issue(namespace, account)
        .inspect_err(|e| tracing::warn!(%account, error = %e, "no workload certificate"))
        .ok()
}

/// One running pod of a service.
struct PodRun {
    /// Service-wide: its address is [`ServiceSpec::pod_address`]`(index)`.
    index: u32,
    /// Index of its version in the service's [`ServiceSpec::deployments`].
    version: usize,
    /// Its number within its version (its name's last part).
    ordinal: u32,
    /// `<service>-<version>-<ordinal>` (`<service>-<index>` unversioned).
    name: String,
    /// `app: <service>` plus its version's labels (EDS subsets select them).
    labels: BTreeMap<String, String>,
    address: IpAddr,
    server: ServerHandle,
    sidecar: Option<SidecarHandle>,
    /// The kubelet's readiness prober (`None`: the service has no probe,
    /// so the pod is Ready while it runs; or the pod is lost or stopping).
    prober: Option<kubelet::Prober>,
}

impl PodRun {
    /// Whether the pod is Ready: an endpoint of its service.
    fn is_ready(&self) -> bool {
        self.prober.as_ref().is_none_or(kubelet::Prober::is_ready)
    }
}

/// The services' pods, and every sidecar of the world (EDS reaches them all).
pub(crate) struct Mesh {
    env: MeshEnv,
    services: Vec<ServiceSpec>,
    /// Each service's Deployments ([`ServiceSpec::deployments`]).
    deployments: Vec<Vec<ServiceVersion>>,
    pods: tokio::sync::Mutex<Vec<Vec<PodRun>>>,
    /// Sidecars of the load-generating pods (a pod with a lifecycle adds
    /// its own when its istio-proxy container starts).
    entry_sidecars: Mutex<Vec<Arc<SidecarHandle>>>,
    /// Delayed pushes and override windows, gone at shutdown.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    /// The Istio resources as of the latest `istio.push` / `istio.delete`
    /// (the mitigation's plus the services at first).
    resources: Mutex<meshsim_istio::Resources>,
    /// Deleted pods left running behind a black hole (a lost node), by
    /// service index; stopped at shutdown.
    lost: tokio::sync::Mutex<Vec<(usize, PodRun)>>,
    /// The `app.set` in force on each Deployment `(service, version)`, with
    /// the number of the event that set it: pods started while it holds
    /// (scale-ups, replacements) behave the same as the running ones.
    overrides: Mutex<BTreeMap<(usize, usize), (u64, meshsim_app::BehaviourOverride)>>,
    /// Numbers `app.set` events, so a window's end only undoes its own.
    next_override: std::sync::atomic::AtomicU64,
}

impl Mesh {
    /// Starts every service's initial pods and pushes the initial endpoints
    /// at once (the mesh was running before the incident).
    pub(crate) async fn start(
        env: MeshEnv,
        scenario: &Scenario,
        entry_sidecars: Vec<Arc<SidecarHandle>>,
    ) -> std::io::Result<Arc<Mesh>> {
        let mut pods = Vec::new();
        let deployments: Vec<Vec<ServiceVersion>> =
            scenario.services.iter().map(|s| s.deployments()).collect();
        for (svc, deps) in scenario.services.iter().zip(&deployments) {
            let mut list = Vec::new();
            for (version, dep) in deps.iter().enumerate() {
                for ordinal in 0..dep.replicas {
                    let index = list.len() as u32;
                    let slot = Slot::new(index, version, ordinal, dep);
                    let pod = start_pod(&env, &env.resources, svc, dep, slot, true).await?;
                    list.push(pod);
                }
            }
            pods.push(list);
        }
        let resources = Mutex::new(env.resources.clone());
        let mesh = Arc::new(Mesh {
            env,
            services: scenario.services.clone(),
            deployments,
            pods: tokio::sync::Mutex::new(pods),
            entry_sidecars: Mutex::new(entry_sidecars),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            resources,
            lost: tokio::sync::Mutex::new(Vec::new()),
            overrides: Mutex::new(BTreeMap::new()),
            next_override: std::sync::atomic::AtomicU64::new(0),
        });
        mesh.push_endpoints().await;
        if let Some(mut changes) = mesh.env.kubelet.changes() {
            let me = mesh.clone();
            mesh.spawn(async move {
                while changes.recv().await.is_some() {
                    me.push_later();
                }
            });
        }
        Ok(mesh)
    }

    /// What the kubelet's probes saw, per probed pod.
    pub(crate) fn probe_results(&self) -> Vec<meshsim_core::ProbeResult> {
        self.env.kubelet.results()
    }

    /// Sends every sidecar the current endpoints of every service, and
    /// programs kube-proxy's rules with them (for traffic no sidecar takes).
    async fn push_endpoints(&self) {
        let pods = self.pods.lock().await;
        self.program_kube_proxy(&pods);
        let assignments = assignments(&self.current_resources(), &self.services, &pods);
        let entry = self.entry_sidecars();
        let sidecars = pods
            .iter()
            .flatten()
            .filter_map(|p| p.sidecar.as_ref())
            .chain(entry.iter().map(|s| &**s));
        for sidecar in sidecars {
            push(sidecar, &assignments);
        }
    }

    /// kube-proxy: every service port's VIP to its Ready pods' target port
    /// (the endpoints change with the same delay as EDS).
    fn program_kube_proxy(&self, pods: &[Vec<PodRun>]) {
        for (svc, list) in self.services.iter().zip(pods) {
            for port in &svc.service.ports {
                let vip = SocketAddr::new(svc.service.cluster_ip, port.port);
                let endpoints = list
                    .iter()
                    .filter(|p| p.is_ready())
                    .map(|p| SocketAddr::new(p.address, port.target_port))
                    .collect();
                self.env.net.set_service(vip, endpoints);
            }
        }
    }

    /// The entry pods' sidecars, as of now.
    fn entry_sidecars(&self) -> Vec<Arc<SidecarHandle>> {
        self.entry_sidecars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A sidecar an entry pod just started: it gets the current endpoints
    /// (istiod sends them with its first push) and every later push.
    pub(crate) async fn attach_entry(&self, sidecar: Arc<SidecarHandle>) {
        let pods = self.pods.lock().await;
        let eds = assignments(&self.current_resources(), &self.services, &pods);
        push(&sidecar, &eds);
        self.entry_sidecars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sidecar);
    }

    /// The certificate of the entry pod `pod` (namespace `default`).
    pub(crate) fn identity(
        &self,
        pod: &str,
    ) -> Option<Arc<meshsim_sidecar::tls::WorkloadIdentity>> {
        identity(&self.env.ca, "default", pod)
    }

    /// The configuration an entry pod's sidecar gets from the current
    /// resources.
    pub(crate) fn entry_config(&self) -> meshsim_sidecar::SidecarConfig {
        sidecar_config(
            &self.current_resources(),
            &self.env.profile,
            self.env.dns,
            self.env.start,
        )
    }

    /// Pushes the endpoints after the EDS delay.
    fn push_later(self: &Arc<Self>) {
        let me = self.clone();
        let delay = self.env.eds_delay;
        self.spawn(async move {
            meshsim_net::clock::sleep(delay).await;
            me.push_endpoints().await;
        });
    }

    /// Runs `task` until it ends or the mesh shuts down.
    pub(crate) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.spawn(task);
    }

    /// Stops every pod and pending task.
    pub(crate) async fn shutdown(self: Arc<Self>) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        tasks.shutdown().await;
        let pods = std::mem::take(&mut *self.pods.lock().await);
        let lost = std::mem::take(&mut *self.lost.lock().await);
        for pod in pods
            .into_iter()
            .flatten()
            .chain(lost.into_iter().map(|(_, p)| p))
        {
            stop_pod(&self.env.net, pod).await;
        }
        let entry = std::mem::take(
            &mut *self
                .entry_sidecars
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for s in entry {
            // The last owner shuts it down; another owner's drop aborts it.
            if let Ok(s) = Arc::try_unwrap(s) {
                s.shutdown().await;
            }
        }
    }
}

/// Sends one sidecar the given endpoints.
fn push(sidecar: &SidecarHandle, assignments: &BTreeMap<String, Vec<Endpoint>>) {
    for (cluster, endpoints) in assignments {
        if let Err(e) = sidecar.update_endpoints(cluster, endpoints.clone()) {
            tracing::debug!(%cluster, error = %e, "eds update skipped");
        }
    }
}

/// Every EDS cluster's endpoints (`outbound|PORT||fqdn` and one per
/// DestinationRule subset): the running, Ready pods, selected by their labels
/// ([`meshsim_istio::eds_assignments`]).
fn assignments(
    resources: &meshsim_istio::Resources,
    services: &[ServiceSpec],
    pods: &[Vec<PodRun>],
) -> BTreeMap<String, Vec<Endpoint>> {
    let endpoints: Vec<meshsim_istio::ServiceEndpoints> = services
        .iter()
        .zip(pods)
        .map(|(svc, list)| meshsim_istio::ServiceEndpoints {
            service: svc.service.clone(),
            pods: list
                .iter()
                .filter(|p| p.is_ready())
                .map(|p| meshsim_istio::PodEndpoint {
                    address: p.address,
                    labels: p.labels.clone(),
                })
                .collect(),
        })
        .collect();
    meshsim_istio::eds_assignments(resources, &endpoints)
}

/// An Istio sidecar's configuration under `resources`: the translation,
/// the scenario's Envoy profile (retry back-off), Envoy admin (15000) and
/// pilot-agent's readiness (15021), and the access log (when the mesh turns
/// it on) timed from the run's start, so every sidecar's `%START_TIME%`
/// agrees.
pub(crate) fn sidecar_config(
    resources: &meshsim_istio::Resources,
    profile: &SidecarProfile,
    dns: SocketAddr,
    start: Instant,
) -> meshsim_sidecar::SidecarConfig {
    let version = profile.version;
    let mesh = meshsim_istio::MeshConfig::for_resources(version, resources);
    let mut config = meshsim_istio::translate(resources, version, &mesh, vec![dns]);
    config.backoff_formula = profile.retry_backoff;
    config.admin = Some(meshsim_sidecar::config::AdminConfig::default());
    if let Some(log) = &mut config.access_log {
        log.origin = Some(start);
    }
    config
}

/// The sidecar configuration of a pod of `svc` carrying `labels`: the
/// mesh's outbound side, the service's inbound ports, and the
/// PeerAuthentication that applies to the pod.
fn pod_config(
    env: &MeshEnv,
    resources: &meshsim_istio::Resources,
    svc: &ServiceSpec,
    labels: &BTreeMap<String, String>,
) -> meshsim_sidecar::SidecarConfig {
    let mut config = sidecar_config(resources, &env.profile, env.dns, env.start);
    let mut inbound = meshsim_istio::translate_inbound(&[&svc.service], env.profile.version);
    inbound.peer_authn = meshsim_istio::peer_authn_for(resources, &svc.service.namespace, labels);
    config.inbound = Some(inbound);
    if let (Some(admin), Some(probe)) = (config.admin.as_mut(), injected_probe(env, svc)) {
        admin.app_probers.destination = meshsim_istio::inbound_forward(env.profile.version);
        admin.app_probers.probes.extend(probe.agent);
    }
    config
}

/// `svc`'s readiness probe after Istio's injector (unchanged without a
/// sidecar).
fn injected_probe(
    env: &MeshEnv,
    svc: &ServiceSpec,
) -> Option<meshsim_istio::inject::InjectedProbe> {
    let spec = svc.readiness_probe.as_ref()?;
    if !svc.sidecar {
        return Some(meshsim_istio::inject::InjectedProbe {
            kubelet: spec.action.clone(),
            agent: None,
        });
    }
    let rewrite = meshsim_istio::inject::rewrites_probes(&svc.annotations, true);
    Some(meshsim_istio::inject::inject_probe(
        env.profile.version,
        rewrite,
        &svc.service.name,
        meshsim_istio::inject::ProbeKind::Readiness,
        &spec.action,
        spec.timeout,
    ))
}

/// Starts the pod of `svc`'s Deployment `dep` at `slot`: its sidecar
/// (outbound + inbound, with the inbound capture installed), its serving
/// application and the kubelet's prober (`running`: the pod ran before the
/// run, so it is Ready at once).
async fn start_pod(
    env: &MeshEnv,
    resources: &meshsim_istio::Resources,
    svc: &ServiceSpec,
    dep: &ServiceVersion,
    slot: Slot,
    running: bool,
) -> std::io::Result<PodRun> {
    let name = svc.version_pod_name(&dep.name, slot.ordinal);
    let address = svc.pod_address(slot.index);
    let proxy_log = ProxyLog::new();
    let labels = svc.pod_labels(dep);
    let sidecar = if svc.sidecar {
        let config = pod_config(env, resources, svc, &labels);
        let deps = SidecarDeps {
            rng: SimRng::fork(env.seed, &format!("sidecar:{name}")),
            proxy_log: proxy_log.clone(),
            identity: identity(&env.ca, &svc.service.namespace, &svc.service.name),
        };
        let h = meshsim_sidecar::spawn(config, env.net.stack(address), deps).await?;
        if let Some(sample) = env.samples.get(&svc.service.name) {
            h.sample_access_log(sample.clone());
        }
        env.net
            .set_inbound_capture(address, Some(InboundCapture::default()));
        Some(h)
    } else {
        None
    };
    let stack = match sidecar {
        Some(_) => env.net.pod_stack(address, Capture::default()),
        None => env.net.stack(address),
    };
    let deps = ServeDeps {
        rng: SimRng::fork(env.seed, &format!("app-serve:{name}")),
        proxy_log,
        ids: RequestIds::new(),
        start: env.start,
        sink: env.sink.clone(),
    };
    let server = meshsim_app::serve(serve_config(env, svc, dep), stack, deps)
        .await
        .map_err(|e| std::io::Error::other(format!("app of pod {name}: {e}")))?;
    let prober = watch(env, svc, (name.clone(), address), running);
    Ok(PodRun {
        index: slot.index,
        version: slot.version,
        ordinal: slot.ordinal,
        name,
        labels,
        address,
        server,
        sidecar,
        prober,
    })
}

/// The kubelet's prober of the pod `pod` (name, address) of `svc`, when
/// the service has a readiness probe.
fn watch(
    env: &MeshEnv,
    svc: &ServiceSpec,
    pod: (String, IpAddr),
    running: bool,
) -> Option<kubelet::Prober> {
    let spec = svc.readiness_probe.as_ref()?;
    let injected = injected_probe(env, svc)?;
    Some(env.kubelet.watch(kubelet::PodProbe {
        pod,
        rewritten: injected.agent.is_some(),
        action: injected.kubelet,
        spec: spec.clone(),
        running,
    }))
}

async fn stop_pod(net: &Net, pod: PodRun) {
    stop_pod_with(net, pod, StopMode::Close).await;
}

/// Stops a pod's application as `how` says, then its sidecar. The
/// kubelet stops probing it first: it is no longer a pod of the service.
async fn stop_pod_with(net: &Net, mut pod: PodRun, how: StopMode) {
    drop(pod.prober.take());
    net.set_inbound_capture(pod.address, None);
    pod.server.stop(how).await;
    if let Some(s) = pod.sidecar {
        s.shutdown().await;
    }
}

fn serve_config(env: &MeshEnv, svc: &ServiceSpec, dep: &ServiceVersion) -> ServeConfig {
    let mut profile = dep.profile.clone();
    env.mitigation.app.apply(&mut profile);
    let mut ports: Vec<u16> = svc.service.ports.iter().map(|p| p.target_port).collect();
    ports.sort_unstable();
    ports.dedup();
    let routes = dep
        .routes
        .iter()
        .map(|r| RouteSpec {
            prefix: r.prefix.clone(),
            status: r.status,
            body_bytes: r.body_bytes,
            latency: r.latency,
            capacity: r.capacity.map(|limit| Capacity {
                limit,
                queue_limit: None,
            }),
            calls: r
                .calls
                .iter()
                .map(|c| DownstreamCall {
                    url: c.url.clone(),
                    method: c.method.clone(),
                    call: c.call,
                })
                .collect(),
            call_mode: if r.parallel {
                meshsim_app::CallMode::Parallel
            } else {
                meshsim_app::CallMode::Sequential
            },
            ..RouteSpec::default()
        })
        .collect();
    ServeConfig {
        ports,
        bind: dep.listen,
        routes,
        idle_timeout: dep.keepalive_timeout,
        profile,
        dns_servers: vec![env.dns],
    }
}
