//! A pod's inbound side (pilot's `listener_inbound.go`): one inbound port per
//! service `targetPort` of the services the pod belongs to, HTTP when the
//! port's protocol is HTTP-like or unset (sniffed HTTP takes the HTTP chain;
//! unset ports are listed in `sniffed_ports`, so other bytes are TCP), with
//! Istio's inbound retry policy for the version, forwarding to the app at
//! the pod's address (>= 1.10) or `127.0.0.1` ([`inbound_forward`]).
//! A port declared `http2`, `grpc` or `grpc-web` (name or `appProtocol`)
//! gets an inbound cluster that speaks HTTP/2 to the application (pilot's
//! `setUpstreamProtocol` on the inbound cluster: `IsHTTP2()` sets
//! `http2_protocol_options`; fact sheet §7.1), whatever the app speaks.

use meshsim_sidecar::config::{InboundConfig, InboundPort};

use crate::kube::KubeService;
use crate::model::Protocol;
use crate::retry::inbound_retry_policy;
use crate::version::{IstioVersion, inbound_forward};

/// The inbound configuration of a pod serving `services`. The first service
/// (in the given order) to declare a target port decides its protocol.
pub fn translate_inbound(services: &[&KubeService], version: IstioVersion) -> InboundConfig {
    let mut ports: Vec<InboundPort> = Vec::new();
    let mut sniffed_ports = Vec::new();
    let mut http2_ports = Vec::new();
    for svc in services {
        for p in &svc.ports {
            if ports.iter().any(|q| q.port == p.target_port) {
                continue;
            }
            let protocol = p.protocol();
            if protocol.is_none() {
                sniffed_ports.push(p.target_port);
            }
            let grpc = matches!(protocol, Some(Protocol::Grpc | Protocol::GrpcWeb));
            if grpc || protocol == Some(Protocol::Http2) {
                http2_ports.push(p.target_port);
            }
            ports.push(InboundPort {
                port: p.target_port,
                http: protocol.is_none_or(Protocol::is_http),
                retry_policy: inbound_retry_policy(version, grpc),
            });
        }
    }
    InboundConfig {
        ports,
        sniffed_ports,
        http2_ports,
        forward_to: inbound_forward(version),
        ..InboundConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::KubeServicePort;
    use meshsim_sidecar::config::RetryOn;

    fn svc(ports: &[(&str, u16)]) -> KubeService {
        KubeService {
            name: "b".into(),
            namespace: "default".into(),
            cluster_ip: "10.96.0.2".parse().unwrap(),
            ports: ports
                .iter()
                .map(|(name, target)| KubeServicePort {
                    name: (*name).into(),
                    port: 80,
                    target_port: *target,
                    app_protocol: None,
                })
                .collect(),
        }
    }

    fn v(minor: u32) -> IstioVersion {
        IstioVersion { major: 1, minor }
    }

    /// Fact sheet §2.2, inbound table: none up to 1.23; `reset-before-request`
    /// with 2 retries from 1.24; from 1.26 not on gRPC ports.
    #[test]
    fn inbound_retry_policy_follows_the_version_table() {
        let s = svc(&[("http", 8080), ("grpc", 9090), ("tcp-db", 5432)]);
        let old = translate_inbound(&[&s], v(23));
        assert!(old.ports.iter().all(|p| p.retry_policy.is_none()));
        let v124 = translate_inbound(&[&s], v(24));
        let http = v124.ports[0].retry_policy.as_ref().unwrap();
        assert_eq!(
            (http.retry_on.as_slice(), http.num_retries),
            (&[RetryOn::ResetBeforeRequest][..], 2)
        );
        assert!(
            v124.ports[1].retry_policy.is_some(),
            "gRPC still retried in 1.24"
        );
        let v126 = translate_inbound(&[&s], v(26));
        assert!(v126.ports[0].retry_policy.is_some());
        assert!(
            v126.ports[1].retry_policy.is_none(),
            "gRPC excluded from 1.26"
        );
    }

    /// Fact sheet §7.1: the inbound cluster of an `http2` / `grpc` /
    /// `grpc-web` port (by name or `appProtocol`) speaks HTTP/2 to the app;
    /// `http`, sniffed and TCP ports do not.
    #[test]
    fn http2_and_grpc_ports_get_an_inbound_cluster_speaking_http2() {
        let mut s = svc(&[
            ("http2-web", 8080),
            ("grpc", 9090),
            ("grpc-web", 9091),
            ("http", 8081),
            ("web", 8082),
            ("tcp-db", 5432),
            ("web-h2", 8083),
        ]);
        s.ports[6].app_protocol = Some("http2".into());
        let inbound = translate_inbound(&[&s], v(24));
        assert_eq!(inbound.http2_ports, vec![8080, 9090, 9091, 8083]);
        let h2 = |port: usize| inbound.cluster(&inbound.ports[port]).upstream_protocol;
        use meshsim_sidecar::config::UpstreamProtocol::{Http1, Http2};
        let got: Vec<_> = (0..7).map(h2).collect();
        assert_eq!(got, vec![Http2, Http2, Http2, Http1, Http1, Http1, Http2]);
    }

    #[test]
    fn inbound_ports_are_target_ports_http_unless_declared_tcp() {
        let s = svc(&[
            ("http", 8080),
            ("web", 8081),
            ("tcp-db", 5432),
            ("http-dup", 8080),
        ]);
        let ports = translate_inbound(&[&s], v(24)).ports;
        let got: Vec<(u16, bool)> = ports.iter().map(|p| (p.port, p.http)).collect();
        assert_eq!(got, vec![(8080, true), (8081, true), (5432, false)]);
        assert_eq!(translate_inbound(&[&s], v(24)).sniffed_ports, vec![8081]);
    }
}
