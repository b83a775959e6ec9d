//! `ValidateDestinationRule` (traffic policy parts meshsim parses).

use super::{Check, names};
use crate::error::IstioError;
use crate::model::{ConnectionPool, DestinationRule, OutlierDetection, TrafficPolicy};

/// Every error of one DestinationRule.
pub(crate) fn validate(dr: &DestinationRule) -> Vec<IstioError> {
    let mut c = Check::new(&dr.meta, "DestinationRule");
    c.check("spec.host", names::wildcard_domain(&dr.host));
    if let Some(policy) = &dr.traffic_policy {
        traffic_policy(&mut c, policy, "spec.trafficPolicy");
    }
    subsets(&mut c, dr);
    c.errors
}

/// Istio's `validateSubset`: a name that is a DNS-1123 label, unique in the
/// rule; a subset's traffic policy is checked like the rule's.
fn subsets(c: &mut Check<'_>, dr: &DestinationRule) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in dr.subsets.iter().enumerate() {
        let path = format!("spec.subsets[{i}]");
        if s.name.is_empty() {
            c.fail(&format!("{path}.name"), "name is required");
        } else if !names::is_dns1123_label(&s.name) {
            let msg = format!("subset name is invalid: {}", s.name);
            c.fail(&format!("{path}.name"), msg);
        } else if !seen.insert(s.name.as_str()) {
            let msg = format!("duplicate subset names: {}", s.name);
            c.fail(&format!("{path}.name"), msg);
        }
        if let Some(policy) = &s.traffic_policy {
            traffic_policy(c, policy, &format!("{path}.trafficPolicy"));
        }
    }
}

fn traffic_policy(c: &mut Check<'_>, policy: &TrafficPolicy, path: &str) {
    if let Some(pool) = &policy.connection_pool {
        connection_pool(c, pool, &format!("{path}.connectionPool"));
    }
    if let Some(od) = &policy.outlier_detection {
        outlier_detection(c, od, &format!("{path}.outlierDetection"));
    }
    if let Some(p) = policy.retry_budget.as_ref().and_then(|rb| rb.percent)
        && !(0.0..=100.0).contains(&p)
    {
        c.fail(
            &format!("{path}.retryBudget.percent"),
            "retry budget percent must be in range [0.0, 100.0]",
        );
    }
    for (i, pl) in policy.port_level_settings.iter().enumerate() {
        let pp = format!("{path}.portLevelSettings[{i}]");
        match pl.port {
            None => c.fail(&pp, "portTrafficPolicy must have valid port"),
            Some(port) => c.check(&format!("{pp}.port.number"), names::port(port)),
        }
        if let Some(pool) = &pl.connection_pool {
            connection_pool(c, pool, &format!("{pp}.connectionPool"));
        }
        if let Some(od) = &pl.outlier_detection {
            outlier_detection(c, od, &format!("{pp}.outlierDetection"));
        }
    }
}

fn non_negative(c: &mut Check<'_>, path: String, value: Option<i32>, what: &str) {
    if value.is_some_and(|v| v < 0) {
        c.fail(&path, format!("{what} must be non-negative"));
    }
}

fn connection_pool(c: &mut Check<'_>, pool: &ConnectionPool, path: &str) {
    if let Some(h) = &pool.http {
        let p = |k: &str| format!("{path}.http.{k}");
        non_negative(
            c,
            p("http1MaxPendingRequests"),
            h.http1_max_pending_requests,
            "http1 max pending requests",
        );
        non_negative(
            c,
            p("http2MaxRequests"),
            h.http2_max_requests,
            "http2 max requests",
        );
        non_negative(
            c,
            p("maxRequestsPerConnection"),
            h.max_requests_per_connection,
            "max requests per connection",
        );
        non_negative(c, p("maxRetries"), h.max_retries, "max retries");
        non_negative(
            c,
            p("maxConcurrentStreams"),
            h.max_concurrent_streams,
            "max concurrent streams",
        );
        c.duration(&p("idleTimeout"), h.idle_timeout);
    }
    if let Some(t) = &pool.tcp {
        let p = |k: &str| format!("{path}.tcp.{k}");
        non_negative(c, p("maxConnections"), t.max_connections, "max connections");
        c.duration(&p("connectTimeout"), t.connect_timeout);
        c.duration(&p("maxConnectionDuration"), t.max_connection_duration);
        // 0s disables the idle timeout, so Istio skips the check for it.
        c.duration(
            &p("idleTimeout"),
            t.idle_timeout.filter(|d| d.as_millis() != 0),
        );
        if let Some(ka) = &t.tcp_keepalive {
            c.duration(&p("tcpKeepalive.time"), ka.time);
            c.duration(&p("tcpKeepalive.interval"), ka.interval);
        }
    }
}

fn outlier_detection(c: &mut Check<'_>, od: &OutlierDetection, path: &str) {
    c.duration(&format!("{path}.baseEjectionTime"), od.base_ejection_time);
    if !od.split_external_local_origin_errors
        && od.consecutive_local_origin_failures.is_some_and(|v| v > 0)
    {
        c.fail(
            &format!("{path}.consecutiveLocalOriginFailures"),
            "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
        );
    }
    c.duration(&format!("{path}.interval"), od.interval);
    if let Some(v) = od.max_ejection_percent {
        c.check(&format!("{path}.maxEjectionPercent"), names::percent(v));
    }
    if let Some(v) = od.min_health_percent {
        c.check(&format!("{path}.minHealthPercent"), names::percent(v));
    }
}
