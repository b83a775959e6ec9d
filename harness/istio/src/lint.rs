//! Lint rules in the style of `istioctl analyze`: what a set of Istio
//! resources does that is valid (or nearly) but is known to cause incidents.
//!
//! [`lint()`] runs every rule of [`RULES`] over parsed [`Resources`] and a
//! [`LintContext`] (what only a scenario knows: hosts whose DNS answers
//! change, hosts that can black-hole, servers' keep-alive timeouts...). Rules
//! that need no context run on plain Istio files too. Each [`Finding`] has a
//! stable code, a severity, the resource and key path, the line and column
//! in the parsed YAML, a message with the offending values, a fix, and the
//! catalogue scenario that demonstrates it, where one does.
//!
//! Modules, one function per rule:
//! - `retries`: VirtualService `retries` against route timeouts, methods and
//!   the hosts' failure modes (fact sheet §1, §2);
//! - `hosts`: ports, resolution and idle timeouts (§3, §4, §7);
//! - `ports`: declared protocols against what flows (§7.1, §7.3);
//! - `egress`: REGISTRY_ONLY against the hosts and ports called (§3.4);
//! - `inbound`: the application's bind address against where the inbound
//!   sidecar forwards (INC-15);
//! - `mtls`: STRICT against callers without a sidecar (§8);
//! - `rules`: the table of codes, severities, titles, fixes and demos.

mod context;
mod egress;
mod hosts;
mod inbound;
mod mtls;
mod ports;
mod probes;
mod retries;
mod rules;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use context::{AppFacts, AppListen, HostFacts, IdleLimit, LintContext};
pub use rules::{RULES, Rule};

use crate::model::{ResourceMeta, Resources};

/// How bad a finding is (`istioctl analyze`'s levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    /// Istio would reject it, or it cannot work as written.
    Error,
    /// It works, but is known to cause incidents.
    Warning,
    /// Worth knowing; the defaults decide.
    Info,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Info => "Info",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    /// The rule's stable code, e.g. `MS0104` ([`RULES`]).
    pub code: &'static str,
    /// The rule's severity.
    pub severity: Severity,
    /// `Kind namespace/name` (e.g. `VirtualService default/inventory`), or
    /// `host NAME` for a finding about a host no resource covers.
    pub resource: String,
    /// 1-based YAML document of the resource (0: no resource).
    pub document: usize,
    /// Key path, e.g. `spec.http[0].retries.perTryTimeout` (empty: none).
    pub path: String,
    /// 1-based line in the parsed YAML, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, with the values.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// The catalogue scenario (`scenarios/...`) that demonstrates it.
    pub demo: Option<&'static str>,
}

impl Finding {
    /// A finding of rule `code` at `path` of the resource `meta` (of `kind`).
    ///
    /// # Panics
    /// When `code` is not in [`RULES`] (a broken invariant of this module).
    pub(crate) fn at(
        code: &'static str,
        kind: &str,
        meta: &ResourceMeta,
        path: &str,
        message: String,
    ) -> Finding {
        let (line, column) = meta.position(path).map_or_else(
            || {
                let p = meta.nearest_pos(path);
                (
                    (p.line > 0).then_some(p.line),
                    (p.line > 0).then_some(p.column),
                )
            },
            |(l, c)| (Some(l), Some(c)),
        );
        let ns = meta.namespace.as_deref().unwrap_or("default");
        Finding {
            document: meta.document,
            path: path.to_string(),
            line,
            column,
            ..Finding::about(code, format!("{kind} {ns}/{}", meta.name), message)
        }
    }

    /// A finding of rule `code` about `resource`, with no position.
    pub(crate) fn about(code: &'static str, resource: String, message: String) -> Finding {
        let rule = rules::rule(code);
        Finding {
            code,
            severity: rule.severity,
            resource,
            document: 0,
            path: String::new(),
            line: None,
            column: None,
            message,
            fix: rule.fix.to_string(),
            demo: rule.demo,
        }
    }
}

/// Every finding of every rule, ordered by document (resource-less findings
/// last), then line, column, key path and code.
pub fn lint(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(rules::validation(res));
    out.extend(hosts::port_protocol(res, ctx));
    for vs in &res.virtual_services {
        out.extend(retries::unknown_retry_on(vs));
        out.extend(retries::attempts_zero_with_fields(vs));
        out.extend(retries::timeout_at_or_below_per_try(vs));
        out.extend(retries::attempts_exceed_timeout(vs));
        out.extend(retries::no_per_try_timeout_toward_blackhole(vs, ctx));
        out.extend(retries::reset_retries_on_non_idempotent(vs, ctx));
        out.extend(retries::retry_on_drops_defaults(vs));
        out.extend(ports::http_rules_on_tcp_port(vs, res, ctx));
    }
    out.extend(ports::http2_port_to_http1_app(res, ctx));
    out.extend(egress::registry_only_undeclared(res, ctx));
    out.extend(inbound::app_unreachable_from_inbound(ctx));
    out.extend(hosts::resolution_none_with_dns_changes(res, ctx));
    out.extend(hosts::idle_timeout_vs_keepalive(res, ctx));
    out.extend(hosts::idle_timeout_vs_middlebox(res, ctx));
    out.extend(mtls::strict_with_plaintext_callers(res, ctx));
    out.extend(probes::strict_with_probe_through_sidecar(res, ctx));
    out.extend(probes::tcp_probe_answered_by_sidecar(ctx));
    out.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    out.dedup();
    out
}

fn sort_key(f: &Finding) -> (usize, usize, usize, &str, &str) {
    let document = if f.document == 0 {
        usize::MAX
    } else {
        f.document
    };
    (
        document,
        f.line.unwrap_or(usize::MAX),
        f.column.unwrap_or(0),
        &f.path,
        f.code,
    )
}

/// A duration as Istio users write it: `350s`, `5m`, `1h`, `250ms`.
pub(crate) fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    match s {
        0 => "0s".to_string(),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
