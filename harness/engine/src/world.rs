//! Building one mitigation's world on a network: DNS server, fake upstreams,
//! sidecars, the mesh's services ([`mesh`]); applying timeline actions to it;
//! reading what its middleboxes saw ([`middlebox`]); tearing it down.

mod access_log;
mod firewall;
mod lifecycle;
mod mesh;
mod middlebox;

pub(crate) use lifecycle::{PodCtx, PodOutcome, run_pod};

use std::net::SocketAddr;

use std::sync::Arc;
use std::time::Duration;

use meshsim_app::{BehaviourOverride, RecordSink};
use meshsim_core::{ProxyLog, SimRng};
use meshsim_dns::{DnsHandle, ZoneSet};
use meshsim_net::clock::Instant;
use meshsim_net::{Capture, DnsFirewall, FirewallHandle, IdleTimer, IdleTimerHandle, Net, Stack};
use meshsim_sidecar::SidecarDeps;
use meshsim_upstream::UpstreamHandle;

use crate::error::EngineError;
use crate::scenario::{
    Action, Http2Change, MiddleboxKind, MiddleboxSpec, Mitigation, PodSettings, PodSpec, Scenario,
};

/// A running world: every long-running component's handle.
pub(crate) struct World {
    pub(crate) net: Net,
    /// One access log per pod: its sidecar writes, its application reads
    /// (request ids restart at 1 in every application).
    proxy_logs: std::collections::BTreeMap<String, ProxyLog>,
    zones: ZoneSet,
    dns: DnsHandle,
    /// Shared with `host.set` windows (tasks of the mesh, gone before the
    /// upstreams shut down).
    upstreams: Vec<(String, Arc<UpstreamHandle>)>,
    /// The services' pods and every sidecar (the entry pods' included).
    mesh: Arc<mesh::Mesh>,
    /// The report's access-log sample of every sidecar hop.
    samples: access_log::Samples,
    /// `world.middleboxes`, by name, in file order.
    middleboxes: Vec<(String, BoxHandle)>,
    /// The own resolvers of `learn: own` firewalls.
    box_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// `pod.terminate` for each pod with a lifecycle, by name.
    terminations: std::collections::BTreeMap<String, tokio::sync::watch::Sender<bool>>,
    /// Time zero of the run.
    start: Instant,
    /// Envoy admin (15000) and readiness (15021) of each entry pod's
    /// sidecar started with the world, by pod, in file order.
    sidecar_ports: Vec<SidecarPorts>,
}

/// Where an entry pod's sidecar serves admin and readiness (scenario
/// addresses).
#[derive(Debug, Clone)]
pub(crate) struct SidecarPorts {
    /// The pod.
    pub(crate) pod: String,
    /// Envoy admin (`pod-ip:15000`).
    pub(crate) admin: Option<SocketAddr>,
    /// pilot-agent's readiness (`pod-ip:15021`).
    pub(crate) readiness: Option<SocketAddr>,
}

/// An installed middlebox.
#[derive(Debug, Clone)]
pub(crate) enum BoxHandle {
    /// An idle timer.
    IdleTimer(IdleTimerHandle),
    /// A DNS-learning firewall.
    DnsFirewall(FirewallHandle),
}

/// CoreDNS's default TTL for service records (`kubernetes` plugin `ttl 5`).
const SERVICE_DNS_TTL: Duration = Duration::from_secs(5);

/// What a run lends the world it builds.
pub(crate) struct RunDeps {
    pub(crate) seed: u64,
    /// Time zero of the run.
    pub(crate) start: Instant,
    /// Where every application's records go.
    pub(crate) sink: RecordSink,
}

/// The scenario's DNS zones, plus an A record for every service's FQDN.
fn zones(scenario: &Scenario) -> ZoneSet {
    let zones = ZoneSet::new();
    for r in &scenario.dns.records {
        zones.add_zone(&r.name, r.negative_ttl);
        if let Some(target) = &r.cname {
            zones.set_cname(&r.name, target, r.ttl);
        } else {
            zones.set_a(&r.name, r.a.clone(), r.ttl);
        }
    }
    for s in &scenario.services {
        let fqdn = s.service.fqdn();
        zones.add_zone(&fqdn, SERVICE_DNS_TTL);
        zones.set_a(&fqdn, vec![s.service.cluster_ip], SERVICE_DNS_TTL);
    }
    zones
}

