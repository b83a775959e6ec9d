//! `DestinationRule.spec`.

use super::{
    Cx, Keys, Obj, boolean, duration, enumeration, i32_, map_of, number, seq, string, strings, u32_,
};
use crate::error::{Fault, Problem};
use crate::model::{
    ClientTlsMode, ConnectionPool, DestinationRule, H2UpgradePolicy, HttpSettings, LoadBalancer,
    OutlierDetection, PortTrafficPolicy, RetryBudget, SimpleLb, Subset, TcpKeepalive, TcpSettings,
    TrafficPolicy,
};
use crate::yaml::Node;

const SPEC: Keys<'static> = Keys {
    known: &["host", "trafficPolicy", "exportTo", "subsets"],
    skipped: &["workloadSelector"],
    unsupported: &[],
    silent: false,
};
const SUBSET: Keys<'static> = Keys::only(&["name", "labels", "trafficPolicy"]);
const POLICY: Keys<'static> = Keys::with_skipped(
    &[
        "connectionPool",
        "outlierDetection",
        "portLevelSettings",
        "retryBudget",
        "loadBalancer",
        "tls",
    ],
    &["tunnel", "proxyProtocol"],
);
/// `ClientTLSSettings`: only `mode` matters to meshsim (certificates and
/// names are for SIMPLE / MUTUAL origination, not modelled).
const TLS: Keys<'static> = Keys::with_skipped(
    &["mode"],
    &[
        "clientCertificate",
        "privateKey",
        "caCertificates",
        "credentialName",
        "subjectAltNames",
        "sni",
        "insecureSkipVerify",
        "caCrl",
    ],
);
const RETRY_BUDGET: Keys<'static> = Keys::only(&["percent", "minRetryConcurrency"]);
const PORT_POLICY: Keys<'static> = Keys::only(&[
    "port",
    "connectionPool",
    "outlierDetection",
    "loadBalancer",
    "tls",
]);
const LOAD_BALANCER: Keys<'static> = Keys::with_skipped(
    &["simple"],
    &[
        "consistentHash",
        "localityLbSetting",
        "warmupDurationSecs",
        "warmup",
    ],
);
const PORT_SELECTOR: Keys<'static> = Keys::only(&["number"]);
const POOL: Keys<'static> = Keys::only(&["tcp", "http"]);
const TCP: Keys<'static> = Keys::only(&[
    "maxConnections",
    "connectTimeout",
    "tcpKeepalive",
    "maxConnectionDuration",
    "idleTimeout",
]);
const KEEPALIVE: Keys<'static> = Keys::only(&["probes", "time", "interval"]);
const HTTP: Keys<'static> = Keys::only(&[
    "http1MaxPendingRequests",
    "http2MaxRequests",
    "maxRequestsPerConnection",
    "maxRetries",
    "idleTimeout",
    "maxConcurrentStreams",
    "h2UpgradePolicy",
    "useClientProtocol",
]);
const OUTLIER: Keys<'static> = Keys::only(&[
    "consecutiveErrors",
    "splitExternalLocalOriginErrors",
    "consecutiveLocalOriginFailures",
    "consecutiveGatewayErrors",
    "consecutive5xxErrors",
    "interval",
    "baseEjectionTime",
    "maxEjectionPercent",
    "minHealthPercent",
]);

/// Decodes `spec` of a DestinationRule (its `meta` is filled by the caller).
pub(crate) fn decode(cx: &mut Cx, spec: &Node, path: &str) -> Result<DestinationRule, Fault> {
    let obj = Obj::open(cx, spec, path, &SPEC)?;
    let mut dr = DestinationRule {
        host: obj.opt("host", string)?.unwrap_or_default(),
        ..DestinationRule::default()
    };
    if let Some((n, p)) = obj.get("trafficPolicy") {
        dr.traffic_policy = Some(decode_policy(cx, n, &p)?);
    }
    if let Some((n, p)) = obj.get("exportTo") {
        dr.export_to = strings(cx, n, &p)?;
    }
    if let Some((n, p)) = obj.get("subsets") {
        dr.subsets = seq(cx, n, &p)?
            .into_iter()
            .map(|(n, p)| decode_subset(cx, n, &p))
            .collect::<Result<_, _>>()?;
    }
    Ok(dr)
}

