//! Istio resources as parsed: `networking.istio.io` ServiceEntry,
//! VirtualService and DestinationRule, cut to the fields meshsim reads.
//!
//! Field names follow Istio's API (snake_case of its camelCase). Numbers keep
//! Istio's signed proto types where Istio validates the sign (so a negative
//! value reaches [`crate::validate()`] and gets Istio's message). Valid Istio
//! fields that meshsim does not model are accepted and listed in
//! [`ResourceMeta::ignored`] so a caller can warn about them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Pos;

/// Every resource parsed from one YAML stream, in document order per kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resources {
    /// `ServiceEntry` resources.
    pub service_entries: Vec<ServiceEntry>,
    /// `VirtualService` resources.
    pub virtual_services: Vec<VirtualService>,
    /// `DestinationRule` resources.
    pub destination_rules: Vec<DestinationRule>,
    /// `PeerAuthentication` resources.
    pub peer_authentications: Vec<PeerAuthentication>,
    /// Kubernetes Services of the mesh (not parsed from Istio YAML: the
    /// scenario's world declares them).
    pub kube_services: Vec<crate::kube::KubeService>,
    /// `MeshConfig` fields set by an `IstioOperator`'s `spec.meshConfig`
    /// (at most one per set of resources).
    pub mesh_config: Option<MeshConfigOverrides>,
}

/// The `MeshConfig` fields an `IstioOperator` sets; `None` keeps the version
/// profile's default ([`crate::MeshConfig::for_version`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MeshConfigOverrides {
    /// `connectTimeout`.
    pub connect_timeout: Option<Duration>,
    /// `dnsRefreshRate`.
    pub dns_refresh_rate: Option<Duration>,
    /// `outboundTrafficPolicy.mode`.
    pub outbound_traffic_policy: Option<meshsim_sidecar::OutboundTrafficPolicy>,
    /// `defaultHttpRetryPolicy`.
    pub default_http_retry_policy: Option<HttpRetry>,
    /// `accessLogFile` (non-empty turns the access log on).
    pub access_log_file: Option<String>,
    /// `accessLogEncoding`.
    pub access_log_encoding: Option<meshsim_sidecar::config::AccessLogEncoding>,
    /// `tcpKeepalive`.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `h2UpgradePolicy` (`DO_NOT_UPGRADE` or `UPGRADE`).
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
    /// `protocolDetectionTimeout` (`0s` = none).
    pub protocol_detection_timeout: Option<Duration>,
    /// `defaultConfig`: the mesh-wide ProxyConfig fields meshsim models.
    pub proxy_defaults: Option<ProxyDefaults>,
    /// Where it came from (the `IstioOperator` document).
    pub meta: ResourceMeta,
}

/// `meshConfig.defaultConfig` (ProxyConfig), the fields that decide a pod's
/// start-up and shutdown; a pod's `proxy.istio.io/config` annotation
/// overrides each one it sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProxyDefaults {
    /// `holdApplicationUntilProxyStarts`.
    pub hold_application_until_proxy_starts: Option<bool>,
    /// `terminationDrainDuration`.
    pub termination_drain_duration: Option<Duration>,
    /// `proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS` (`"true"`).
    pub exit_on_zero_active_connections: Option<bool>,
    /// `proxyMetadata.MINIMUM_DRAIN_DURATION`.
    pub minimum_drain_duration: Option<Duration>,
}

/// Where a resource came from, and what of it was ignored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceMeta {
    /// 1-based index of the YAML document.
    pub document: usize,
    /// `apiVersion` as written.
    pub api_version: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if given.
    pub namespace: Option<String>,
    /// Key paths of valid Istio fields that meshsim accepts but does not model
    /// (e.g. `spec.http[0].fault`), in document order.
    pub ignored: Vec<String>,
    /// Position of every decoded key path.
    pub(crate) positions: BTreeMap<String, Pos>,
}

impl ResourceMeta {
    /// `(line, column)` of the value at `path` (1-based), if that path was in
    /// the YAML.
    pub fn position(&self, path: &str) -> Option<(usize, usize)> {
        self.positions.get(path).map(|p| (p.line, p.column))
    }

    /// The position of `path`, or of its nearest ancestor that exists.
    pub(crate) fn nearest_pos(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.positions.get("").copied().unwrap_or_default(),
            }
        }
    }
}

