//! The upstream HTTP version of a cluster (pilot's `setUpstreamProtocol`,
//! `applyH2Upgrade`; fact sheet §4.2, §7.1): declared HTTP/2 ports,
//! `h2UpgradePolicy`, `useClientProtocol`, `maxConcurrentStreams`.

use meshsim_istio::{
    IstioVersion, KubeService, KubeServicePort, MeshConfig, Resources, parse_resources, translate,
    validate,
};
use meshsim_sidecar::config::{Cluster, ENVOY_H2_MAX_CONCURRENT_STREAMS, UpstreamProtocol};

/// A DNS ServiceEntry with one port of `protocol`, and an optional
/// DestinationRule `http:` connection-pool block.
fn cluster(protocol: &str, http: Option<&str>) -> Cluster {
    let mut yaml = format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: se }}\nspec:\n  hosts: [api.partner.example]\n  ports: [{{ number: 80, name: p, protocol: {protocol} }}]\n  resolution: DNS\n"
    );
    if let Some(http) = http {
        yaml.push_str(&format!(
            "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr }}\nspec:\n  host: api.partner.example\n  trafficPolicy:\n    connectionPool:\n      http: {{ {http} }}\n"
        ));
    }
    let res = parse_resources(&yaml).unwrap();
    validate(&res).unwrap();
    translated(&res)
}

fn translated(res: &Resources) -> Cluster {
    let v = IstioVersion::new(1, 27);
    let cfg = translate(res, v, &MeshConfig::for_version(v), vec![]);
    cfg.validate().unwrap();
    cfg.clusters.into_iter().next().unwrap()
}

/// Fact sheet §7.1: `HTTP2`, `GRPC` and `GRPC-Web` ports make Envoy speak
/// HTTP/2 upstream; `HTTP` stays HTTP/1.1; Envoy's default stream limit.
#[test]
fn http2_grpc_and_grpc_web_ports_speak_h2_upstream_and_http_speaks_h1() {
    for protocol in ["HTTP2", "GRPC", "GRPC-Web"] {
        let c = cluster(protocol, None);
        assert_eq!(c.upstream_protocol, UpstreamProtocol::Http2, "{protocol}");
        assert_eq!(
            c.http2.max_concurrent_streams,
            ENVOY_H2_MAX_CONCURRENT_STREAMS
        );
    }
    assert_eq!(
        cluster("HTTP", None).upstream_protocol,
        UpstreamProtocol::Http1
    );
}

/// Fact sheet §7.1: a Kubernetes port named `grpc-*`, or with appProtocol
/// `kubernetes.io/h2c`, is HTTP/2 upstream.
#[test]
fn kubernetes_grpc_port_name_and_h2c_app_protocol_speak_h2_upstream() {
    for (name, app) in [("grpc-api", None), ("web", Some("kubernetes.io/h2c"))] {
        let mut res = Resources::default();
        res.kube_services.push(KubeService {
            name: "b".into(),
            namespace: "shop".into(),
            cluster_ip: "10.96.0.11".parse().unwrap(),
            ports: vec![KubeServicePort {
                name: name.into(),
                port: 80,
                target_port: 8080,
                app_protocol: app.map(Into::into),
            }],
        });
        let c = translated(&res);
        assert_eq!(c.upstream_protocol, UpstreamProtocol::Http2, "{name}");
    }
}

/// Fact sheet §4.2 (`h2UpgradePolicy`): `UPGRADE` upgrades an HTTP/1.1
/// port's cluster to HTTP/2; `DO_NOT_UPGRADE` and `DEFAULT` keep HTTP/1.1.
#[test]
fn h2_upgrade_policy_upgrade_upgrades_http1_ports_and_others_do_not() {
    let up = cluster("HTTP", Some("h2UpgradePolicy: UPGRADE"));
    assert_eq!(up.upstream_protocol, UpstreamProtocol::Http2);
    for keep in ["DO_NOT_UPGRADE", "DEFAULT"] {
        let c = cluster("HTTP", Some(&format!("h2UpgradePolicy: {keep}")));
        assert_eq!(c.upstream_protocol, UpstreamProtocol::Http1, "{keep}");
    }
}