fn decode_subset(cx: &mut Cx, node: &Node, path: &str) -> Result<Subset, Fault> {
    let obj = Obj::open(cx, node, path, &SUBSET)?;
    let mut subset = Subset {
        name: obj.opt("name", string)?.unwrap_or_default(),
        ..Subset::default()
    };
    if let Some((n, p)) = obj.get("labels") {
        subset.labels = map_of(cx, n, &p, string)?;
    }
    if let Some((n, p)) = obj.get("trafficPolicy") {
        subset.traffic_policy = Some(decode_policy(cx, n, &p)?);
    }
    Ok(subset)
}

/// Istio's "must have at least one field" rule for an empty mapping.
fn non_empty(obj: &Obj<'_>, what: &str) -> Result<(), Fault> {
    if obj.is_empty() {
        let message = format!("{what} must have at least one field");
        return Err(Fault::new(
            obj.path.clone(),
            obj.pos,
            Problem::Invalid { message },
        ));
    }
    Ok(())
}

fn decode_policy(cx: &mut Cx, node: &Node, path: &str) -> Result<TrafficPolicy, Fault> {
    let obj = Obj::open(cx, node, path, &POLICY)?;
    non_empty(&obj, "traffic policy")?;
    let mut policy = TrafficPolicy {
        connection_pool: obj.opt("connectionPool", |n, p| decode_pool(cx, n, p))?,
        ..TrafficPolicy::default()
    };
    policy.outlier_detection = obj.opt("outlierDetection", |n, p| decode_outlier(cx, n, p))?;
    if let Some((n, p)) = obj.get("retryBudget") {
        let rb = Obj::open(cx, n, &p, &RETRY_BUDGET)?;
        policy.retry_budget = Some(RetryBudget {
            percent: rb.opt("percent", number)?,
            min_retry_concurrency: rb.opt("minRetryConcurrency", u32_)?,
        });
    }
    policy.load_balancer = obj.opt("loadBalancer", |n, p| decode_lb(cx, n, p))?;
    policy.tls = obj.opt("tls", |n, p| decode_tls(cx, n, p))?.flatten();
    if let Some((n, p)) = obj.get("portLevelSettings") {
        policy.port_level_settings = seq(cx, n, &p)?
            .into_iter()
            .map(|(n, p)| decode_port_policy(cx, n, &p))
            .collect::<Result<_, _>>()?;
    }
    Ok(policy)
}

fn decode_port_policy(cx: &mut Cx, node: &Node, path: &str) -> Result<PortTrafficPolicy, Fault> {
    let obj = Obj::open(cx, node, path, &PORT_POLICY)?;
    non_empty(&obj, "port traffic policy")?;
    let mut out = PortTrafficPolicy::default();
    if let Some((n, p)) = obj.get("port") {
        out.port = Obj::open(cx, n, &p, &PORT_SELECTOR)?.opt("number", u32_)?;
    }
    out.connection_pool = obj.opt("connectionPool", |n, p| decode_pool(cx, n, p))?;
    out.outlier_detection = obj.opt("outlierDetection", |n, p| decode_outlier(cx, n, p))?;
    out.load_balancer = obj.opt("loadBalancer", |n, p| decode_lb(cx, n, p))?;
    out.tls = obj.opt("tls", |n, p| decode_tls(cx, n, p))?.flatten();
    Ok(out)
}

/// `tls`: its `mode` (`None` when unset). SIMPLE and MUTUAL originate TLS
/// with the user's certificates, which meshsim does not model: they are
/// listed as ignored and the cluster keeps auto mTLS.
fn decode_tls(cx: &mut Cx, node: &Node, path: &str) -> Result<Option<ClientTlsMode>, Fault> {
    let obj = Obj::open(cx, node, path, &TLS)?;
    let mode = obj.opt("mode", |n, p| {
        let values = [
            (ClientTlsMode::Disable, "DISABLE"),
            (ClientTlsMode::Simple, "SIMPLE"),
            (ClientTlsMode::Mutual, "MUTUAL"),
            (ClientTlsMode::IstioMutual, "ISTIO_MUTUAL"),
        ];
        enumeration(n, p, &values)
    })?;
    if matches!(mode, Some(ClientTlsMode::Simple | ClientTlsMode::Mutual)) {
        cx.ignored.push(format!("{path}.mode"));
        return Ok(None);
    }
    Ok(mode)
}

fn decode_pool(cx: &mut Cx, node: &Node, path: &str) -> Result<ConnectionPool, Fault> {
    let obj = Obj::open(cx, node, path, &POOL)?;
    non_empty(&obj, "connection pool")?;
    let tcp = obj.opt("tcp", |n, p| decode_tcp(cx, n, p))?;
    let http = obj.opt("http", |n, p| decode_http(cx, n, p))?;
    Ok(ConnectionPool { tcp, http })
}

