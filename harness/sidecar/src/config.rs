//! The sidecar's configuration: Envoy's listener / route / cluster model, cut
//! down to what meshsim reproduces. Field names are Envoy's.
//!
//! These are validated runtime values. The `istio` crate builds them from Istio
//! resources under a version profile; tests build them by hand. Every default
//! below is Istio's (not bare Envoy's) unless it says otherwise.

mod lb;
mod matcher;
mod observability;
mod probe;
mod tcp;

use std::net::SocketAddr;
use std::time::Duration;

pub use lb::{ENVOY_HEALTHY_PANIC_THRESHOLD, EjectionLimit, Endpoint, LbPolicy, OutlierDetection};

use crate::error::SidecarError;
use crate::fault::FaultInjection;
use crate::route::{ClusterWeight, RouteMatcher};

pub(crate) use matcher::joined_value;
pub use matcher::{HeaderMatch, HeaderMatcher, SafeRegex};
pub use meshsim_net::Keepalive;
pub use observability::{AccessLogConfig, AccessLogEncoding, AdminConfig};
pub use probe::{AppProbe, AppProbers, ProbeAction};
pub(crate) use tcp::select as select_tcp_route;
pub use tcp::{TcpProxySettings, TcpRoute};

/// Everything one sidecar needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SidecarConfig {
    /// Outbound capture port. Default 15001.
    pub outbound_port: u16,
    /// Destination ports whose outbound listener speaks HTTP (an HTTP
    /// connection manager). A captured connection to any other port is
    /// TCP-proxied to its original destination.
    pub http_ports: Vec<u16>,
    /// HTTP route table: virtual hosts matched by `Host` (and port).
    pub virtual_hosts: Vec<VirtualHost>,
    /// Clusters referenced by routes.
    pub clusters: Vec<Cluster>,
    /// Mesh `outboundTrafficPolicy.mode`. Default `AllowAny`.
    pub outbound_traffic_policy: OutboundTrafficPolicy,
    /// The `PassthroughCluster` used for unknown hosts under `AllowAny` and for
    /// TCP passthrough: ORIGINAL_DST, connect timeout 10 s, idle timeout 5 min,
    /// no retry policy.
    pub passthrough: Cluster,
    /// DNS servers the sidecar's resolver asks (STRICT_DNS / LOGICAL_DNS clusters).
    pub dns_servers: Vec<SocketAddr>,
    /// Whether `x-envoy-attempt-count` is sent upstream (Istio: on).
    pub include_request_attempt_count: bool,
    /// Which retry back-off Envoy build the sidecar imitates. Default
    /// [`BackOffFormula::CurrentCode`].
    pub backoff_formula: BackOffFormula,
    /// The listener's `per_connection_buffer_limit_bytes`, which is the retry
    /// buffer limit of every route (Istio sets no route
    /// `per_request_buffer_limit_bytes`). A request body larger than this is
    /// never retried (`retry_or_shadow_abandoned`). Default 1 MiB (Envoy's).
    pub per_connection_buffer_limit_bytes: u32,
    /// The inbound side (`virtualInbound` on 15006), for a pod that serves;
    /// `None` for a pod that only calls out.
    pub inbound: Option<InboundConfig>,
    /// The file access log (Istio mesh `accessLogFile`); `None` (default,
    /// as in Istio) writes no line.
    pub access_log: Option<AccessLogConfig>,
    /// Envoy admin (15000) and readiness (15021); `None` (default) binds
    /// neither.
    pub admin: Option<AdminConfig>,
    /// Outbound TCP listeners of service ports: captured connections to a
    /// matching destination are TCP-proxied to the route's cluster. Default
    /// none (every TCP destination takes the passthrough chain).
    pub tcp_routes: Vec<TcpRoute>,
    /// The `tcp_proxy` settings of the catch-all passthrough chain (TCP to
    /// `PassthroughCluster`, and the inbound TCP ports). Default Envoy's.
    pub tcp_proxy: TcpProxySettings,
    /// Destination ports whose protocol is not declared, so the outbound
    /// listener detects it (Envoy's `http_inspector`, fact sheet §7.2): an
    /// HTTP/1.x request line or the h2c preface takes the HTTP chain (as if
    /// the port were in `http_ports`), other bytes the TCP chain (a
    /// matching [`TcpRoute`], else the passthrough chain). Wins over
    /// `http_ports`. Default none.
    pub sniffed_ports: Vec<u16>,
    /// The listener filter timeout of sniffed ports (mesh
    /// `protocolDetectionTimeout`): a client silent this long takes the TCP
    /// chain (`continue_on_listener_filters_timeout: true`). `None`, Istio's
    /// `0s` (the default since 1.8), waits forever, so a server-first
    /// protocol on a sniffed port hangs. Default `None`.
    pub protocol_detection_timeout: Option<Duration>,
}

