//! The scenario file as written: serde mirror of the YAML, every table with
//! `deny_unknown_fields`. Validation into runtime types is in `scenario.rs`.

use std::collections::BTreeMap;

use meshsim_core::{HumanDuration, Rate};
use serde::Deserialize;
use serde_saphyr::Spanned;

mod lifecycle;
mod probe;

pub(crate) use probe::ProbeFile;

pub(crate) use lifecycle::{
    InitContainerFile, LifecycleFile, PodSettingsFile, ProxyConfigFile, SidecarStartupFile,
};

/// The top level of a scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    pub(crate) version: Spanned<u32>,
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) summary: String,
    #[serde(default)]
    pub(crate) seed: u64,
    pub(crate) duration: Spanned<HumanDuration>,
    #[serde(default)]
    pub(crate) istio: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) envoy: EnvoyFile,
    #[serde(default)]
    pub(crate) bucket: Option<Spanned<HumanDuration>>,
    pub(crate) world: WorldFile,
    #[serde(default)]
    pub(crate) timeline: Vec<EventFile>,
    pub(crate) mitigations: Vec<MitigationFile>,
    #[serde(default)]
    pub(crate) expect: Vec<ExpectFile>,
}

/// `envoy`: which Envoy build the sidecars imitate where Envoy's code and
/// its documentation disagree.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvoyFile {
    #[serde(default)]
    pub(crate) retry_backoff: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorldFile {
    #[serde(default)]
    pub(crate) network: NetworkFile,
    #[serde(default)]
    pub(crate) dns: DnsFile,
    #[serde(default)]
    pub(crate) external: Vec<ExternalFile>,
    pub(crate) pods: Vec<PodFile>,
    #[serde(default)]
    pub(crate) services: Vec<ServiceFile>,
    #[serde(default)]
    pub(crate) control_plane: ControlPlaneFile,
    #[serde(default)]
    pub(crate) middleboxes: Vec<MiddleboxFile>,
}

/// `world.middleboxes[]`: a stateful box on the path of some pods:
/// `kind: idle_timer` (`preset`, `idle`, `on_expiry`) or `kind: dns_firewall` (the
/// other keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MiddleboxFile {
    pub(crate) kind: Spanned<String>,
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) pods: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) preset: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) idle: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) on_expiry: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) learn: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) refresh: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) view: Option<Spanned<std::collections::BTreeMap<String, Vec<std::net::IpAddr>>>>,
    #[serde(default)]
    pub(crate) inside: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) min_ttl: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) max_ttl: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) grace: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) on_unknown: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) keep_active: Option<Spanned<HumanDuration>>,
}

/// `world.control_plane`: how fast istiod's pushes reach the sidecars.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ControlPlaneFile {
    #[serde(default)]
    pub(crate) eds_delay: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) push_delay: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) pod_start: Option<Spanned<HumanDuration>>,
}

/// `world.services[]`: a Kubernetes Service and the pods behind it: either
/// one Deployment (`replicas` + `app`) or one per version (`versions`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) namespace: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) cluster_ip: Option<Spanned<std::net::IpAddr>>,
    #[serde(default)]
    pub(crate) ports: Vec<ServicePortFile>,
    #[serde(default)]
    pub(crate) replicas: Option<Spanned<u32>>,
    #[serde(default = "yes")]
    pub(crate) sidecar: bool,
    #[serde(default)]
    pub(crate) app: Option<ServeAppFile>,
    #[serde(default)]
    pub(crate) versions: Option<Spanned<Vec<VersionFile>>>,
    /// The kubelet's readiness probe of every pod's application container.
    #[serde(default)]
    pub(crate) readiness_probe: Option<Spanned<ProbeFile>>,
    /// The pod template's annotations (`sidecar.istio.io/rewriteAppHTTPProbers`).
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, Spanned<String>>,
}

/// `world.services[].versions[]`: one Deployment behind the service (as
/// bookinfo's `reviews` v1/v2/v3).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VersionFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) replicas: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) labels: Option<Spanned<BTreeMap<String, String>>>,
    pub(crate) app: ServeAppFile,
}

fn yes() -> bool {
    true
}

/// `spec.ports[]` of a service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServicePortFile {
    pub(crate) name: Spanned<String>,
    pub(crate) port: Spanned<u16>,
    #[serde(default)]
    pub(crate) target_port: Option<u16>,
    #[serde(default)]
    pub(crate) app_protocol: Option<String>,
}

/// A serving application: its client (for the calls it makes while serving)
/// and its routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeAppFile {
    #[serde(default)]
    pub(crate) client: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) keepalive_timeout: Option<Spanned<String>>,
    /// `0.0.0.0` (default) | `localhost` | `pod-ip`.
    #[serde(default)]
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) routes: Vec<ServeRouteFile>,
}

