//! Rules on VirtualService `retries` (fact sheet §1, §2): tokens, timeouts,
//! methods and the failure modes of the destination hosts.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Finding, LintContext, show};
use crate::kube::resolve_short_name;
use crate::model::{HttpRetry, HttpRoute, StringMatch, VirtualService};
use crate::retry::{RETRY_ON_TOKENS, is_valid_retry_on};

const KIND: &str = "VirtualService";

/// Methods that are not idempotent (RFC 9110 §9.2.2): a repeated request
/// may repeat its effect.
const NON_IDEMPOTENT: &[&str] = &["POST", "PATCH", "CONNECT"];

/// The routes of `vs` with `retries`, with their key path `spec.http[i]`.
fn routes_with_retries(
    vs: &VirtualService,
) -> impl Iterator<Item = (String, &HttpRoute, &HttpRetry)> {
    vs.http.iter().enumerate().filter_map(|(i, r)| {
        r.retries
            .as_ref()
            .map(|retry| (format!("spec.http[{i}]"), r, retry))
    })
}

/// The `retryOn` tokens as Istio splits them (empty: the default list).
fn tokens(r: &HttpRetry) -> Vec<&str> {
    r.retry_on
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').collect())
        .unwrap_or_default()
}

/// MS0102: a `retryOn` token Istio's validation rejects (Envoy's parser
/// would silently ignore it).
pub(crate) fn unknown_retry_on(vs: &VirtualService) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, _, r) in routes_with_retries(vs) {
        for token in tokens(r).into_iter().filter(|t| !is_valid_retry_on(t)) {
            let hint = crate::suggest::nearest(token.trim(), RETRY_ON_TOKENS.iter().copied())
                .map_or(String::new(), |s| format!(" (did you mean `{s}`?)"));
            let message = format!(
                "retryOn token {token:?} is neither an Envoy retry condition nor an HTTP status code{hint}: Istio rejects the resource"
            );
            out.push(Finding::at(
                "MS0102",
                KIND,
                &vs.meta,
                &format!("{path}.retries.retryOn"),
                message,
            ));
        }
    }
    out
}

/// MS0103: `attempts: 0` with `perTryTimeout`, `retryOn` or
/// `retryRemoteLocalities` (Istio's validation forbids it).
pub(crate) fn attempts_zero_with_fields(vs: &VirtualService) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, _, r) in routes_with_retries(vs).filter(|(_, _, r)| r.attempts == 0) {
        let fields: Vec<&str> = [
            ("perTryTimeout", r.per_try_timeout.is_some()),
            ("retryOn", r.retry_on.is_some()),
            ("retryRemoteLocalities", r.retry_remote_localities.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !fields.is_empty() {
            let message = format!(
                "attempts: 0 turns retries off, yet {} is set: Istio rejects the resource",
                fields.join(", ")
            );
            out.push(Finding::at(
                "MS0103",
                KIND,
                &vs.meta,
                &format!("{path}.retries.attempts"),
                message,
            ));
        }
    }
    out
}

/// `(route timeout, perTryTimeout)` of a route that retries, both set and
/// the route timeout enabled (non-zero).
fn timeouts(route: &HttpRoute, r: &HttpRetry) -> Option<(Duration, Duration)> {
    let timeout = route.timeout.filter(|t| !t.is_zero())?;
    let per_try = r.per_try_timeout.filter(|p| !p.is_zero())?;
    (r.attempts > 0).then_some((timeout, per_try))
}

/// MS0104: the route timeout is at or below `perTryTimeout`, so it always
/// fires first and is never retried (§1.2, §1.4).
pub(crate) fn timeout_at_or_below_per_try(vs: &VirtualService) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, route, r) in routes_with_retries(vs) {
        if let Some((timeout, per_try)) = timeouts(route, r).filter(|(t, p)| t <= p) {
            let message = format!(
                "route timeout {} <= perTryTimeout {}: the route timeout ends the first attempt (504 UT, never retried), so retries never run",
                show(timeout),
                show(per_try)
            );
            out.push(Finding::at(
                "MS0104",
                KIND,
                &vs.meta,
                &format!("{path}.timeout"),
                message,
            ));
        }
    }
    out
}

/// MS0105: `perTryTimeout x (attempts + 1)` is above the route timeout, so
/// the route timeout cuts the later attempts (§1.2: it covers every attempt
/// and back-off).
pub(crate) fn attempts_exceed_timeout(vs: &VirtualService) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, route, r) in routes_with_retries(vs) {
        let Some((timeout, per_try)) = timeouts(route, r).filter(|(t, p)| t > p) else {
            continue;
        };
        let tries = u32::try_from(r.attempts)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let total = per_try.saturating_mul(tries);
        if total > timeout {
            let fit = timeout.as_nanos().div_ceil(per_try.as_nanos());
            let message = format!(
                "perTryTimeout {} x (attempts {} + 1) = {} > route timeout {}: hung attempts leave room for at most {fit} tries",
                show(per_try),
                r.attempts,
                show(total),
                show(timeout)
            );
            out.push(Finding::at(
                "MS0105",
                KIND,
                &vs.meta,
                &format!("{path}.retries.perTryTimeout"),
                message,
            ));
        }
    }
    out
}

/// The destination hosts of `route`, short names resolved in the
/// VirtualService's namespace.
fn destinations<'a>(
    vs: &'a VirtualService,
    route: &'a HttpRoute,
) -> impl Iterator<Item = String> + 'a {
    let ns = vs.meta.namespace.as_deref();
    route
        .route
        .iter()
        .map(move |d| resolve_short_name(&d.destination.host, ns))
}