/// Fact sheet §4.2 (`useClientProtocol`): the cluster keeps the client's
/// protocol (HTTP/1.1 for meshsim's applications), even over `UPGRADE`
/// (pilot: "Not upgrading cluster because useClientProtocol is set").
#[test]
fn use_client_protocol_keeps_http1_even_with_upgrade() {
    let c = cluster(
        "HTTP",
        Some("h2UpgradePolicy: UPGRADE, useClientProtocol: true"),
    );
    assert_eq!(c.upstream_protocol, UpstreamProtocol::Http1);
    let c = cluster("HTTP2", Some("useClientProtocol: true"));
    assert_eq!(c.upstream_protocol, UpstreamProtocol::Http1);
}

/// Fact sheet §4.2 (`http.maxConcurrentStreams`): sets the HTTP/2
/// `max_concurrent_streams`.
#[test]
fn max_concurrent_streams_sets_the_http2_stream_limit() {
    let c = cluster("GRPC", Some("maxConcurrentStreams: 8"));
    assert_eq!(c.http2.max_concurrent_streams, 8);
}

/// Istio's schema: `h2UpgradePolicy` is an enum; other words are errors.
#[test]
fn unknown_h2_upgrade_policy_is_rejected() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: dr }\nspec:\n  host: api\n  trafficPolicy:\n    connectionPool:\n      http: { h2UpgradePolicy: ALWAYS }\n";
    let err = parse_resources(yaml).unwrap_err().to_string();
    assert!(err.contains("h2UpgradePolicy"), "{err}");
}

/// Pilot's `shouldH2Upgrade`: the mesh-wide `h2UpgradePolicy: UPGRADE`
/// upgrades clusters of ports declared HTTP, a DestinationRule's
/// `DO_NOT_UPGRADE` opts out, and ports that are not declared HTTP (TCP,
/// unknown) are never upgraded by the mesh setting.
#[test]
fn the_mesh_wide_upgrade_policy_upgrades_http_ports_unless_a_rule_opts_out() {
    let mesh = "---\napiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    h2UpgradePolicy: UPGRADE\n";
    let with_mesh = |protocol: &str, http: Option<&str>| {
        let mut yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: se }}\nspec:\n  hosts: [api.partner.example]\n  ports: [{{ number: 80, name: p, protocol: {protocol} }}]\n  resolution: DNS\n"
        );
        if let Some(http) = http {
            yaml.push_str(&format!(
                "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{ name: dr }}\nspec:\n  host: api.partner.example\n  trafficPolicy:\n    connectionPool:\n      http: {{ {http} }}\n"
            ));
        }
        yaml.push_str(mesh);
        let res = parse_resources(&yaml).unwrap();
        validate(&res).unwrap();
        let v = IstioVersion::new(1, 27);
        let cfg = translate(&res, v, &MeshConfig::for_resources(v, &res), vec![]);
        cfg.clusters.into_iter().next().unwrap().upstream_protocol
    };
    assert_eq!(with_mesh("HTTP", None), UpstreamProtocol::Http2);
    assert_eq!(
        with_mesh("HTTP", Some("h2UpgradePolicy: DEFAULT")),
        UpstreamProtocol::Http2
    );
    assert_eq!(
        with_mesh("HTTP", Some("h2UpgradePolicy: DO_NOT_UPGRADE")),
        UpstreamProtocol::Http1
    );
    assert_eq!(with_mesh("TCP", None), UpstreamProtocol::Http1);
    assert_eq!(
        cluster("HTTP", None).upstream_protocol,
        UpstreamProtocol::Http1,
        "the mesh default is DO_NOT_UPGRADE"
    );
}
