//! Validation of `world`: network, DNS records, external hosts, pods, and
//! who owns which address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_app::{Arrival, CallSpec, ClientProfile};
use meshsim_core::HumanDuration;
use meshsim_upstream::{RouteSpec, UpstreamConfig};
use serde_saphyr::Spanned;

use super::{Ctx, overrides};
use crate::error::EngineError;
use crate::scenario::file::{CallFile, DnsFile, ExternalFile, NetworkFile, PodFile, RecordFile};
use crate::scenario::{DnsSpec, ExternalSpec, NetworkSpec, PodSpec, RecordSpec};

const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Bounds that keep a run finite and its arithmetic in range.
pub(super) const MAX_LATENCY: Duration = Duration::from_secs(3600);
const MIN_RATE: f64 = 1e-6;
const MAX_RATE: f64 = 1e6;

/// A duration that must lie in `(0, max]` (or `[0, max]` when `zero_ok`).
pub(super) fn bounded(
    cx: &Ctx<'_>,
    d: &Spanned<HumanDuration>,
    zero_ok: bool,
    max: Duration,
) -> Result<Duration, EngineError> {
    let v = d.value.0;
    if (!zero_ok && v.is_zero()) || v > max {
        let low = if zero_ok { "0" } else { "more than 0" };
        let high = meshsim_core::units::format_duration(max);
        return Err(cx.err(
            Some(&d.referenced),
            "",
            format!("{} is out of range: {low} up to {high}", d.value),
        ));
    }
    Ok(v)
}

pub(super) fn network(cx: &Ctx<'_>, n: &NetworkFile) -> Result<NetworkSpec, EngineError> {
    let get = |d: &Option<Spanned<HumanDuration>>, default| {
        d.as_ref()
            .map_or(Ok(default), |d| bounded(cx, d, true, MAX_LATENCY))
    };
    Ok(NetworkSpec {
        latency: get(&n.latency, Duration::from_micros(50))?,
        jitter: get(&n.jitter, Duration::ZERO)?,
    })
}

pub(super) fn dns(cx: &Ctx<'_>, d: &DnsFile) -> Result<DnsSpec, EngineError> {
    let mut records = Vec::new();
    for (name, r) in &d.zones {
        records.push(record(cx, name, r)?);
    }
    Ok(DnsSpec {
        address: d
            .address
            .as_ref()
            .map_or(IpAddr::from([10, 96, 0, 10]), |a| a.value),
        records,
    })
}

fn record(cx: &Ctx<'_>, name: &str, r: &RecordFile) -> Result<RecordSpec, EngineError> {
    let at = format!("world.dns.zones.{name}");
    let (line, column) = cx.find_key(name);
    if let Err(e) = meshsim_dns::validate_name(name) {
        return Err(cx.err_at(line, column, &at, format!("invalid DNS name: {e}")));
    }
    if r.a.is_some() && r.cname.is_some() {
        return Err(cx.err_at(
            line,
            column,
            &at,
            "a name has either `a` addresses or a `cname`, not both",
        ));
    }
    if let Some(target) = &r.cname
        && let Err(e) = meshsim_dns::validate_name(target)
    {
        return Err(cx.err_at(line, column, &at, format!("invalid cname target: {e}")));
    }
    Ok(RecordSpec {
        name: name.trim_end_matches('.').to_string(),
        a: r.a.clone().unwrap_or_default(),
        cname: r.cname.clone(),
        ttl: r.ttl.map_or(DEFAULT_TTL, |t| t.0),
        negative_ttl: r.negative_ttl.map_or(DEFAULT_TTL, |t| t.0),
    })
}

