//! Translation into sidecar configuration, each test named after the Istio
//! (pilot) behaviour it checks (fact sheet §2, §3.3, §3.4, §4.2).

use std::net::SocketAddr;
use std::time::Duration;

use meshsim_istio::{
    HttpRetry, IstioVersion, MeshConfig, default_retry_policy, parse_resources, translate, validate,
};
use meshsim_sidecar::config::{
    Discovery, OutboundTrafficPolicy, RetryOn, RetryPolicy, Route, SidecarConfig, VirtualHost,
};

const V: IstioVersion = IstioVersion::new(1, 24);

fn config_at(yaml: &str, v: IstioVersion, mesh: &MeshConfig) -> SidecarConfig {
    let res = parse_resources(yaml).unwrap();
    validate(&res).unwrap();
    let cfg = translate(&res, v, mesh, vec![]);
    cfg.validate().unwrap();
    cfg
}

fn config(yaml: &str) -> SidecarConfig {
    config_at(yaml, V, &MeshConfig::for_version(V))
}

fn se(hosts: &str, ports: &str, extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: se }}\nspec:\n  hosts: {hosts}\n  ports: {ports}\n{extra}"
    )
}

const API: &str = "[api.partner.example]";
const HTTP80: &str = "[{ number: 80, name: http, protocol: HTTP }]";

fn vs(hosts: &str, http: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{ name: vs }}\nspec:\n  hosts: {hosts}\n  http:\n{http}"
    )
}

fn vhost<'c>(cfg: &'c SidecarConfig, name: &str) -> &'c VirtualHost {
    cfg.virtual_hosts
        .iter()
        .find(|vh| vh.name == name)
        .unwrap_or_else(|| panic!("no vhost {name}"))
}

fn only_route<'c>(cfg: &'c SidecarConfig, name: &str) -> &'c Route {
    let vh = vhost(cfg, name);
    assert_eq!(vh.routes.len(), 1);
    &vh.routes[0]
}

#[test]
fn resolution_none_becomes_an_original_dst_cluster() {
    let cfg = config(&se(API, HTTP80, ""));
    assert_eq!(cfg.clusters[0].discovery, Discovery::OriginalDst);
}

#[test]
fn resolution_dns_becomes_strict_dns_on_the_host_or_the_endpoint_address() {
    let cfg = config(&se(API, HTTP80, "  resolution: DNS\n"));
    assert_eq!(
        cfg.clusters[0].discovery,
        Discovery::StrictDns {
            hostname: "api.partner.example".into(),
            port: 80
        }
    );
    let extra =
        "  resolution: DNS\n  endpoints: [{ address: alb.aws.example, ports: { http: 8080 } }]\n";
    let cfg = config(&se(API, HTTP80, extra));
    assert_eq!(
        cfg.clusters[0].discovery,
        Discovery::StrictDns {
            hostname: "alb.aws.example".into(),
            port: 8080
        }
    );
}

#[test]
fn resolution_dns_round_robin_becomes_logical_dns() {
    let cfg = config(&se(
        API,
        "[{ number: 443, name: tls, protocol: TLS, targetPort: 8443 }]",
        "  resolution: DNS_ROUND_ROBIN\n",
    ));
    assert_eq!(
        cfg.clusters[0].discovery,
        Discovery::LogicalDns {
            hostname: "api.partner.example".into(),
            port: 8443
        }
    );
}

#[test]
fn resolution_static_uses_the_endpoint_addresses() {
    let extra = "  resolution: STATIC\n  endpoints: [{ address: 10.0.0.1 }, { address: 10.0.0.2, ports: { http: 9090 } }]\n";
    let cfg = config(&se(API, HTTP80, extra));
    let expected: Vec<SocketAddr> = vec![
        "10.0.0.1:80".parse().unwrap(),
        "10.0.0.2:9090".parse().unwrap(),
    ];
    assert_eq!(
        cfg.clusters[0].discovery,
        Discovery::Static {
            endpoints: expected
        }
    );
}