/// Envoy's retry back-off between attempts (fact sheet §1.2). Both are full
/// jitter with `base_interval` B and `max_interval`; they differ in how fast
/// the ceiling grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackOffFormula {
    /// Current Envoy source (`JitteredExponentialBackOffStrategy`): retry N
    /// waits in `[0, 2^(N-1)·B)`, the ceiling doubling up to the max
    /// (defaults: 25, 50, 100, 200, then 250 ms).
    #[default]
    CurrentCode,
    /// Envoy's documentation and its older source (`JitteredBackOffStrategy`):
    /// retry N waits `min(random % ((2^N - 1)·B), max)` (defaults: 25, 75,
    /// 175, then 375 capped at 250 ms).
    Documented,
}

/// The inbound listener of a pod's sidecar: captured connections from other
/// pods arrive here with the original destination `pod-ip:port`, and are
/// forwarded to the application at that same address (Istio ≥ 1.10).
#[derive(Debug, Clone, PartialEq)]
pub struct InboundConfig {
    /// Inbound capture port. Default 15006.
    pub port: u16,
    /// The ports the pod's services declare. A connection to any other port
    /// is TCP-proxied to its original destination (`InboundPassthroughCluster`).
    pub ports: Vec<InboundPort>,
    /// Declared ports whose protocol is not, so the inbound listener detects
    /// it as the outbound one does (`SidecarConfig::sniffed_ports`, same
    /// `protocol_detection_timeout`): HTTP takes the port's HTTP chain
    /// (its [`InboundPort`] should be `http`), other bytes are TCP-proxied
    /// to the application. Default none.
    pub sniffed_ports: Vec<u16>,
    /// Where a declared HTTP port's inbound cluster sends requests: the
    /// application at `pod-ip:port` (Istio >= 1.10, the default) or at
    /// `127.0.0.1:port` (before 1.10). Undeclared and TCP ports go to the
    /// original destination either way.
    pub forward_to: InboundForward,
    /// The workload's PeerAuthentication (fact sheet §8). Default
    /// PERMISSIVE everywhere.
    pub peer_authn: crate::tls::PeerAuthn,
    /// Declared ports whose inbound cluster speaks HTTP/2 to the application
    /// (h2c with prior knowledge): Istio's `setUpstreamProtocol` gives the
    /// inbound cluster `http2_protocol_options` when the port's protocol is
    /// `http2`, `grpc` or `grpc-web` (fact sheet §7.1), whatever the
    /// application speaks. An HTTP/1.1-only application answers the h2
    /// preface with `400` and a close: `502 UPE`. Default none (HTTP/1.1).
    pub http2_ports: Vec<u16>,
}

/// Where the inbound sidecar reaches the application (incidents.md INC-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum InboundForward {
    /// The pod's address, as plain Kubernetes does (Istio >= 1.10): an app
    /// listening on `localhost` only is refused (`503 UF`).
    #[default]
    PodIp,
    /// `127.0.0.1` (Istio < 1.10, and later with
    /// `PILOT_ENABLE_INBOUND_PASSTHROUGH=false`): an app bound to the pod's
    /// address only is refused.
    Localhost,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            port: 15006,
            ports: Vec::new(),
            sniffed_ports: Vec::new(),
            forward_to: InboundForward::PodIp,
            peer_authn: crate::tls::PeerAuthn::default(),
            http2_ports: Vec::new(),
        }
    }
}