/// `world.middleboxes`, installed on `net`; an error names the box.
fn middleboxes(scenario: &Scenario, net: &Net) -> Result<Vec<(String, BoxHandle)>, String> {
    let install = |m: &MiddleboxSpec| {
        let clients = m.clients.clone();
        let h = match &m.kind {
            MiddleboxKind::IdleTimer { idle, on_expiry } => net
                .add_idle_timer(IdleTimer {
                    clients,
                    idle: *idle,
                    on_expiry: *on_expiry,
                })
                .map(BoxHandle::IdleTimer),
            MiddleboxKind::DnsFirewall(f) => net
                .add_dns_firewall(DnsFirewall {
                    clients,
                    ..f.config.clone()
                })
                .map(BoxHandle::DnsFirewall),
        };
        Ok((
            m.name.clone(),
            h.map_err(|e| format!("middlebox {}: {e}", m.name))?,
        ))
    };
    scenario.middleboxes.iter().map(install).collect()
}

/// The own resolvers of the `learn: own` firewalls, started.
fn box_tasks(
    scenario: &Scenario,
    boxes: &[(String, BoxHandle)],
    zones: &ZoneSet,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (m, (_, h)) in scenario.middleboxes.iter().zip(boxes) {
        if let (Some(spec), BoxHandle::DnsFirewall(fw)) = (m.own_resolver(), h) {
            tasks.push(firewall::own_resolver(
                scenario,
                spec,
                zones.clone(),
                fw.clone(),
            ));
        }
    }
    tasks
}

/// The external hosts, started; an error names the host that failed.
async fn externals(
    scenario: &Scenario,
    net: &Net,
) -> Result<Vec<(String, Arc<UpstreamHandle>)>, (String, std::io::Error)> {
    let mut upstreams = Vec::new();
    for ext in &scenario.external {
        if !ext.latency.is_zero() {
            net.set_host_latency(ext.address.ip(), ext.latency);
        }
        let stack = net.stack(ext.address.ip());
        let h = meshsim_upstream::spawn(ext.upstream.clone(), stack, ext.address.port())
            .await
            .map_err(|e| (format!("external host {}", ext.name), e))?;
        upstreams.push((ext.name.clone(), Arc::new(h)));
    }
    Ok(upstreams)
}

/// `scenario` with the service ports `mitigation` declares anew and its
/// pod template changes (annotations, readiness probe); `None` when it
/// changes no service.
fn with_service_changes(scenario: &Scenario, mitigation: &Mitigation) -> Option<Scenario> {
    if mitigation.services.is_empty() && mitigation.pod_templates.is_empty() {
        return None;
    }
    let mut s = scenario.clone();
    for svc in &mut s.services {
        if let Some(ports) = mitigation.services.get(&svc.service.name) {
            svc.service.ports = ports.clone();
        }
        if let Some(t) = mitigation.pod_templates.get(&svc.service.name) {
            svc.annotations.extend(t.annotations.clone());
            if let Some(probe) = &t.readiness_probe {
                svc.readiness_probe = Some(probe.clone());
            }
        }
    }
    Some(s)
}