/// `ServiceEntry.location`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MeshLocation {
    /// `MESH_EXTERNAL` (the default).
    #[default]
    External,
    /// `MESH_INTERNAL`.
    Internal,
}

/// `ServiceEntry.resolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// `NONE` (the default): ORIGINAL_DST, the app's own DNS answer decides.
    #[default]
    None,
    /// `STATIC`: the endpoints' IP addresses.
    Static,
    /// `DNS`: STRICT_DNS, every resolved address is a host.
    Dns,
    /// `DNS_ROUND_ROBIN`: LOGICAL_DNS, first address, new connections only.
    DnsRoundRobin,
}

/// A port protocol, as Istio's `protocol.Parse` reads it (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `HTTP`.
    Http,
    /// `HTTP2`.
    Http2,
    /// `HTTP_PROXY`.
    HttpProxy,
    /// `GRPC`.
    Grpc,
    /// `GRPC-Web`.
    GrpcWeb,
    /// `HTTPS`.
    Https,
    /// `TLS`.
    Tls,
    /// `TCP`.
    Tcp,
    /// `UDP`.
    Udp,
    /// `Mongo`.
    Mongo,
    /// `Redis`.
    Redis,
    /// `MySQL`.
    Mysql,
}

impl Protocol {
    /// Every protocol with Istio's spelling.
    pub const ALL: &'static [(Protocol, &'static str)] = &[
        (Protocol::Http, "HTTP"),
        (Protocol::Http2, "HTTP2"),
        (Protocol::HttpProxy, "HTTP_PROXY"),
        (Protocol::Grpc, "GRPC"),
        (Protocol::GrpcWeb, "GRPC-Web"),
        (Protocol::Https, "HTTPS"),
        (Protocol::Tls, "TLS"),
        (Protocol::Tcp, "TCP"),
        (Protocol::Udp, "UDP"),
        (Protocol::Mongo, "Mongo"),
        (Protocol::Redis, "Redis"),
        (Protocol::Mysql, "MySQL"),
    ];

    /// Parses case-insensitively, like Istio.
    pub fn parse(text: &str) -> Option<Protocol> {
        Protocol::ALL
            .iter()
            .find(|(_, s)| s.eq_ignore_ascii_case(text))
            .map(|(p, _)| *p)
    }

    /// Whether the outbound listener for this port speaks HTTP.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http
                | Protocol::Http2
                | Protocol::HttpProxy
                | Protocol::Grpc
                | Protocol::GrpcWeb
        )
    }

    /// Whether this is TLS (`HTTPS`, `TLS`).
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }
}

/// A `ServiceEntry`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceEntry {
    /// Source and ignored fields.
    pub meta: ResourceMeta,
    /// `hosts`.
    pub hosts: Vec<String>,
    /// `addresses` (IPs or CIDRs).
    pub addresses: Vec<String>,
    /// `ports`.
    pub ports: Vec<ServicePort>,
    /// `location`.
    pub location: MeshLocation,
    /// `resolution`.
    pub resolution: Resolution,
    /// `endpoints`.
    pub endpoints: Vec<WorkloadEntry>,
    /// `exportTo`.
    pub export_to: Vec<String>,
    /// True for a Kubernetes Service in Istio's service model
    /// ([`crate::kube::KubeService::to_service_entry`]): its endpoints are the
    /// service's pods, pushed over EDS.
    pub from_kubernetes: bool,
}

/// `ServiceEntry.ports[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServicePort {
    /// `number`.
    pub number: u32,
    /// `name`.
    pub name: String,
    /// `protocol`; `None` = unset (Istio sniffs the protocol).
    pub protocol: Option<Protocol>,
    /// `targetPort`.
    pub target_port: Option<u32>,
}

impl ServicePort {
    /// Whether traffic to this port is routed as HTTP. An unset protocol is
    /// sniffed by Istio, which sends HTTP requests through the HTTP routes.
    pub fn is_http(&self) -> bool {
        self.protocol.is_none_or(Protocol::is_http)
    }

    /// Whether the protocol is unset, so the listener sniffs it (fact sheet
    /// §7.2): HTTP routes for HTTP bytes, the TCP chain for the rest.
    pub fn is_sniffed(&self) -> bool {
        self.protocol.is_none()
    }
}

