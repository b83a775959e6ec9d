//! Scenario files: loading in two phases (serde with unknown keys rejected,
//! then validation into runtime types), with errors that name the file, line,
//! column and key path. The format is documented in `scenarios/README.md`.

mod file;
mod http2;
mod lifecycle;
pub(crate) mod lint_source;
pub(crate) mod locate;
mod middlebox;
mod service_version;
mod user;
mod validate;

pub use http2::Http2Change;
pub use lifecycle::{
    CaptureInstall, InitContainerSpec, LifecycleSpec, PROXY_UID, PodSettings, SidecarStartup,
};
pub use middlebox::{FirewallSpec, MiddleboxKind, MiddleboxSpec};
pub use service_version::ServiceVersion;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use meshsim_app::{CallSpec, ClientProfile};
use meshsim_core::units::format_duration;
use meshsim_dns::CachePolicy;
use meshsim_istio::{IstioVersion, KubeService, Resources};
use meshsim_upstream::{StopMode, UpstreamConfig};

use crate::error::EngineError;
use crate::expect::Expectation;

/// A validated scenario: everything a run needs, no socket yet.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// `name`.
    pub name: String,
    /// `summary`.
    pub summary: String,
    /// `seed` (default 0); `--seed` overrides it.
    pub seed: u64,
    /// `duration` of the load phase.
    pub duration: Duration,
    /// `bucket`: width of the report's time-series buckets, if the file sets
    /// it (default: the run's duration / 60, at least 1 s; see [`Scenario::bucket_for`]).
    pub bucket: Option<Duration>,
    /// `istio` version profile (default `1.24`).
    pub istio_version: IstioVersion,
    /// `envoy.retry_backoff`: the retry back-off every sidecar uses
    /// (default `current-code`, Envoy's source; `documented`, Envoy's docs).
    pub retry_backoff: meshsim_sidecar::config::BackOffFormula,
    /// `world.network`.
    pub network: NetworkSpec,
    /// `world.dns`.
    pub dns: DnsSpec,
    /// `world.external`.
    pub external: Vec<ExternalSpec>,
    /// `world.pods`: the pods that generate load (entry calls).
    pub pods: Vec<PodSpec>,
    /// `world.services`: the mesh's services and their pods.
    pub services: Vec<ServiceSpec>,
    /// `world.control_plane.eds_delay`: how long an endpoint change takes to
    /// reach the sidecars (default 1 s).
    pub eds_delay: Duration,
    /// `world.control_plane.push_delay`: how long an `istio.push` /
    /// `istio.delete` takes to reach the sidecars (default 1 s: istiod's
    /// debounce, `PILOT_DEBOUNCE_AFTER` 100 ms of quiet, at most
    /// `PILOT_DEBOUNCE_MAX` 10 s, then the push and its propagation; a
    /// small mesh converges in well under a second after the debounce).
    pub push_delay: Duration,
    /// `world.control_plane.pod_start`: how long the ReplicaSet's
    /// replacement for a deleted pod takes to be ready (default 5 s: the
    /// controller reacts at once; scheduling and starting with a cached image
    /// take about a second, then the readiness probe, every `periodSeconds`
    /// 10 s by default, passes on average ~5 s later).
    pub pod_start: Duration,
    /// `world.middleboxes`: idle-timer boxes on the entry pods' paths, in
    /// file order (default none).
    pub middleboxes: Vec<MiddleboxSpec>,
    /// `timeline`, ordered by time (stable for equal times).
    pub timeline: Vec<Event>,
    /// `mitigations`, in file order.
    pub mitigations: Vec<Mitigation>,
    /// `expect`.
    pub expectations: Vec<Expectation>,
}

/// Path latency of the simulated network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    /// One-way base latency of every path (default 50 µs).
    pub latency: Duration,
    /// Seeded jitter added per packet, uniform in `[0, jitter)` (default 0).
    pub jitter: Duration,
}

/// The scenario's DNS server and its records.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSpec {
    /// Where it listens (port 53). Default 10.96.0.10 (kube-dns).
    pub address: IpAddr,
    /// Records; each name is also a zone apex.
    pub records: Vec<RecordSpec>,
}

/// One name's records.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSpec {
    /// The name.
    pub name: String,
    /// A/AAAA addresses.
    pub a: Vec<IpAddr>,
    /// CNAME target.
    pub cname: Option<String>,
    /// Record TTL (default 60 s).
    pub ttl: Duration,
    /// SOA minimum for negative answers (default 60 s).
    pub negative_ttl: Duration,
}