impl World {
    /// Spawns the DNS server, the upstreams and the sidecars of `scenario`
    /// under `mitigation`.
    pub(crate) async fn build(
        scenario: &Scenario,
        mitigation: &Mitigation,
        net: Net,
        deps: RunDeps,
    ) -> Result<World, EngineError> {
        let renamed = with_service_changes(scenario, mitigation);
        let scenario = renamed.as_ref().unwrap_or(scenario);
        let seed = deps.seed;
        let fail = |what: &str, e: std::io::Error| EngineError::World {
            scenario: scenario.name.clone(),
            mitigation: mitigation.name.clone(),
            message: format!("{what}: {e}"),
        };
        // Before any socket: only flows opened after a box is added cross it.
        let middleboxes = middleboxes(scenario, &net).map_err(|e| EngineError::World {
            scenario: scenario.name.clone(),
            mitigation: mitigation.name.clone(),
            message: e,
        })?;
        let zones = zones(scenario);
        let box_tasks = box_tasks(scenario, &middleboxes, &zones);
        let mut resources = mitigation.istio.clone();
        resources
            .kube_services
            .extend(scenario.services.iter().map(|s| s.service.clone()));
        let dns = meshsim_dns::spawn(zones.clone(), &net.stack(scenario.dns.address), 53)
            .await
            .map_err(|e| fail("dns server", e))?;
        let upstreams = externals(scenario, &net)
            .await
            .map_err(|(what, e)| fail(&what, e))?;
        let proxy_logs: std::collections::BTreeMap<String, ProxyLog> = scenario
            .pods
            .iter()
            .map(|p| (p.name.clone(), ProxyLog::new()))
            .collect();
        let samples = access_log::Samples::new(scenario, deps.start);
        let profile = mesh::SidecarProfile::of(scenario);
        // The mesh CA and its certificates are made before any traffic: key
        // generation draws OS randomness, which no decision may see.
        let ca = Arc::new(
            meshsim_sidecar::tls::MeshCa::new("cluster.local")
                .map_err(|e| fail("mesh CA", std::io::Error::other(e.to_string())))?,
        );
        let mut sidecars = Vec::new();
        let mut sidecar_ports = Vec::new();
        // A pod with a lifecycle starts its own sidecar when kubelet does.
        for pod in scenario
            .pods
            .iter()
            .filter(|p| p.sidecar && p.lifecycle.is_none())
        {
            let config = mesh::sidecar_config(&resources, &profile, dns.addr(), deps.start);
            let deps = SidecarDeps {
                rng: SimRng::fork(seed, &format!("sidecar:{}", pod.name)),
                proxy_log: proxy_logs[&pod.name].clone(),
                identity: mesh::identity(&ca, "default", &pod.name),
            };
            let h = meshsim_sidecar::spawn(config, net.stack(pod.address), deps)
                .await
                .map_err(|e| fail(&format!("sidecar of pod {}", pod.name), e))?;
            samples.attach_entry(&pod.name, &h);
            sidecar_ports.push(SidecarPorts {
                pod: pod.name.clone(),
                admin: h.admin_addr(),
                readiness: h.readiness_addr(),
            });
            sidecars.push(Arc::new(h));
        }
        let env = mesh::MeshEnv {
            net: net.clone(),
            seed,
            start: deps.start,
            dns: dns.addr(),
            sink: deps.sink,
            resources,
            profile,
            mitigation: mitigation.clone(),
            eds_delay: scenario.eds_delay,
            push_delay: scenario.push_delay,
            pod_start: scenario.pod_start,
            samples: samples.services(),
            kubelet: Arc::new(mesh::kubelet::Kubelet::new(net.clone(), seed, deps.start)),
            ca,
        };
        let mesh = mesh::Mesh::start(env, scenario, sidecars)
            .await
            .map_err(|e| fail("service pods", e))?;
        let terminations = scenario
            .pods
            .iter()
            .filter(|p| p.lifecycle.is_some())
            .map(|p| (p.name.clone(), tokio::sync::watch::channel(false).0))
            .collect();
        Ok(World {
            net,
            terminations,
            proxy_logs,
            zones,
            dns,
            upstreams,
            mesh,
            samples,
            middleboxes,
            box_tasks,
            start: deps.start,
            sidecar_ports,
        })
    }

    /// Every middlebox's counters and event log so far, in the scenario's
    /// order, as the report shows them.
    pub(crate) fn middlebox_results(&self) -> Vec<meshsim_core::MiddleboxResult> {
        let result = |(name, h): &(String, BoxHandle)| match h {
            BoxHandle::IdleTimer(h) => middlebox::idle_timer(name, h, self.start),
            BoxHandle::DnsFirewall(h) => middlebox::dns_firewall(name, h, self.start),
        };
        self.middleboxes.iter().map(result).collect()
    }

    /// What the kubelet's readiness probes saw so far, per probed pod.
    pub(crate) fn probe_results(&self) -> Vec<meshsim_core::ProbeResult> {
        self.mesh.probe_results()
    }

    /// Every sidecar hop's access-log sample so far (hops without a line
    /// left out).
    pub(crate) fn access_log(&self) -> Vec<meshsim_core::HopAccessLog> {
        self.samples.collect()
    }

    /// What the task of `pod` (a pod with a lifecycle) needs, and its
    /// `pod.terminate` signal.
    pub(crate) fn pod_ctx(
        &self,
        pod: &PodSpec,
        mitigation: &Mitigation,
        app: meshsim_app::AppConfig,
        sink: RecordSink,
        seed: u64,
        times: (Duration, Duration),
    ) -> Option<(PodCtx, tokio::sync::watch::Receiver<bool>)> {
        let spec = pod.lifecycle.clone()?;
        let terminate = self.terminations.get(&pod.name)?.subscribe();
        // Istio's order: the pod's annotations over the mesh's defaultConfig.
        let mesh = mitigation
            .istio
            .mesh_config
            .as_ref()
            .and_then(|m| m.proxy_defaults.as_ref())
            .map(PodSettings::from_mesh)
            .unwrap_or_default();
        let settings = mesh
            .overridden_by(&spec.settings)
            .overridden_by(&mitigation.pod);
        let cx = PodCtx {
            pod: pod.clone(),
            settings,
            spec,
            net: self.net.clone(),
            mesh: self.mesh.clone(),
            sample: self.samples.entry(&pod.name),
            seed,
            start: self.start,
            app,
            proxy_log: self.proxy_log(pod),
            sink,
            load_for: times.0,
            drain_for: times.1,
        };
        Some((cx, terminate))
    }

