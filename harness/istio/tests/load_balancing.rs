//! DestinationRule `loadBalancer` and `outlierDetection` -> cluster (pilot's
//! `applyLoadBalancer` / `applyOutlierDetection`, fact sheet §9.2), and their
//! validation.

use std::time::Duration;

use meshsim_istio::{IstioVersion, MeshConfig, Problem, parse_resources, translate, validate};
use meshsim_sidecar::config::{
    Cluster, Discovery, ENVOY_HEALTHY_PANIC_THRESHOLD, EjectionLimit, LbPolicy, OutlierDetection,
};

const SE_STATIC: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: se }\nspec:\n  hosts: [api.mesh]\n  ports: [{ number: 80, name: http, protocol: HTTP }, { number: 8080, name: alt, protocol: HTTP }]\n  resolution: STATIC\n  endpoints: [{ address: 10.1.0.1 }, { address: 10.1.0.2 }]\n";

fn dr(policy: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr }}\nspec:\n  host: api.mesh\n  trafficPolicy:\n{policy}"
    )
}

/// The clusters for ports 80 and 8080 under Istio `version`.
fn clusters_at(policy: Option<&str>, version: &str) -> Vec<Cluster> {
    let yaml = SE_STATIC.to_string() + &policy.map(dr).unwrap_or_default();
    let res = parse_resources(&yaml).unwrap();
    validate(&res).unwrap();
    let v: IstioVersion = version.parse().unwrap();
    let cfg = translate(&res, v, &MeshConfig::for_version(v), vec![]);
    cfg.validate().unwrap();
    cfg.clusters
}

fn cluster(policy: Option<&str>) -> Cluster {
    clusters_at(policy, "1.24").remove(0)
}

/// istio/istio PR #37220 (1.14 change notes): the default load balancer is
/// `LEAST_REQUEST` from Istio 1.14, `ROUND_ROBIN` before.
#[test]
fn istio_defaults_to_least_request_from_1_14_and_round_robin_before() {
    assert_eq!(
        clusters_at(None, "1.14")[0].lb_policy,
        LbPolicy::LeastRequest
    );
    assert_eq!(clusters_at(None, "1.13")[0].lb_policy, LbPolicy::RoundRobin);
}

/// `applyLoadBalancer`: `simple` maps one to one, `LEAST_CONN` is
/// `LEAST_REQUEST`, `UNSPECIFIED` is the default.
#[test]
fn load_balancer_simple_sets_the_lb_policy() {
    let cases = [
        ("ROUND_ROBIN", LbPolicy::RoundRobin),
        ("RANDOM", LbPolicy::Random),
        ("LEAST_REQUEST", LbPolicy::LeastRequest),
        ("LEAST_CONN", LbPolicy::LeastRequest),
        ("UNSPECIFIED", LbPolicy::LeastRequest),
    ];
    for (simple, policy) in cases {
        let c = cluster(Some(&format!("    loadBalancer: {{ simple: {simple} }}\n")));
        assert_eq!(c.lb_policy, policy, "{simple}");
    }
}

/// `applyLoadBalancer`: `PASSTHROUGH` makes the cluster ORIGINAL_DST with
/// `CLUSTER_PROVIDED`, dropping its endpoints.
#[test]
fn load_balancer_passthrough_turns_the_cluster_into_original_dst() {
    let c = cluster(Some("    loadBalancer: { simple: PASSTHROUGH }\n"));
    assert_eq!(c.discovery, Discovery::OriginalDst);
    assert_eq!(c.lb_policy, LbPolicy::ClusterProvided);
}

#[test]
fn an_unknown_simple_load_balancer_is_a_decode_error_listing_the_valid_ones() {
    let yaml = SE_STATIC.to_string() + &dr("    loadBalancer: { simple: FASTEST }\n");
    let err = parse_resources(&yaml).unwrap_err();
    assert!(
        matches!(err.problem(), Problem::UnknownEnumValue { value, valid } if value == "FASTEST" && valid.iter().any(|v| v == "LEAST_REQUEST")),
        "{err}"
    );
}

