//! The [`LintContext`] a scenario's world and timeline imply: who calls
//! which host, through a sidecar or not, with which methods; which hosts'
//! DNS answers change; which can black-hole; the servers' keep-alive
//! timeouts and the middleboxes' idle timers on the callers' paths.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use meshsim_core::units::format_duration;
use meshsim_istio::inject::{REWRITE_PROBES_ANNOTATION, rewrites_probes};
use meshsim_istio::lint::{AppFacts, AppListen, HostFacts, IdleLimit, LintContext};
use meshsim_net::{Bind, OnExpired, OnExpiry};
use meshsim_upstream::StopMode;

use crate::scenario::{Action, MiddleboxKind, Mitigation, PodStop, Scenario, ServiceSpec};

/// One call the scenario's applications make.
struct Caller<'a> {
    /// The calling pod (entry pods only; `None` for a service's pods).
    pod: Option<&'a str>,
    url: &'a str,
    method: &'a str,
    sidecar: bool,
    /// The calling pod's or service's name.
    who: &'a str,
}

/// The context of `scenario`.
pub(crate) fn build(scenario: &Scenario) -> LintContext {
    let mut hosts: BTreeMap<String, HostFacts> = BTreeMap::new();
    for call in callers(scenario) {
        let Some(name) = host_of(call.url) else {
            continue;
        };
        let key = service_fqdn(scenario, &name).unwrap_or(name);
        let facts = hosts.entry(key.clone()).or_default();
        facts.via_sidecar |= call.sidecar;
        if !call.sidecar {
            facts.plaintext_callers.insert(call.who.to_string());
        }
        facts.methods.insert(call.method.to_ascii_uppercase());
        if let Some((scheme, port)) = scheme_and_port(call.url) {
            facts.schemes.insert(scheme);
            facts.ports.extend(port);
        }
        if let Some(pod) = call.pod {
            path_facts(scenario, pod, facts);
        }
    }
    for (host, facts) in &mut hosts {
        host_facts(scenario, host, facts);
    }
    LintContext {
        hosts,
        services: scenario
            .services
            .iter()
            .map(|s| s.service.clone())
            .collect(),
        apps: scenario
            .services
            .iter()
            .map(|s| (s.service.fqdn(), app_facts(s)))
            .collect(),
        istio_version: Some(scenario.istio_version),
    }
}

/// `ctx` with the Services' ports as `mitigation` declares them anew, and
/// its pod template changes (annotations, readiness probe).
pub(crate) fn for_mitigation(ctx: &LintContext, mitigation: &Mitigation) -> LintContext {
    let mut out = ctx.clone();
    for svc in &mut out.services {
        if let Some(ports) = mitigation.services.get(&svc.name) {
            svc.ports.clone_from(ports);
        }
        let template = mitigation.pod_templates.get(&svc.name);
        if let Some((t, app)) = template.zip(out.apps.get_mut(&svc.fqdn())) {
            // The run merges the annotations and reads the merged value
            // with Istio's default (on) behind it.
            if t.annotations.contains_key(REWRITE_PROBES_ANNOTATION) {
                app.rewrite_probes = rewrites_probes(&t.annotations, true);
            }
            if let Some(p) = &t.readiness_probe {
                app.readiness_probe = Some(p.action.clone());
            }
        }
    }
    out
}

/// The application behind a service: its sidecar and each Deployment's
/// bind address; meshsim's serving applications speak HTTP/1.1 only.
fn app_facts(s: &ServiceSpec) -> AppFacts {
    let listen = |b: Bind| match b {
        Bind::Any => AppListen::Any,
        Bind::Host => AppListen::PodIp,
        Bind::Loopback => AppListen::Localhost,
    };
    AppFacts {
        sidecar: s.sidecar,
        listen: s
            .deployments()
            .into_iter()
            .map(|d| (d.name, listen(d.listen)))
            .collect(),
        http2: false,
        readiness_probe: s.readiness_probe.as_ref().map(|p| p.action.clone()),
        rewrite_probes: rewrites_probes(&s.annotations, true),
    }
}

/// The scheme of `url` (lower case) and its port, explicit or the
/// scheme's default (http 80, https 443; none for others).
fn scheme_and_port(url: &str) -> Option<(String, Option<u16>)> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let port = uri.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    Some((scheme, port))
}

fn callers(scenario: &Scenario) -> Vec<Caller<'_>> {
    let mut out = Vec::new();
    for p in &scenario.pods {
        out.extend(p.calls.iter().map(|c| Caller {
            pod: Some(&p.name),
            url: &c.url,
            method: c.method.as_str(),
            sidecar: p.sidecar,
            who: &p.name,
        }));
    }
    for s in &scenario.services {
        for route in s.versions.iter().flat_map(|v| &v.routes).chain(&s.routes) {
            out.extend(route.calls.iter().map(|c| Caller {
                pod: None,
                url: &c.url,
                method: c.method.as_str(),
                sidecar: s.sidecar,
                who: &s.service.name,
            }));
        }
    }
    out
}

