//! Protocol selection per service port (fact sheet §7): which ports the
//! sidecar sniffs, which are TCP, and the detection timeout per version.

use std::time::Duration;

use meshsim_istio::{
    IstioVersion, KubeService, KubeServicePort, MeshConfig, Resources, parse_resources, translate,
    translate_inbound, validate,
};
use meshsim_sidecar::SidecarConfig;

/// Service `db` (VIP 10.96.0.30) with the given `(name, port)` ports.
fn service(ports: &[(&str, u16)]) -> KubeService {
    KubeService {
        name: "db".into(),
        namespace: "shop".into(),
        cluster_ip: "10.96.0.30".parse().unwrap(),
        ports: ports
            .iter()
            .map(|(name, port)| KubeServicePort {
                name: (*name).into(),
                port: *port,
                target_port: *port,
                app_protocol: None,
            })
            .collect(),
    }
}

fn translated(res: &Resources, v: IstioVersion) -> SidecarConfig {
    let mesh = MeshConfig::for_resources(v, res);
    translate(res, v, &mesh, Vec::new())
}

fn tcp_route_ports(c: &SidecarConfig) -> Vec<u16> {
    c.tcp_routes.iter().map(|r| r.port).collect()
}

/// Fact sheet §7.1, §7.2: an unnamed port is sniffed (HTTP routes and a TCP
/// listener for the rest), a `tcp-` port and unnamed 3306 are TCP only, an
/// `http-` port is HTTP only; the pod's inbound side sniffs the same ports.
#[test]
fn an_unnamed_service_port_is_sniffed_and_unnamed_3306_is_tcp() {
    let svc = service(&[("", 8080), ("tcp-x", 9000), ("", 3306), ("http-web", 80)]);
    let mut res = Resources::default();
    res.kube_services.push(svc.clone());
    let c = translated(&res, IstioVersion::new(1, 24));
    assert_eq!(c.sniffed_ports, vec![8080]);
    assert!(c.http_ports.contains(&8080) && c.http_ports.contains(&80));
    assert!(!c.http_ports.contains(&3306) && !c.http_ports.contains(&9000));
    assert_eq!(tcp_route_ports(&c), vec![8080, 9000, 3306]);
    let inbound = translate_inbound(&[&svc], IstioVersion::new(1, 24));
    assert_eq!(inbound.sniffed_ports, vec![8080]);
}

/// Fact sheet §7.2: a ServiceEntry port without `protocol` is sniffed too.
#[test]
fn a_service_entry_port_without_protocol_is_sniffed() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: se }\nspec:\n  hosts: [db.partner.example]\n  ports: [{ number: 5000, name: db }]\n  resolution: DNS\n";
    let res = parse_resources(yaml).unwrap();
    validate(&res).unwrap();
    let c = translated(&res, IstioVersion::new(1, 24));
    assert_eq!(c.sniffed_ports, vec![5000]);
    assert_eq!(tcp_route_ports(&c), vec![5000]);
}

/// Fact sheet §7.2: no detection timeout from 1.8 (the sheet says 1.9), 5 s
/// in 1.7, 100 ms before; `meshConfig.protocolDetectionTimeout` overrides
/// it, `0s` meaning none.
#[test]
fn the_detection_timeout_follows_the_version_and_mesh_config() {
    let res = Resources::default();
    let timeout = |res: &Resources, minor| {
        translated(res, IstioVersion::new(1, minor)).protocol_detection_timeout
    };
    assert_eq!(timeout(&res, 24), None);
    assert_eq!(timeout(&res, 9), None);
    assert_eq!(timeout(&res, 7), Some(Duration::from_secs(5)));
    assert_eq!(timeout(&res, 5), Some(Duration::from_millis(100)));
    let operator = |t: &str| {
        let yaml = format!(
            "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    protocolDetectionTimeout: {t}\n"
        );
        let res = parse_resources(&yaml).unwrap();
        validate(&res).unwrap();
        res
    };
    assert_eq!(timeout(&operator("1s"), 24), Some(Duration::from_secs(1)));
    assert_eq!(timeout(&operator("0s"), 7), None);
}