/// `ServiceEntry.endpoints[]` (a `WorkloadEntry`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkloadEntry {
    /// `address`: an IP (STATIC) or an IP or host name (DNS).
    pub address: String,
    /// `ports`: service port name -> endpoint port.
    pub ports: BTreeMap<String, u32>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `weight`.
    pub weight: Option<u32>,
}

/// A `VirtualService`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VirtualService {
    /// Source and ignored fields.
    pub meta: ResourceMeta,
    /// `hosts`.
    pub hosts: Vec<String>,
    /// `gateways`; empty = the mesh (sidecars).
    pub gateways: Vec<String>,
    /// `http` routes, in order.
    pub http: Vec<HttpRoute>,
    /// Whether `tcp` or `tls` routes were given (accepted, not modelled).
    pub has_tcp_or_tls: bool,
    /// `exportTo`.
    pub export_to: Vec<String>,
}

impl VirtualService {
    /// Whether the VirtualService applies to sidecars (`gateways` empty or
    /// containing `mesh`).
    pub fn applies_to_mesh(&self) -> bool {
        self.gateways.is_empty() || self.gateways.iter().any(|g| g == "mesh")
    }

    /// Short `hosts` and destination hosts become Services of the
    /// VirtualService's namespace ([`crate::kube::resolve_short_name`]).
    pub fn resolve_short_names(&mut self) {
        let ns = self.meta.namespace.clone();
        let resolve = |h: &mut String| *h = crate::kube::resolve_short_name(h, ns.as_deref());
        self.hosts.iter_mut().for_each(resolve);
        for d in self.http.iter_mut().flat_map(|r| r.route.iter_mut()) {
            resolve(&mut d.destination.host);
        }
    }
}

/// `VirtualService.http[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpRoute {
    /// `name`.
    pub name: Option<String>,
    /// `match`; empty = match everything.
    pub matches: Vec<HttpMatch>,
    /// `route` destinations.
    pub route: Vec<RouteDestination>,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `retries`.
    pub retries: Option<HttpRetry>,
    /// `fault`.
    pub fault: Option<HttpFault>,
}

/// Istio's `StringMatch`: one of `exact`, `prefix`, `regex` (RE2 syntax,
/// whole-string match), or `{}` (no key: any value, i.e. the header is present).
#[derive(Debug, Clone, PartialEq)]
pub enum StringMatch {
    /// `exact`.
    Exact(String),
    /// `prefix`.
    Prefix(String),
    /// `regex`.
    Regex(String),
    /// `{}`: matches any value.
    Any,
}

/// `VirtualService.http[].match[]` (an `HTTPMatchRequest`): every field set
/// must match (AND); the entries of `match` are alternatives (OR).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpMatch {
    /// `name`.
    pub name: Option<String>,
    /// `uri`.
    pub uri: Option<StringMatch>,
    /// `method` (matched on `:method`).
    pub method: Option<StringMatch>,
    /// `authority` (matched on `:authority`).
    pub authority: Option<StringMatch>,
    /// `headers`: header name -> match.
    pub headers: BTreeMap<String, StringMatch>,
    /// `withoutHeaders`: header name -> match that must *not* hold.
    pub without_headers: BTreeMap<String, StringMatch>,
    /// `ignoreUriCase`: exact and prefix `uri` matches ignore ASCII case.
    pub ignore_uri_case: bool,
    /// `port`: only on this listener port.
    pub port: Option<u32>,
}

/// `HTTPFaultInjection`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpFault {
    /// `delay`.
    pub delay: Option<FaultDelay>,
    /// `abort`.
    pub abort: Option<FaultAbort>,
}

/// `HTTPFaultInjection.Delay`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultDelay {
    /// `fixedDelay`.
    pub fixed_delay: Option<Duration>,
    /// `exponentialDelay` (Istio rejects it: not supported yet).
    pub exponential_delay: Option<Duration>,
    /// `percentage.value` (0..=100, fractions allowed).
    pub percentage: Option<f64>,
    /// `percent` (deprecated integer percentage, used when `percentage` is unset).
    pub percent: Option<i32>,
}

/// `HTTPFaultInjection.Abort`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultAbort {
    /// `httpStatus`.
    pub http_status: Option<i32>,
    /// `percentage.value`.
    pub percentage: Option<f64>,
}