impl InboundConfig {
    /// The inbound cluster of `port`: [`InboundPort::cluster`], whose
    /// upstream is `127.0.0.1:port` (STATIC) when forwarding to localhost,
    /// speaking HTTP/2 when the port is one of `http2_ports`.
    pub fn cluster(&self, port: &InboundPort) -> Cluster {
        let mut cluster = port.cluster();
        if self.http2_ports.contains(&port.port) {
            cluster.upstream_protocol = UpstreamProtocol::Http2;
        }
        if self.forward_to == InboundForward::Localhost {
            let localhost = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), port.port);
            cluster.discovery = Discovery::Static {
                endpoints: vec![localhost],
            };
        }
        cluster
    }
}

/// One declared service port of the pod (`inbound|PORT||`).
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPort {
    /// The application's port (the Service's `targetPort`).
    pub port: u16,
    /// HTTP (an HTTP connection manager with the inbound route) or TCP.
    pub http: bool,
    /// The inbound route's retry policy (Istio ≥ 1.24: `reset-before-request`,
    /// 2 retries; before 1.24: none).
    pub retry_policy: Option<RetryPolicy>,
}

impl InboundPort {
    /// The inbound cluster's name, `inbound|PORT||`.
    pub fn cluster_name(&self) -> String {
        format!("inbound|{}||", self.port)
    }

    /// The inbound cluster: ORIGINAL_DST (the application at `pod-ip:port`),
    /// connect timeout 10 s, upstream idle timeout 1 h.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            name: self.cluster_name(),
            discovery: Discovery::OriginalDst,
            connect_timeout: Duration::from_secs(10),
            pool: PoolSettings::default(),
            ..Cluster::passthrough()
        }
    }
}

/// Mesh `outboundTrafficPolicy.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundTrafficPolicy {
    /// Unknown hosts go to `PassthroughCluster` (Istio's default).
    AllowAny,
    /// Unknown HTTP hosts get a direct 502 with an empty body; unknown TCP
    /// destinations are closed (`BlackHoleCluster`).
    RegistryOnly,
}

/// An Envoy virtual host.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualHost {
    /// Name, e.g. `api.partner.example:80`.
    pub name: String,
    /// Listener port this virtual host belongs to.
    pub port: u16,
    /// Domains matched against the `Host` header, exact (`api.partner.example`,
    /// `api.partner.example:80`) or with a leading `*.` wildcard.
    pub domains: Vec<String>,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
}

/// An Envoy route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Route name (`%ROUTE_NAME%`).
    pub name: String,
    /// Path prefix to match (`/` matches all).
    pub prefix: String,
    /// Target cluster name.
    pub cluster: String,
    /// Route timeout covering all attempts and back-offs; `None` = disabled
    /// (Istio's default: VirtualService `timeout` unset means 0).
    pub timeout: Option<Duration>,
    /// Retry policy; `None` = never retry.
    pub retry_policy: Option<RetryPolicy>,
    /// Path specifier, case sensitivity and header matchers (Envoy's
    /// `RouteMatch`). Default: none, so `prefix` alone decides.
    pub matcher: RouteMatcher,
    /// Envoy `weighted_clusters`; when non-empty it replaces `cluster` and one
    /// cluster is drawn per request by weight. Default empty.
    pub weighted_clusters: Vec<ClusterWeight>,
    /// The fault filter's per-route configuration (Istio's `fault`).
    /// Default `None`.
    pub fault: Option<FaultInjection>,
}

impl Default for Route {
    /// A catch-all route (prefix `/`) to no cluster (`""`): set `cluster`.
    fn default() -> Self {
        Route {
            name: String::new(),
            prefix: "/".to_string(),
            cluster: String::new(),
            timeout: None,
            retry_policy: None,
            matcher: RouteMatcher::default(),
            weighted_clusters: Vec::new(),
            fault: None,
        }
    }
}