/// A fake upstream server.
#[derive(Debug, Clone)]
pub struct ExternalSpec {
    /// `name`, used by timeline events.
    pub name: String,
    /// `address`.
    pub address: SocketAddr,
    /// Extra one-way latency to and from it (default 0).
    pub latency: Duration,
    /// Its server behaviour.
    pub upstream: UpstreamConfig,
}

/// A pod: an application and maybe a sidecar.
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// `name`.
    pub name: String,
    /// Its address (default 10.0.0.1, 10.0.0.2... in file order).
    pub address: IpAddr,
    /// Whether it has a sidecar.
    pub sidecar: bool,
    /// The client profile with the pod's overrides applied.
    pub profile: ClientProfile,
    /// The calls it makes.
    pub calls: Vec<CallSpec>,
    /// `lifecycle`: started at time zero the way kubelet starts a pod, and
    /// stopped by `pod.terminate`; `None`: running before the run starts.
    pub lifecycle: Option<LifecycleSpec>,
}

/// A Kubernetes Service of the mesh and the pods behind it; each pod runs the
/// service's serving application (and a sidecar when `sidecar`).
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Name, namespace, VIP and ports.
    pub service: KubeService,
    /// Pods at the start of the run (for a versioned service: the sum over
    /// its versions).
    pub replicas: u32,
    /// Whether its pods have sidecars (default true).
    pub sidecar: bool,
    /// The client profile of the calls its application makes while serving.
    pub profile: ClientProfile,
    /// The application server's keep-alive idle timeout (`None`: never).
    pub keepalive_timeout: Option<Duration>,
    /// `app.listen`: the addresses the application binds (`0.0.0.0` by
    /// default; `localhost`; `pod-ip`). The first version's for a versioned
    /// service.
    pub listen: meshsim_net::Bind,
    /// The application's routes, first prefix match wins (empty for a
    /// versioned service: each version has its own app).
    pub routes: Vec<ServeRouteSpec>,
    /// `versions`: one Deployment per version, in file order; empty when
    /// the service has its own `replicas` and `app` (see
    /// [`ServiceSpec::deployments`]). For a versioned service `profile` and
    /// `keepalive_timeout` above are the first version's.
    pub versions: Vec<ServiceVersion>,
    /// Index of the service in `world.services`: its pods live in
    /// `10.<index + 1>.0.0/16`... see [`ServiceSpec::pod_address`].
    pub index: usize,
    /// `readiness_probe`: the kubelet probes every pod's application and
    /// only Ready pods are endpoints; `None`: pods are Ready while they run.
    pub readiness_probe: Option<ProbeSpec>,
    /// `annotations` of the pod template (the injector reads
    /// `sidecar.istio.io/rewriteAppHTTPProbers`).
    pub annotations: BTreeMap<String, String>,
}

/// The node's address, where the kubelet's probes come from: no pod,
/// external host or DNS server may take it.
pub const NODE_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 255, 254));

/// A container probe, with Kubernetes' fields and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// `http_get`, `tcp_socket` or `exec`, as the pod spec writes it (before
    /// Istio's injector rewrites it).
    pub action: meshsim_istio::inject::PodProbeAction,
    /// `periodSeconds` (default 10 s).
    pub period: Duration,
    /// `timeoutSeconds` (default 1 s).
    pub timeout: Duration,
    /// `failureThreshold` (default 3): consecutive failures to NotReady.
    pub failure_threshold: u32,
    /// `successThreshold` (default 1): consecutive successes to Ready.
    pub success_threshold: u32,
    /// `initialDelaySeconds` (default 0) after the container starts.
    pub initial_delay: Duration,
}

/// What a mitigation sets on a service's pod template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodTemplateOverride {
    /// Annotations set over the service's own.
    pub annotations: BTreeMap<String, String>,
    /// A readiness probe replacing the service's.
    pub readiness_probe: Option<ProbeSpec>,
}

impl ServiceSpec {
    /// Pod `i`'s name: `<service>-<i>`.
    pub fn pod_name(&self, i: u32) -> String {
        format!("{}-{i}", self.service.name)
    }

    /// Pod `i`'s address: `10.<index + 1>.<i / 250>.<i % 250 + 1>`.
    pub fn pod_address(&self, i: u32) -> IpAddr {
        let net = u8::try_from(self.index + 1).unwrap_or(u8::MAX);
        let [_, _, hi, lo] = (i / 250 * 256 + i % 250 + 1).to_be_bytes();
        IpAddr::from([10, net, hi, lo])
    }
}

