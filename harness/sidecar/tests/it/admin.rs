//! Envoy admin (15000) and Istio's readiness endpoint (15021), fact sheet
//! §6.1, §6.2.

use meshsim_sidecar::{AdminConfig, Discovery, Endpoint, SidecarConfig};

use crate::support::*;

const CLUSTER: &str = "outbound|80||api.partner.example";

fn with_admin(mut config: SidecarConfig) -> SidecarConfig {
    config.admin = Some(AdminConfig::default());
    config
}

/// `GET path` on `port` of the pod, from the pod's app (its own address is
/// never captured).
async fn admin_get(w: &World, port: u16, path: &str) -> Resp {
    let dst = format!("{POD}:{port}");
    let stream = w
        .app
        .connect(addr(&dst), std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n");
    AppConnExt::wrap(stream).send(&head, 1).await
}

/// Fact sheet §6.1, §6.2: readiness on 15021 answers 503 while an EDS
/// cluster waits for its first assignment (Envoy is not LIVE before its
/// clusters' initial fetch), then 200; admin `/ready` says `INITIALIZING`,
/// then `LIVE`.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn readiness_is_503_until_every_eds_cluster_has_its_first_assignment() {
    let eds = cluster(
        CLUSTER,
        Discovery::Eds {
            service: CLUSTER.into(),
        },
    );
    let w = World::start(with_admin(routed("api.partner.example", eds, None, None))).await;
    assert_eq!(w.sidecar.readiness_addr(), Some(addr("10.0.0.1:15021")));
    assert_eq!(w.sidecar.admin_addr(), Some(addr("10.0.0.1:15000")));
    let before = admin_get(&w, 15021, "/healthz/ready").await;
    assert_eq!(before.status, 503);
    assert_eq!(
        before.body_text(),
        "server is not live, current state is: INITIALIZING"
    );
    assert_eq!(
        admin_get(&w, 15000, "/ready").await.body_text(),
        "INITIALIZING\n"
    );
    w.sidecar
        .update_endpoints(CLUSTER, vec![Endpoint::new(addr("10.0.2.1:80"))])
        .unwrap();
    assert_eq!(admin_get(&w, 15021, "/healthz/ready").await.status, 200);
    let ready = admin_get(&w, 15000, "/ready").await;
    assert_eq!((ready.status, ready.body_text().as_str()), (200, "LIVE\n"));
}

/// Fact sheet §1, §5.1 and Envoy's cluster stats: refused connects retried
/// twice count 3 attempts, 2 retries, 1 retry-limit-exceeded and 3 connect
/// failures under `cluster.<name>.`, in `name: value` lines sorted by name;
/// `?filter=` keeps the matching names.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stats_are_envoy_named_per_cluster_sorted_and_filterable() {
    let endpoints = vec![addr("10.0.2.9:80")];
    let c = cluster(CLUSTER, Discovery::Static { endpoints });
    let config = routed(
        "api.partner.example",
        c,
        Some(policy("connect-failure", 2)),
        None,
    );
    let w = World::start(with_admin(config)).await;
    assert_eq!(
        w.get("10.0.2.9:80", "api.partner.example", 7).await.status,
        503
    );
    let body = admin_get(&w, 15000, "/stats").await.body_text();
    let lines: Vec<&str> = body.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
    for want in [
        "cluster.outbound|80||api.partner.example.upstream_rq_total: 3",
        "cluster.outbound|80||api.partner.example.upstream_rq_retry: 2",
        "cluster.outbound|80||api.partner.example.upstream_rq_retry_limit_exceeded: 1",
        "cluster.outbound|80||api.partner.example.upstream_cx_connect_fail: 3",
        "cluster.outbound|80||api.partner.example.upstream_cx_total: 3",
        "cluster.outbound|80||api.partner.example.membership_total: 1",
        "cluster.outbound|80||api.partner.example.membership_healthy: 1",
        "cluster.PassthroughCluster.upstream_rq_total: 0",
    ] {
        assert!(lines.contains(&want), "{want} missing from\n{body}");
    }
    let filtered = admin_get(&w, 15000, "/stats?filter=upstream_rq_retry$")
        .await
        .body_text();
    assert_eq!(
        filtered,
        "cluster.PassthroughCluster.upstream_rq_retry: 0\n\
         cluster.outbound|80||api.partner.example.upstream_rq_retry: 2\n"
    );
    let json = admin_get(&w, 15000, "/stats?format=json&filter=retry_limit")
        .await
        .body_text();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["stats"][1]["value"], 1);
}

/// Envoy's `/clusters` text format: circuit breaker thresholds per cluster
/// (Istio's 2^32 - 1 defaults, fact sheet §9.3) and one
/// `cluster::host:port::stat::value` group per host.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn clusters_page_lists_thresholds_and_hosts_with_health_flags() {
    let endpoints = vec![addr("10.0.2.1:80")];
    let c = cluster(CLUSTER, Discovery::Static { endpoints });
    let w = World::start(with_admin(routed("api.partner.example", c, None, None))).await;
    let body = admin_get(&w, 15000, "/clusters").await.body_text();
    for want in [
        "outbound|80||api.partner.example::default_priority::max_connections::4294967295",
        "outbound|80||api.partner.example::default_priority::max_retries::4294967295",
        "outbound|80||api.partner.example::10.0.2.1:80::health_flags::healthy",
        "outbound|80||api.partner.example::10.0.2.1:80::cx_active::0",
        "outbound|80||api.partner.example::10.0.2.1:80::weight::1",
    ] {
        assert!(
            body.lines().any(|l| l == want),
            "{want} missing from\n{body}"
        );
    }
}

/// `/config_dump`: the effective configuration as JSON with Envoy's field
/// names and duration format (Istio's 10 s connect timeout, §3.3).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn config_dump_is_json_with_envoy_field_names() {
    let endpoints = vec![addr("10.0.2.1:80")];
    let c = cluster(CLUSTER, Discovery::Static { endpoints });
    let config = routed("api.partner.example", c, Some(istio_default_policy()), None);
    let w = World::start(with_admin(config)).await;
    let resp = admin_get(&w, 15000, "/config_dump").await;
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&resp.body_text()).unwrap();
    let cl = &v["clusters"][0];
    assert_eq!(cl["name"], CLUSTER);
    assert_eq!(cl["type"], "STATIC");
    assert_eq!(cl["connect_timeout"], "10s");
    let route = &v["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
    assert_eq!(route["retry_policy"]["num_retries"], 2);
    assert_eq!(
        route["retry_policy"]["retry_on"],
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    );
    assert_eq!(v["clusters"][1]["name"], "PassthroughCluster");
}