#[test]
fn one_cluster_per_host_and_port_named_outbound_port_host_with_istio_dns_and_pool_defaults() {
    let ports = "[{ number: 80, name: http, protocol: HTTP }, { number: 443, name: https, protocol: HTTPS }]";
    let cfg = config(&se("[a.example, b.example]", ports, "  resolution: DNS\n"));
    let names: Vec<&str> = cfg.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "outbound|80||a.example",
            "outbound|443||a.example",
            "outbound|80||b.example",
            "outbound|443||b.example"
        ]
    );
    for c in &cfg.clusters {
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert!(c.dns.respect_dns_ttl);
        assert_eq!(c.dns.refresh_rate, Duration::from_secs(60));
        assert_eq!(c.dns.jitter, Duration::from_millis(100));
        assert_eq!(c.pool.idle_timeout, Some(Duration::from_secs(3600)));
        assert_eq!(c.pool.max_connections, u32::MAX);
    }
}

#[test]
fn dns_refresh_rate_is_5s_before_istio_1_14_and_ttl_is_respected_from_1_3() {
    let old = IstioVersion::new(1, 2);
    let cfg = config_at(
        &se(API, HTTP80, "  resolution: DNS\n"),
        old,
        &MeshConfig::for_version(old),
    );
    assert_eq!(cfg.clusters[0].dns.refresh_rate, Duration::from_secs(5));
    assert!(!cfg.clusters[0].dns.respect_dns_ttl);
}

#[test]
fn http_http2_and_grpc_ports_get_http_listeners_while_tcp_and_tls_ports_do_not() {
    let ports = "[{ number: 8080, name: a, protocol: HTTP2 }, { number: 9000, name: b, protocol: GRPC }, { number: 5432, name: c, protocol: TCP }, { number: 443, name: d, protocol: HTTPS }, { number: 81, name: e }]";
    let cfg = config(&se(API, ports, ""));
    assert_eq!(
        cfg.http_ports,
        vec![80, 81, 8080, 9000],
        "unset protocol is sniffed, so HTTP"
    );
    assert!(
        cfg.virtual_hosts
            .iter()
            .all(|vh| vh.port != 5432 && vh.port != 443)
    );
}

#[test]
fn each_http_host_port_gets_a_virtual_host_with_istios_default_route() {
    let cfg = config(&se(API, HTTP80, "  resolution: DNS\n"));
    let vh = vhost(&cfg, "api.partner.example:80");
    assert_eq!(
        vh.domains,
        vec!["api.partner.example", "api.partner.example:80"]
    );
    assert_eq!(vh.port, 80);
    let route = &vh.routes[0];
    assert_eq!(
        (route.name.as_str(), route.prefix.as_str()),
        ("default", "/")
    );
    assert_eq!(route.cluster, "outbound|80||api.partner.example");
    assert_eq!(route.timeout, None, "Istio disables the route timeout");
    assert_eq!(route.retry_policy, default_retry_policy(V));
}

fn default_at(major: u32, minor: u32) -> Option<RetryPolicy> {
    default_retry_policy(IstioVersion::new(major, minor))
}

#[test]
fn istio_default_retry_policy_has_two_retries_on_connect_failure_refused_stream_unavailable_cancelled()
 {
    let p = default_at(1, 24).unwrap();
    assert_eq!(p.num_retries, 2);
    assert_eq!(
        p.retry_on,
        [
            RetryOn::ConnectFailure,
            RetryOn::RefusedStream,
            RetryOn::Unavailable,
            RetryOn::Cancelled,
            RetryOn::RetriableStatusCodes
        ]
    );
    assert!(p.previous_hosts_predicate);
    assert_eq!(p.host_selection_retry_max_attempts, 5);
    assert_eq!(
        (p.base_interval, p.max_interval),
        (Duration::from_millis(25), Duration::from_millis(250))
    );
    assert_eq!(p.per_try_timeout, None);
}

