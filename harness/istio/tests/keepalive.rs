//! TCP keepalive and the TCP listeners' `tcp_proxy` timers: mesh
//! `tcpKeepalive` and DestinationRule `connectionPool.tcp` -> Envoy (pilot's
//! `applyTCPKeepalive`, `buildOutboundNetworkFiltersWithSingleDestination`;
//! fact sheet §4.2, §7.3).

use std::time::Duration;

use meshsim_istio::model::TcpKeepalive;
use meshsim_istio::{IstioVersion, MeshConfig, parse_resources, translate, validate};
use meshsim_sidecar::config::{Keepalive, SidecarConfig};

const V: IstioVersion = IstioVersion::new(1, 27);

const SE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: se }\nspec:\n  hosts: [db.example]\n  addresses: [10.96.0.20]\n  ports: [{ number: 5432, name: tcp-db, protocol: TCP }, { number: 80, name: http, protocol: HTTP }]\n  resolution: DNS\n";

fn dr(tcp: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr }}\nspec:\n  host: db.example\n  trafficPolicy:\n    connectionPool:\n      tcp: {tcp}\n"
    )
}

fn config(yaml: &str, mesh: &MeshConfig) -> SidecarConfig {
    let res = parse_resources(yaml).unwrap();
    validate(&res).unwrap();
    let cfg = translate(&res, V, mesh, vec![]);
    cfg.validate().unwrap();
    cfg
}

fn keepalives(yaml: &str, mesh: &MeshConfig) -> Vec<Option<Keepalive>> {
    let cfg = config(yaml, mesh);
    cfg.clusters.iter().map(|c| c.pool.tcp_keepalive).collect()
}

/// Fact sheet §4.2: neither the mesh nor a DestinationRule sets
/// `tcpKeepalive`: no `SO_KEEPALIVE` on upstream connections.
#[test]
fn without_mesh_or_destination_rule_keepalive_upstream_connections_have_none() {
    let ka = keepalives(SE, &MeshConfig::for_version(V));
    assert!(ka.iter().all(Option::is_none), "{ka:?}");
}

/// Fact sheet §4.2: a DestinationRule `tcpKeepalive` with some fields set
/// keeps the OS defaults (Linux 7200 s, 75 s, 9) for the others.
#[test]
fn destination_rule_keepalive_fills_unset_fields_with_the_os_defaults() {
    let yaml = format!("{SE}{}", dr("{ tcpKeepalive: { time: 30s } }"));
    let ka = keepalives(&yaml, &MeshConfig::for_version(V));
    let expected = Keepalive {
        time: Duration::from_secs(30),
        ..Keepalive::LINUX_DEFAULT
    };
    assert!(ka.iter().all(|k| *k == Some(expected)), "{ka:?}");
}

/// Fact sheet §4.2: the mesh-wide `tcpKeepalive` applies first and a
/// DestinationRule overrides it field by field.
#[test]
fn mesh_keepalive_applies_first_and_the_destination_rule_overrides_field_by_field() {
    let mesh = MeshConfig {
        tcp_keepalive: Some(TcpKeepalive {
            probes: Some(3),
            time: Some(Duration::from_secs(60)),
            interval: Some(Duration::from_secs(10)),
        }),
        ..MeshConfig::for_version(V)
    };
    assert!(
        keepalives(SE, &mesh).iter().all(|k| *k
            == Some(Keepalive {
                time: Duration::from_secs(60),
                interval: Duration::from_secs(10),
                probes: 3,
            })),
        "the mesh setting alone applies to every cluster"
    );
    let yaml = format!("{SE}{}", dr("{ tcpKeepalive: { interval: 2500ms } }"));
    let expected = Keepalive {
        time: Duration::from_secs(60),
        interval: Duration::from_secs(2), // whole seconds, as Istio sends them
        probes: 3,
    };
    assert!(
        keepalives(&yaml, &mesh)
            .iter()
            .all(|k| *k == Some(expected))
    );
}

/// Pilot's `buildDefaultPassthroughCluster` applies the connection pool with
/// empty settings, so the mesh-wide `tcpKeepalive` reaches the
/// `PassthroughCluster` too (calls to hosts without a ServiceEntry); without
/// it, passthrough connections have no `SO_KEEPALIVE`.
#[test]
fn the_mesh_keepalive_applies_to_the_passthrough_cluster() {
    let mesh = MeshConfig {
        tcp_keepalive: Some(TcpKeepalive {
            probes: Some(4),
            time: Some(Duration::from_secs(45)),
            interval: None,
        }),
        ..MeshConfig::for_version(V)
    };
    let expected = Keepalive {
        time: Duration::from_secs(45),
        probes: 4,
        ..Keepalive::LINUX_DEFAULT
    };
    assert_eq!(
        config(SE, &mesh).passthrough.pool.tcp_keepalive,
        Some(expected)
    );
    let plain = config(SE, &MeshConfig::for_version(V));
    assert_eq!(plain.passthrough.pool.tcp_keepalive, None);
}

/// Fact sheet §4.2: Istio's validation rejects keepalive durations under
/// 1 ms.
#[test]
fn a_keepalive_time_under_one_millisecond_is_rejected() {
    let yaml = format!("{SE}{}", dr("{ tcpKeepalive: { time: 500us } }"));
    let res = parse_resources(&yaml).unwrap();
    let err = validate(&res).unwrap_err().to_string();
    assert!(err.contains("tcpKeepalive.time"), "{err}");
}

/// Fact sheet §7.3: a TCP service port gets its own listener, matched by
/// the service address, to the service's cluster; Envoy's `tcp_proxy`
/// defaults apply (idle 1 h, one connect attempt, no maximum duration).
#[test]
fn a_tcp_service_port_gets_a_tcp_route_to_its_cluster_with_envoy_defaults() {
    let cfg = config(SE, &MeshConfig::for_version(V));
    assert_eq!(cfg.tcp_routes.len(), 1);
    let r = &cfg.tcp_routes[0];
    assert_eq!(r.port, 5432);
    assert_eq!(
        r.addresses,
        vec!["10.96.0.20".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(r.cluster, "outbound|5432||db.example");
    assert_eq!(r.settings.max_connect_attempts, 1);
    assert_eq!(r.settings.idle_timeout, Some(Duration::from_secs(3600)));
    assert_eq!(r.settings.max_downstream_connection_duration, None);
}

/// Fact sheet §4.2: `tcp.idleTimeout` and `tcp.maxConnectionDuration` set
/// the TCP listener's `idle_timeout` and `max_downstream_connection_duration`
/// (a zero idle timeout disables it).
#[test]
fn tcp_idle_timeout_and_max_connection_duration_reach_the_tcp_proxy() {
    let yaml = format!(
        "{SE}{}",
        dr("{ idleTimeout: 90s, maxConnectionDuration: 10m }")
    );
    let cfg = config(&yaml, &MeshConfig::for_version(V));
    let s = &cfg.tcp_routes[0].settings;
    assert_eq!(s.idle_timeout, Some(Duration::from_secs(90)));
    assert_eq!(
        s.max_downstream_connection_duration,
        Some(Duration::from_secs(600))
    );
    let yaml = format!("{SE}{}", dr("{ idleTimeout: 0s }"));
    let cfg = config(&yaml, &MeshConfig::for_version(V));
    assert_eq!(cfg.tcp_routes[0].settings.idle_timeout, None);
}
