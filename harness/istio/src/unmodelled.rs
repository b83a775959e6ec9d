//! What a resource says that meshsim's sidecar does not act on, so callers can
//! warn instead of silently simulating something else than the user wrote.

use crate::model::{ConnectionPool, DestinationRule, OutlierDetection, Resources};

/// One line per field that was accepted but has no effect in the simulation:
/// the fields each resource lists in `meta.ignored`, and the DestinationRule
/// settings that are parsed and validated but not translated yet (circuit
/// breaker limits, TCP keepalive, the deprecated
/// `outlierDetection.consecutiveErrors`, which current Istio ignores too).
pub fn unmodelled(res: &Resources) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |kind: &str, name: &str, path: &str| {
        out.push(format!(
            "{kind} {name}: {path} is accepted but not simulated"
        ));
    };
    for se in &res.service_entries {
        se.meta
            .ignored
            .iter()
            .for_each(|p| push("ServiceEntry", &se.meta.name, p));
    }
    for vs in &res.virtual_services {
        vs.meta
            .ignored
            .iter()
            .for_each(|p| push("VirtualService", &vs.meta.name, p));
    }
    for dr in &res.destination_rules {
        dr.meta
            .ignored
            .iter()
            .for_each(|p| push("DestinationRule", &dr.meta.name, p));
        for path in destination_rule_fields(dr) {
            push("DestinationRule", &dr.meta.name, &path);
        }
    }
    out
}

fn destination_rule_fields(dr: &DestinationRule) -> Vec<String> {
    let mut out = Vec::new();
    let Some(tp) = &dr.traffic_policy else {
        return out;
    };
    outlier_fields(
        tp.outlier_detection.as_ref(),
        "spec.trafficPolicy.outlierDetection",
        &mut out,
    );
    if let Some(pool) = &tp.connection_pool {
        pool_fields(pool, "spec.trafficPolicy.connectionPool", &mut out);
    }
    for (i, p) in tp.port_level_settings.iter().enumerate() {
        let at = format!("spec.trafficPolicy.portLevelSettings[{i}]");
        outlier_fields(
            p.outlier_detection.as_ref(),
            &format!("{at}.outlierDetection"),
            &mut out,
        );
        if let Some(pool) = &p.connection_pool {
            pool_fields(pool, &format!("{at}.connectionPool"), &mut out);
        }
    }
    out
}

fn outlier_fields(od: Option<&OutlierDetection>, at: &str, out: &mut Vec<String>) {
    if od.is_some_and(|od| od.consecutive_errors.is_some()) {
        out.push(format!("{at}.consecutiveErrors"));
    }
}

fn pool_fields(pool: &ConnectionPool, at: &str, out: &mut Vec<String>) {
    if let Some(tcp) = &pool.tcp {
        if tcp.max_connections.is_some() {
            out.push(format!("{at}.tcp.maxConnections"));
        }
        if tcp.tcp_keepalive.is_some() {
            out.push(format!("{at}.tcp.tcpKeepalive"));
        }
    }
    if let Some(http) = &pool.http {
        let fields = [
            (
                "http1MaxPendingRequests",
                http.http1_max_pending_requests.is_some(),
            ),
            ("http2MaxRequests", http.http2_max_requests.is_some()),
            ("maxRetries", http.max_retries.is_some()),
            (
                "maxConcurrentStreams",
                http.max_concurrent_streams.is_some(),
            ),
        ];
        for (name, set) in fields {
            if set {
                out.push(format!("{at}.http.{name}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_breaker_limits_and_deprecated_consecutive_errors_are_reported_as_not_simulated() {
        let res = crate::parse_resources(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: api }\nspec:\n  host: api\n  trafficPolicy:\n    connectionPool:\n      tcp: { maxConnections: 10, maxConnectionDuration: 60s }\n      http: { http1MaxPendingRequests: 1 }\n    outlierDetection: { consecutive5xxErrors: 5, consecutiveErrors: 3 }\n",
        )
        .unwrap();
        let lines = unmodelled(&res);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("outlierDetection.consecutiveErrors"));
        assert!(lines[1].contains("tcp.maxConnections"));
        assert!(lines[2].contains("http.http1MaxPendingRequests"));
        assert!(
            !lines.iter().any(|l| l.contains("maxConnectionDuration")
                || l.ends_with("outlierDetection is accepted but not simulated")),
            "translated fields are not listed"
        );
    }
}