#[test]
fn istio_default_retry_policy_retries_503_before_1_24_only() {
    assert_eq!(default_at(1, 23).unwrap().retriable_status_codes, vec![503]);
    assert!(default_at(1, 24).unwrap().retriable_status_codes.is_empty());
    assert!(default_at(1, 27).unwrap().retriable_status_codes.is_empty());
}

#[test]
fn istio_default_retry_policy_retried_resource_exhausted_before_1_6() {
    assert!(default_at(1, 5).unwrap().has(RetryOn::ResourceExhausted));
    assert!(!default_at(1, 6).unwrap().has(RetryOn::ResourceExhausted));
}

#[test]
fn istio_default_retry_policy_appeared_in_1_1_with_three_host_selection_attempts() {
    assert_eq!(default_at(1, 0), None);
    assert_eq!(
        default_at(1, 1).unwrap().host_selection_retry_max_attempts,
        3
    );
    assert_eq!(
        default_at(1, 2).unwrap().host_selection_retry_max_attempts,
        5
    );
}

fn mesh_with_default(retry: HttpRetry, v: IstioVersion) -> MeshConfig {
    MeshConfig {
        default_http_retry_policy: Some(retry),
        ..MeshConfig::for_version(v)
    }
}

#[test]
fn mesh_default_http_retry_policy_replaces_the_builtin_default_from_1_12() {
    let retry = HttpRetry {
        attempts: 4,
        retry_on: Some("reset".into()),
        ..HttpRetry::default()
    };
    let v = IstioVersion::new(1, 12);
    let cfg = config_at(
        &se(API, HTTP80, ""),
        v,
        &mesh_with_default(retry.clone(), v),
    );
    let p = only_route(&cfg, "api.partner.example:80")
        .retry_policy
        .clone()
        .unwrap();
    assert_eq!(
        (p.num_retries, p.retry_on.clone()),
        (4, vec![RetryOn::Reset])
    );
    let old = IstioVersion::new(1, 11);
    let cfg = config_at(&se(API, HTTP80, ""), old, &mesh_with_default(retry, old));
    assert_eq!(
        only_route(&cfg, "api.partner.example:80").retry_policy,
        default_retry_policy(old)
    );
}

const ROUTE_TO_API: &str = "    route: [{ destination: { host: api.partner.example } }]\n";
const ROUTE_ITEM: &str = "  - route: [{ destination: { host: api.partner.example } }]\n";

fn vs_policy(retries: &str, v: IstioVersion) -> Option<RetryPolicy> {
    let yaml = se(API, HTTP80, "  resolution: DNS\n")
        + &vs(API, &format!("  - retries: {retries}\n{ROUTE_TO_API}"));
    let cfg = config_at(&yaml, v, &MeshConfig::for_version(v));
    only_route(&cfg, "api.partner.example:80")
        .retry_policy
        .clone()
}

#[test]
fn virtual_service_status_codes_go_to_retriable_status_codes_and_the_token_is_appended() {
    let p = vs_policy("{ attempts: 3, retryOn: \"5xx,503,504\" }", V).unwrap();
    assert_eq!(
        p.retry_on,
        vec![RetryOn::FiveXx, RetryOn::RetriableStatusCodes]
    );
    assert_eq!(p.retriable_status_codes, vec![503, 504]);
    assert_eq!(p.num_retries, 3);
    assert_eq!(p.host_selection_retry_max_attempts, 5);
}

#[test]
fn virtual_service_attempts_zero_means_no_retry_policy_at_all() {
    assert_eq!(vs_policy("{ attempts: 0 }", V), None);
}

#[test]
fn virtual_service_without_retry_on_keeps_the_default_token_list() {
    let p = vs_policy(
        "{ attempts: 5, perTryTimeout: 250ms }",
        IstioVersion::new(1, 23),
    )
    .unwrap();
    assert_eq!(p.retry_on, default_at(1, 23).unwrap().retry_on);
    assert_eq!(p.retriable_status_codes, vec![503]);
    assert_eq!(
        (p.num_retries, p.per_try_timeout),
        (5, Some(Duration::from_millis(250)))
    );
}