/// One route of a serving application.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeRouteFile {
    #[serde(default)]
    pub(crate) prefix: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<Spanned<u16>>,
    #[serde(default)]
    pub(crate) body_bytes: Option<usize>,
    #[serde(default)]
    pub(crate) latency: Option<HumanDuration>,
    #[serde(default)]
    pub(crate) capacity: Option<Spanned<usize>>,
    #[serde(default)]
    pub(crate) calls: Vec<ServeCallFile>,
    #[serde(default)]
    pub(crate) fanout: Option<Spanned<String>>,
}

/// A call a serving application makes for each request of its route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeCallFile {
    pub(crate) url: Spanned<String>,
    #[serde(default)]
    pub(crate) method: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkFile {
    #[serde(default)]
    pub(crate) latency: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) jitter: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DnsFile {
    #[serde(default)]
    pub(crate) address: Option<Spanned<std::net::IpAddr>>,
    #[serde(default)]
    pub(crate) zones: BTreeMap<String, RecordFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordFile {
    #[serde(default)]
    pub(crate) a: Option<Vec<std::net::IpAddr>>,
    #[serde(default)]
    pub(crate) cname: Option<String>,
    #[serde(default)]
    pub(crate) ttl: Option<HumanDuration>,
    #[serde(default)]
    pub(crate) negative_ttl: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExternalFile {
    pub(crate) name: Spanned<String>,
    pub(crate) address: Spanned<std::net::SocketAddr>,
    #[serde(default)]
    pub(crate) protocol: Option<Spanned<String>>,
    /// With `protocol: http2`: the server's HTTP/2 knobs.
    #[serde(default)]
    pub(crate) http2: Option<Spanned<Http2File>>,
    #[serde(default)]
    pub(crate) keepalive_timeout: Option<HumanDuration>,
    #[serde(default)]
    pub(crate) max_requests_per_connection: Option<u32>,
    #[serde(default)]
    pub(crate) latency: Option<HumanDuration>,
    #[serde(default)]
    pub(crate) routes: Vec<RouteFile>,
}

/// The HTTP/2 knobs of an external host (`world.external[].http2`, and
/// `host.set`'s `http2`): each absent key is off (or, in `host.set`,
/// unchanged).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Http2File {
    #[serde(default)]
    pub(crate) max_concurrent_streams: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) refuse_every_nth: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) refuse_over_in_flight: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) goaway_after_streams: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) max_connection_age: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteFile {
    #[serde(default)]
    pub(crate) prefix: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<u16>,
    #[serde(default)]
    pub(crate) body_bytes: Option<usize>,
    #[serde(default)]
    pub(crate) latency: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) address: Option<Spanned<std::net::IpAddr>>,
    #[serde(default)]
    pub(crate) sidecar: bool,
    pub(crate) app: AppFile,
    /// Started at time zero the way kubelet starts a pod.
    #[serde(default)]
    pub(crate) lifecycle: Option<LifecycleFile>,
}

/// A pod's application: a client profile, optional overrides of its fields
/// (the same keys as [`ClientOverridesFile`]) and the calls it makes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppFile {
    pub(crate) client: Spanned<String>,
    pub(crate) calls: Vec<CallFile>,
    #[serde(default)]
    pub(crate) keep_alive: Option<bool>,
    #[serde(default)]
    pub(crate) idle_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) max_connection_age: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) connect_timeout: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) request_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) dns_cache: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) max_idle_per_host: Option<usize>,
    #[serde(default)]
    pub(crate) retry: Option<AppRetryFile>,
}

impl AppFile {
    /// The profile overrides written next to `client`.
    pub(crate) fn overrides(&self) -> ClientOverridesFile {
        ClientOverridesFile {
            keep_alive: self.keep_alive,
            idle_timeout: self.idle_timeout.clone(),
            max_connection_age: self.max_connection_age.clone(),
            connect_timeout: self.connect_timeout.clone(),
            request_timeout: self.request_timeout.clone(),
            dns_cache: self.dns_cache.clone(),
            max_idle_per_host: self.max_idle_per_host,
            retry: self.retry.clone(),
        }
    }
}

/// Client-profile fields a pod or a mitigation may override.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientOverridesFile {
    #[serde(default)]
    pub(crate) keep_alive: Option<bool>,
    #[serde(default)]
    pub(crate) idle_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) max_connection_age: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) connect_timeout: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) request_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) dns_cache: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) max_idle_per_host: Option<usize>,
    #[serde(default)]
    pub(crate) retry: Option<AppRetryFile>,
}

/// `retry`: the application retries connect failures with back-off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppRetryFile {
    pub(crate) attempts: Spanned<u32>,
    #[serde(default)]
    pub(crate) backoff: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) max_backoff: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallFile {
    pub(crate) url: Spanned<String>,
    #[serde(default)]
    pub(crate) method: Option<Spanned<String>>,
    pub(crate) rate: Spanned<Rate>,
    #[serde(default)]
    pub(crate) arrival: Option<Spanned<String>>,
    /// At most this many requests (a Job's work).
    #[serde(default)]
    pub(crate) count: Option<Spanned<u64>>,
}

