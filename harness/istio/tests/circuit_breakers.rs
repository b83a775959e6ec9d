//! DestinationRule circuit breakers and retry budget -> cluster thresholds
//! (pilot's `applyConnectionPool`, `getDefaultCircuitBreakerThresholds`,
//! `applyRetryBudget`; fact sheet §1.3, §4.2, §9.3).

use meshsim_istio::{IstioVersion, MeshConfig, parse_resources, translate, validate};
use meshsim_sidecar::config::{Cluster, RetryBudget};

const SE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: se }\nspec:\n  hosts: [api.partner.example]\n  ports: [{ number: 80, name: http, protocol: HTTP }, { number: 8080, name: alt, protocol: HTTP }]\n  resolution: DNS\n";

fn dr(policy: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr }}\nspec:\n  host: api.partner.example\n  trafficPolicy:\n{policy}"
    )
}

/// The clusters for ports 80 and 8080 under Istio `minor`.
fn clusters_at(policy: &str, minor: u32) -> Vec<Cluster> {
    let v = IstioVersion::new(1, minor);
    let res = parse_resources(&format!("{SE}{}", dr(policy))).unwrap();
    validate(&res).unwrap();
    let cfg = translate(&res, v, &MeshConfig::for_version(v), vec![]);
    cfg.validate().unwrap();
    cfg.clusters
}

fn clusters(policy: &str) -> Vec<Cluster> {
    clusters_at(policy, 27)
}

/// Fact sheet §4.2, §9.3: with no DestinationRule every threshold is
/// 2^32 - 1 ("circuit breaking disabled") and there is no retry budget.
#[test]
fn istio_default_thresholds_are_2_pow_32_minus_1_and_no_retry_budget() {
    let res = parse_resources(SE).unwrap();
    let v = IstioVersion::new(1, 27);
    let cfg = translate(&res, v, &MeshConfig::for_version(v), vec![]);
    let p = &cfg.clusters[0].pool;
    assert_eq!(
        (
            p.max_connections,
            p.max_pending_requests,
            p.max_requests,
            p.max_retries
        ),
        (u32::MAX, u32::MAX, u32::MAX, u32::MAX)
    );
    assert_eq!(p.retry_budget, None);
}

/// Fact sheet §4.2: `tcp.maxConnections`, `http.http1MaxPendingRequests`,
/// `http.http2MaxRequests`, `http.maxRetries` map to `max_connections`,
/// `max_pending_requests`, `max_requests`, `max_retries`.
#[test]
fn connection_pool_limits_map_to_the_clusters_circuit_breakers() {
    let policy = "    connectionPool:\n      tcp: { maxConnections: 10 }\n      http: { http1MaxPendingRequests: 5, http2MaxRequests: 20, maxRetries: 3 }\n";
    for c in clusters(policy) {
        let p = &c.pool;
        assert_eq!(
            (
                p.max_connections,
                p.max_pending_requests,
                p.max_requests,
                p.max_retries
            ),
            (10, 5, 20, 3),
            "{}",
            c.name
        );
    }
}

/// Pilot's FIXME: Istio cannot tell 0 from unset, so 0 keeps 2^32 - 1.
#[test]
fn zero_limits_keep_istios_unlimited_default() {
    let policy = "    connectionPool:\n      tcp: { maxConnections: 0 }\n      http: { http1MaxPendingRequests: 0, http2MaxRequests: 0, maxRetries: 0 }\n";
    let p = &clusters(policy)[0].pool;
    assert_eq!(
        (
            p.max_connections,
            p.max_pending_requests,
            p.max_requests,
            p.max_retries
        ),
        (u32::MAX, u32::MAX, u32::MAX, u32::MAX)
    );
}

/// Fact sheet §4.2: a port-level connection pool replaces the top-level one
/// on its port, limits included.
#[test]
fn port_level_connection_pool_limits_replace_the_top_level_ones_on_their_port() {
    let policy = "    connectionPool: { http: { maxRetries: 3 } }\n    portLevelSettings:\n    - port: { number: 8080 }\n      connectionPool: { tcp: { maxConnections: 2 }, http: { http1MaxPendingRequests: 1 } }\n";
    let c = clusters(policy);
    assert_eq!(
        (c[0].pool.max_retries, c[0].pool.max_connections),
        (3, u32::MAX)
    );
    let p = &c[1].pool;
    assert_eq!(
        (p.max_retries, p.max_connections, p.max_pending_requests),
        (u32::MAX, 2, 1),
        "the port-level pool replaces the whole top-level pool"
    );
}

/// Fact sheet §1.3, §4.2: `trafficPolicy.retryBudget` (Istio >= 1.27) sets the
/// cluster's retry budget on every port, as written.
#[test]
fn retry_budget_maps_percent_and_min_retry_concurrency_on_every_port() {
    let policy = "    retryBudget: { percent: 25.5, minRetryConcurrency: 7 }\n    portLevelSettings:\n    - port: { number: 8080 }\n      connectionPool: { http: { maxRetries: 1 } }\n";
    for c in clusters(policy) {
        assert_eq!(
            c.pool.retry_budget,
            Some(RetryBudget {
                budget_percent: 25.5,
                min_retry_concurrency: 7
            }),
            "{}",
            c.name
        );
    }
}

/// Pilot's `applyRetryBudget` defaults: `minRetryConcurrency` 3, and a percent
/// of `Percent{Value: 0.2}`, which Envoy reads as 0.2 % (the code comment
/// says 20 %); an integer percent is accepted.
#[test]
fn retry_budget_defaults_are_pilots_0_2_percent_and_3() {
    let c = clusters("    retryBudget: {}\n");
    assert_eq!(
        c[0].pool.retry_budget,
        Some(RetryBudget {
            budget_percent: 0.2,
            min_retry_concurrency: 3
        })
    );
    let c = clusters("    retryBudget: { percent: 50, minRetryConcurrency: 0 }\n");
    assert_eq!(
        c[0].pool.retry_budget,
        Some(RetryBudget {
            budget_percent: 50.0,
            min_retry_concurrency: 3
        })
    );
}

/// Fact sheet §4.2: `retryBudget` exists from Istio 1.27; older versions'
/// schemas drop it, so their clusters have no budget.
#[test]
fn retry_budget_is_ignored_before_istio_1_27() {
    let c = clusters_at("    retryBudget: { percent: 20 }\n", 26);
    assert_eq!(c[0].pool.retry_budget, None);
}

/// Envoy's `type.v3.Percent` only takes 0 to 100.
#[test]
fn a_retry_budget_percent_outside_0_to_100_is_rejected() {
    let res = parse_resources(&format!(
        "{SE}{}",
        dr("    retryBudget: { percent: 120 }\n")
    ))
    .unwrap();
    let err = validate(&res).unwrap_err();
    assert_eq!(err.path(), "spec.trafficPolicy.retryBudget.percent");
    assert!(
        err.to_string()
            .contains("retry budget percent must be in range [0.0, 100.0]")
    );
}

#[test]
fn an_unknown_retry_budget_key_is_rejected_with_the_nearest_valid_one() {
    let err = parse_resources(&format!(
        "{SE}{}",
        dr("    retryBudget: { percentage: 20 }\n")
    ))
    .unwrap_err();
    assert_eq!(err.path(), "spec.trafficPolicy.retryBudget.percentage");
    assert!(err.to_string().contains("percent"), "{err}");
}
