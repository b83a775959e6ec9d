//! Kubernetes Services as pilot sees them: each becomes a mesh-internal
//! service whose endpoints (the ready pods) arrive over EDS, with the port
//! protocol taken from `appProtocol` or the port name (fact sheet §7.1).

use std::net::IpAddr;

use crate::model::{MeshLocation, Protocol, Resolution, ResourceMeta, ServiceEntry, ServicePort};

/// The cluster domain of service host names.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// A Kubernetes `Service` of type ClusterIP.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeService {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `spec.clusterIP`: the service VIP.
    pub cluster_ip: IpAddr,
    /// `spec.ports`.
    pub ports: Vec<KubeServicePort>,
}

/// One `spec.ports[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeServicePort {
    /// `name`: Istio reads the protocol from its prefix (`http`, `http-web`,
    /// `grpc-web`...).
    pub name: String,
    /// `port`: the VIP's port.
    pub port: u16,
    /// `targetPort`: the pods' port.
    pub target_port: u16,
    /// `appProtocol`: wins over the name.
    pub app_protocol: Option<String>,
}

/// Service ports Istio never sniffs: an undeclared protocol on them is TCP
/// (pilot's `wellKnownPorts`: SMTP, DNS, MySQL, MongoDB, all server-first
/// or binary protocols that sniffing would break; fact sheet §7.1).
pub const WELL_KNOWN_TCP_PORTS: [u16; 4] = [25, 53, 3306, 27017];

impl KubeServicePort {
    /// The port's protocol as pilot converts it (`ConvertProtocol`):
    /// [`port_protocol`] of its name and `appProtocol`, and when that is
    /// unknown, TCP on the [`WELL_KNOWN_TCP_PORTS`] (by the service `port`);
    /// `None`: sniffed.
    pub fn protocol(&self) -> Option<Protocol> {
        port_protocol(&self.name, self.app_protocol.as_deref()).or_else(|| {
            WELL_KNOWN_TCP_PORTS
                .contains(&self.port)
                .then_some(Protocol::Tcp)
        })
    }
}

/// Pilot's `ResolveShortnameToFQDN`: a VirtualService or DestinationRule
/// host without a dot is a Service in the resource's namespace
/// (`reviews` -> `reviews.<ns>.svc.cluster.local`; no namespace means
/// `default`, where `kubectl apply` would put it). A name with a dot is taken
/// as fully qualified, even `reviews.prod` (a classic mistake: it is not
/// `reviews.prod.svc.cluster.local`); `*` and IP addresses are kept.
pub fn resolve_short_name(host: &str, namespace: Option<&str>) -> String {
    if host.is_empty() || host == "*" || host.contains('.') || host.parse::<IpAddr>().is_ok() {
        return host.to_string();
    }
    let ns = namespace.unwrap_or("default");
    format!("{host}.{ns}.svc.{CLUSTER_DOMAIN}")
}

impl KubeService {
    /// `name.namespace.svc.cluster.local`.
    pub fn fqdn(&self) -> String {
        format!("{}.{}.svc.{CLUSTER_DOMAIN}", self.name, self.namespace)
    }

    /// The names a client in the service's own namespace may use in `Host`,
    /// the way pilot lists a virtual host's domains: the FQDN, `name.ns.svc`,
    /// `name.ns`, `name`, and the VIP.
    pub fn domains(&self) -> Vec<String> {
        domains(&self.name, &self.namespace, &[self.cluster_ip.to_string()])
    }

    /// Istio's internal model of this service: a `MESH_INTERNAL` entry with
    /// the VIP as its address, ports with the converted protocol, and no
    /// endpoints (they come over EDS).
    pub fn to_service_entry(&self) -> ServiceEntry {
        ServiceEntry {
            meta: ResourceMeta {
                name: self.name.clone(),
                namespace: Some(self.namespace.clone()),
                ..ResourceMeta::default()
            },
            hosts: vec![self.fqdn()],
            addresses: vec![self.cluster_ip.to_string()],
            ports: self
                .ports
                .iter()
                .map(|p| ServicePort {
                    number: u32::from(p.port),
                    name: p.name.clone(),
                    protocol: p.protocol(),
                    target_port: Some(u32::from(p.target_port)),
                })
                .collect(),
            location: MeshLocation::Internal,
            resolution: Resolution::Static,
            from_kubernetes: true,
            ..ServiceEntry::default()
        }
    }
}

/// A service's names for `Host` matching: `name.ns.svc.cluster.local`,
/// `name.ns.svc`, `name.ns`, `name`, then its addresses (the VIP).
pub(crate) fn domains(name: &str, namespace: &str, addresses: &[String]) -> Vec<String> {
    let mut out = vec![
        format!("{name}.{namespace}.svc.{CLUSTER_DOMAIN}"),
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}"),
        name.to_string(),
    ];
    out.extend(addresses.iter().cloned());
    out
}