/// One route of a serving application.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeRouteSpec {
    /// Path prefix (`/` matches all).
    pub prefix: String,
    /// Status when every downstream call succeeded (default 200).
    pub status: u16,
    /// Response body size.
    pub body_bytes: usize,
    /// Time the app spends on a request, besides its calls.
    pub latency: Duration,
    /// Requests in service at once (more wait in a queue); `None`: unlimited.
    pub capacity: Option<usize>,
    /// Calls made for each request.
    pub calls: Vec<ServeCallSpec>,
    /// Calls run in parallel (a fan-out) rather than one after another.
    pub parallel: bool,
}

/// A call a serving application makes while serving.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeCallSpec {
    /// `http://host[:port]/path`.
    pub url: String,
    /// The method.
    pub method: http::Method,
    /// Its call id (index into [`Scenario::call_labels`]).
    pub call: usize,
}

/// Client-profile fields set by a pod or a mitigation; `None` keeps the profile's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientOverrides {
    /// `keep_alive`.
    pub keep_alive: Option<bool>,
    /// `idle_timeout` (`none` = never).
    pub idle_timeout: Option<Option<Duration>>,
    /// `max_connection_age` (`none` = unlimited).
    pub max_connection_age: Option<Option<Duration>>,
    /// `connect_timeout`.
    pub connect_timeout: Option<Duration>,
    /// `request_timeout` (`none` = no timeout).
    pub request_timeout: Option<Option<Duration>>,
    /// `dns_cache`: `none`, `ttl`, `forever` or a fixed duration like `30s`.
    pub dns_cache: Option<CachePolicy>,
    /// `max_idle_per_host`.
    pub max_idle_per_host: Option<usize>,
    /// `retry`: the application retries connect failures.
    pub retry: Option<meshsim_app::AppRetry>,
}

impl ClientOverrides {
    /// Applies the set fields to `profile`.
    pub fn apply(&self, profile: &mut ClientProfile) {
        if let Some(v) = self.keep_alive {
            profile.keep_alive = v;
        }
        if let Some(v) = self.idle_timeout {
            profile.idle_timeout = v;
        }
        if let Some(v) = self.max_connection_age {
            profile.max_connection_age = v;
        }
        if let Some(v) = self.connect_timeout {
            profile.connect_timeout = v;
        }
        if let Some(v) = self.request_timeout {
            profile.request_timeout = v;
        }
        if let Some(v) = &self.dns_cache {
            profile.dns_cache = *v;
        }
        if let Some(v) = self.max_idle_per_host {
            profile.max_idle_per_host = v;
        }
        if let Some(v) = self.retry {
            profile.retry = Some(v);
        }
    }
}

/// One timeline event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub action: Action,
}

/// What a timeline event does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `dns.set`: replace a name's addresses (and TTL, if given).
    DnsSet {
        /// The name.
        name: String,
        /// New addresses.
        a: Vec<IpAddr>,
        /// New TTL, if given.
        ttl: Option<Duration>,
    },
    /// `host.stop`: stop an external host.
    HostStop {
        /// Its name.
        name: String,
        /// `close` (FIN), `reset` (RST) or `blackhole` (silent drop).
        how: StopMode,
    },
    /// `host.start`: start it again.
    HostStart {
        /// Its name.
        name: String,
    },
    /// `service.scale`: new pods start at once and reach the endpoints after
    /// the EDS delay; removed pods (the highest-numbered) stop at once and
    /// leave the endpoints only after the EDS delay.
    ServiceScale {
        /// The service.
        name: String,
        /// The version (Deployment) scaled; required for a versioned
        /// service, `None` for an unversioned one.
        version: Option<String>,
        /// The new replica count.
        replicas: u32,
    },
    /// `app.set`: a service's application changes behaviour, for a window
    /// (`for`) or until the end.
    AppSet {
        /// The service.
        service: String,
        /// Only this version's pods; `None`: every pod of the service.
        version: Option<String>,
        /// Every request answered with this status.
        status: Option<u16>,
        /// Every request takes this long.
        latency: Option<Duration>,
        /// Requests in service at once.
        capacity: Option<usize>,
        /// How long the change lasts.
        window: Option<Duration>,
    },
    /// `istio.push`: resources applied on top of the current ones (same
    /// kind, namespace and name replaces), re-translated for every sidecar
    /// and applied after the push delay.
    IstioPush {
        /// The pushed resources (validated).
        resources: Box<Resources>,
    },
    /// `istio.delete`: resources removed, pushed after the push delay.
    IstioDelete {
        /// What to remove.
        refs: Vec<ResourceRef>,
    },
    /// `pod.delete`: a service pod stops as `how` says; its endpoint leaves
    /// EDS after the EDS delay; the ReplicaSet's replacement (next free
    /// index) is ready after `pod_start` and joins EDS after the EDS delay.
    PodDelete {
        /// The pod, `<service>-<index>`.
        name: String,
        /// `close` (FIN), `reset` (RST) or `blackhole` (node lost).
        how: PodStop,
    },
    /// `host.set`: an HTTP/2 external host changes its knobs (new streams on
    /// every connection; `max_concurrent_streams` on new connections), for a
    /// window (`for`: then the knobs in force before come back) or for good.
    HostSet {
        /// The host (its protocol is `http2`).
        name: String,
        /// The knobs given.
        http2: Http2Change,
        /// How long the change lasts.
        window: Option<Duration>,
    },
    /// `host.goaway`: an HTTP/2 external host sends a graceful GOAWAY on
    /// every open connection (streams in flight finish; new connections are
    /// served).
    HostGoaway {
        /// The host (its protocol is `http2`).
        name: String,
    },
    /// `pod.terminate`: a pod of `world.pods` with a lifecycle is deleted:
    /// kubelet runs its preStop hooks, sends SIGTERM, and kills what is left
    /// at the end of the grace period.
    PodTerminate {
        /// The pod.
        name: String,
    },
}

