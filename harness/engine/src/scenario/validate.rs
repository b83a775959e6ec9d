//! Phase two of loading: `ScenarioFile` -> [`Scenario`], cross-checked.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use meshsim_app::{Arrival, CallSpec, ClientProfile};
use meshsim_core::units::parse_duration;
use meshsim_dns::CachePolicy;
use meshsim_istio::{IstioVersion, Resources};
use meshsim_upstream::{RouteSpec, StopMode, UpstreamConfig};
use serde_saphyr::{Location, Spanned};

use super::file::{
    ClientOverridesFile, EventFile, ExpectFile, ExternalFile, MitigationFile, PodFile, ScenarioFile,
};
use super::{
    Action, ClientOverrides, DnsSpec, Event, ExternalSpec, Mitigation, NetworkSpec, PodSpec,
    RecordSpec, Scenario, locate,
};
use crate::error::EngineError;
use crate::expect::Expectation;

const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Where errors point.
struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Ctx<'_> {
    /// An error at `loc` (key path derived from the text), or at `fallback`.
    fn err(
        &self,
        loc: Option<&Location>,
        fallback: &str,
        message: impl Into<String>,
    ) -> EngineError {
        let (line, column) = loc.map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
        let path = if line > 0 {
            locate::key_path(self.text, line, column)
        } else {
            String::new()
        };
        EngineError::Invalid {
            file: self.path.to_path_buf(),
            line,
            column,
            path: if path.is_empty() {
                fallback.to_string()
            } else {
                path
            },
            message: message.into(),
        }
    }
}

pub(super) fn scenario(f: ScenarioFile, text: &str, path: &Path) -> Result<Scenario, EngineError> {
    let cx = Ctx { text, path };
    if f.version != 1 {
        return Err(cx.err(
            None,
            "version",
            format!(
                "unsupported version {}; this meshsim reads version 1",
                f.version
            ),
        ));
    }
    let duration = f.duration.0;
    if duration.is_zero() {
        return Err(cx.err(None, "duration", "duration must be greater than 0"));
    }
    let istio_version: IstioVersion =
        f.istio.as_deref().unwrap_or("1.24").parse().map_err(|e| {
            cx.err(
                None,
                "istio",
                format!("invalid istio version profile: {e}; write it like \"1.24\""),
            )
        })?;
    let dns = DnsSpec {
        address: f.world.dns.address.unwrap_or(IpAddr::from([10, 96, 0, 10])),
        records: f
            .world
            .dns
            .zones
            .iter()
            .map(|(name, r)| RecordSpec {
                name: name.trim_end_matches('.').to_string(),
                a: r.a.clone().unwrap_or_default(),
                cname: r.cname.clone(),
                ttl: r.ttl.map_or(DEFAULT_TTL, |t| t.0),
                negative_ttl: r.negative_ttl.map_or(DEFAULT_TTL, |t| t.0),
            })
            .collect(),
    };
    let external = externals(&cx, &f.world.external)?;
    let pods = pods(&cx, &f.world.pods)?;
    let timeline = timeline(&cx, &f.timeline, duration, &dns, &external)?;
    let mitigations = mitigations(&cx, &f.mitigations)?;
    let expectations = expectations(&cx, &f.expect, &mitigations)?;
    let bucket = f
        .bucket
        .map_or((duration / 60).max(Duration::from_secs(1)), |b| b.0);
    Ok(Scenario {
        path: path.to_path_buf(),
        name: f.name,
        summary: f.summary,
        seed: f.seed,
        duration,
        bucket,
        istio_version,
        network: NetworkSpec {
            latency: f
                .world
                .network
                .latency
                .map_or(Duration::from_micros(50), |l| l.0),
            jitter: f.world.network.jitter.map_or(Duration::ZERO, |j| j.0),
        },
        dns,
        external,
        pods,
        timeline,
        mitigations,
        expectations,
    })
}