/// Istio's protocol of a Kubernetes Service port (`ConvertProtocol`):
/// `appProtocol` wins (with `kubernetes.io/h2c` -> HTTP2, `kubernetes.io/ws`
/// -> HTTP, `kubernetes.io/wss` -> HTTPS), else the port name up to its first
/// `-` (`grpc-web` whole), case-insensitively. `None`: unknown, so sniffed.
pub fn port_protocol(name: &str, app_protocol: Option<&str>) -> Option<Protocol> {
    if let Some(ap) = app_protocol {
        let special = match ap {
            "kubernetes.io/h2c" => Some(Protocol::Http2),
            "kubernetes.io/ws" => Some(Protocol::Http),
            "kubernetes.io/wss" => Some(Protocol::Https),
            _ => None,
        };
        if let Some(p) = special.or_else(|| Protocol::parse(ap)) {
            return Some(p);
        }
    }
    let lower = name.to_ascii_lowercase();
    if lower == "grpc-web" || lower.starts_with("grpc-web-") {
        return Some(Protocol::GrpcWeb);
    }
    let prefix = lower.split('-').next().unwrap_or("");
    Protocol::parse(prefix).filter(|p| *p != Protocol::HttpProxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fact sheet §7.1: `appProtocol` wins over the name; names are read up to
    /// the first `-`, case-insensitively; `grpc-web` is checked before
    /// splitting; an unknown prefix leaves the port to sniffing.
    #[test]
    fn port_protocol_follows_istio_naming_rules() {
        assert_eq!(port_protocol("http", None), Some(Protocol::Http));
        assert_eq!(port_protocol("HTTP-web", None), Some(Protocol::Http));
        assert_eq!(port_protocol("http2-api", None), Some(Protocol::Http2));
        assert_eq!(port_protocol("grpc-web", None), Some(Protocol::GrpcWeb));
        assert_eq!(port_protocol("grpc-web-x", None), Some(Protocol::GrpcWeb));
        assert_eq!(port_protocol("grpc-x", None), Some(Protocol::Grpc));
        assert_eq!(port_protocol("tcp-db", None), Some(Protocol::Tcp));
        assert_eq!(port_protocol("web", None), None);
        assert_eq!(port_protocol("", None), None);
        assert_eq!(port_protocol("tcp", Some("http")), Some(Protocol::Http));
        assert_eq!(
            port_protocol("web", Some("kubernetes.io/h2c")),
            Some(Protocol::Http2)
        );
        assert_eq!(port_protocol("http", Some("bogus")), Some(Protocol::Http));
    }

    /// Fact sheet §7.1: unnamed (or unknown-named) ports 25, 53, 3306 and
    /// 27017 are forced to TCP; a declared protocol still wins there, and
    /// other unnamed ports stay sniffed.
    #[test]
    fn port_3306_unnamed_is_forced_to_tcp() {
        let port = |name: &str, port: u16| KubeServicePort {
            name: name.into(),
            port,
            target_port: port,
            app_protocol: None,
        };
        for p in WELL_KNOWN_TCP_PORTS {
            assert_eq!(port("", p).protocol(), Some(Protocol::Tcp), "{p}");
        }
        assert_eq!(port("db", 3306).protocol(), Some(Protocol::Tcp));
        assert_eq!(port("http", 3306).protocol(), Some(Protocol::Http));
        assert_eq!(port("mysql", 3306).protocol(), Some(Protocol::Mysql));
        assert_eq!(port("", 3307).protocol(), None);
    }

    #[test]
    fn a_service_becomes_an_internal_entry_named_by_its_fqdn_with_the_vip() {
        let svc = KubeService {
            name: "b".into(),
            namespace: "shop".into(),
            cluster_ip: "10.96.0.11".parse().unwrap(),
            ports: vec![KubeServicePort {
                name: "http-api".into(),
                port: 80,
                target_port: 8080,
                app_protocol: None,
            }],
        };
        let se = svc.to_service_entry();
        assert_eq!(se.hosts, vec!["b.shop.svc.cluster.local"]);
        assert_eq!(se.addresses, vec!["10.96.0.11"]);
        assert_eq!(se.ports[0].protocol, Some(Protocol::Http));
        assert_eq!(se.ports[0].target_port, Some(8080));
        assert!(se.from_kubernetes);
        assert_eq!(
            svc.domains(),
            vec![
                "b.shop.svc.cluster.local",
                "b.shop.svc",
                "b.shop",
                "b",
                "10.96.0.11"
            ]
        );
    }
}
