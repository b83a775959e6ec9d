//! Validation of `world.services` and `world.control_plane`; [`versions`]
//! for versioned services, [`apps`] for serving applications and call ids.

mod apps;
mod probe;
mod versions;

pub(crate) use probe::pod_templates;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use meshsim_istio::{KubeService, KubeServicePort};

use super::Ctx;
use super::world::{MAX_LATENCY, bounded};
use crate::error::EngineError;
use serde_saphyr::Spanned;

use crate::scenario::file::{
    ControlPlaneFile, EventFile, ServeRouteFile, ServiceFile, ServicePortFile, ServicePortsFile,
};
use crate::scenario::{Action, ServeCallSpec, ServeRouteSpec, ServiceSpec};
use apps::{AppParts, CallIds, app_parts};

/// The most pods a service may have.
pub(super) const MAX_REPLICAS: u32 = 1000;
/// The most services a world may have (their pods get `10.<n>.0.0/16`).
const MAX_SERVICES: usize = 200;

/// `world.control_plane.eds_delay` (default 1 s).
pub(super) fn eds_delay(cx: &Ctx<'_>, c: &ControlPlaneFile) -> Result<Duration, EngineError> {
    match &c.eds_delay {
        Some(d) => bounded(cx, d, true, MAX_LATENCY),
        None => Ok(Duration::from_secs(1)),
    }
}

/// `world.services`; `first_call` is the id of the first call services make
/// (the pods' calls come first).
pub(super) fn services(
    cx: &Ctx<'_>,
    list: &[ServiceFile],
    first_call: usize,
) -> Result<Vec<ServiceSpec>, EngineError> {
    if list.len() > MAX_SERVICES {
        let msg = format!("at most {MAX_SERVICES} services");
        return Err(cx.err(None, "world.services", msg));
    }
    let mut names = BTreeSet::new();
    let mut next_call = first_call;
    let mut out = Vec::new();
    for (index, f) in list.iter().enumerate() {
        let s = service(cx, f, index, &mut next_call)?;
        if !names.insert(s.service.fqdn()) {
            let msg = format!("duplicate service {:?}", s.service.fqdn());
            return Err(cx.err(Some(&f.name.referenced), "", msg));
        }
        out.push(s);
    }
    Ok(out)
}

fn service(
    cx: &Ctx<'_>,
    f: &ServiceFile,
    index: usize,
    next_call: &mut usize,
) -> Result<ServiceSpec, EngineError> {
    let name = dns_label(cx, &f.name.value, &f.name.referenced)?;
    let namespace = match &f.namespace {
        Some(ns) => dns_label(cx, &ns.value, &ns.referenced)?,
        None => "default".to_string(),
    };
    let mut calls = CallIds::new(next_call);
    let (replicas, versions, base) = match &f.versions {
        Some(list) => {
            let versions = versions::versions(cx, f, list, &mut calls)?;
            let total = versions.iter().map(|v| v.replicas).sum();
            let base = versions[0].clone();
            (total, versions, AppParts::from(base))
        }
        None => {
            let Some(app) = &f.app else {
                let msg = "a service needs `app` (with `replicas`) or `versions`";
                return Err(cx.err(Some(&f.name.referenced), "", msg));
            };
            let replicas = replicas(cx, f.replicas.as_ref())?;
            (
                replicas,
                Vec::new(),
                app_parts(cx, app, &f.name, &mut calls)?,
            )
        }
    };
    let cluster_ip = f
        .cluster_ip
        .as_ref()
        .map_or(IpAddr::from([10, 96, 0, vip_octet(index)]), |c| c.value);
    let ports = ports(cx, f)?;
    let probe_port = probe::first_target_port(&ports);
    let readiness_probe = f
        .readiness_probe
        .as_ref()
        .map(|p| probe::probe(cx, p, probe_port))
        .transpose()?;
    Ok(ServiceSpec {
        service: KubeService {
            name,
            namespace,
            cluster_ip,
            ports,
        },
        replicas,
        sidecar: f.sidecar,
        profile: base.profile,
        keepalive_timeout: base.keepalive_timeout,
        listen: base.listen,
        routes: if versions.is_empty() {
            base.routes
        } else {
            Vec::new()
        },
        versions,
        index,
        readiness_probe,
        annotations: probe::annotations(&f.annotations),
    })
}

/// A `replicas` value (default 1), at most [`MAX_REPLICAS`].
pub(super) fn replicas(cx: &Ctx<'_>, r: Option<&Spanned<u32>>) -> Result<u32, EngineError> {
    r.map_or(Ok(1), |r| {
        if r.value > MAX_REPLICAS {
            let msg = format!(
                "replicas {} is out of range: 0 up to {MAX_REPLICAS}",
                r.value
            );
            return Err(cx.err(Some(&r.referenced), "", msg));
        }
        Ok(r.value)
    })
}