/// MS0106: retries without `perTryTimeout` toward a host that can
/// black-hole: a hung attempt waits for the route timeout, which is never
/// retried (§1.2).
pub(crate) fn no_per_try_timeout_toward_blackhole(
    vs: &VirtualService,
    ctx: &LintContext,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, route, r) in routes_with_retries(vs) {
        if r.attempts <= 0 || r.per_try_timeout.is_some() {
            continue;
        }
        let wait = route
            .timeout
            .filter(|t| !t.is_zero())
            .map_or("forever (no route timeout)".to_string(), |t| {
                format!("for the route timeout {}", show(t))
            });
        let mut seen = BTreeSet::new();
        for dest in destinations(vs, route) {
            for (host, facts) in ctx.matching(&dest) {
                let Some(how) = &facts.blackhole else {
                    continue;
                };
                if !seen.insert(host.to_string()) {
                    continue;
                }
                let message = format!(
                    "retries (attempts {}) without perTryTimeout toward {host}, which can black-hole ({how}): a hung attempt waits {wait} and is never retried",
                    r.attempts
                );
                out.push(Finding::at(
                    "MS0106",
                    KIND,
                    &vs.meta,
                    &format!("{path}.retries"),
                    message,
                ));
            }
        }
    }
    out
}

/// Whether `m` matches a non-idempotent method: the ones it names.
fn non_idempotent_in(m: &StringMatch) -> Vec<&'static str> {
    NON_IDEMPOTENT
        .iter()
        .copied()
        .filter(|method| match m {
            StringMatch::Exact(s) => s == method,
            StringMatch::Prefix(p) => method.starts_with(p.as_str()),
            StringMatch::Regex(re) => {
                regex::Regex::new(&format!("^(?:{re})$")).is_ok_and(|re| re.is_match(method))
            }
            StringMatch::Any => true,
        })
        .collect()
}

/// The non-idempotent methods that reach route `i` of `vs`: those its
/// `match` entries name, or, for a route without a method match, those the
/// scenario's applications send to the VirtualService's hosts, less the
/// methods an earlier route matches exactly.
fn methods_reaching(vs: &VirtualService, i: usize, ctx: &LintContext) -> BTreeSet<String> {
    let route = &vs.http[i];
    let named: BTreeSet<String> = route
        .matches
        .iter()
        .filter_map(|m| m.method.as_ref())
        .flat_map(non_idempotent_in)
        .map(str::to_string)
        .collect();
    if route.matches.iter().any(|m| m.method.is_some()) {
        return named;
    }
    let earlier: BTreeSet<&str> = vs.http[..i]
        .iter()
        .flat_map(|r| &r.matches)
        .filter_map(|m| match &m.method {
            Some(StringMatch::Exact(s)) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    vs.hosts
        .iter()
        .map(|h| resolve_short_name(h, vs.meta.namespace.as_deref()))
        .flat_map(|h| {
            ctx.matching(&h)
                .flat_map(|(_, f)| f.methods.clone())
                .collect::<Vec<_>>()
        })
        .filter(|m| NON_IDEMPOTENT.contains(&m.as_str()) && !earlier.contains(m.as_str()))
        .collect()
}

/// MS0107: `reset`, `5xx` or `gateway-error` retries on a route that
/// non-idempotent requests take: an attempt reset after the request was
/// written is sent again (§1.1).
pub(crate) fn reset_retries_on_non_idempotent(
    vs: &VirtualService,
    ctx: &LintContext,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, route) in vs.http.iter().enumerate() {
        let Some(r) = route.retries.as_ref().filter(|r| r.attempts > 0) else {
            continue;
        };
        let unsafe_tokens: Vec<&str> = tokens(r)
            .into_iter()
            .filter(|t| matches!(*t, "reset" | "5xx" | "gateway-error"))
            .collect();
        let methods = methods_reaching(vs, i, ctx);
        if unsafe_tokens.is_empty() || methods.is_empty() {
            continue;
        }
        let methods: Vec<String> = methods.into_iter().collect();
        let message = format!(
            "route takes {} requests (not idempotent) and retries on {}: an attempt reset after the request was written is sent again, though the upstream may have processed it",
            methods.join(", "),
            unsafe_tokens.join(", ")
        );
        out.push(Finding::at(
            "MS0107",
            KIND,
            &vs.meta,
            &format!("spec.http[{i}].retries.retryOn"),
            message,
        ));
    }
    out
}

/// MS0108: a `retryOn` list replaces Istio's default
/// (`connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`)
/// and no token of it retries connect failures or refused streams (§2.1,
/// §2.2; `5xx`, `gateway-error` and `reset` cover both, §1.1).
pub(crate) fn retry_on_drops_defaults(vs: &VirtualService) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, _, r) in routes_with_retries(vs).filter(|(_, _, r)| r.attempts > 0) {
        let list = tokens(r);
        if list.is_empty() {
            continue;
        }
        let broad = list
            .iter()
            .any(|t| matches!(*t, "5xx" | "gateway-error" | "reset"));
        let lost: Vec<&str> = ["connect-failure", "refused-stream"]
            .into_iter()
            .filter(|t| !broad && !list.contains(t))
            .collect();
        if !lost.is_empty() {
            let message = format!(
                "retryOn {:?} replaces Istio's default list: {} no longer retried",
                r.retry_on.as_deref().unwrap_or_default(),
                lost.join(" and ")
            );
            out.push(Finding::at(
                "MS0108",
                KIND,
                &vs.meta,
                &format!("{path}.retries.retryOn"),
                message,
            ));
        }
    }
    out
}