/// One Istio resource by kind, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// `ServiceEntry`, `VirtualService` or `DestinationRule`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`None` matches a resource without one).
    pub namespace: Option<String>,
}

/// How a deleted pod goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodStop {
    /// The process exits: connections closed (FIN), connects refused.
    Close,
    /// Connections reset (RST), connects refused.
    Reset,
    /// The node is lost: everything to and from the pod is silently dropped.
    Blackhole,
}

impl std::fmt::Display for PodStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PodStop::Close => "close",
            PodStop::Reset => "reset",
            PodStop::Blackhole => "blackhole",
        })
    }
}

impl Action {
    /// How reports show it.
    pub fn describe(&self) -> String {
        match self {
            Action::DnsSet { name, a, .. } => {
                let list: Vec<String> = a.iter().map(ToString::to_string).collect();
                format!("dns.set {name} -> {}", list.join(", "))
            }
            Action::HostStop { name, how } => format!("host.stop {name} ({how})"),
            Action::HostStart { name } => format!("host.start {name}"),
            Action::ServiceScale {
                name,
                version,
                replicas,
            } => {
                format!("service.scale {} -> {replicas}", qualified(name, version))
            }
            Action::AppSet {
                service,
                version,
                status,
                latency,
                capacity,
                window,
            } => {
                let parts = [
                    status.map(|s| format!("status {s}")),
                    latency.map(|l| format!("latency {}", format_duration(l))),
                    capacity.map(|c| format!("capacity {c}")),
                    window.map(|w| format!("for {}", format_duration(w))),
                ];
                let parts: Vec<String> = parts.into_iter().flatten().collect();
                format!(
                    "app.set {}: {}",
                    qualified(service, version),
                    parts.join(", ")
                )
            }
            Action::IstioPush { resources } => {
                format!("istio.push {}", resource_names(resources).join(", "))
            }
            Action::IstioDelete { refs } => {
                let names: Vec<String> = refs
                    .iter()
                    .map(|r| format!("{} {}", r.kind, r.name))
                    .collect();
                format!("istio.delete {}", names.join(", "))
            }
            Action::PodDelete { name, how } => format!("pod.delete {name} ({how})"),
            Action::HostSet {
                name,
                http2,
                window,
            } => {
                let mut parts = http2.describe();
                if let Some(w) = window {
                    parts.push(format!("for {}", format_duration(*w)));
                }
                format!("host.set {name}: http2 {}", parts.join(", "))
            }
            Action::HostGoaway { name } => format!("host.goaway {name}"),
            Action::PodTerminate { name } => format!("pod.terminate {name}"),
        }
    }
}

/// `service` or `service/version`, as reports show an event's target.
fn qualified(service: &str, version: &Option<String>) -> String {
    match version {
        Some(v) => format!("{service}/{v}"),
        None => service.to_string(),
    }
}