#[test]
fn consistent_hash_and_locality_settings_are_accepted_and_listed_as_not_simulated() {
    let yaml = SE_STATIC.to_string()
        + &dr(
            "    loadBalancer:\n      consistentHash: { httpHeaderName: x-user }\n      localityLbSetting: { enabled: false }\n",
        );
    let res = parse_resources(&yaml).unwrap();
    let lines = meshsim_istio::unmodelled(&res);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("loadBalancer.consistentHash")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("loadBalancer.localityLbSetting"))
    );
}

/// §9.2: no `outlierDetection`, no outlier detection (and Envoy's 50 % panic
/// threshold stays, irrelevant without ejections).
#[test]
fn without_outlier_detection_in_the_destination_rule_the_cluster_has_none() {
    let c = cluster(None);
    assert_eq!(c.outlier_detection, None);
    assert_eq!(c.healthy_panic_threshold, ENVOY_HEALTHY_PANIC_THRESHOLD);
}

/// §9.2: an `outlierDetection` block with only `consecutive5xxErrors` keeps
/// Envoy's defaults elsewhere (interval 10 s, base 30 s, max 10 %, gateway
/// errors not enforced) and turns panic mode off (`minHealthPercent` 0).
#[test]
fn consecutive_5xx_errors_is_enforced_and_min_health_percent_defaults_to_panic_off() {
    let c = cluster(Some("    outlierDetection: { consecutive5xxErrors: 3 }\n"));
    let od = c.outlier_detection.unwrap();
    assert_eq!((od.consecutive_5xx, od.enforcing_consecutive_5xx), (3, 100));
    assert_eq!(od.enforcing_consecutive_gateway_failure, 0);
    assert_eq!(
        (od.interval, od.base_ejection_time, od.max_ejection_percent),
        (Duration::from_secs(10), Duration::from_secs(30), 10)
    );
    assert_eq!(c.healthy_panic_threshold, 0);
}

/// §9.2: a threshold set to 0 is not enforced; `consecutiveGatewayErrors` > 0
/// is enforced at 100 %; interval, base ejection time, max ejection percent
/// and min health percent pass through.
#[test]
fn outlier_detection_fields_map_with_istios_enforcing_percentages() {
    let policy = "    outlierDetection:\n      consecutive5xxErrors: 0\n      consecutiveGatewayErrors: 2\n      interval: 5s\n      baseEjectionTime: 10m\n      maxEjectionPercent: 50\n      minHealthPercent: 30\n";
    let c = cluster(Some(policy));
    let od = c.outlier_detection.clone().unwrap();
    assert_eq!(od.enforcing_consecutive_5xx, 0);
    assert_eq!(
        (
            od.consecutive_gateway_failure,
            od.enforcing_consecutive_gateway_failure
        ),
        (2, 100)
    );
    assert_eq!(od.interval, Duration::from_secs(5));
    assert_eq!(od.base_ejection_time, Duration::from_secs(600));
    assert_eq!(
        od.max_ejection_time,
        Duration::from_secs(600),
        "Envoy: max(300 s, base)"
    );
    assert_eq!(od.max_ejection_percent, 50);
    assert_eq!(c.healthy_panic_threshold, 30);
}

/// §9.2: `splitExternalLocalOriginErrors` with `consecutiveLocalOriginFailures`
/// sets the local-origin threshold, enforced at 100 %.
#[test]
fn split_external_local_origin_errors_sets_the_local_origin_threshold() {
    let policy = "    outlierDetection: { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2 }\n";
    let od = cluster(Some(policy)).outlier_detection.unwrap();
    assert!(od.split_external_local_origin_errors);
    assert_eq!(
        (
            od.consecutive_local_origin_failure,
            od.enforcing_consecutive_local_origin_failure
        ),
        (2, 100)
    );
}