fn externals(cx: &Ctx<'_>, list: &[ExternalFile]) -> Result<Vec<ExternalSpec>, EngineError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let at = format!("world.external[{i}]");
        if !names.insert(e.name.clone()) {
            return Err(cx.err(
                None,
                &format!("{at}.name"),
                format!("duplicate external host name {:?}", e.name),
            ));
        }
        if let Some(p) = e.protocol.as_deref().filter(|p| *p != "http") {
            return Err(cx.err(
                None,
                &format!("{at}.protocol"),
                format!("unsupported protocol {p:?}; only http for now"),
            ));
        }
        let mut upstream = UpstreamConfig {
            name: e.name.clone(),
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
        out.push(ExternalSpec {
            name: e.name.clone(),
            address: e.address,
            latency: e.latency.map_or(Duration::ZERO, |l| l.0),
            upstream,
        });
    }
    Ok(out)
}

fn pods(cx: &Ctx<'_>, list: &[PodFile]) -> Result<Vec<PodSpec>, EngineError> {
    if list.is_empty() {
        return Err(cx.err(None, "world.pods", "a scenario needs at least one pod"));
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        if !names.insert(p.name.clone()) {
            return Err(cx.err(
                None,
                &format!("world.pods[{i}].name"),
                format!("duplicate pod name {:?}", p.name),
            ));
        }
        let client = &p.app.client;
        let mut profile = ClientProfile::named(&client.value).ok_or_else(|| {
            let known = ClientProfile::names().join(", ");
            cx.err(
                Some(&client.referenced),
                "",
                format!("unknown client profile {:?}; known: {known}", client.value),
            )
        })?;
        let overrides = overrides(cx, &p.app.overrides())?;
        overrides.apply(&mut profile);
        let calls = p
            .app
            .calls
            .iter()
            .map(|c| call(cx, c))
            .collect::<Result<Vec<_>, _>>()?;
        let address =
            p.address
                .unwrap_or(IpAddr::from([10, 0, 0, u8::try_from(i + 1).unwrap_or(250)]));
        out.push(PodSpec {
            name: p.name.clone(),
            address,
            sidecar: p.sidecar,
            profile,
            overrides,
            calls,
        });
    }
    Ok(out)
}

fn call(cx: &Ctx<'_>, c: &super::file::CallFile) -> Result<CallSpec, EngineError> {
    let loc = Some(&c.url.referenced);
    meshsim_app::parse_url(&c.url.value)
        .map_err(|e| cx.err(loc, "", format!("invalid url: {e}")))?;
    let method = c.method.as_deref().unwrap_or("GET");
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| cx.err(loc, "", format!("invalid HTTP method {method:?}")))?;
    let arrival = match c.arrival.as_deref().unwrap_or("poisson") {
        "poisson" => Arrival::Poisson,
        "constant" => Arrival::Constant,
        other => {
            return Err(cx.err(
                loc,
                "",
                format!("unknown arrival {other:?}; use poisson or constant"),
            ));
        }
    };
    Ok(CallSpec {
        url: c.url.value.clone(),
        method,
        rate: c.rate,
        arrival,
    })
}

fn overrides(cx: &Ctx<'_>, o: &ClientOverridesFile) -> Result<ClientOverrides, EngineError> {
    Ok(ClientOverrides {
        keep_alive: o.keep_alive,
        idle_timeout: o
            .idle_timeout
            .as_ref()
            .map(|s| optional_duration(cx, s))
            .transpose()?,
        max_connection_age: o
            .max_connection_age
            .as_ref()
            .map(|s| optional_duration(cx, s))
            .transpose()?,
        connect_timeout: o.connect_timeout.map(|d| d.0),
        request_timeout: o
            .request_timeout
            .as_ref()
            .map(|s| optional_duration(cx, s))
            .transpose()?,
        dns_cache: o.dns_cache.as_ref().map(|s| dns_cache(cx, s)).transpose()?,
        max_idle_per_host: o.max_idle_per_host,
    })
}

/// `none` or a duration.
fn optional_duration(cx: &Ctx<'_>, s: &Spanned<String>) -> Result<Option<Duration>, EngineError> {
    if s.value == "none" {
        return Ok(None);
    }
    parse_duration(&s.value)
        .map(Some)
        .map_err(|e| cx.err(Some(&s.referenced), "", format!("{e}, or none")))
}