/// `Kind name` of every resource, in kind order.
fn resource_names(res: &Resources) -> Vec<String> {
    let se = res
        .service_entries
        .iter()
        .map(|r| ("ServiceEntry", &r.meta.name));
    let vs = res
        .virtual_services
        .iter()
        .map(|r| ("VirtualService", &r.meta.name));
    let dr = res
        .destination_rules
        .iter()
        .map(|r| ("DestinationRule", &r.meta.name));
    let pa = res
        .peer_authentications
        .iter()
        .map(|r| ("PeerAuthentication", &r.meta.name));
    se.chain(vs)
        .chain(dr)
        .chain(pa)
        .map(|(k, n)| format!("{k} {n}"))
        .collect()
}

/// One mitigation: a variant of the world.
#[derive(Debug, Clone, Default)]
pub struct Mitigation {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `app`: client overrides applied to every pod.
    pub app: ClientOverrides,
    /// `istio`: the Istio resources every sidecar is configured from.
    pub istio: Resources,
    /// `pod`: settings of the pods with a lifecycle (over their own).
    pub pod: PodSettings,
    /// `services`: ports a mitigation declares anew, by service name (the
    /// same port numbers, other names or `appProtocol`); empty: the world's.
    pub services: std::collections::BTreeMap<String, Vec<meshsim_istio::KubeServicePort>>,
    /// `services[].annotations` / `readiness_probe`: pod template changes,
    /// by service name.
    pub pod_templates: BTreeMap<String, PodTemplateOverride>,
    /// The Istio YAML file a user mitigation was pasted from
    /// ([`Scenario::add_user_mitigation`], `meshsim run --with`); `None` for
    /// the scenario's own. A user mitigation runs whatever `-m` selects.
    pub user_file: Option<PathBuf>,
}

impl Scenario {
    /// Loads and validates a scenario file.
    ///
    /// # Errors
    /// [`EngineError::Read`] when the file cannot be read;
    /// [`EngineError::Invalid`] naming the file, line, column and key path of
    /// the first problem found.
    pub fn load(path: &Path) -> Result<Scenario, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|source| EngineError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses and validates scenario text; `path` is used in messages.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for the first problem found.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, EngineError> {
        let file: file::ScenarioFile = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column, message) = yaml_error(&e);
            EngineError::Invalid {
                file: path.to_path_buf(),
                line,
                column,
                path: locate::key_path(text, line, column),
                message,
            }
        })?;
        validate::scenario(file, text, path)
    }

    /// The time-series bucket width for a run of `duration`.
    pub fn bucket_for(&self, duration: Duration) -> Duration {
        validate::bucket_for(self.bucket, duration)
    }

    /// The mitigation named `name`.
    pub fn mitigation(&self, name: &str) -> Option<&Mitigation> {
        self.mitigations.iter().find(|m| m.name == name)
    }

    /// `(from, url, entry)` of every call, by call id: the pods' calls first
    /// (in file order), then the calls services make while serving.
    pub fn call_labels(&self) -> Vec<(String, String, bool)> {
        call_labels(&self.pods, &self.services)
    }
}

/// The calls of `pods` (entry calls) then those `services` make while
/// serving: `(from, url, entry)`, the order of [`Scenario::call_labels`].
fn call_labels(pods: &[PodSpec], services: &[ServiceSpec]) -> Vec<(String, String, bool)> {
    let entry = pods.iter().flat_map(|p| {
        p.calls
            .iter()
            .map(|c| (p.name.clone(), c.url.clone(), true))
    });
    // Hops are attributed per service: versions making the same call share
    // its call id (given at validation), listed once.
    let mut seen = std::collections::BTreeSet::new();
    let hops = services.iter().flat_map(|s| {
        s.deployments().into_iter().flat_map(|d| {
            d.routes
                .into_iter()
                .flat_map(|r| r.calls)
                .map(|c| (c.call, (s.service.name.clone(), c.url, false)))
        })
    });
    let hops: Vec<_> = hops
        .filter(|(id, _)| seen.insert(*id))
        .map(|(_, label)| label)
        .collect();
    entry.chain(hops).collect()
}

/// serde-saphyr's message without its source snippet, and without its own
/// `error: line L column C: ` prefix (the engine prints the location itself).
/// serde-saphyr's error as (line, column, first line of the message with a
/// "did you mean" for a misspelt key).
fn yaml_error(e: &serde_saphyr::Error) -> (usize, usize, String) {
    let (line, column) = e
        .location()
        .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
    let mut message = first_line(&e.to_string());
    if let Some(s) = locate::suggestion(&message) {
        message.push_str(&format!("; did you mean `{s}`?"));
    }
    (line, column, message)
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.split_once(": ") {
        Some((loc, rest)) if loc.starts_with("line ") => rest.to_string(),
        _ => line.to_string(),
    }
}
