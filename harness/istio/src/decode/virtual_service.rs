//! `VirtualService.spec`.

use super::{Cx, Keys, Obj, boolean, duration, i32_, seq, string, strings, u32_};
use crate::error::Fault;
use crate::model::{
    Destination, HttpMatch, HttpRetry, HttpRoute, RouteDestination, VirtualService,
};
use crate::yaml::Node;

const SPEC: Keys<'static> =
    Keys::with_skipped(&["hosts", "gateways", "http", "exportTo"], &["tcp", "tls"]);
const ROUTE: Keys<'static> = Keys {
    known: &["name", "match", "route", "timeout", "retries"],
    skipped: &[
        "headers",
        "fault",
        "mirror",
        "mirrors",
        "mirrorPercent",
        "mirror_percent",
        "mirrorPercentage",
        "corsPolicy",
        "rewrite",
    ],
    unsupported: &["redirect", "directResponse", "delegate"],
    silent: false,
};
const MATCH: Keys<'static> = Keys {
    known: &["name", "uri", "port"],
    skipped: &["statPrefix"],
    unsupported: &[
        "scheme",
        "method",
        "authority",
        "headers",
        "queryParams",
        "ignoreUriCase",
        "withoutHeaders",
        "sourceLabels",
        "sourceNamespace",
        "gateways",
    ],
    silent: false,
};
const URI: Keys<'static> = Keys {
    known: &["prefix"],
    skipped: &[],
    unsupported: &["exact", "regex"],
    silent: false,
};
const DESTINATION_WEIGHT: Keys<'static> =
    Keys::with_skipped(&["destination", "weight"], &["headers"]);
const DESTINATION: Keys<'static> = Keys::only(&["host", "subset", "port"]);
const PORT_SELECTOR: Keys<'static> = Keys::only(&["number"]);
const RETRY: Keys<'static> = Keys::only(&[
    "attempts",
    "perTryTimeout",
    "retryOn",
    "retryRemoteLocalities",
    "retryIgnorePreviousHosts",
    "backoff",
]);

/// Decodes `spec` of a VirtualService (its `meta` is filled by the caller).
pub(crate) fn decode(cx: &mut Cx, spec: &Node, path: &str) -> Result<VirtualService, Fault> {
    let obj = Obj::open(cx, spec, path, &SPEC)?;
    let mut vs = VirtualService {
        has_tcp_or_tls: obj.get("tcp").is_some() || obj.get("tls").is_some(),
        ..VirtualService::default()
    };
    if let Some((n, p)) = obj.get("hosts") {
        vs.hosts = strings(cx, n, &p)?;
    }
    if let Some((n, p)) = obj.get("gateways") {
        vs.gateways = strings(cx, n, &p)?;
    }
    if let Some((n, p)) = obj.get("http") {
        vs.http = seq(cx, n, &p)?
            .into_iter()
            .map(|(n, p)| decode_route(cx, n, &p))
            .collect::<Result<_, _>>()?;
    }
    if let Some((n, p)) = obj.get("exportTo") {
        vs.export_to = strings(cx, n, &p)?;
    }
    Ok(vs)
}

fn decode_route(cx: &mut Cx, node: &Node, path: &str) -> Result<HttpRoute, Fault> {
    let obj = Obj::open(cx, node, path, &ROUTE)?;
    let mut route = HttpRoute {
        name: obj.opt("name", string)?,
        timeout: obj.opt("timeout", duration)?,
        ..HttpRoute::default()
    };
    if let Some((n, p)) = obj.get("match") {
        route.matches = seq(cx, n, &p)?
            .into_iter()
            .map(|(n, p)| decode_match(cx, n, &p))
            .collect::<Result<_, _>>()?;
    }
    if let Some((n, p)) = obj.get("route") {
        route.route = seq(cx, n, &p)?
            .into_iter()
            .map(|(n, p)| decode_destination_weight(cx, n, &p))
            .collect::<Result<_, _>>()?;
    }
    if let Some((n, p)) = obj.get("retries") {
        route.retries = Some(decode_retry(cx, n, &p)?);
    }
    Ok(route)
}

fn decode_match(cx: &mut Cx, node: &Node, path: &str) -> Result<HttpMatch, Fault> {
    let obj = Obj::open(cx, node, path, &MATCH)?;
    let mut m = HttpMatch {
        name: obj.opt("name", string)?,
        port: obj.opt("port", u32_)?,
        ..HttpMatch::default()
    };
    if let Some((n, p)) = obj.get("uri") {
        let uri = Obj::open(cx, n, &p, &URI)?;
        m.uri_prefix = uri.opt("prefix", string)?;
    }
    Ok(m)
}

fn decode_destination_weight(
    cx: &mut Cx,
    node: &Node,
    path: &str,
) -> Result<RouteDestination, Fault> {
    let obj = Obj::open(cx, node, path, &DESTINATION_WEIGHT)?;
    let weight = obj.opt("weight", i32_)?.unwrap_or(0);
    let (dn, dp) = obj.require("destination")?;
    let d = Obj::open(cx, dn, &dp, &DESTINATION)?;
    let mut destination = Destination {
        host: d.opt("host", string)?.unwrap_or_default(),
        subset: d.opt("subset", string)?,
        port: None,
    };
    if let Some((pn, pp)) = d.get("port") {
        let port = Obj::open(cx, pn, &pp, &PORT_SELECTOR)?;
        destination.port = port.opt("number", u32_)?;
    }
    Ok(RouteDestination {
        destination,
        weight,
    })
}

/// Decodes an `HTTPRetry` mapping.
pub(crate) fn decode_retry(cx: &mut Cx, node: &Node, path: &str) -> Result<HttpRetry, Fault> {
    let obj = Obj::open(cx, node, path, &RETRY)?;
    Ok(HttpRetry {
        attempts: obj.opt("attempts", i32_)?.unwrap_or(0),
        per_try_timeout: obj.opt("perTryTimeout", duration)?,
        retry_on: obj.opt("retryOn", string)?,
        retry_remote_localities: obj.opt("retryRemoteLocalities", boolean)?,
        retry_ignore_previous_hosts: obj.opt("retryIgnorePreviousHosts", boolean)?,
        backoff: obj.opt("backoff", duration)?,
    })
}