fn dns_cache(cx: &Ctx<'_>, s: &Spanned<String>) -> Result<CachePolicy, EngineError> {
    match s.value.as_str() {
        "none" => Ok(CachePolicy::None),
        "ttl" => Ok(CachePolicy::HonourTtl),
        "forever" => Ok(CachePolicy::Forever),
        other => parse_duration(other)
            .map(CachePolicy::FixedTtl)
            .map_err(|_| {
                cx.err(
                    Some(&s.referenced),
                    "",
                    format!(
                        "invalid dns_cache {other:?}: use none, ttl, forever or a duration like 30s"
                    ),
                )
            }),
    }
}

fn timeline(
    cx: &Ctx<'_>,
    list: &[EventFile],
    duration: Duration,
    dns: &DnsSpec,
    external: &[ExternalSpec],
) -> Result<Vec<Event>, EngineError> {
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let loc = Some(&e.at.referenced);
        let at = e.at.value.0;
        if at >= duration {
            return Err(cx.err(
                loc,
                &format!("timeline[{i}].at"),
                format!(
                    "event at {} is not before the end of the run ({})",
                    e.at.value,
                    meshsim_core::units::format_duration(duration)
                ),
            ));
        }
        let n = usize::from(e.dns_set.is_some())
            + usize::from(e.host_stop.is_some())
            + usize::from(e.host_start.is_some());
        if n != 1 {
            return Err(cx.err(
                loc,
                &format!("timeline[{i}]"),
                "each timeline entry needs `at` and exactly one of dns.set, host.stop, host.start",
            ));
        }
        if let Some(set) = &e.dns_set {
            for (name, r) in set {
                let name = name.trim_end_matches('.').to_string();
                if !dns.records.iter().any(|rec| rec.name == name) {
                    return Err(cx.err(
                        loc,
                        &format!("timeline[{i}].dns.set"),
                        format!("dns.set names {name:?}, which is not in world.dns.zones"),
                    ));
                }
                out.push(Event {
                    at,
                    action: Action::DnsSet {
                        name,
                        a: r.a.clone().unwrap_or_default(),
                        ttl: r.ttl.map(|t| t.0),
                    },
                });
            }
        }
        if let Some(stop) = &e.host_stop {
            let name = known_host(cx, &stop.name, external)?;
            let how = match stop.how.as_ref().map_or("close", |h| h.value.as_str()) {
                "close" => StopMode::Close,
                "reset" => StopMode::Reset,
                "blackhole" => StopMode::Blackhole,
                other => {
                    let l = stop.how.as_ref().map(|h| &h.referenced);
                    return Err(cx.err(
                        l,
                        "",
                        format!("unknown stop mode {other:?}; use close, reset or blackhole"),
                    ));
                }
            };
            out.push(Event {
                at,
                action: Action::HostStop { name, how },
            });
        }
        if let Some(start) = &e.host_start {
            let name = known_host(cx, &start.name, external)?;
            out.push(Event {
                at,
                action: Action::HostStart { name },
            });
        }
    }
    out.sort_by_key(|e| e.at);
    Ok(out)
}

fn known_host(
    cx: &Ctx<'_>,
    name: &Spanned<String>,
    external: &[ExternalSpec],
) -> Result<String, EngineError> {
    if external.iter().any(|e| e.name == name.value) {
        return Ok(name.value.clone());
    }
    let known: Vec<&str> = external.iter().map(|e| e.name.as_str()).collect();
    Err(cx.err(
        Some(&name.referenced),
        "",
        format!(
            "no external host named {:?}; known: {}",
            name.value,
            known.join(", ")
        ),
    ))
}

