//! Phase two of loading: `ScenarioFile` -> [`Scenario`], cross-checked.
//!
//! Module map: this file holds the scenario header, the client overrides, the
//! timeline, the mitigations and the expectations; [`world`] the world
//! (network, DNS, external hosts, pods, address ownership).

mod action;
mod control_plane;
mod http2;
mod lifecycle;
mod middlebox;
mod services;
mod world;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use meshsim_core::units::parse_duration;
use meshsim_dns::CachePolicy;
use meshsim_istio::{IstioVersion, Resources};
use meshsim_sidecar::config::BackOffFormula;
use meshsim_upstream::StopMode;
use serde_saphyr::{Location, Spanned};

use super::file::{
    AppRetryFile, ClientOverridesFile, EventFile, ExpectFile, MitigationFile, ScenarioFile,
};
use super::{
    Action, ClientOverrides, DnsSpec, Event, ExternalSpec, Mitigation, Scenario, ServiceSpec,
    locate,
};
use crate::error::EngineError;
use crate::expect::{Expectation, Hop};

/// The longest load phase a scenario may ask for.
const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);
/// The most time-series buckets a report may hold.
const MAX_BUCKETS: u32 = 10_000;

/// Where errors point.
pub(super) struct Ctx<'a> {
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
        self.err_at(line, column, fallback, message)
    }

    /// An error at a known line and column (0 when unknown).
    fn err_at(
        &self,
        line: usize,
        column: usize,
        fallback: &str,
        message: impl Into<String>,
    ) -> EngineError {
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

    /// Line and column of the first `key:` in the text (for map keys, which
    /// carry no span of their own); (0, 0) when not found.
    fn find_key(&self, key: &str) -> (usize, usize) {
        let pattern = format!("{key}:");
        for (i, line) in self.text.lines().enumerate() {
            if let Some(col) = line.find(&pattern) {
                return (i + 1, col + 1);
            }
        }
        (0, 0)
    }
}

pub(super) fn scenario(f: ScenarioFile, text: &str, path: &Path) -> Result<Scenario, EngineError> {
    let cx = Ctx { text, path };
    let (duration, istio_version) = header(&cx, &f)?;
    let retry_backoff = retry_backoff(&cx, &f)?;
    let network = world::network(&cx, &f.world.network)?;
    let dns = world::dns(&cx, &f.world.dns)?;
    let external = world::externals(&cx, &f.world.external)?;
    let pods = world::pods(&cx, &f.world.pods, &world::reserved(dns.address, &external))?;
    world::check_addresses(&cx, dns.address, &external, &pods)?;
    let entry_calls = pods.iter().map(|p| p.calls.len()).sum();
    let services = services::services(&cx, &f.world.services, entry_calls)?;
    let mut taken = world::reserved(dns.address, &external);
    taken.extend(pods.iter().map(|p| p.address));
    services::check_addresses(&cx, &services, &taken)?;
    let eds_delay = services::eds_delay(&cx, &f.world.control_plane)?;
    let (push_delay, pod_start) = control_plane::delays(&cx, &f.world.control_plane)?;
    let middleboxes = middlebox::middleboxes(&cx, &f.world.middleboxes, &pods, &external)?;
    warn_unresolvable_calls(&cx, &pods, &dns, &services);
    let targets = Targets {
        dns: &dns,
        external: &external,
        services: &services,
        pods: &pods,
    };
    let timeline = timeline(&cx, &f.timeline, duration, &targets)?;
    let mitigations = mitigations(&cx, &f.mitigations, istio_version, &services)?;
    let calls: Vec<(String, String)> = super::call_labels(&pods, &services)
        .into_iter()
        .map(|(from, url, _)| (from, url))
        .collect();
    let lifecycle_pods: Vec<String> = pods
        .iter()
        .filter(|p| p.lifecycle.is_some())
        .map(|p| p.name.clone())
        .collect();
    let expectations = expectations(&cx, &f.expect, &mitigations, &calls, &lifecycle_pods)?;
    let bucket = match &f.bucket {
        Some(b) => Some(world::bounded(&cx, b, false, duration)?),
        None => None,
    };
    Ok(Scenario {
        path: path.to_path_buf(),
        name: f.name.value,
        summary: f.summary,
        seed: f.seed,
        duration,
        bucket,
        istio_version,
        retry_backoff,
        network,
        dns,
        external,
        pods,
        services,
        eds_delay,
        push_delay,
        pod_start,
        middleboxes,
        timeline,
        mitigations,
        expectations,
    })
}