/// Default VIPs start at 10.96.0.20, clear of kube-dns's 10.96.0.10 (the
/// DNS server's default address).
fn vip_octet(index: usize) -> u8 {
    u8::try_from(index + 20).unwrap_or(u8::MAX)
}

/// The ports, default `[{name: http, port: 80, target_port: 8080}]`.
fn ports(cx: &Ctx<'_>, f: &ServiceFile) -> Result<Vec<KubeServicePort>, EngineError> {
    port_list(cx, &f.ports)
}

/// A mitigation's `services`: each names a service of the world and lists
/// its ports anew, with the same port and target port numbers (the app
/// listens on those): what changes is a name or an `app_protocol`.
pub(super) fn port_overrides(
    cx: &Ctx<'_>,
    list: &[ServicePortsFile],
    services: &[ServiceSpec],
) -> Result<BTreeMap<String, Vec<KubeServicePort>>, EngineError> {
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for o in list {
        let Some(svc) = services.iter().find(|s| s.service.name == o.name.value) else {
            let known: Vec<&str> = services.iter().map(|s| s.service.name.as_str()).collect();
            let msg = format!(
                "no service {:?} in world.services (known: {})",
                o.name.value,
                known.join(", ")
            );
            return Err(cx.err(Some(&o.name.referenced), "", msg));
        };
        if !seen.insert(o.name.value.as_str()) {
            let msg = format!("service {:?} listed twice", o.name.value);
            return Err(cx.err(Some(&o.name.referenced), "", msg));
        }
        let Some(declared) = &o.ports else {
            if o.annotations.is_empty() && o.readiness_probe.is_none() {
                let msg = "a mitigation's service sets ports, annotations or readiness_probe";
                return Err(cx.err(Some(&o.name.referenced), "", msg));
            }
            continue;
        };
        let ports = port_list(cx, &declared.value)?;
        let numbers = |p: &[KubeServicePort]| -> BTreeSet<(u16, u16)> {
            p.iter().map(|p| (p.port, p.target_port)).collect()
        };
        if declared.value.is_empty() || numbers(&ports) != numbers(&svc.service.ports) {
            let msg = "a mitigation's service ports keep the service's port and target_port numbers (only names and app_protocol change)";
            return Err(cx.err(Some(&declared.referenced), "", msg));
        }
        out.insert(o.name.value.clone(), ports);
    }
    Ok(out)
}

fn port_list(cx: &Ctx<'_>, list: &[ServicePortFile]) -> Result<Vec<KubeServicePort>, EngineError> {
    if list.is_empty() {
        return Ok(vec![KubeServicePort {
            name: "http".into(),
            port: 80,
            target_port: 8080,
            app_protocol: None,
        }]);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in list {
        if p.port.value == 0 || !seen.insert(p.port.value) {
            let msg = format!("port {} is 0 or listed twice", p.port.value);
            return Err(cx.err(Some(&p.port.referenced), "", msg));
        }
        out.push(KubeServicePort {
            name: p.name.value.clone(),
            port: p.port.value,
            target_port: p.target_port.filter(|t| *t != 0).unwrap_or(p.port.value),
            app_protocol: p.app_protocol.clone(),
        });
    }
    Ok(out)
}

fn route(
    cx: &Ctx<'_>,
    r: &ServeRouteFile,
    ids: &mut CallIds<'_>,
) -> Result<ServeRouteSpec, EngineError> {
    let status = match &r.status {
        Some(s) if !(100..=599).contains(&s.value) => {
            let msg = format!("status {} is not an HTTP status (100 to 599)", s.value);
            return Err(cx.err(Some(&s.referenced), "", msg));
        }
        Some(s) => s.value,
        None => 200,
    };
    let capacity = match &r.capacity {
        Some(c) if c.value == 0 => {
            return Err(cx.err(Some(&c.referenced), "", "capacity must be at least 1"));
        }
        c => c.as_ref().map(|c| c.value),
    };
    let parallel = match r.fanout.as_ref().map(|f| (f.value.as_str(), &f.referenced)) {
        None | Some(("sequential", _)) => false,
        Some(("parallel", _)) => true,
        Some((other, loc)) => {
            let msg = format!("unknown fanout {other:?}; use sequential or parallel");
            return Err(cx.err(Some(loc), "", msg));
        }
    };
    let mut calls = Vec::new();
    for c in &r.calls {
        meshsim_app::parse_url(&c.url.value)
            .map_err(|e| cx.err(Some(&c.url.referenced), "", format!("invalid url: {e}")))?;
        let method = super::world::method(cx, c.method.as_ref())?;
        let call = ids.id(&c.url.value, &method);
        calls.push(ServeCallSpec {
            url: c.url.value.clone(),
            method,
            call,
        });
    }
    let latency = r.latency.map_or(Duration::ZERO, |l| l.0);
    if latency > MAX_LATENCY {
        return Err(cx.err(None, "world.services", "route latency above 1h"));
    }
    Ok(ServeRouteSpec {
        prefix: r.prefix.clone().unwrap_or_else(|| "/".to_string()),
        status,
        body_bytes: r.body_bytes.unwrap_or(0),
        latency,
        capacity,
        calls,
        parallel,
    })
}

/// A DNS label (RFC 1123, as Kubernetes names are): lowercase letters, digits
/// and `-`, starting and ending alphanumeric, at most 63 characters.
pub(super) fn dns_label(
    cx: &Ctx<'_>,
    name: &str,
    loc: &serde_saphyr::Location,
) -> Result<String, EngineError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        let msg = format!(
            "{name:?} is not a Kubernetes name: lowercase letters, digits and '-', at most 63"
        );
        return Err(cx.err(Some(loc), "", msg));
    }
    Ok(name.to_string())
}