#[test]
fn retry_ignore_previous_hosts_and_backoff_apply_from_istio_1_26() {
    let r = "{ attempts: 1, retryIgnorePreviousHosts: false, backoff: 100ms }";
    let p = vs_policy(r, IstioVersion::new(1, 26)).unwrap();
    assert!(!p.previous_hosts_predicate);
    assert_eq!(
        (p.base_interval, p.max_interval),
        (Duration::from_millis(100), Duration::from_secs(1))
    );
    let p = vs_policy(r, IstioVersion::new(1, 25)).unwrap();
    assert!(p.previous_hosts_predicate);
    assert_eq!(p.base_interval, Duration::from_millis(25));
}

#[test]
fn virtual_service_routes_replace_the_default_route_in_order_with_prefix_matches_and_timeout() {
    let http = "  - name: pay\n    match: [{ name: v2, uri: { prefix: /v2 } }, { uri: { prefix: /v3 } }]\n    timeout: 5s\n    route: [{ destination: { host: api.partner.example } }]\n  - route: [{ destination: { host: api.partner.example } }]\n";
    let cfg = config(&(se(API, HTTP80, "") + &vs(API, http)));
    let routes = &vhost(&cfg, "api.partner.example:80").routes;
    let shape: Vec<(&str, &str, Option<Duration>)> = routes
        .iter()
        .map(|r| (r.name.as_str(), r.prefix.as_str(), r.timeout))
        .collect();
    let five = Some(Duration::from_secs(5));
    assert_eq!(
        shape,
        [
            ("pay.v2", "/v2", five),
            ("pay", "/v3", five),
            ("", "/", None)
        ]
    );
    assert!(
        routes
            .iter()
            .all(|r| r.retry_policy == default_retry_policy(V))
    );
}

#[test]
fn destination_without_port_uses_the_services_only_port_else_the_listener_port() {
    let ports =
        "[{ number: 80, name: http, protocol: HTTP }, { number: 8080, name: alt, protocol: HTTP }]";
    let yaml = se(API, ports, "")
        + &se("[single.example]", "[{ number: 9000, name: http }]", "").replacen(
            "apiVersion",
            "---\napiVersion",
            1,
        )
        + &vs(
            API,
            "  - route: [{ destination: { host: single.example } }]\n",
        );
    let cfg = config(&yaml);
    assert_eq!(
        only_route(&cfg, "api.partner.example:80").cluster,
        "outbound|9000||single.example"
    );
    assert_eq!(
        only_route(&cfg, "api.partner.example:8080").cluster,
        "outbound|9000||single.example"
    );
    let yaml = se(API, ports, "") + &vs(API, ROUTE_ITEM);
    let cfg = config(&yaml);
    assert_eq!(
        only_route(&cfg, "api.partner.example:8080").cluster,
        "outbound|8080||api.partner.example"
    );
    let yaml = se(API, ports, "")
        + &vs(
            API,
            "  - route: [{ destination: { host: api.partner.example, port: { number: 80 } } }]\n",
        );
    assert_eq!(
        only_route(&config(&yaml), "api.partner.example:8080").cluster,
        "outbound|80||api.partner.example"
    );
}

#[test]
fn weighted_routes_drop_zero_weight_destinations_from_the_weighted_clusters() {
    let http = "  - route:\n    - { destination: { host: a.example }, weight: 0 }\n    - { destination: { host: b.example }, weight: 100 }\n";
    let cfg = config(&(se(API, HTTP80, "") + &vs(API, http)));
    let route = only_route(&cfg, "api.partner.example:80");
    let names: Vec<(&str, u32)> = route
        .weighted_clusters
        .iter()
        .map(|c| (c.name.as_str(), c.weight))
        .collect();
    assert_eq!(
        names,
        vec![("outbound|80||b.example", 100)],
        "weight 0 is dropped"
    );
}