fn mitigations(cx: &Ctx<'_>, list: &[MitigationFile]) -> Result<Vec<Mitigation>, EngineError> {
    if list.is_empty() {
        return Err(cx.err(
            None,
            "mitigations",
            "a scenario needs at least one mitigation (e.g. `- name: none`)",
        ));
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for m in list {
        if !names.insert(m.name.value.clone()) {
            return Err(cx.err(
                Some(&m.name.referenced),
                "",
                format!("duplicate mitigation name {:?}", m.name.value),
            ));
        }
        let app = m
            .app
            .as_ref()
            .map(|a| overrides(cx, a))
            .transpose()?
            .unwrap_or_default();
        let istio = match &m.istio {
            Some(block) => istio_block(cx, block)?,
            None => Resources::default(),
        };
        for line in meshsim_istio::unmodelled(&istio) {
            tracing::warn!(file = %cx.path.display(), mitigation = %m.name.value, "{line}");
        }
        out.push(Mitigation {
            name: m.name.value.clone(),
            description: m.description.clone(),
            app,
            istio,
        });
    }
    Ok(out)
}

/// Parses an `istio: |` block; errors point into the scenario file.
fn istio_block(cx: &Ctx<'_>, block: &Spanned<String>) -> Result<Resources, EngineError> {
    let res = meshsim_istio::parse_resources(&block.value)
        .and_then(|r| meshsim_istio::validate(&r).map(|()| r));
    res.map_err(|e| {
        // serde-saphyr points a block scalar at its first content line; a
        // plain scalar at the `istio:` line itself.
        let at = block.referenced.line() as usize;
        let on_key_line = cx
            .text
            .lines()
            .nth(at.saturating_sub(1))
            .is_some_and(|l| l.contains("istio:"));
        let (key_line, first) = if on_key_line {
            (at, at + 1)
        } else {
            (at.saturating_sub(1), at)
        };
        let line = if e.line() > 0 {
            first + e.line() - 1
        } else {
            key_line
        };
        let column = if e.line() > 0 {
            e.column() + block_indent(cx.text, first)
        } else {
            0
        };
        let key = locate::key_path(cx.text, key_line, block_indent(cx.text, key_line) + 1);
        let resource = match (e.kind(), e.name()) {
            (Some(k), Some(n)) => format!(" {k} {n}"),
            (Some(k), None) => format!(" {k}"),
            _ => String::new(),
        };
        EngineError::Invalid {
            file: cx.path.to_path_buf(),
            line,
            column,
            path: format!("{key} (document {}{resource}) {}", e.document(), e.path()),
            message: e.problem().to_string(),
        }
    })
}

/// Indentation of the first content line of a block scalar starting after `line`.
fn block_indent(text: &str, line: usize) -> usize {
    text.lines()
        .nth(line)
        .map_or(0, |l| l.len() - l.trim_start().len())
}

fn expectations(
    cx: &Ctx<'_>,
    list: &[ExpectFile],
    ms: &[Mitigation],
) -> Result<Vec<Expectation>, EngineError> {
    let mut out = Vec::new();
    for e in list {
        if !ms.iter().any(|m| m.name == e.mitigation.value) {
            let known: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
            return Err(cx.err(
                Some(&e.mitigation.referenced),
                "",
                format!(
                    "no mitigation named {:?}; known: {}",
                    e.mitigation.value,
                    known.join(", ")
                ),
            ));
        }
        let metrics: [(&str, Option<&Spanned<String>>); 9] = [
            ("error_rate", e.error_rate.as_ref()),
            ("errors", e.errors.as_ref()),
            ("p50", e.p50.as_ref()),
            ("p99", e.p99.as_ref()),
            ("max", e.max.as_ref()),
            (
                "upstream_attempts_per_request",
                e.upstream_attempts_per_request.as_ref(),
            ),
            ("has_error", e.has_error.as_ref()),
            ("no_error", e.no_error.as_ref()),
            ("last_error_before", None),
        ];
        let before = out.len();
        for (key, value) in metrics {
            if let Some(v) = value {
                let x = Expectation::parse(&e.mitigation.value, key, &v.value, e.why.clone())
                    .map_err(|m| cx.err(Some(&v.referenced), key, m))?;
                out.push(x);
            }
        }
        if let Some(t) = &e.last_error_before {
            out.push(Expectation::last_error_before(
                &e.mitigation.value,
                t.value.0,
                e.why.clone(),
            ));
        }
        if out.len() == before {
            return Err(cx.err(Some(&e.mitigation.referenced), "expect", "an expectation needs a metric: error_rate, errors, p50, p99, max, upstream_attempts_per_request, has_error, no_error or last_error_before"));
        }
    }
    Ok(out)
}