/// `VirtualService.http[].route[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteDestination {
    /// `destination`.
    pub destination: Destination,
    /// `weight`.
    pub weight: i32,
}

/// A `Destination`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Destination {
    /// `host`.
    pub host: String,
    /// `subset`.
    pub subset: Option<String>,
    /// `port.number`.
    pub port: Option<u32>,
}

/// `HTTPRetry`: VirtualService `retries`, also mesh `defaultHttpRetryPolicy`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpRetry {
    /// `attempts` (0 = no retry policy at all).
    pub attempts: i32,
    /// `perTryTimeout`.
    pub per_try_timeout: Option<Duration>,
    /// `retryOn`, as written (comma list).
    pub retry_on: Option<String>,
    /// `retryRemoteLocalities`.
    pub retry_remote_localities: Option<bool>,
    /// `retryIgnorePreviousHosts` (Istio >= 1.26).
    pub retry_ignore_previous_hosts: Option<bool>,
    /// `backoff` (Istio >= 1.26): retry back-off base interval.
    pub backoff: Option<Duration>,
}

/// A `DestinationRule`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DestinationRule {
    /// Source and ignored fields.
    pub meta: ResourceMeta,
    /// `host`.
    pub host: String,
    /// `trafficPolicy`.
    pub traffic_policy: Option<TrafficPolicy>,
    /// `exportTo`.
    pub export_to: Vec<String>,
    /// `subsets`: named groups of the host's endpoints, each its own cluster
    /// (`outbound|PORT|NAME|host`).
    pub subsets: Vec<Subset>,
}

/// `DestinationRule.subsets[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subset {
    /// `name`, as VirtualService `destination.subset` names it.
    pub name: String,
    /// `labels`: an endpoint belongs to the subset when its labels contain
    /// all of these.
    pub labels: BTreeMap<String, String>,
    /// `trafficPolicy`: overrides the DestinationRule's, per field group
    /// (see [`crate::translate::subsets`]).
    pub traffic_policy: Option<TrafficPolicy>,
}

impl Subset {
    /// Whether an endpoint with `labels` belongs to this subset.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// `DestinationRule.trafficPolicy`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrafficPolicy {
    /// `connectionPool`.
    pub connection_pool: Option<ConnectionPool>,
    /// `outlierDetection`.
    pub outlier_detection: Option<OutlierDetection>,
    /// `loadBalancer` (only `simple` is modelled).
    pub load_balancer: Option<LoadBalancer>,
    /// `portLevelSettings`.
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// `retryBudget` (Istio >= 1.27): replaces the `maxRetries` breaker.
    pub retry_budget: Option<RetryBudget>,
    /// `tls.mode`.
    pub tls: Option<ClientTlsMode>,
}

/// A DestinationRule's `tls.mode` (`ClientTLSSettings.TLSmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTlsMode {
    /// `DISABLE`: plaintext to every endpoint.
    Disable,
    /// `SIMPLE`: TLS origination with user certificates (not modelled).
    Simple,
    /// `MUTUAL`: mutual TLS with user certificates (not modelled).
    Mutual,
    /// `ISTIO_MUTUAL`: Istio mTLS to every endpoint, sidecar or not.
    IstioMutual,
}

/// A PeerAuthentication (`security.istio.io`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeerAuthentication {
    /// Name, namespace, origin.
    pub meta: ResourceMeta,
    /// `selector.matchLabels`; `None`: the whole namespace (the mesh, in
    /// the root namespace `istio-system`).
    pub selector: Option<BTreeMap<String, String>>,
    /// `mtls.mode`; `None` for `UNSET` (inherits from the level above).
    pub mode: Option<meshsim_sidecar::tls::MtlsMode>,
    /// `portLevelMtls`: container port -> mode (`None`: `UNSET`).
    pub port_level: BTreeMap<u16, Option<meshsim_sidecar::tls::MtlsMode>>,
}

/// `trafficPolicy.retryBudget`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RetryBudget {
    /// `percent` of active plus pending requests that may be retries.
    pub percent: Option<f64>,
    /// `minRetryConcurrency` (0 = Istio's default 3).
    pub min_retry_concurrency: Option<u32>,
}