pub(super) fn externals(
    cx: &Ctx<'_>,
    list: &[ExternalFile],
) -> Result<Vec<ExternalSpec>, EngineError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for e in list {
        if !names.insert(e.name.value.clone()) {
            let msg = format!("duplicate external host name {:?}", e.name.value);
            return Err(cx.err(Some(&e.name.referenced), "", msg));
        }
        let mut upstream = upstream_config(e);
        upstream.http2 = super::http2::mode(cx, e)?;
        upstream.server_first = super::http2::server_first(e);
        if let Err(err) = upstream.validate() {
            return Err(cx.err(
                Some(&e.name.referenced),
                "",
                format!("external host {}: {err}", e.name.value),
            ));
        }
        out.push(ExternalSpec {
            name: e.name.value.clone(),
            address: e.address.value,
            latency: e.latency.map_or(Duration::ZERO, |l| l.0).min(MAX_LATENCY),
            upstream,
        });
    }
    Ok(out)
}

fn upstream_config(e: &ExternalFile) -> UpstreamConfig {
    let mut upstream = UpstreamConfig {
        name: e.name.value.clone(),
        ..UpstreamConfig::default()
    };
    if let Some(k) = e.keepalive_timeout {
        upstream.keepalive_timeout = (!k.0.is_zero()).then_some(k.0);
    }
    upstream.max_requests_per_connection = e.max_requests_per_connection;
    if !e.routes.is_empty() {
        upstream.routes = e
            .routes
            .iter()
            .map(|r| RouteSpec {
                prefix: r.prefix.clone().unwrap_or_else(|| "/".into()),
                status: r.status.unwrap_or(200),
                body_bytes: r.body_bytes.unwrap_or(2),
                latency: r.latency.map_or(Duration::ZERO, |l| l.0),
            })
            .collect();
    }
    upstream
}

pub(super) fn pods(
    cx: &Ctx<'_>,
    list: &[PodFile],
    taken: &BTreeSet<IpAddr>,
) -> Result<Vec<PodSpec>, EngineError> {
    if list.is_empty() {
        return Err(cx.err(None, "world.pods", "a scenario needs at least one pod"));
    }
    let mut names = BTreeSet::new();
    let mut used: BTreeSet<IpAddr> = list
        .iter()
        .filter_map(|p| p.address.as_ref().map(|a| a.value))
        .collect();
    used.extend(taken);
    let mut out = Vec::new();
    for p in list {
        if !names.insert(p.name.value.clone()) {
            let msg = format!("duplicate pod name {:?}", p.name.value);
            return Err(cx.err(Some(&p.name.referenced), "", msg));
        }
        let client = &p.app.client;
        let mut profile = ClientProfile::named(&client.value).ok_or_else(|| {
            let known = ClientProfile::names().join(", ");
            let msg = format!("unknown client profile {:?}; known: {known}", client.value);
            cx.err(Some(&client.referenced), "", msg)
        })?;
        overrides(cx, &p.app.overrides())?.apply(&mut profile);
        let calls = p
            .app
            .calls
            .iter()
            .map(|c| call(cx, c))
            .collect::<Result<Vec<_>, _>>()?;
        let address = match &p.address {
            Some(a) => a.value,
            None => next_free(&mut used).ok_or_else(|| {
                cx.err(
                    Some(&p.name.referenced),
                    "",
                    "no free default address in 10.0.0.0/24: give pods an `address`",
                )
            })?,
        };
        let lifecycle = p
            .lifecycle
            .as_ref()
            .map(|l| super::lifecycle::lifecycle(cx, l))
            .transpose()?;
        if lifecycle.is_none()
            && let Some(c) = p.app.calls.iter().find_map(|c| c.count.as_ref())
        {
            let msg = "`count` (a Job's work) needs the pod's `lifecycle` block";
            return Err(cx.err(Some(&c.referenced), "", msg));
        }
        out.push(PodSpec {
            name: p.name.value.clone(),
            address,
            sidecar: p.sidecar,
            profile,
            calls,
            lifecycle,
        });
    }
    Ok(out)
}