#[test]
fn match_port_restricts_a_virtual_service_to_that_listener_port() {
    let ports =
        "[{ number: 80, name: http, protocol: HTTP }, { number: 8080, name: alt, protocol: HTTP }]";
    let http = "  - match: [{ port: 8080 }]\n    route: [{ destination: { host: api.partner.example } }]\n";
    let cfg = config(&(se(API, ports, "") + &vs(API, http)));
    // Pilot skips a VirtualService that yields no routes on a port: the default route stays.
    assert_eq!(only_route(&cfg, "api.partner.example:80").name, "default");
    assert_eq!(only_route(&cfg, "api.partner.example:8080").name, "");
}

#[test]
fn virtual_service_host_without_service_entry_gets_a_port_80_virtual_host_but_no_cluster() {
    let cfg = config(
        &vs(
            "[other.example]",
            "  - route: [{ destination: { host: other.example } }]\n",
        )
        .replacen("---\n", "", 1),
    );
    assert!(
        cfg.clusters.is_empty(),
        "hosts without a ServiceEntry are not clusters"
    );
    let vh = vhost(&cfg, "other.example:80");
    assert_eq!(vh.domains, vec!["other.example", "other.example:80"]);
    assert_eq!(vh.routes[0].cluster, "outbound|80||other.example");
}

#[test]
fn the_first_virtual_service_for_a_host_wins() {
    let first = vs(
        API,
        "  - timeout: 1s\n    route: [{ destination: { host: api.partner.example } }]\n",
    );
    let second = vs(
        API,
        "  - timeout: 2s\n    route: [{ destination: { host: api.partner.example } }]\n",
    );
    let cfg = config(&(se(API, HTTP80, "") + &first + &second));
    assert_eq!(
        only_route(&cfg, "api.partner.example:80").timeout,
        Some(Duration::from_secs(1))
    );
}

#[test]
fn virtual_service_bound_only_to_a_gateway_does_not_touch_sidecar_routes() {
    let yaml = vs(
        API,
        "  - timeout: 1s\n    route: [{ destination: { host: api.partner.example } }]\n",
    )
    .replace("  http:\n", "  gateways: [istio-system/ingress]\n  http:\n");
    let cfg = config(&(se(API, HTTP80, "") + &yaml));
    assert_eq!(only_route(&cfg, "api.partner.example:80").name, "default");
}

fn dr(host: &str, policy: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr }}\nspec:\n  host: \"{host}\"\n  trafficPolicy:\n{policy}"
    )
}

#[test]
fn destination_rule_connection_pool_maps_to_the_cluster() {
    let policy = "    connectionPool:\n      tcp: { maxConnections: 7, connectTimeout: 2s, maxConnectionDuration: 60s, idleTimeout: 5m }\n      http: { idleTimeout: 30s, maxRequestsPerConnection: 1 }\n";
    let cfg =
        config(&(se(API, HTTP80, "  resolution: DNS\n") + &dr("api.partner.example", policy)));
    let c = &cfg.clusters[0];
    assert_eq!(c.connect_timeout, Duration::from_secs(2));
    assert_eq!(
        c.pool.idle_timeout,
        Some(Duration::from_secs(30)),
        "http.idleTimeout wins over tcp.idleTimeout"
    );
    assert_eq!(c.pool.max_requests_per_connection, Some(1));
    assert_eq!(
        c.pool.max_connection_duration,
        Some(Duration::from_secs(60))
    );
    assert_eq!(c.pool.max_connections, 7);
}

#[test]
fn tcp_idle_timeout_is_the_http_idle_timeout_only_when_http_idle_timeout_is_unset() {
    let policy = "    connectionPool:\n      tcp: { idleTimeout: 45s }\n";
    let cfg = config(&(se(API, HTTP80, "") + &dr("api.partner.example", policy)));
    assert_eq!(
        cfg.clusters[0].pool.idle_timeout,
        Some(Duration::from_secs(45))
    );
    let policy = "    connectionPool:\n      tcp: { idleTimeout: 0s }\n";
    let cfg = config(&(se(API, HTTP80, "") + &dr("api.partner.example", policy)));
    assert_eq!(
        cfg.clusters[0].pool.idle_timeout, None,
        "0s disables the idle timeout"
    );
}