/// `trafficPolicy.portLevelSettings[]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PortTrafficPolicy {
    /// `port.number`.
    pub port: Option<u32>,
    /// `connectionPool`: replaces the top-level one for this port.
    pub connection_pool: Option<ConnectionPool>,
    /// `outlierDetection`: replaces the top-level one for this port.
    pub outlier_detection: Option<OutlierDetection>,
    /// `loadBalancer`: replaces the top-level one for this port.
    pub load_balancer: Option<LoadBalancer>,
    /// `tls.mode`: replaces the top-level one for this port.
    pub tls: Option<ClientTlsMode>,
}

/// `LoadBalancerSettings`. `consistentHash`, `localityLbSetting` and
/// `warmup` are accepted and listed as not simulated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadBalancer {
    /// `simple`; `None` when unset (or set to `UNSPECIFIED`).
    pub simple: Option<SimpleLb>,
}

/// `LoadBalancerSettings.SimpleLB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleLb {
    /// `LEAST_CONN` (deprecated alias of `LEAST_REQUEST`).
    LeastConn,
    /// `RANDOM`.
    Random,
    /// `PASSTHROUGH`: forward to the address the caller dialled (ORIGINAL_DST).
    Passthrough,
    /// `ROUND_ROBIN`.
    RoundRobin,
    /// `LEAST_REQUEST`.
    LeastRequest,
}

/// `ConnectionPoolSettings`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectionPool {
    /// `tcp`.
    pub tcp: Option<TcpSettings>,
    /// `http`.
    pub http: Option<HttpSettings>,
}

/// `ConnectionPoolSettings.tcp`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TcpSettings {
    /// `maxConnections`.
    pub max_connections: Option<i32>,
    /// `connectTimeout`.
    pub connect_timeout: Option<Duration>,
    /// `tcpKeepalive`.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `maxConnectionDuration`.
    pub max_connection_duration: Option<Duration>,
    /// `idleTimeout` (used for HTTP only when `http.idleTimeout` is unset).
    pub idle_timeout: Option<Duration>,
}

/// `tcp.tcpKeepalive`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TcpKeepalive {
    /// `probes`.
    pub probes: Option<u32>,
    /// `time`.
    pub time: Option<Duration>,
    /// `interval`.
    pub interval: Option<Duration>,
}

/// `ConnectionPoolSettings.http`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpSettings {
    /// `http1MaxPendingRequests`.
    pub http1_max_pending_requests: Option<i32>,
    /// `http2MaxRequests`.
    pub http2_max_requests: Option<i32>,
    /// `maxRequestsPerConnection`.
    pub max_requests_per_connection: Option<i32>,
    /// `maxRetries`.
    pub max_retries: Option<i32>,
    /// `idleTimeout`.
    pub idle_timeout: Option<Duration>,
    /// `maxConcurrentStreams`.
    pub max_concurrent_streams: Option<i32>,
    /// `h2UpgradePolicy`; `None` = unset (`DEFAULT`: the mesh's policy,
    /// do-not-upgrade).
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
    /// `useClientProtocol`: speak the client's protocol upstream (meshsim's
    /// applications speak HTTP/1.1). Default false.
    pub use_client_protocol: bool,
}

/// `ConnectionPoolSettings.HTTPSettings.H2UpgradePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2UpgradePolicy {
    /// `DEFAULT`: the mesh-wide `h2UpgradePolicy` (do-not-upgrade).
    Default,
    /// `DO_NOT_UPGRADE`.
    DoNotUpgrade,
    /// `UPGRADE`: HTTP/1.1 connections to the destination become HTTP/2.
    Upgrade,
}

/// `OutlierDetection`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutlierDetection {
    /// `consecutiveErrors` (deprecated).
    pub consecutive_errors: Option<i32>,
    /// `splitExternalLocalOriginErrors`.
    pub split_external_local_origin_errors: bool,
    /// `consecutiveLocalOriginFailures`.
    pub consecutive_local_origin_failures: Option<u32>,
    /// `consecutiveGatewayErrors`.
    pub consecutive_gateway_errors: Option<u32>,
    /// `consecutive5xxErrors`.
    pub consecutive_5xx_errors: Option<u32>,
    /// `interval`.
    pub interval: Option<Duration>,
    /// `baseEjectionTime`.
    pub base_ejection_time: Option<Duration>,
    /// `maxEjectionPercent`.
    pub max_ejection_percent: Option<i32>,
    /// `minHealthPercent`.
    pub min_health_percent: Option<i32>,
}