/// Envoy `retry_on` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RetryOn {
    /// `5xx`.
    FiveXx,
    /// `gateway-error`.
    GatewayError,
    /// `reset`.
    Reset,
    /// `reset-before-request`.
    ResetBeforeRequest,
    /// `connect-failure`.
    ConnectFailure,
    /// `refused-stream`.
    RefusedStream,
    /// `retriable-4xx`.
    Retriable4xx,
    /// `retriable-status-codes`.
    RetriableStatusCodes,
    /// `retriable-headers`.
    RetriableHeaders,
    /// `envoy-ratelimited`.
    EnvoyRateLimited,
    /// `http3-post-connect-failure`.
    Http3PostConnectFailure,
    /// gRPC `cancelled`.
    Cancelled,
    /// gRPC `deadline-exceeded`.
    DeadlineExceeded,
    /// gRPC `resource-exhausted`.
    ResourceExhausted,
    /// gRPC `internal`.
    Internal,
    /// gRPC `unavailable`.
    Unavailable,
}

impl RetryOn {
    /// Every token with its Envoy spelling.
    pub const ALL: &'static [(RetryOn, &'static str)] = &[
        (RetryOn::FiveXx, "5xx"),
        (RetryOn::GatewayError, "gateway-error"),
        (RetryOn::Reset, "reset"),
        (RetryOn::ResetBeforeRequest, "reset-before-request"),
        (RetryOn::ConnectFailure, "connect-failure"),
        (RetryOn::RefusedStream, "refused-stream"),
        (RetryOn::Retriable4xx, "retriable-4xx"),
        (RetryOn::RetriableStatusCodes, "retriable-status-codes"),
        (RetryOn::RetriableHeaders, "retriable-headers"),
        (RetryOn::EnvoyRateLimited, "envoy-ratelimited"),
        (
            RetryOn::Http3PostConnectFailure,
            "http3-post-connect-failure",
        ),
        (RetryOn::Cancelled, "cancelled"),
        (RetryOn::DeadlineExceeded, "deadline-exceeded"),
        (RetryOn::ResourceExhausted, "resource-exhausted"),
        (RetryOn::Internal, "internal"),
        (RetryOn::Unavailable, "unavailable"),
    ];

    /// Parses one Envoy token.
    pub fn parse(token: &str) -> Option<RetryOn> {
        RetryOn::ALL
            .iter()
            .find(|(_, s)| *s == token)
            .map(|(t, _)| *t)
    }

    /// The Envoy spelling.
    pub fn as_str(self) -> &'static str {
        RetryOn::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, s)| *s)
            .unwrap_or("")
    }
}

/// Envoy's route `RetryPolicy`. [`Default`] is Envoy's proto defaults for a
/// policy with no field set: no `retry_on`, 1 retry, no per-try timeout, no
/// host predicate, 1 host selection attempt, back-off 25 ms / 250 ms.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// `retry_on` tokens.
    pub retry_on: Vec<RetryOn>,
    /// `num_retries` (Envoy default 1 when a policy exists).
    pub num_retries: u32,
    /// `per_try_timeout`; `None` = only the route timeout applies.
    pub per_try_timeout: Option<Duration>,
    /// `retriable_status_codes`.
    pub retriable_status_codes: Vec<u16>,
    /// `retry_host_predicate: previous_hosts`.
    pub previous_hosts_predicate: bool,
    /// `host_selection_retry_max_attempts` (Istio sets 5).
    pub host_selection_retry_max_attempts: u32,
    /// `retry_back_off.base_interval` (default 25 ms).
    pub base_interval: Duration,
    /// `retry_back_off.max_interval` (default 10 × base).
    pub max_interval: Duration,
    /// `retriable_headers`: `retriable-headers` retries a response with a
    /// header matching any of them. Default none.
    pub retriable_headers: Vec<HeaderMatcher>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retry_on: Vec::new(),
            num_retries: 1,
            per_try_timeout: None,
            retriable_status_codes: Vec::new(),
            previous_hosts_predicate: false,
            host_selection_retry_max_attempts: 1,
            base_interval: Duration::from_millis(25),
            max_interval: Duration::from_millis(250),
            retriable_headers: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// Whether `token` is in `retry_on`.
    pub fn has(&self, token: RetryOn) -> bool {
        self.retry_on.contains(&token)
    }
}