#[test]
fn wildcard_destination_rule_applies_and_port_level_pool_overrides_on_its_port() {
    let ports =
        "[{ number: 80, name: http, protocol: HTTP }, { number: 8080, name: alt, protocol: HTTP }]";
    let policy = "    connectionPool: { http: { idleTimeout: 10s } }\n    portLevelSettings:\n    - port: { number: 8080 }\n      connectionPool: { http: { idleTimeout: 20s } }\n";
    let cfg = config(&(se(API, ports, "") + &dr("*.partner.example", policy)));
    assert_eq!(
        cfg.clusters[0].pool.idle_timeout,
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        cfg.clusters[1].pool.idle_timeout,
        Some(Duration::from_secs(20))
    );
}

#[test]
fn mesh_settings_carry_into_passthrough_policy_and_dns_servers() {
    let res = parse_resources(&se(API, HTTP80, "")).unwrap();
    let mesh = MeshConfig {
        connect_timeout: Duration::from_secs(3),
        outbound_traffic_policy: OutboundTrafficPolicy::RegistryOnly,
        ..MeshConfig::for_version(V)
    };
    let dns: SocketAddr = "10.0.0.53:53".parse().unwrap();
    let cfg = translate(&res, V, &mesh, vec![dns]);
    assert_eq!(
        cfg.outbound_traffic_policy,
        OutboundTrafficPolicy::RegistryOnly
    );
    assert_eq!(cfg.passthrough.name, "PassthroughCluster");
    assert_eq!(cfg.passthrough.connect_timeout, Duration::from_secs(3));
    assert_eq!(
        cfg.passthrough.pool.idle_timeout,
        Some(Duration::from_secs(300))
    );
    assert_eq!(cfg.clusters[0].connect_timeout, Duration::from_secs(3));
    assert_eq!(cfg.dns_servers, vec![dns]);
    assert!(cfg.include_request_attempt_count);
}

#[test]
fn translation_is_deterministic() {
    let yaml = se("[a.example, b.example]", HTTP80, "") + &vs("[a.example, c.example]", ROUTE_ITEM);
    assert_eq!(config(&yaml), config(&yaml));
}

/// Fact sheet §3.3: a Kubernetes Service (ClientSideLB) becomes an EDS
/// cluster `outbound|PORT||name.ns.svc.cluster.local` whose virtual host
/// answers to every name a client in the namespace may use, and the VIP.
#[test]
fn a_kubernetes_service_is_an_eds_cluster_with_its_short_names_and_vip_as_domains() {
    let mut res = meshsim_istio::Resources::default();
    res.kube_services.push(meshsim_istio::KubeService {
        name: "b".into(),
        namespace: "shop".into(),
        cluster_ip: "10.96.0.11".parse().unwrap(),
        ports: vec![meshsim_istio::KubeServicePort {
            name: "http-api".into(),
            port: 80,
            target_port: 8080,
            app_protocol: None,
        }],
    });
    let v = IstioVersion {
        major: 1,
        minor: 24,
    };
    let c = meshsim_istio::translate(&res, v, &MeshConfig::for_version(v), vec![]);
    let cluster = &c.clusters[0];
    assert_eq!(cluster.name, "outbound|80||b.shop.svc.cluster.local");
    assert_eq!(
        cluster.discovery,
        meshsim_sidecar::Discovery::Eds {
            service: "outbound|80||b.shop.svc.cluster.local".into()
        }
    );
    let vh = &c.virtual_hosts[0];
    for d in [
        "b",
        "b:80",
        "b.shop",
        "b.shop.svc.cluster.local:80",
        "10.96.0.11",
        "10.96.0.11:80",
    ] {
        assert!(
            vh.domains.iter().any(|x| x == d),
            "{d} missing from {:?}",
            vh.domains
        );
    }
    assert!(c.http_ports.contains(&80));
    assert!(
        vh.routes[0].retry_policy.is_some(),
        "Istio's default outbound policy"
    );
}
