//! What a resource says that meshsim's sidecar does not act on, so callers can
//! warn instead of silently simulating something else than the user wrote.

use crate::model::{DestinationRule, OutlierDetection, Resources};
use crate::version::IstioVersion;

/// One line per field that was accepted but has no effect in the simulation:
/// the fields each resource lists in `meta.ignored`, and the DestinationRule
/// settings that are parsed and validated but not translated yet (the deprecated
/// `outlierDetection.consecutiveErrors`, which current Istio ignores too). See
/// [`unmodelled_at`] for the fields the chosen Istio version does not know.
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
    if let Some(mesh) = &res.mesh_config {
        mesh.meta
            .ignored
            .iter()
            .for_each(|p| push("IstioOperator", operator_name(&mesh.meta.name), p));
    }
    out
}

/// An `IstioOperator` may have no name.
fn operator_name(name: &str) -> &str {
    if name.is_empty() { "(unnamed)" } else { name }
}

/// [`unmodelled`], plus one line per field the Istio `version` does not have
/// yet: its CRD schema drops such a field (the API server prunes unknown
/// fields; `kubectl apply` warns or refuses), so istiod never acts on it, and
/// neither does the translation. Fields: DestinationRule
/// `trafficPolicy.retryBudget` (1.27), VirtualService `retries.backoff` and
/// `retries.retryIgnorePreviousHosts` (1.26).
pub fn unmodelled_at(res: &Resources, version: IstioVersion) -> Vec<String> {
    let mut out = unmodelled(res);
    let mut push = |kind: &str, name: &str, path: String, since: &str| {
        out.push(format!(
            "{kind} {name}: {path} needs Istio >= {since} (the {version} schema drops it), so it is not simulated"
        ));
    };
    if !version.at_least(1, 27) {
        for dr in &res.destination_rules {
            if dr
                .traffic_policy
                .as_ref()
                .is_some_and(|tp| tp.retry_budget.is_some())
            {
                let path = "spec.trafficPolicy.retryBudget".to_string();
                push("DestinationRule", &dr.meta.name, path, "1.27");
            }
        }
    }
    if !version.at_least(1, 26) {
        for vs in &res.virtual_services {
            for (i, route) in vs.http.iter().enumerate() {
                let Some(r) = &route.retries else { continue };
                let at = format!("spec.http[{i}].retries");
                if r.backoff.is_some() {
                    push(
                        "VirtualService",
                        &vs.meta.name,
                        format!("{at}.backoff"),
                        "1.26",
                    );
                }
                if r.retry_ignore_previous_hosts.is_some() {
                    let path = format!("{at}.retryIgnorePreviousHosts");
                    push("VirtualService", &vs.meta.name, path, "1.26");
                }
            }
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
    for (i, p) in tp.port_level_settings.iter().enumerate() {
        let at = format!("spec.trafficPolicy.portLevelSettings[{i}]");
        outlier_fields(
            p.outlier_detection.as_ref(),
            &format!("{at}.outlierDetection"),
            &mut out,
        );
    }
    out
}

fn outlier_fields(od: Option<&OutlierDetection>, at: &str, out: &mut Vec<String>) {
    if od.is_some_and(|od| od.consecutive_errors.is_some()) {
        out.push(format!("{at}.consecutiveErrors"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_errors_is_reported_but_circuit_breakers_keepalive_and_h2_settings_are_not() {
        let res = crate::parse_resources(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: api }\nspec:\n  host: api\n  trafficPolicy:\n    connectionPool:\n      tcp: { maxConnections: 10, maxConnectionDuration: 60s, tcpKeepalive: { probes: 3 } }\n      http: { http1MaxPendingRequests: 1, http2MaxRequests: 2, maxRetries: 3, maxConcurrentStreams: 4, h2UpgradePolicy: UPGRADE, useClientProtocol: false }\n    outlierDetection: { consecutive5xxErrors: 5, consecutiveErrors: 3 }\n    retryBudget: { percent: 20 }\n",
        )
        .unwrap();
        let lines = unmodelled(&res);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("outlierDetection.consecutiveErrors"));
        for modelled in [
            "tcpKeepalive",
            "maxConcurrentStreams",
            "h2UpgradePolicy",
            "useClientProtocol",
            "maxConnections",
            "http1MaxPendingRequests",
            "http2MaxRequests",
            "maxRetries",
            "retryBudget",
        ] {
            assert!(
                !lines.iter().any(|l| l.contains(modelled)),
                "{modelled} is translated"
            );
        }
        assert!(
            !lines
                .iter()
                .any(|l| l.ends_with("outlierDetection is accepted but not simulated")),
            "outlier detection is translated"
        );
        assert_eq!(unmodelled_at(&res, IstioVersion::new(1, 27)), lines);
    }

    /// Fact sheet §4.2: `retryBudget` exists from Istio 1.27 only.
    #[test]
    fn retry_budget_before_istio_1_27_is_reported_as_unknown_to_that_version() {
        let res = crate::parse_resources(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: api }\nspec:\n  host: api\n  trafficPolicy:\n    retryBudget: { percent: 20 }\n",
        )
        .unwrap();
        let lines = unmodelled_at(&res, IstioVersion::new(1, 26));
        assert_eq!(
            lines,
            vec![
                "DestinationRule api: spec.trafficPolicy.retryBudget needs Istio >= 1.27 (the 1.26 schema drops it), so it is not simulated"
            ]
        );
        assert!(unmodelled_at(&res, IstioVersion::new(1, 27)).is_empty());
    }
}