/// §13 item 10: Istio >= 1.19 runs on an Envoy with the current
/// `max_ejection_percent` rule, older profiles get the legacy one.
#[test]
fn the_max_ejection_percent_rule_follows_the_istio_version() {
    let policy = Some("    outlierDetection: { consecutive5xxErrors: 5 }\n");
    let rule = |v: &str| {
        clusters_at(policy, v)[0]
            .outlier_detection
            .as_ref()
            .unwrap()
            .ejection_limit
    };
    assert_eq!(rule("1.19"), EjectionLimit::Current);
    assert_eq!(rule("1.18"), EjectionLimit::Legacy);
}

/// `portLevelSettings`: a port's `loadBalancer` / `outlierDetection` replace
/// the top-level ones on that port only.
#[test]
fn port_level_load_balancer_and_outlier_detection_override_on_their_port() {
    let policy = "    loadBalancer: { simple: RANDOM }\n    outlierDetection: { consecutive5xxErrors: 7 }\n    portLevelSettings:\n    - port: { number: 8080 }\n      loadBalancer: { simple: ROUND_ROBIN }\n      outlierDetection: { consecutive5xxErrors: 2 }\n";
    let cs = clusters_at(Some(policy), "1.24");
    let on = |port: &str| {
        cs.iter()
            .find(|c| c.name.starts_with(&format!("outbound|{port}|")))
            .unwrap()
    };
    let five = |c: &Cluster| c.outlier_detection.as_ref().map(|o| o.consecutive_5xx);
    assert_eq!(
        (on("80").lb_policy, five(on("80"))),
        (LbPolicy::Random, Some(7))
    );
    assert_eq!(
        (on("8080").lb_policy, five(on("8080"))),
        (LbPolicy::RoundRobin, Some(2))
    );
}

/// Pilot's `GetPortLevelTrafficPolicy`: a port-level entry replaces the whole
/// policy on its port ("port level policies do not inherit"), so a group it
/// leaves unset falls back to the default, not to the top-level value.
#[test]
fn a_port_level_entry_does_not_inherit_the_top_level_groups_it_leaves_unset() {
    let policy = "    loadBalancer: { simple: RANDOM }\n    outlierDetection: { consecutive5xxErrors: 7 }\n    connectionPool: { http: { http1MaxPendingRequests: 9 } }\n    portLevelSettings:\n    - port: { number: 8080 }\n      connectionPool: { tcp: { maxConnections: 3 } }\n";
    let cs = clusters_at(Some(policy), "1.24");
    let on = |port: &str| {
        cs.iter()
            .find(|c| c.name.starts_with(&format!("outbound|{port}|")))
            .unwrap()
    };
    assert_eq!(on("80").lb_policy, LbPolicy::Random);
    assert!(on("80").outlier_detection.is_some());
    assert_eq!(on("80").pool.max_pending_requests, 9);
    let alt = on("8080");
    assert_eq!(alt.lb_policy, LbPolicy::LeastRequest, "Istio's default LB");
    assert_eq!(
        alt.outlier_detection, None,
        "no top-level outlier detection"
    );
    assert_eq!(alt.pool.max_connections, 3);
    assert_eq!(
        alt.pool.max_pending_requests,
        meshsim_sidecar::config::PoolSettings::default().max_pending_requests,
        "the top-level pool is not merged into the port's"
    );
}

/// `ValidateDestinationRule`: `minHealthPercent` and `maxEjectionPercent` are
/// percentages.
#[test]
fn istio_rejects_a_min_health_percent_above_100() {
    let yaml = SE_STATIC.to_string() + &dr("    outlierDetection: { minHealthPercent: 101 }\n");
    let res = parse_resources(&yaml).unwrap();
    let err = validate(&res).unwrap_err();
    assert!(err.to_string().contains("minHealthPercent"), "{err}");
}

#[test]
fn the_translated_outlier_detection_is_envoys_defaults_plus_what_istio_sets() {
    let od = cluster(Some("    outlierDetection: { interval: 1s }\n"))
        .outlier_detection
        .unwrap();
    assert_eq!(
        od,
        OutlierDetection {
            interval: Duration::from_secs(1),
            ..OutlierDetection::default()
        }
    );
}