/// A `service.scale` or `app.set` timeline entry, checked against the
/// services; `None` for other entries.
pub(super) fn event(
    cx: &Ctx<'_>,
    e: &EventFile,
    services: &[ServiceSpec],
) -> Result<Option<Action>, EngineError> {
    let known = |name: &Spanned<String>| {
        if let Some(svc) = services.iter().find(|s| s.service.name == name.value) {
            return Ok(svc);
        }
        let list: Vec<&str> = services.iter().map(|s| s.service.name.as_str()).collect();
        let msg = format!(
            "no service named {:?}; known: {}",
            name.value,
            list.join(", ")
        );
        Err(cx.err(Some(&name.referenced), "", msg))
    };
    if let Some(s) = &e.service_scale {
        let svc = known(&s.name)?;
        let version = versions::event_version(cx, svc, s.version.as_ref(), &s.name, true)?;
        let replicas = replicas(cx, Some(&s.replicas))?;
        let name = svc.service.name.clone();
        return Ok(Some(Action::ServiceScale {
            name,
            version,
            replicas,
        }));
    }
    let Some(a) = &e.app_set else {
        return Ok(None);
    };
    let svc = known(&a.service)?;
    let version = versions::event_version(cx, svc, a.version.as_ref(), &a.service, false)?;
    let service = svc.service.name.clone();
    if let Some(s) = a
        .status
        .as_ref()
        .filter(|s| !(100..=599).contains(&s.value))
    {
        let msg = format!("status {} is not an HTTP status (100 to 599)", s.value);
        return Err(cx.err(Some(&s.referenced), "", msg));
    }
    if let Some(c) = a.capacity.as_ref().filter(|c| c.value == 0) {
        return Err(cx.err(Some(&c.referenced), "", "capacity must be at least 1"));
    }
    let window = match &a.for_ {
        Some(w) => Some(bounded(cx, w, false, Duration::from_secs(30 * 86_400))?),
        None => None,
    };
    if a.status.is_none() && a.latency.is_none() && a.capacity.is_none() {
        let msg = "app.set needs at least one of status, latency, capacity";
        return Err(cx.err(Some(&a.service.referenced), "", msg));
    }
    Ok(Some(Action::AppSet {
        service,
        version,
        status: a.status.as_ref().map(|s| s.value),
        latency: a.latency.map(|l| l.0),
        capacity: a.capacity.as_ref().map(|c| c.value),
        window,
    }))
}

/// Service pods live in `10.<index + 1>.0.0/16` (see
/// [`ServiceSpec::pod_address`]): no other host of the world may sit there,
/// and VIPs must not be anyone's address.
pub(super) fn check_addresses(
    cx: &Ctx<'_>,
    services: &[ServiceSpec],
    taken: &BTreeSet<IpAddr>,
) -> Result<(), EngineError> {
    for s in services {
        let net = u8::try_from(s.index + 1).unwrap_or(u8::MAX);
        let clash = taken.iter().find(|ip| match ip {
            IpAddr::V4(v4) => v4.octets()[..2] == [10, net],
            IpAddr::V6(_) => false,
        });
        if let Some(ip) = clash {
            let msg = format!(
                "{ip} is in 10.{net}.0.0/16, where the pods of service {} live: move it",
                s.service.name
            );
            return Err(cx.err(None, "world.services", msg));
        }
        if taken.contains(&s.service.cluster_ip) {
            let msg = format!(
                "cluster_ip {} of service {} is already taken",
                s.service.cluster_ip, s.service.name
            );
            return Err(cx.err(None, "world.services", msg));
        }
    }
    Ok(())
}