    /// Admin and readiness of the entry pods' sidecars.
    pub(crate) fn sidecar_ports(&self) -> &[SidecarPorts] {
        &self.sidecar_ports
    }

    /// The DNS server's address.
    pub(crate) fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The access log shared by a pod's sidecar and application.
    pub(crate) fn proxy_log(&self, pod: &PodSpec) -> ProxyLog {
        self.proxy_logs.get(&pod.name).cloned().unwrap_or_default()
    }

    /// The stack a pod's application uses: captured when it has a sidecar.
    pub(crate) fn app_stack(&self, pod: &PodSpec) -> Stack {
        if pod.sidecar {
            self.net.pod_stack(pod.address, Capture::default())
        } else {
            self.net.stack(pod.address)
        }
    }

    /// Carries out one timeline action.
    pub(crate) async fn apply(&self, action: &Action) {
        match action {
            Action::DnsSet { name, a, ttl } => {
                // Without a new TTL the record keeps the one it has.
                let ttl = ttl
                    .or_else(|| self.zones.ttl(name))
                    .unwrap_or(std::time::Duration::from_secs(60));
                self.zones.set_a(name, a.clone(), ttl);
            }
            Action::HostStop { name, how } => {
                if let Some((_, h)) = self.upstreams.iter().find(|(n, _)| n == name) {
                    h.stop(*how).await;
                }
            }
            Action::HostStart { name } => {
                if let Some((_, h)) = self.upstreams.iter().find(|(n, _)| n == name)
                    && let Err(e) = h.start().await
                {
                    tracing::warn!(host = %name, error = %e, "host.start failed");
                }
            }
            Action::ServiceScale {
                name,
                version,
                replicas,
            } => {
                let version = version.as_deref();
                self.mesh.scale(name, version, *replicas).await;
            }
            Action::AppSet {
                service,
                version,
                status,
                latency,
                capacity,
                window,
            } => {
                let o = BehaviourOverride {
                    latency: *latency,
                    status: *status,
                    capacity: *capacity,
                };
                let version = version.as_deref();
                self.mesh.app_set(service, version, o, *window).await;
            }
            Action::IstioPush { resources } => self.mesh.istio_push((**resources).clone()),
            Action::IstioDelete { refs } => self.mesh.istio_delete(refs),
            Action::PodDelete { name, how } => self.mesh.delete_pod(name, *how).await,
            Action::HostSet {
                name,
                http2,
                window,
            } => self.host_set(name, http2, *window),
            Action::HostGoaway { name } => {
                if let Some(h) = self.upstream(name) {
                    h.go_away();
                }
            }
            Action::PodTerminate { name } => {
                if let Some(t) = self.terminations.get(name) {
                    t.send_replace(true);
                }
            }
        }
    }

    /// The external host named `name`.
    fn upstream(&self, name: &str) -> Option<&Arc<UpstreamHandle>> {
        self.upstreams
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h)
    }

    /// `host.set`: new HTTP/2 knobs; after `window`, the ones before.
    fn host_set(&self, name: &str, change: &Http2Change, window: Option<Duration>) {
        let Some(h) = self.upstream(name) else { return };
        let before = h.http2_mode();
        if let Err(e) = h.set_http2(change.apply(&before)) {
            tracing::warn!(host = %name, error = %e, "host.set failed");
            return;
        }
        if let Some(w) = window {
            let h = h.clone();
            self.mesh.spawn(async move {
                meshsim_net::clock::sleep(w).await;
                let _ = h.set_http2(before);
            });
        }
    }

    /// Stops every component; every task and socket is gone when it returns.
    pub(crate) async fn shutdown(self) {
        for t in &self.box_tasks {
            t.abort();
        }
        self.mesh.shutdown().await;
        for (_, u) in self.upstreams {
            // The mesh's tasks (host.set windows) are gone: the last owner.
            if let Ok(u) = Arc::try_unwrap(u) {
                u.shutdown().await;
            }
        }
        self.dns.shutdown().await;
    }
}