/// The host of `url`, lower case.
fn host_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    uri.host()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
}

/// The FQDN of the mesh Service a call's host names, if any.
fn service_fqdn(scenario: &Scenario, host: &str) -> Option<String> {
    scenario
        .services
        .iter()
        .find(|s| s.service.domains().iter().any(|d| d == host))
        .map(|s| s.service.fqdn())
}

/// What the middleboxes on `pod`'s path do to its flows.
fn path_facts(scenario: &Scenario, pod: &str, facts: &mut HostFacts) {
    for mb in scenario
        .middleboxes
        .iter()
        .filter(|m| m.pods.iter().any(|p| p == pod))
    {
        match &mb.kind {
            // A box that resets both ends at expiry closes idle pooled
            // connections before anyone reuses them: no idle limit to heed.
            MiddleboxKind::IdleTimer {
                on_expiry: OnExpiry::ResetAtExpiry,
                ..
            } => {}
            MiddleboxKind::IdleTimer { idle, on_expiry } => {
                if facts.idle_limit.as_ref().is_none_or(|l| l.idle > *idle) {
                    facts.idle_limit = Some(IdleLimit {
                        middlebox: mb.name.clone(),
                        idle: *idle,
                    });
                }
                if *on_expiry == OnExpiry::Drop {
                    facts.blackhole.get_or_insert_with(|| {
                        format!(
                            "middlebox {} drops flows idle {}",
                            mb.name,
                            format_duration(*idle)
                        )
                    });
                }
            }
            MiddleboxKind::DnsFirewall(fw) if fw.config.on_expired == OnExpired::Blackhole => {
                facts.blackhole.get_or_insert_with(|| {
                    format!(
                        "firewall {} black-holes flows whose address expired",
                        mb.name
                    )
                });
            }
            MiddleboxKind::DnsFirewall(_) => {}
        }
    }
}

/// Facts that depend on the host's addresses and the timeline.
fn host_facts(scenario: &Scenario, host: &str, facts: &mut HostFacts) {
    let names = dns_chain(scenario, host);
    let addresses = addresses(scenario, &names, host);
    for e in &scenario.timeline {
        let at = format_duration(e.at);
        match &e.action {
            Action::DnsSet { name, .. } if names.contains(name) => {
                facts
                    .dns_changes
                    .get_or_insert_with(|| format!("dns.set {name} at {at}"));
            }
            Action::HostStop {
                name,
                how: StopMode::Blackhole,
            } => {
                let stopped = scenario.external.iter().find(|x| &x.name == name);
                if stopped.is_some_and(|x| addresses.contains(&x.address.ip())) {
                    facts
                        .blackhole
                        .get_or_insert_with(|| format!("host.stop {name} blackhole at {at}"));
                }
            }
            Action::PodDelete {
                name,
                how: PodStop::Blackhole,
            } => {
                let owner = scenario
                    .services
                    .iter()
                    .find(|s| name.starts_with(&format!("{}-", s.service.name)));
                if owner.is_some_and(|s| s.service.fqdn() == host) {
                    facts
                        .blackhole
                        .get_or_insert_with(|| format!("pod.delete {name} blackhole at {at}"));
                }
            }
            _ => {}
        }
    }
    facts.keepalive_timeout = scenario
        .external
        .iter()
        .filter(|x| addresses.contains(&x.address.ip()))
        .filter_map(|x| x.upstream.keepalive_timeout)
        .min();
}

/// `host` and the CNAME targets it leads to (at most 8 steps).
fn dns_chain(scenario: &Scenario, host: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::from([host.to_string()]);
    let mut at = host.to_string();
    for _ in 0..8 {
        let next = scenario
            .dns
            .records
            .iter()
            .find(|r| r.name == at)
            .and_then(|r| r.cname.clone());
        match next {
            Some(n) if names.insert(n.clone()) => at = n,
            _ => break,
        }
    }
    names
}

/// Every address `names` resolve to over the run (records and `dns.set`),
/// or `host` itself when it is an IP literal.
fn addresses(scenario: &Scenario, names: &BTreeSet<String>, host: &str) -> BTreeSet<IpAddr> {
    let mut out: BTreeSet<IpAddr> = host.parse().into_iter().collect();
    for r in scenario
        .dns
        .records
        .iter()
        .filter(|r| names.contains(&r.name))
    {
        out.extend(r.a.iter().copied());
    }
    for e in &scenario.timeline {
        if let Action::DnsSet { name, a, .. } = &e.action
            && names.contains(name)
        {
            out.extend(a.iter().copied());
        }
    }
    out
}
