//! `ServiceEntry.spec`.

use super::{Cx, Keys, Obj, enumeration, map_of, seq, string, strings, u32_};
use crate::error::{Fault, Problem};
use crate::model::{MeshLocation, Protocol, Resolution, ServiceEntry, ServicePort, WorkloadEntry};
use crate::yaml::Node;

const SPEC: Keys<'static> = Keys::with_skipped(
    &[
        "hosts",
        "addresses",
        "ports",
        "location",
        "resolution",
        "endpoints",
        "exportTo",
    ],
    &["workloadSelector", "subjectAltNames"],
);
const PORT: Keys<'static> = Keys::only(&["number", "name", "protocol", "targetPort"]);
const ENDPOINT: Keys<'static> = Keys::with_skipped(
    &["address", "ports", "labels", "weight"],
    &["network", "locality", "serviceAccount"],
);

const LOCATIONS: &[(MeshLocation, &str)] = &[
    (MeshLocation::External, "MESH_EXTERNAL"),
    (MeshLocation::Internal, "MESH_INTERNAL"),
];

/// Decodes `spec` of a ServiceEntry (its `meta` is filled by the caller).
pub(crate) fn decode(cx: &mut Cx, spec: &Node, path: &str) -> Result<ServiceEntry, Fault> {
    let obj = Obj::open(cx, spec, path, &SPEC)?;
    let mut se = ServiceEntry::default();
    if let Some((n, p)) = obj.get("hosts") {
        se.hosts = strings(cx, n, &p)?;
    }
    if let Some((n, p)) = obj.get("addresses") {
        se.addresses = strings(cx, n, &p)?;
    }
    if let Some((n, p)) = obj.get("ports") {
        se.ports = seq(cx, n, &p)?
            .into_iter()
            .map(|(n, p)| decode_port(cx, n, &p))
            .collect::<Result<_, _>>()?;
    }
    se.location = obj
        .opt("location", |n, p| enumeration(n, p, LOCATIONS))?
        .unwrap_or_default();
    se.resolution = obj.opt("resolution", resolution)?.unwrap_or_default();
    if let Some((n, p)) = obj.get("endpoints") {
        se.endpoints = seq(cx, n, &p)?
            .into_iter()
            .map(|(n, p)| decode_endpoint(cx, n, &p))
            .collect::<Result<_, _>>()?;
    }
    if let Some((n, p)) = obj.get("exportTo") {
        se.export_to = strings(cx, n, &p)?;
    }
    Ok(se)
}

fn resolution(node: &Node, path: &str) -> Result<Resolution, Fault> {
    if string(node, path)? == "DYNAMIC_DNS" {
        return Err(Fault::new(
            path,
            node.pos,
            Problem::Unsupported {
                feature: "resolution DYNAMIC_DNS".into(),
            },
        ));
    }
    let values = [
        (Resolution::None, "NONE"),
        (Resolution::Static, "STATIC"),
        (Resolution::Dns, "DNS"),
        (Resolution::DnsRoundRobin, "DNS_ROUND_ROBIN"),
    ];
    enumeration(node, path, &values)
}

fn decode_port(cx: &mut Cx, node: &Node, path: &str) -> Result<ServicePort, Fault> {
    let obj = Obj::open(cx, node, path, &PORT)?;
    Ok(ServicePort {
        number: obj.opt("number", u32_)?.unwrap_or(0),
        name: obj.opt("name", string)?.unwrap_or_default(),
        protocol: obj.opt("protocol", protocol)?,
        target_port: obj.opt("targetPort", u32_)?,
    })
}

fn protocol(node: &Node, path: &str) -> Result<Protocol, Fault> {
    let text = string(node, path)?;
    Protocol::parse(&text).ok_or_else(|| {
        Fault::new(
            path,
            node.pos,
            Problem::UnknownEnumValue {
                value: text,
                valid: Protocol::ALL.iter().map(|(_, s)| s.to_string()).collect(),
            },
        )
    })
}

fn decode_endpoint(cx: &mut Cx, node: &Node, path: &str) -> Result<WorkloadEntry, Fault> {
    let obj = Obj::open(cx, node, path, &ENDPOINT)?;
    let mut we = WorkloadEntry {
        address: obj.opt("address", string)?.unwrap_or_default(),
        weight: obj.opt("weight", u32_)?,
        ..WorkloadEntry::default()
    };
    if let Some((n, p)) = obj.get("ports") {
        we.ports = map_of(cx, n, &p, u32_)?;
    }
    if let Some((n, p)) = obj.get("labels") {
        we.labels = map_of(cx, n, &p, string)?;
    }
    Ok(we)
}