/// `pod.terminate`: a pod of `world.pods` with a `lifecycle` gets SIGTERM.
fn pod_terminate(
    cx: &Ctx<'_>,
    e: &EventFile,
    pods: &[super::PodSpec],
) -> Result<Option<Action>, EngineError> {
    let Some(t) = &e.pod_terminate else {
        return Ok(None);
    };
    let name = &t.name.value;
    match pods.iter().find(|p| &p.name == name) {
        Some(p) if p.lifecycle.is_some() => Ok(Some(Action::PodTerminate { name: name.clone() })),
        Some(_) => {
            let msg = format!(
                "pod.terminate: pod {name} has no `lifecycle` block, so kubelet does not model its termination"
            );
            Err(cx.err(Some(&t.name.referenced), "", msg))
        }
        None => {
            let known: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
            let msg = format!(
                "pod.terminate: no pod {name:?} in world.pods (known: {})",
                known.join(", ")
            );
            Err(cx.err(Some(&t.name.referenced), "", msg))
        }
    }
}

/// `envoy.retry_backoff`: `current-code` (default) or `documented`.
fn retry_backoff(cx: &Ctx<'_>, f: &ScenarioFile) -> Result<BackOffFormula, EngineError> {
    let Some(v) = &f.envoy.retry_backoff else {
        return Ok(BackOffFormula::CurrentCode);
    };
    match v.value.as_str() {
        "current-code" => Ok(BackOffFormula::CurrentCode),
        "documented" => Ok(BackOffFormula::Documented),
        other => {
            let msg = format!(
                "unknown retry back-off {other:?}: current-code (Envoy's source, the default) or documented (Envoy's docs)"
            );
            Err(cx.err(Some(&v.referenced), "envoy.retry_backoff", msg))
        }
    }
}

/// `version`, `name`, `duration`, `istio`.
fn header(cx: &Ctx<'_>, f: &ScenarioFile) -> Result<(Duration, IstioVersion), EngineError> {
    if f.version.value != 1 {
        let msg = format!(
            "unsupported version {}; this meshsim reads version 1",
            f.version.value
        );
        return Err(cx.err(Some(&f.version.referenced), "version", msg));
    }
    let name = &f.name.value;
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    if !safe || name.starts_with('.') {
        let msg = format!("name {name:?} must be a plain file name: letters, digits, - _ . +");
        return Err(cx.err(Some(&f.name.referenced), "name", msg));
    }
    let duration = world::bounded(cx, &f.duration, false, MAX_DURATION)?;
    let version = f.istio.as_ref().map_or(Ok(IstioVersion::new(1, 24)), |v| {
        v.value.parse().map_err(|e| {
            let msg = format!("invalid istio version profile: {e}; write it like \"1.24\"");
            cx.err(Some(&v.referenced), "istio", msg)
        })
    })?;
    Ok((duration, version))
}

/// The time-series bucket for a run of `duration`: the scenario's own, or
/// duration / 60 (at least 1 s); never more than [`MAX_BUCKETS`] buckets.
pub(crate) fn bucket_for(explicit: Option<Duration>, duration: Duration) -> Duration {
    let floor = duration / MAX_BUCKETS;
    explicit
        .unwrap_or((duration / 60).max(Duration::from_secs(1)))
        .max(floor)
        .max(Duration::from_millis(1))
}

/// A call to a name neither the DNS server nor a service knows fails every
/// request with `dns_nxdomain`: legitimate for an NXDOMAIN incident, a typo
/// otherwise.
fn warn_unresolvable_calls(
    cx: &Ctx<'_>,
    pods: &[super::PodSpec],
    dns: &DnsSpec,
    services: &[ServiceSpec],
) {
    let known = |host: &str| {
        dns.records.iter().any(|r| r.name == host)
            || services.iter().any(|s| s.service.fqdn() == host)
    };
    let pod_calls = pods
        .iter()
        .flat_map(|p| p.calls.iter().map(|c| (p.name.as_str(), c.url.as_str())));
    let service_calls = services.iter().flat_map(|s| {
        s.deployments().into_iter().flat_map(|d| {
            d.routes
                .into_iter()
                .flat_map(|r| r.calls)
                .map(|c| (s.service.name.as_str(), c.url))
        })
    });
    let pod_calls = pod_calls.map(|(from, url)| (from, url.to_string()));
    for (from, url) in pod_calls.chain(service_calls) {
        let Ok((target, _)) = meshsim_app::parse_call_url(&url) else {
            continue;
        };
        if target.ip().is_none() && !known(&target.host) {
            tracing::warn!(
                file = %cx.path.display(),
                "{from} calls {}, which neither world.dns.zones nor a service's full name (name.namespace.svc.cluster.local) knows: its requests fail with dns_nxdomain",
                target.host
            );
        }
    }
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
        connect_timeout: o
            .connect_timeout
            .as_ref()
            .map(|d| world::bounded(cx, d, false, Duration::from_secs(3600)))
            .transpose()?,
        request_timeout: o
            .request_timeout
            .as_ref()
            .map(|s| optional_duration(cx, s))
            .transpose()?,
        dns_cache: o.dns_cache.as_ref().map(|s| dns_cache(cx, s)).transpose()?,
        max_idle_per_host: o.max_idle_per_host,
        retry: o.retry.as_ref().map(|r| app_retry(cx, r)).transpose()?,
    })
}

