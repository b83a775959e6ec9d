//! `VirtualService.spec`.

use std::collections::BTreeMap;

use super::{Cx, Keys, Obj, boolean, duration, i32_, join, seq, string, strings, u32_, wrong};
use crate::error::{Fault, Problem};
use crate::model::{
    Destination, FaultAbort, FaultDelay, HttpFault, HttpMatch, HttpRetry, HttpRoute,
    RouteDestination, StringMatch, VirtualService,
};
use crate::yaml::{Node, Value};

const SPEC: Keys<'static> =
    Keys::with_skipped(&["hosts", "gateways", "http", "exportTo"], &["tcp", "tls"]);
const ROUTE: Keys<'static> = Keys {
    known: &["name", "match", "route", "timeout", "retries", "fault"],
    skipped: &[
        "headers",
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
    known: &[
        "name",
        "uri",
        "method",
        "authority",
        "headers",
        "withoutHeaders",
        "ignoreUriCase",
        "port",
    ],
    skipped: &["statPrefix"],
    unsupported: &[
        "scheme",
        "queryParams",
        "sourceLabels",
        "sourceNamespace",
        "gateways",
    ],
    silent: false,
};
const STRING_MATCH: Keys<'static> = Keys::only(&["exact", "prefix", "regex"]);
const FAULT: Keys<'static> = Keys::only(&["delay", "abort"]);
const DELAY: Keys<'static> =
    Keys::only(&["fixedDelay", "exponentialDelay", "percentage", "percent"]);
const ABORT: Keys<'static> = Keys {
    known: &["httpStatus", "percentage"],
    // Istio ignores the deprecated abort `percent` (TranslateFault reads `percentage` only).
    skipped: &["percent"],
    unsupported: &["grpcStatus", "http2Error"],
    silent: false,
};
const PERCENT: Keys<'static> = Keys::only(&["value"]);
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
    if let Some((n, p)) = obj.get("fault") {
        route.fault = Some(decode_fault(cx, n, &p)?);
    }
    Ok(route)
}

fn decode_match(cx: &mut Cx, node: &Node, path: &str) -> Result<HttpMatch, Fault> {
    let obj = Obj::open(cx, node, path, &MATCH)?;
    let mut m = HttpMatch {
        name: obj.opt("name", string)?,
        port: obj.opt("port", u32_)?,
        ignore_uri_case: obj.opt("ignoreUriCase", boolean)?.unwrap_or(false),
        ..HttpMatch::default()
    };
    for (key, slot) in [
        ("uri", &mut m.uri),
        ("method", &mut m.method),
        ("authority", &mut m.authority),
    ] {
        if let Some((n, p)) = obj.get(key) {
            *slot = Some(decode_string_match(cx, n, &p)?);
        }
    }
    if let Some((n, p)) = obj.get("headers") {
        m.headers = decode_header_matches(cx, n, &p)?;
    }
    if let Some((n, p)) = obj.get("withoutHeaders") {
        m.without_headers = decode_header_matches(cx, n, &p)?;
    }
    Ok(m)
}

/// A `StringMatch`: at most one of `exact`, `prefix`, `regex` (a proto oneof).
fn decode_string_match(cx: &mut Cx, node: &Node, path: &str) -> Result<StringMatch, Fault> {
    let obj = Obj::open(cx, node, path, &STRING_MATCH)?;
    let mut found = Vec::new();
    for (key, make) in [
        ("exact", StringMatch::Exact as fn(String) -> StringMatch),
        ("prefix", StringMatch::Prefix),
        ("regex", StringMatch::Regex),
    ] {
        if let Some(v) = obj.opt(key, string)? {
            found.push((key, make(v)));
        }
    }
    match found.len() {
        0 => Ok(StringMatch::Any),
        1 => Ok(found.remove(0).1),
        _ => Err(Fault::new(
            join(path, found[1].0),
            cx.positions
                .get(&join(path, found[1].0))
                .copied()
                .unwrap_or(obj.pos),
            Problem::Invalid {
                message: "only one of exact, prefix or regex may be set".to_string(),
            },
        )),
    }
}

/// `headers` / `withoutHeaders`: header name -> `StringMatch`.
fn decode_header_matches(
    cx: &mut Cx,
    node: &Node,
    path: &str,
) -> Result<BTreeMap<String, StringMatch>, Fault> {
    let Value::Map(entries) = &node.value else {
        return Err(wrong(node, path, "a mapping"));
    };
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let p = join(path, &k.key_text());
        cx.positions.insert(p.clone(), k.pos);
        let m = match v.value {
            Value::Null => StringMatch::Any,
            _ => decode_string_match(cx, v, &p)?,
        };
        out.insert(k.key_text(), m);
    }
    Ok(out)
}

fn decode_fault(cx: &mut Cx, node: &Node, path: &str) -> Result<HttpFault, Fault> {
    let obj = Obj::open(cx, node, path, &FAULT)?;
    let mut fault = HttpFault::default();
    if let Some((n, p)) = obj.get("delay") {
        let d = Obj::open(cx, n, &p, &DELAY)?;
        fault.delay = Some(FaultDelay {
            fixed_delay: d.opt("fixedDelay", duration)?,
            exponential_delay: d.opt("exponentialDelay", duration)?,
            percentage: decode_percentage(cx, &d)?,
            percent: d.opt("percent", i32_)?,
        });
    }
    if let Some((n, p)) = obj.get("abort") {
        let a = Obj::open(cx, n, &p, &ABORT)?;
        fault.abort = Some(FaultAbort {
            http_status: a.opt("httpStatus", i32_)?,
            percentage: decode_percentage(cx, &a)?,
        });
    }
    Ok(fault)
}

/// `percentage.value` of `obj`, if given.
fn decode_percentage(cx: &mut Cx, obj: &Obj<'_>) -> Result<Option<f64>, Fault> {
    let Some((n, p)) = obj.get("percentage") else {
        return Ok(None);
    };
    let pct = Obj::open(cx, n, &p, &PERCENT)?;
    pct.opt("value", number)
}

/// A number (integer or float).
fn number(node: &Node, path: &str) -> Result<f64, Fault> {
    match node.value {
        Value::Int(i) => Ok(i as f64),
        Value::Float(f) => Ok(f),
        _ => Err(wrong(node, path, "a number")),
    }
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