/// One timeline entry: `at` plus exactly one action key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventFile {
    pub(crate) at: Spanned<HumanDuration>,
    #[serde(default, rename = "dns.set")]
    pub(crate) dns_set: Option<BTreeMap<String, RecordFile>>,
    #[serde(default, rename = "host.stop")]
    pub(crate) host_stop: Option<HostStopFile>,
    #[serde(default, rename = "host.start")]
    pub(crate) host_start: Option<HostNameFile>,
    #[serde(default, rename = "service.scale")]
    pub(crate) service_scale: Option<ServiceScaleFile>,
    #[serde(default, rename = "app.set")]
    pub(crate) app_set: Option<AppSetFile>,
    #[serde(default, rename = "istio.push")]
    pub(crate) istio_push: Option<Spanned<String>>,
    #[serde(default, rename = "istio.delete")]
    pub(crate) istio_delete: Option<Vec<ResourceRefFile>>,
    #[serde(default, rename = "pod.delete")]
    pub(crate) pod_delete: Option<PodDeleteFile>,
    #[serde(default, rename = "host.set")]
    pub(crate) host_set: Option<HostSetFile>,
    #[serde(default, rename = "host.goaway")]
    pub(crate) host_goaway: Option<HostNameFile>,
    #[serde(default, rename = "pod.terminate")]
    pub(crate) pod_terminate: Option<HostNameFile>,
}

/// `host.set`: an HTTP/2 external host changes its knobs, for a window or
/// for good.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostSetFile {
    pub(crate) name: Spanned<String>,
    pub(crate) http2: Spanned<Http2File>,
    #[serde(default, rename = "for")]
    pub(crate) for_: Option<Spanned<HumanDuration>>,
}

/// `istio.delete[]`: one resource to remove.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourceRefFile {
    pub(crate) kind: Spanned<String>,
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// `pod.delete`: a service pod killed (or its node lost).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodDeleteFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) how: Option<Spanned<String>>,
}

/// `service.scale`: the new replica count.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceScaleFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) version: Option<Spanned<String>>,
    pub(crate) replicas: Spanned<u32>,
}

/// `app.set`: a service's app behaves differently, for a window or for good.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppSetFile {
    pub(crate) service: Spanned<String>,
    #[serde(default)]
    pub(crate) version: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) status: Option<Spanned<u16>>,
    #[serde(default)]
    pub(crate) latency: Option<HumanDuration>,
    #[serde(default)]
    pub(crate) capacity: Option<Spanned<usize>>,
    #[serde(default, rename = "for")]
    pub(crate) for_: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostStopFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) how: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostNameFile {
    pub(crate) name: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MitigationFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) app: Option<ClientOverridesFile>,
    #[serde(default)]
    pub(crate) istio: Option<Spanned<String>>,
    /// Settings of the pods with a lifecycle.
    #[serde(default)]
    pub(crate) pod: Option<PodSettingsFile>,
    /// Services whose ports the mitigation declares anew (names,
    /// `app_protocol`).
    #[serde(default)]
    pub(crate) services: Vec<ServicePortsFile>,
}

/// `mitigations[].services[]`: a service's ports as the mitigation declares
/// them, and its pod template's annotations and readiness probe.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServicePortsFile {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) ports: Option<Spanned<Vec<ServicePortFile>>>,
    /// Set over the service's own annotations.
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, Spanned<String>>,
    /// Replaces the service's readiness probe.
    #[serde(default)]
    pub(crate) readiness_probe: Option<Spanned<ProbeFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectFile {
    pub(crate) mitigation: Spanned<String>,
    #[serde(default)]
    pub(crate) why: Option<String>,
    /// `catalog` or `catalog -> http://inventory/stock`: read that hop.
    #[serde(default)]
    pub(crate) hop: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) error_rate: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) errors: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) p50: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) p99: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) max: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) upstream_attempts_per_request: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) has_error: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) no_error: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) last_error_before: Option<Spanned<HumanDuration>>,
    /// The pod whose lifecycle figures the keys below read (default: the
    /// only pod with a lifecycle).
    #[serde(default)]
    pub(crate) pod: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) app_start: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) sidecar_ready: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) first_success: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) completion: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) startup_failures: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) termination_failures: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) abandoned: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) init_failures: Option<Spanned<String>>,
}

impl ExpectFile {
    /// The lifecycle keys written, in [`crate::expect::PodFigure::KEYS`] order.
    pub(crate) fn pod_figures(&self) -> [Option<&Spanned<String>>; 8] {
        [
            self.app_start.as_ref(),
            self.sidecar_ready.as_ref(),
            self.first_success.as_ref(),
            self.completion.as_ref(),
            self.startup_failures.as_ref(),
            self.termination_failures.as_ref(),
            self.abandoned.as_ref(),
            self.init_failures.as_ref(),
        ]
    }
}