/// An Envoy cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Name, e.g. `outbound|80||api.partner.example` or `PassthroughCluster`.
    pub name: String,
    /// How hosts are found.
    pub discovery: Discovery,
    /// `connect_timeout` (Istio mesh default 10 s).
    pub connect_timeout: Duration,
    /// Upstream HTTP connection pool settings.
    pub pool: PoolSettings,
    /// DNS refresh settings (STRICT_DNS / LOGICAL_DNS only).
    pub dns: DnsRefresh,
    /// `lb_policy` of host-list clusters (STATIC, EDS, STRICT_DNS). Default
    /// `LeastRequest` (Istio >= 1.14).
    pub lb_policy: LbPolicy,
    /// `outlier_detection`; `None` (default) = off, as in Istio without a
    /// DestinationRule `outlierDetection`.
    pub outlier_detection: Option<OutlierDetection>,
    /// `common_lb_config.healthy_panic_threshold`, percent: below this share
    /// of healthy (not ejected) hosts, the load balancer uses every host.
    /// 0 disables panic mode. Default 50 (Envoy's).
    pub healthy_panic_threshold: u32,
    /// The protocol spoken to the cluster's hosts. Default
    /// [`UpstreamProtocol::Http1`]; Istio sets HTTP/2 (h2c with prior
    /// knowledge, `http2_protocol_options`) for `http2` / `grpc` /
    /// `grpc-web` ports and for `h2UpgradePolicy: UPGRADE`.
    pub upstream_protocol: UpstreamProtocol,
    /// `http2_protocol_options`, used when `upstream_protocol` is
    /// [`UpstreamProtocol::Http2`].
    pub http2: Http2Options,
    /// The TLS the cluster originates (`transport_socket`, auto mTLS).
    /// Default plaintext.
    pub tls: crate::tls::ClusterTls,
}

/// The HTTP version of a cluster's upstream connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1: one request at a time per connection (default).
    #[default]
    Http1,
    /// HTTP/2 (h2c with prior knowledge): streams multiplexed on a
    /// connection up to the concurrent-stream limit.
    Http2,
}

