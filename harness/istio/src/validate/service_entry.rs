//! `ValidateServiceEntry`.

use std::collections::BTreeSet;

use super::{Check, names};
use crate::error::{IstioError, Problem};
use crate::model::{Resolution, ServiceEntry, WorkloadEntry};

/// Every error of one ServiceEntry.
pub(crate) fn validate(se: &ServiceEntry) -> Vec<IstioError> {
    let mut c = Check::new(&se.meta, "ServiceEntry");
    hosts(&mut c, se);
    addresses(&mut c, se);
    ports(&mut c, se);
    match se.resolution {
        Resolution::None => {
            if !se.endpoints.is_empty() {
                c.fail(
                    "spec.endpoints",
                    "no endpoints should be provided for resolution type none",
                );
            }
        }
        Resolution::Static => static_endpoints(&mut c, se),
        Resolution::Dns | Resolution::DnsRoundRobin => dns_endpoints(&mut c, se),
    }
    multiple_hosts(&mut c, se);
    c.errors
}

fn hosts(c: &mut Check<'_>, se: &ServiceEntry) {
    if se.hosts.is_empty() {
        c.fail("spec.hosts", "service entry must have at least one host");
    }
    for (i, host) in se.hosts.iter().enumerate() {
        let path = format!("spec.hosts[{i}]");
        if host == "*" {
            c.fail(&path, "invalid host *");
        } else {
            c.check(&path, names::wildcard_domain(host));
        }
    }
}

fn addresses(c: &mut Check<'_>, se: &ServiceEntry) {
    let mut cidr = false;
    for (i, address) in se.addresses.iter().enumerate() {
        cidr |= address.contains('/');
        c.check(&format!("spec.addresses[{i}]"), names::ip_subnet(address));
    }
    if cidr && !matches!(se.resolution, Resolution::None | Resolution::Static) {
        c.fail(
            "spec.resolution",
            "CIDR addresses are allowed only for NONE/STATIC resolution types",
        );
    }
}

fn ports(c: &mut Check<'_>, se: &ServiceEntry) {
    if se.ports.is_empty() {
        c.fail("spec.ports", "service entry must have at least one port (meshsim builds one cluster per host and port)");
    }
    let mut seen_names = BTreeSet::new();
    let mut seen_numbers = BTreeSet::new();
    for (i, port) in se.ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        if !seen_names.insert(port.name.as_str()) {
            c.fail(
                &format!("{path}.name"),
                format!("service entry port name {:?} already defined", port.name),
            );
        }
        if !seen_numbers.insert(port.number) {
            c.fail(
                &format!("{path}.number"),
                format!("service entry port {} already defined", port.number),
            );
        }
        if let Some(target) = port.target_port.filter(|t| *t != 0) {
            c.check(&format!("{path}.targetPort"), names::port(target));
        }
        c.check(&format!("{path}.name"), names::port_name(&port.name));
        c.check(&format!("{path}.number"), names::port(port.number));
    }
}

fn static_endpoints(c: &mut Check<'_>, se: &ServiceEntry) {
    if se.endpoints.is_empty() {
        c.fail(
            "spec.endpoints",
            "endpoints must be provided for resolution type STATIC",
        );
    }
    for (i, ep) in se.endpoints.iter().enumerate() {
        let path = format!("spec.endpoints[{i}]");
        if !names::is_ip(&ep.address) {
            c.fail(
                &format!("{path}.address"),
                format!(
                    "endpoint address {:?} is not a valid IP address",
                    ep.address
                ),
            );
        }
        endpoint_ports(c, se, ep, &path);
    }
}

fn dns_endpoints(c: &mut Check<'_>, se: &ServiceEntry) {
    let mode = if se.resolution == Resolution::Dns {
        "DNS"
    } else {
        "DNS_ROUND_ROBIN"
    };
    if se.endpoints.is_empty() {
        for (i, host) in se.hosts.iter().enumerate() {
            if names::fqdn(host).is_err() {
                let message = format!(
                    "hosts must be FQDN if no endpoints are provided for resolution mode {mode}"
                );
                c.fail(&format!("spec.hosts[{i}]"), message);
            }
        }
    }
    if se.resolution == Resolution::Dns && se.endpoints.len() > 1 {
        // Envoy resolves every endpoint of a STRICT_DNS cluster and merges the
        // answers; meshsim's cluster resolves one name.
        c.problem(
            "spec.endpoints",
            Problem::Unsupported {
                feature: "several endpoints with resolution DNS".into(),
            },
        );
    }
    if se.resolution == Resolution::DnsRoundRobin && se.endpoints.len() > 1 {
        c.fail(
            "spec.endpoints",
            format!("there must only be 0 or 1 endpoint for resolution mode {mode}"),
        );
    }
    for (i, ep) in se.endpoints.iter().enumerate() {
        let path = format!("spec.endpoints[{i}]");
        if !names::is_ip(&ep.address) && names::fqdn(&ep.address).is_err() {
            let message = format!(
                "endpoint address {:?} is not a valid FQDN or an IP address",
                ep.address
            );
            c.fail(&format!("{path}.address"), message);
        }
        endpoint_ports(c, se, ep, &path);
    }
}

fn endpoint_ports(c: &mut Check<'_>, se: &ServiceEntry, ep: &WorkloadEntry, path: &str) {
    for (name, number) in &ep.ports {
        let p = format!("{path}.ports.{name}");
        if !se.ports.iter().any(|sp| &sp.name == name) {
            c.fail(
                &p,
                format!("endpoint port {number} is not defined by the service entry"),
            );
        }
        c.check(&p, names::port_name(name));
        c.check(&p, names::port(*number));
    }
}

fn multiple_hosts(c: &mut Check<'_>, se: &ServiceEntry) {
    if se.resolution == Resolution::None || se.hosts.len() < 2 {
        return;
    }
    let l7 = |p: &crate::model::ServicePort| p.protocol.is_some_and(|p| p.is_http() || p.is_tls());
    if let Some(i) = se.ports.iter().position(|p| !l7(p)) {
        c.fail(
            &format!("spec.ports[{i}]"),
            "multiple hosts provided with non-HTTP, non-TLS ports",
        );
    }
}