fn decode_tcp(cx: &mut Cx, node: &Node, path: &str) -> Result<TcpSettings, Fault> {
    let obj = Obj::open(cx, node, path, &TCP)?;
    let mut tcp = TcpSettings {
        max_connections: obj.opt("maxConnections", i32_)?,
        connect_timeout: obj.opt("connectTimeout", duration)?,
        max_connection_duration: obj.opt("maxConnectionDuration", duration)?,
        idle_timeout: obj.opt("idleTimeout", duration)?,
        tcp_keepalive: None,
    };
    if let Some((n, p)) = obj.get("tcpKeepalive") {
        tcp.tcp_keepalive = Some(decode_keepalive(cx, n, &p)?);
    }
    Ok(tcp)
}

/// `ConnectionPoolSettings.TCPSettings.TcpKeepalive` (also MeshConfig's
/// `tcpKeepalive`).
pub(crate) fn decode_keepalive(
    cx: &mut Cx,
    node: &Node,
    path: &str,
) -> Result<TcpKeepalive, Fault> {
    let ka = Obj::open(cx, node, path, &KEEPALIVE)?;
    Ok(TcpKeepalive {
        probes: ka.opt("probes", u32_)?,
        time: ka.opt("time", duration)?,
        interval: ka.opt("interval", duration)?,
    })
}

fn decode_http(cx: &mut Cx, node: &Node, path: &str) -> Result<HttpSettings, Fault> {
    let obj = Obj::open(cx, node, path, &HTTP)?;
    Ok(HttpSettings {
        http1_max_pending_requests: obj.opt("http1MaxPendingRequests", i32_)?,
        http2_max_requests: obj.opt("http2MaxRequests", i32_)?,
        max_requests_per_connection: obj.opt("maxRequestsPerConnection", i32_)?,
        max_retries: obj.opt("maxRetries", i32_)?,
        idle_timeout: obj.opt("idleTimeout", duration)?,
        max_concurrent_streams: obj.opt("maxConcurrentStreams", i32_)?,
        h2_upgrade_policy: obj.opt("h2UpgradePolicy", |n, p| {
            let values = [
                (H2UpgradePolicy::Default, "DEFAULT"),
                (H2UpgradePolicy::DoNotUpgrade, "DO_NOT_UPGRADE"),
                (H2UpgradePolicy::Upgrade, "UPGRADE"),
            ];
            enumeration(n, p, &values)
        })?,
        use_client_protocol: obj.opt("useClientProtocol", boolean)?.unwrap_or(false),
    })
}

fn decode_outlier(cx: &mut Cx, node: &Node, path: &str) -> Result<OutlierDetection, Fault> {
    let obj = Obj::open(cx, node, path, &OUTLIER)?;
    Ok(OutlierDetection {
        consecutive_errors: obj.opt("consecutiveErrors", i32_)?,
        split_external_local_origin_errors: obj
            .opt("splitExternalLocalOriginErrors", boolean)?
            .unwrap_or(false),
        consecutive_local_origin_failures: obj.opt("consecutiveLocalOriginFailures", u32_)?,
        consecutive_gateway_errors: obj.opt("consecutiveGatewayErrors", u32_)?,
        consecutive_5xx_errors: obj.opt("consecutive5xxErrors", u32_)?,
        interval: obj.opt("interval", duration)?,
        base_ejection_time: obj.opt("baseEjectionTime", duration)?,
        max_ejection_percent: obj.opt("maxEjectionPercent", i32_)?,
        min_health_percent: obj.opt("minHealthPercent", i32_)?,
    })
}

fn decode_lb(cx: &mut Cx, node: &Node, path: &str) -> Result<LoadBalancer, Fault> {
    let obj = Obj::open(cx, node, path, &LOAD_BALANCER)?;
    let simple = obj.opt("simple", |n, p| {
        let values = [
            (None, "UNSPECIFIED"),
            (Some(SimpleLb::LeastConn), "LEAST_CONN"),
            (Some(SimpleLb::Random), "RANDOM"),
            (Some(SimpleLb::Passthrough), "PASSTHROUGH"),
            (Some(SimpleLb::RoundRobin), "ROUND_ROBIN"),
            (Some(SimpleLb::LeastRequest), "LEAST_REQUEST"),
        ];
        enumeration(n, p, &values)
    })?;
    Ok(LoadBalancer {
        simple: simple.flatten(),
    })
}