/// Envoy's `Http2ProtocolOptions` (the parts meshsim models).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Options {
    /// `max_concurrent_streams`: streams one upstream connection carries at
    /// once; the pool also honours the peer's lower
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`. Default 2^31 - 1 (Envoy's). Istio's
    /// `http.maxConcurrentStreams` sets it.
    pub max_concurrent_streams: u32,
}

/// Envoy's default `max_concurrent_streams` (2^31 - 1).
pub const ENVOY_H2_MAX_CONCURRENT_STREAMS: u32 = (1 << 31) - 1;

impl Default for Http2Options {
    fn default() -> Self {
        Http2Options {
            max_concurrent_streams: ENVOY_H2_MAX_CONCURRENT_STREAMS,
        }
    }
}

impl Default for Cluster {
    /// An unnamed ORIGINAL_DST cluster with Istio's defaults (10 s connect
    /// timeout, Envoy's pool defaults, least request, no outlier detection).
    fn default() -> Self {
        Cluster {
            name: String::new(),
            discovery: Discovery::OriginalDst,
            connect_timeout: Duration::from_secs(10),
            pool: PoolSettings::default(),
            dns: DnsRefresh::default(),
            lb_policy: LbPolicy::default(),
            outlier_detection: None,
            healthy_panic_threshold: ENVOY_HEALTHY_PANIC_THRESHOLD,
            upstream_protocol: UpstreamProtocol::default(),
            http2: Http2Options::default(),
            tls: crate::tls::ClusterTls::default(),
        }
    }
}

/// Cluster discovery type.
#[derive(Debug, Clone, PartialEq)]
pub enum Discovery {
    /// The upstream is the downstream connection's original destination.
    OriginalDst,
    /// Every address of the name is a host; removed hosts are drained.
    StrictDns {
        /// Name to resolve.
        hostname: String,
        /// Port of every host.
        port: u16,
    },
    /// Only the first address, only for new connections, never drained.
    LogicalDns {
        /// Name to resolve.
        hostname: String,
        /// Port.
        port: u16,
    },
    /// Fixed endpoints (EDS with a static list).
    Static {
        /// The endpoints.
        endpoints: Vec<SocketAddr>,
    },
    /// Endpoints pushed at run time by the control plane
    /// (`SidecarHandle::update_endpoints`); removed ones are drained. Until
    /// the first assignment the cluster waits like a DNS cluster.
    Eds {
        /// The EDS service name (Istio: the cluster name).
        service: String,
    },
}

/// `common_http_protocol_options` and the cluster's circuit breakers
/// (`circuit_breakers.thresholds`, default priority). The breakers count over
/// the whole cluster, every host's pool together (see `circuit`).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// Upstream connection idle timeout (Envoy default 1 h; `None` = disabled).
    pub idle_timeout: Option<Duration>,
    /// `max_requests_per_connection` (`None` = unlimited; 1 = no keep-alive).
    pub max_requests_per_connection: Option<u32>,
    /// `max_connection_duration` (`None` = unlimited): the connection is
    /// drained, then closed when idle.
    pub max_connection_duration: Option<Duration>,
    /// `max_connections`: connections open or opening to the cluster. At the
    /// limit a request waits as pending instead (`upstream_cx_overflow`).
    /// Default (Istio) 2^32 - 1.
    pub max_connections: u32,
    /// `max_pending_requests`: requests waiting for a connection; beyond it a
    /// request gets 503 `UO` (`upstream_rq_pending_overflow`). Default (Istio)
    /// 2^32 - 1.
    pub max_pending_requests: u32,
    /// `max_requests`: requests on connections; beyond it a request gets 503
    /// `UO` (`upstream_rq_pending_overflow`). Default (Istio) 2^32 - 1.
    pub max_requests: u32,
    /// `max_retries`: retries in progress at once; beyond it a retry is not
    /// made (`UO` added, `upstream_rq_retry_overflow`). Default (Istio)
    /// 2^32 - 1 (bare Envoy: 3).
    pub max_retries: u32,
    /// `retry_budget`: when set it replaces `max_retries`. Default none.
    pub retry_budget: Option<RetryBudget>,
    /// The cluster's `upstream_connection_options.tcp_keepalive`, set on
    /// every upstream connection of the cluster (HTTP pool and TCP proxy).
    /// Default `None`: no `SO_KEEPALIVE`, as in Istio without a mesh or
    /// DestinationRule `tcpKeepalive`.
    pub tcp_keepalive: Option<Keepalive>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            idle_timeout: Some(Duration::from_secs(3600)),
            max_requests_per_connection: None,
            max_connection_duration: None,
            max_connections: u32::MAX,
            max_pending_requests: u32::MAX,
            max_requests: u32::MAX,
            max_retries: u32::MAX,
            retry_budget: None,
            tcp_keepalive: None,
        }
    }
}

/// `circuit_breakers.thresholds.retry_budget`: concurrent retries are limited
/// to `budget_percent` % of the cluster's active plus pending requests, and
/// never below `min_retry_concurrency`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    /// `budget_percent`, 0 to 100. Envoy's default 20.
    pub budget_percent: f64,
    /// `min_retry_concurrency`. Envoy's default 3.
    pub min_retry_concurrency: u32,
}

impl Default for RetryBudget {
    /// Envoy's defaults: 20 %, at least 3.
    fn default() -> Self {
        RetryBudget {
            budget_percent: 20.0,
            min_retry_concurrency: 3,
        }
    }
}

/// DNS refresh of STRICT_DNS / LOGICAL_DNS clusters, as Istio sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRefresh {
    /// `respect_dns_ttl` (Istio: true).
    pub respect_dns_ttl: bool,
    /// `dns_refresh_rate` (Istio ≥ 1.14: mesh `dnsRefreshRate` 60 s): used for
    /// TTL-0 answers and after failures.
    pub refresh_rate: Duration,
    /// `dns_jitter` (Istio: `PILOT_DNS_JITTER_DURATION`, 100 ms).
    pub jitter: Duration,
}

impl Default for DnsRefresh {
    fn default() -> Self {
        DnsRefresh {
            respect_dns_ttl: true,
            refresh_rate: Duration::from_secs(60),
            jitter: Duration::from_millis(100),
        }
    }
}

impl Cluster {
    /// Istio's `PassthroughCluster`: ORIGINAL_DST, 10 s connect timeout, 5 min
    /// upstream idle timeout.
    pub fn passthrough() -> Cluster {
        Cluster {
            name: "PassthroughCluster".to_string(),
            pool: PoolSettings {
                idle_timeout: Some(Duration::from_secs(300)),
                ..PoolSettings::default()
            },
            lb_policy: LbPolicy::ClusterProvided,
            ..Cluster::default()
        }
    }
}

impl Default for SidecarConfig {
    /// A sidecar with no Istio resources: HTTP listener on port 80, every
    /// host through `PassthroughCluster`, no DNS servers.
    fn default() -> Self {
        SidecarConfig {
            outbound_port: 15001,
            http_ports: vec![80],
            virtual_hosts: Vec::new(),
            clusters: Vec::new(),
            outbound_traffic_policy: OutboundTrafficPolicy::AllowAny,
            passthrough: Cluster::passthrough(),
            dns_servers: Vec::new(),
            include_request_attempt_count: true,
            backoff_formula: BackOffFormula::CurrentCode,
            per_connection_buffer_limit_bytes: 1024 * 1024,
            inbound: None,
            access_log: None,
            admin: None,
            tcp_routes: Vec::new(),
            tcp_proxy: TcpProxySettings::default(),
            sniffed_ports: Vec::new(),
            protocol_detection_timeout: None,
        }
    }
}

impl SidecarConfig {
    /// Checks what Envoy would reject: duplicate cluster names, a retry
    /// back-off with a zero base or a max below the base, a zero DNS refresh
    /// rate, a retry budget percent outside 0 to 100, an outlier detection
    /// with a zero interval or base ejection time or a max ejection time below
    /// the base.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), SidecarError> {
        let mut names = std::collections::BTreeSet::new();
        for c in self
            .clusters
            .iter()
            .chain(std::iter::once(&self.passthrough))
        {
            if !names.insert(c.name.as_str()) {
                return Err(SidecarError::DuplicateCluster {
                    cluster: c.name.clone(),
                });
            }
            let dns = matches!(
                c.discovery,
                Discovery::StrictDns { .. } | Discovery::LogicalDns { .. }
            );
            if dns && c.dns.refresh_rate.is_zero() {
                return Err(SidecarError::InvalidRefreshRate {
                    cluster: c.name.clone(),
                });
            }
            if let Some(b) = c.pool.retry_budget
                && !(0.0..=100.0).contains(&b.budget_percent)
            {
                return Err(SidecarError::InvalidRetryBudget {
                    cluster: c.name.clone(),
                    percent: b.budget_percent,
                });
            }
            if let Some(od) = &c.outlier_detection {
                validate_outlier_detection(&c.name, od)?;
            }
            let streams = c.http2.max_concurrent_streams;
            if !(1..=ENVOY_H2_MAX_CONCURRENT_STREAMS).contains(&streams) {
                return Err(SidecarError::InvalidMaxConcurrentStreams {
                    cluster: c.name.clone(),
                    value: streams,
                });
            }
        }
        let routes = self.virtual_hosts.iter().flat_map(|vh| vh.routes.iter());
        for r in routes {
            crate::route::validate_route(r)?;
            if let Some(p) = &r.retry_policy
                && (p.base_interval.is_zero() || p.max_interval < p.base_interval)
            {
                let (base, max) = (p.base_interval, p.max_interval);
                return Err(SidecarError::InvalidBackOff {
                    route: r.name.clone(),
                    base,
                    max,
                });
            }
        }
        Ok(())
    }
}

/// What Envoy's proto validation and `DetectorImpl::create` reject.
fn validate_outlier_detection(cluster: &str, od: &OutlierDetection) -> Result<(), SidecarError> {
    let reason = if od.interval.is_zero() {
        Some("interval must be > 0")
    } else if od.base_ejection_time.is_zero() {
        Some("base_ejection_time must be > 0")
    } else if od.max_ejection_time < od.base_ejection_time {
        Some("max_ejection_time cannot be smaller than base_ejection_time")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SidecarError::InvalidOutlierDetection {
            cluster: cluster.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}