/// The first 10.0.0.x address nobody uses.
fn next_free(used: &mut BTreeSet<IpAddr>) -> Option<IpAddr> {
    let ip = (1..=254u8)
        .map(|n| IpAddr::from([10, 0, 0, n]))
        .find(|ip| !used.contains(ip))?;
    used.insert(ip);
    Some(ip)
}

fn call(cx: &Ctx<'_>, c: &CallFile) -> Result<CallSpec, EngineError> {
    let at = Some(&c.url.referenced);
    meshsim_app::parse_call_url(&c.url.value)
        .map_err(|e| cx.err(at, "", format!("invalid url: {e}")))?;
    let rate = c.rate.value.per_second();
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        let msg = format!(
            "rate {} is out of range: from {MIN_RATE}/s to {MAX_RATE}/s",
            c.rate.value
        );
        return Err(cx.err(Some(&c.rate.referenced), "", msg));
    }
    let method = method(cx, c.method.as_ref())?;
    let arrival = match c
        .arrival
        .as_ref()
        .map(|a| (a.value.as_str(), &a.referenced))
    {
        None | Some(("poisson", _)) => Arrival::Poisson,
        Some(("constant", _)) => Arrival::Constant,
        Some((other, loc)) => {
            return Err(cx.err(
                Some(loc),
                "",
                format!("unknown arrival {other:?}; use poisson or constant"),
            ));
        }
    };
    if let Some(n) = &c.count
        && n.value == 0
    {
        return Err(cx.err(Some(&n.referenced), "", "count must be at least 1"));
    }
    Ok(CallSpec {
        url: c.url.value.clone(),
        method,
        rate: c.rate.value,
        arrival,
        count: c.count.as_ref().map(|n| n.value),
    })
}

/// A call's `method` (default GET).
pub(super) fn method(
    cx: &Ctx<'_>,
    m: Option<&Spanned<String>>,
) -> Result<http::Method, EngineError> {
    match m {
        None => Ok(http::Method::GET),
        Some(m) => http::Method::from_bytes(m.value.as_bytes()).map_err(|_| {
            let msg = format!("invalid HTTP method {:?}", m.value);
            cx.err(Some(&m.referenced), "", msg)
        }),
    }
}

/// Checks that every address has one owner: the DNS server, one pod, or
/// external hosts (several externals may share an IP on distinct ports).
pub(super) fn check_addresses(
    cx: &Ctx<'_>,
    dns: IpAddr,
    external: &[ExternalSpec],
    pods: &[PodSpec],
) -> Result<(), EngineError> {
    let mut owner: BTreeMap<IpAddr, String> = BTreeMap::new();
    owner.insert(dns, "the DNS server".into());
    owner.insert(
        crate::scenario::NODE_ADDRESS,
        "the node (the kubelet's probes)".into(),
    );
    let mut sockets: BTreeSet<SocketAddr> = BTreeSet::new();
    for e in external {
        if !sockets.insert(e.address) {
            return Err(cx.err(
                None,
                "world.external",
                format!("two external hosts listen on {}", e.address),
            ));
        }
        match owner.get(&e.address.ip()) {
            Some(o) if !o.starts_with("external") => {
                let msg = format!(
                    "external host {} uses {}, which is {o}'s address",
                    e.name,
                    e.address.ip()
                );
                return Err(cx.err(None, "world.external", msg));
            }
            _ => {
                owner.insert(e.address.ip(), format!("external host {}", e.name));
            }
        }
    }
    for p in pods {
        if let Some(o) = owner.insert(p.address, format!("pod {}", p.name)) {
            let msg = format!(
                "pod {} uses {}, which is already {o}'s address",
                p.name, p.address
            );
            return Err(cx.err(None, "world.pods", msg));
        }
    }
    Ok(())
}

/// The addresses pods must not take by default.
pub(super) fn reserved(dns: IpAddr, external: &[ExternalSpec]) -> BTreeSet<IpAddr> {
    [dns, crate::scenario::NODE_ADDRESS]
        .into_iter()
        .chain(external.iter().map(|e| e.address.ip()))
        .collect()
}