/// `retry`: attempts after the first try, back-off doubling from `backoff`
/// (default 100 ms) up to `max_backoff` (default 10 s).
fn app_retry(cx: &Ctx<'_>, r: &AppRetryFile) -> Result<meshsim_app::AppRetry, EngineError> {
    let backoff = r
        .backoff
        .as_ref()
        .map_or(Ok(Duration::from_millis(100)), |d| {
            world::bounded(cx, d, false, Duration::from_secs(3600))
        })?;
    let max_backoff = r
        .max_backoff
        .as_ref()
        .map_or(Ok(Duration::from_secs(10).max(backoff)), |d| {
            world::bounded(cx, d, false, Duration::from_secs(3600))
        })?;
    if r.attempts.value > 1000 {
        let msg = format!("{} retries is out of range: 0 up to 1000", r.attempts.value);
        return Err(cx.err(Some(&r.attempts.referenced), "", msg));
    }
    Ok(meshsim_app::AppRetry {
        attempts: r.attempts.value,
        backoff,
        max_backoff: max_backoff.max(backoff),
        on: meshsim_app::RetryOn::ConnectFailure,
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

/// What timeline events may name.
struct Targets<'a> {
    dns: &'a DnsSpec,
    external: &'a [ExternalSpec],
    services: &'a [ServiceSpec],
    pods: &'a [super::PodSpec],
}

fn timeline(
    cx: &Ctx<'_>,
    list: &[EventFile],
    duration: Duration,
    t: &Targets<'_>,
) -> Result<Vec<Event>, EngineError> {
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let at = event_time(cx, e, i, duration)?;
        let mut actions = Vec::new();
        actions.extend(services::event(cx, e, t.services)?);
        actions.extend(control_plane::event(cx, e, t.services)?);
        actions.extend(http2::event(cx, e, t.external)?);
        actions.extend(host_event(cx, e, t.external)?);
        actions.extend(dns_set(cx, e, i, t.dns)?);
        actions.extend(pod_terminate(cx, e, t.pods)?);
        out.extend(actions.into_iter().map(|action| Event { at, action }));
    }
    out.sort_by_key(|e| e.at);
    Ok(out)
}

/// Event `i`'s time, checked to fall inside the run, and that it carries
/// exactly one action key.
fn event_time(
    cx: &Ctx<'_>,
    e: &EventFile,
    i: usize,
    duration: Duration,
) -> Result<Duration, EngineError> {
    let loc = Some(&e.at.referenced);
    if e.at.value.0 >= duration {
        let msg = format!(
            "event at {} is not before the end of the run ({})",
            e.at.value,
            meshsim_core::units::format_duration(duration)
        );
        return Err(cx.err(loc, &format!("timeline[{i}].at"), msg));
    }
    let n = [
        e.dns_set.is_some(),
        e.host_stop.is_some(),
        e.host_start.is_some(),
        e.service_scale.is_some(),
        e.app_set.is_some(),
        e.istio_push.is_some(),
        e.istio_delete.is_some(),
        e.pod_delete.is_some(),
        e.host_set.is_some(),
        e.host_goaway.is_some(),
        e.pod_terminate.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    if n != 1 {
        return Err(cx.err(
            loc,
            &format!("timeline[{i}]"),
            "each timeline entry needs `at` and exactly one of dns.set, host.stop, host.start, host.set, host.goaway, service.scale, app.set, istio.push, istio.delete, pod.delete, pod.terminate",
        ));
    }
    Ok(e.at.value.0)
}

/// `dns.set`: one action per name, each a name of `world.dns.zones`.
fn dns_set(
    cx: &Ctx<'_>,
    e: &EventFile,
    i: usize,
    dns: &DnsSpec,
) -> Result<Vec<Action>, EngineError> {
    let Some(set) = &e.dns_set else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, r) in set {
        let name = name.trim_end_matches('.').to_string();
        if !dns.records.iter().any(|rec| rec.name == name) {
            let msg = format!("dns.set names {name:?}, which is not in world.dns.zones");
            let loc = Some(&e.at.referenced);
            return Err(cx.err(loc, &format!("timeline[{i}].dns.set"), msg));
        }
        out.push(Action::DnsSet {
            name,
            a: r.a.clone().unwrap_or_default(),
            ttl: r.ttl.map(|t| t.0),
        });
    }
    Ok(out)
}

/// `host.stop` / `host.start` on an external host.
fn host_event(
    cx: &Ctx<'_>,
    e: &EventFile,
    external: &[ExternalSpec],
) -> Result<Option<Action>, EngineError> {
    if let Some(stop) = &e.host_stop {
        let name = known_host(cx, &stop.name, external)?;
        let how = match &stop.how {
            None => StopMode::Close,
            Some(h) => h.value.parse::<StopMode>().map_err(|_| {
                let msg = format!(
                    "unknown stop mode {:?}; use close, reset or blackhole",
                    h.value
                );
                cx.err(Some(&h.referenced), "", msg)
            })?,
        };
        return Ok(Some(Action::HostStop { name, how }));
    }
    if let Some(start) = &e.host_start {
        let name = known_host(cx, &start.name, external)?;
        return Ok(Some(Action::HostStart { name }));
    }
    Ok(None)
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

/// The mitigations; Istio fields meshsim does not simulate, or that the
/// scenario's Istio `version` does not have, are warned about.
fn mitigations(
    cx: &Ctx<'_>,
    list: &[MitigationFile],
    version: IstioVersion,
    services: &[ServiceSpec],
) -> Result<Vec<Mitigation>, EngineError> {
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
        let unknown = meshsim_istio::unknown_subsets(&istio);
        for line in meshsim_istio::unmodelled_at(&istio, version)
            .into_iter()
            .chain(unknown)
        {
            tracing::warn!(file = %cx.path.display(), mitigation = %m.name.value, "{line}");
        }
        let pod = m
            .pod
            .as_ref()
            .map(|p| lifecycle::settings(cx, p))
            .transpose()?
            .unwrap_or_default();
        out.push(Mitigation {
            name: m.name.value.clone(),
            description: m.description.clone(),
            app,
            istio,
            pod,
            services: services::port_overrides(cx, &m.services, services)?,
            pod_templates: services::pod_templates(cx, &m.services, services)?,
            user_file: None,
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
    calls: &[(String, String)],
    lifecycle_pods: &[String],
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
        let metrics: [(&str, Option<&Spanned<String>>); 8] = [
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
        ];
        let hop = match &e.hop {
            Some(h) => Some((
                h,
                Hop::resolve(&h.value, calls).map_err(|m| cx.err(Some(&h.referenced), "hop", m))?,
            )),
            None => None,
        };
        let before = out.len();
        let mut found = Vec::new();
        for (key, value) in metrics {
            if let Some(v) = value {
                let x = Expectation::parse(&e.mitigation.value, key, &v.value, e.why.clone())
                    .map_err(|m| cx.err(Some(&v.referenced), key, m))?;
                found.push(x);
            }
        }
        found.extend(lifecycle::expectations(cx, e, lifecycle_pods)?);
        if let Some(t) = &e.last_error_before {
            found.push(Expectation::last_error_before(
                &e.mitigation.value,
                t.value.0,
                e.why.clone(),
            ));
        }
        for x in found {
            out.push(match &hop {
                Some((h, hop)) => x
                    .on_hop(hop.clone())
                    .map_err(|m| cx.err(Some(&h.referenced), "hop", m))?,
                None => x,
            });
        }
        if out.len() == before {
            return Err(cx.err(Some(&e.mitigation.referenced), "expect", "an expectation needs a metric: error_rate, errors, p50, p99, max, upstream_attempts_per_request, has_error, no_error, last_error_before, or a pod's app_start, sidecar_ready, first_success, completion, startup_failures, termination_failures, abandoned, init_failures"));
        }
    }
    Ok(out)
}
