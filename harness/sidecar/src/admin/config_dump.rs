//! `/config_dump`: the effective configuration as JSON, under Envoy's field
//! names where Envoy has the field (`connect_timeout`, `lb_policy`,
//! `circuit_breakers.thresholds`, `retry_policy.retry_on`...), durations as
//! Envoy's JSON durations (`"10s"`, `"0.025s"`). It is not Envoy's proto
//! JSON (`@type` envelopes, dynamic_active_clusters...): one object with
//! `listeners`, `route_config` and `clusters`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{Cluster, Discovery, OutboundTrafficPolicy, RetryPolicy, Route, SidecarConfig};

fn dur(d: Duration) -> Value {
    Value::String(format!("{}s", d.as_secs_f64()))
}

fn opt_dur(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, dur)
}

/// The JSON text.
pub(super) fn render(c: &SidecarConfig) -> String {
    let mut listeners = vec![json!({
        "name": "virtualOutbound",
        "address": format!("0.0.0.0:{}", c.outbound_port),
        "http_ports": c.http_ports,
        "per_connection_buffer_limit_bytes": c.per_connection_buffer_limit_bytes,
    })];
    if let Some(i) = &c.inbound {
        let ports: Vec<_> = i
            .ports
            .iter()
            .map(|p| json!({"port": p.port, "http": p.http}))
            .collect();
        listeners.push(json!({"name": "virtualInbound", "address": format!("0.0.0.0:{}", i.port), "ports": ports}));
    }
    let vhosts: Vec<_> = c
        .virtual_hosts
        .iter()
        .map(|vh| json!({"name": vh.name, "domains": vh.domains, "routes": vh.routes.iter().map(route).collect::<Vec<_>>()}))
        .collect();
    let policy = match c.outbound_traffic_policy {
        OutboundTrafficPolicy::AllowAny => "ALLOW_ANY",
        OutboundTrafficPolicy::RegistryOnly => "REGISTRY_ONLY",
    };
    let clusters: Vec<_> = c
        .clusters
        .iter()
        .chain([&c.passthrough])
        .map(cluster)
        .collect();
    json!({
        "listeners": listeners,
        "route_config": {"virtual_hosts": vhosts},
        "outbound_traffic_policy": policy,
        "clusters": clusters,
    })
    .to_string()
}

fn route(r: &Route) -> Value {
    let weighted: Vec<_> = r
        .weighted_clusters
        .iter()
        .map(|w| json!({"name": w.name, "weight": w.weight}))
        .collect();
    json!({
        "name": r.name,
        "match": {"prefix": r.prefix},
        "route": {
            "cluster": r.cluster,
            "weighted_clusters": weighted,
            "timeout": opt_dur(r.timeout),
            "retry_policy": r.retry_policy.as_ref().map(retry_policy),
        },
        "fault": r.fault.is_some(),
    })
}

fn retry_policy(p: &RetryPolicy) -> Value {
    let retry_on: Vec<_> = p.retry_on.iter().map(|t| t.as_str()).collect();
    json!({
        "retry_on": retry_on.join(","),
        "num_retries": p.num_retries,
        "per_try_timeout": opt_dur(p.per_try_timeout),
        "retriable_status_codes": p.retriable_status_codes,
        "retry_host_predicate": if p.previous_hosts_predicate { vec!["envoy.retry_host_predicates.previous_hosts"] } else { vec![] },
        "host_selection_retry_max_attempts": p.host_selection_retry_max_attempts,
        "retry_back_off": {"base_interval": dur(p.base_interval), "max_interval": dur(p.max_interval)},
    })
}

fn cluster(c: &Cluster) -> Value {
    let (kind, detail) = match &c.discovery {
        Discovery::OriginalDst => ("ORIGINAL_DST", Value::Null),
        Discovery::StrictDns { hostname, port } => {
            ("STRICT_DNS", json!(format!("{hostname}:{port}")))
        }
        Discovery::LogicalDns { hostname, port } => {
            ("LOGICAL_DNS", json!(format!("{hostname}:{port}")))
        }
        Discovery::Static { endpoints } => ("STATIC", json!(endpoints)),
        Discovery::Eds { service } => ("EDS", json!(service)),
    };
    let p = &c.pool;
    json!({
        "name": c.name,
        "type": kind,
        "load_assignment": detail,
        "connect_timeout": dur(c.connect_timeout),
        "lb_policy": format!("{:?}", c.lb_policy),
        "dns_refresh_rate": dur(c.dns.refresh_rate),
        "respect_dns_ttl": c.dns.respect_dns_ttl,
        "common_http_protocol_options": {
            "idle_timeout": opt_dur(p.idle_timeout),
            "max_requests_per_connection": p.max_requests_per_connection,
            "max_connection_duration": opt_dur(p.max_connection_duration),
        },
        "circuit_breakers": {"thresholds": [{
            "max_connections": p.max_connections,
            "max_pending_requests": p.max_pending_requests,
            "max_requests": p.max_requests,
            "max_retries": p.max_retries,
            "retry_budget": p.retry_budget.map(|b| json!({"budget_percent": b.budget_percent, "min_retry_concurrency": b.min_retry_concurrency})),
        }]},
        "outlier_detection": c.outlier_detection.as_ref().map(|o| format!("{o:?}")),
        "common_lb_config": {"healthy_panic_threshold": c.healthy_panic_threshold},
    })
}
