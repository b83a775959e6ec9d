//! Validation of a `kind: dns_firewall` middlebox.

use std::time::Duration;

use meshsim_core::HumanDuration;
use meshsim_net::{Cidr, DnsFirewall, Learning, OnExpired, OnUnknown};
use serde_saphyr::{Location, Spanned};

use super::Ctx;
use super::bounded;
use crate::error::EngineError;
use crate::scenario::ExternalSpec;
use crate::scenario::file::MiddleboxFile;
use crate::scenario::middlebox::FirewallSpec;

/// The keys only a firewall has.
pub(super) const FIREWALL_KEYS: [&str; 9] = [
    "learn",
    "refresh",
    "view",
    "inside",
    "min_ttl",
    "max_ttl",
    "grace",
    "on_unknown",
    "keep_active",
];

/// The longest TTL bound, grace or refresh (FortiGate's `cache-ttl` goes to
/// 86400 s).
const MAX_TTL: Duration = Duration::from_secs(86_400);

/// FortiGate's minimum FQDN refresh (hard-coded 60 s before 7.2.1).
const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// The cluster's own addresses (pods 10.0.0.0/24 and 10.<n>.0.0/16, service
/// VIPs 10.96.0.0/16, kube-dns), which an egress firewall does not see.
const DEFAULT_INSIDE: &str = "10.0.0.0/8";

/// `kind: dns_firewall`.
pub(super) fn firewall(
    cx: &Ctx<'_>,
    m: &MiddleboxFile,
    external: &[ExternalSpec],
) -> Result<FirewallSpec, EngineError> {
    if let Some(idle) = &m.idle {
        let msg = "`idle` is an idle_timer key; a dns_firewall forgets addresses by TTL";
        return Err(cx.err(Some(&idle.referenced), "world.middleboxes", msg));
    }
    if let Some(preset) = &m.preset {
        let msg = "`preset` is an idle_timer key (a cloud NAT or load balancer's defaults)";
        return Err(cx.err(Some(&preset.referenced), "world.middleboxes", msg));
    }
    let learning = choice(
        cx,
        &m.learn,
        "learn",
        &[("snoop", Learning::Snoop), ("own", Learning::Own)],
    )?
    .unwrap_or_default();
    if learning == Learning::Snoop {
        own_only(cx, m.refresh.as_ref().map(|r| &r.referenced), "refresh")?;
        own_only(cx, m.view.as_ref().map(|v| &v.referenced), "view")?;
    }
    let unknown = [("drop", OnUnknown::Drop), ("reset", OnUnknown::Reset)];
    let expired = [
        ("reset", OnExpired::Reset),
        ("blackhole", OnExpired::Blackhole),
        ("keep", OnExpired::Keep),
    ];
    let config = DnsFirewall {
        clients: Vec::new(),
        inside: inside(cx, m, external)?,
        learning,
        min_ttl: duration(cx, &m.min_ttl, true)?.unwrap_or_default(),
        max_ttl: duration(cx, &m.max_ttl, false)?,
        grace: duration(cx, &m.grace, true)?.unwrap_or_default(),
        on_unknown: choice(cx, &m.on_unknown, "on_unknown", &unknown)?.unwrap_or_default(),
        on_expired: choice(cx, &m.on_expiry, "on_expiry", &expired)?.unwrap_or_default(),
        keep_active: duration(cx, &m.keep_active, false)?,
    };
    if let (Some(max), Some(v)) = (config.max_ttl, &m.max_ttl)
        && max < config.min_ttl
    {
        let msg = "max_ttl is shorter than min_ttl";
        return Err(cx.err(Some(&v.referenced), "world.middleboxes", msg));
    }
    Ok(FirewallSpec {
        config,
        refresh: duration(cx, &m.refresh, false)?.unwrap_or(DEFAULT_REFRESH),
        view: m.view.as_ref().map(|v| v.value.clone()).unwrap_or_default(),
    })
}

/// The firewall's keys set on a box of another kind are an error.
pub(super) fn refuse_keys(
    cx: &Ctx<'_>,
    m: &MiddleboxFile,
    kind: &str,
    keys: &[&str],
) -> Result<(), EngineError> {
    let set = [
        m.learn.as_ref().map(|v| &v.referenced),
        m.refresh.as_ref().map(|v| &v.referenced),
        m.view.as_ref().map(|v| &v.referenced),
        m.inside
            .as_ref()
            .and_then(|v| v.first())
            .map(|v| &v.referenced),
        m.min_ttl.as_ref().map(|v| &v.referenced),
        m.max_ttl.as_ref().map(|v| &v.referenced),
        m.grace.as_ref().map(|v| &v.referenced),
        m.on_unknown.as_ref().map(|v| &v.referenced),
        m.keep_active.as_ref().map(|v| &v.referenced),
    ];
    match keys.iter().zip(set).find(|(_, loc)| loc.is_some()) {
        Some((key, loc)) => {
            let msg =
                format!("`{key}` is a dns_firewall key; an {kind} has preset, idle and on_expiry");
            Err(cx.err(loc, "world.middleboxes", msg))
        }
        None => Ok(()),
    }
}

fn own_only(cx: &Ctx<'_>, loc: Option<&Location>, key: &str) -> Result<(), EngineError> {
    match loc {
        Some(l) => {
            let msg = format!("`{key}` is for a firewall with its own resolver (learn: own)");
            Err(cx.err(Some(l), "world.middleboxes", msg))
        }
        None => Ok(()),
    }
}

fn duration(
    cx: &Ctx<'_>,
    d: &Option<Spanned<HumanDuration>>,
    zero_ok: bool,
) -> Result<Option<Duration>, EngineError> {
    d.as_ref()
        .map(|d| bounded(cx, d, zero_ok, MAX_TTL))
        .transpose()
}

pub(super) fn choice<T: Copy>(
    cx: &Ctx<'_>,
    v: &Option<Spanned<String>>,
    key: &str,
    options: &[(&str, T)],
) -> Result<Option<T>, EngineError> {
    let Some(v) = v else { return Ok(None) };
    match options.iter().find(|(name, _)| *name == v.value) {
        Some((_, t)) => Ok(Some(*t)),
        None => {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            let msg = format!("unknown {key} {:?}; use {}", v.value, names.join(", "));
            Err(cx.err(Some(&v.referenced), "world.middleboxes", msg))
        }
    }
}

/// `inside`: the ranges that do not cross the box (default 10.0.0.0/8, which
/// no external host may then be in).
fn inside(
    cx: &Ctx<'_>,
    m: &MiddleboxFile,
    external: &[ExternalSpec],
) -> Result<Vec<Cidr>, EngineError> {
    let Some(list) = &m.inside else {
        let cidr: Cidr = DEFAULT_INSIDE
            .parse()
            .map_err(|e| cx.err(None, "world.middleboxes", format!("{e}")))?;
        if let Some(x) = external.iter().find(|x| cidr.contains(x.address.ip())) {
            let msg = format!(
                "external host {} ({}) is in the firewall's default inside range {DEFAULT_INSIDE}: set `inside` to the cluster's ranges",
                x.name, x.address
            );
            return Err(cx.err(Some(&m.name.referenced), "world.middleboxes", msg));
        }
        return Ok(vec![cidr]);
    };
    let parse = |s: &Spanned<String>| {
        s.value
            .parse::<Cidr>()
            .map_err(|e| cx.err(Some(&s.referenced), "world.middleboxes", e.to_string()))
    };
    list.iter().map(parse).collect()
}
