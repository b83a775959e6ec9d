//! `ValidateVirtualService` (sidecar-bound VirtualServices).

use super::{Check, names};
use crate::error::{IstioError, Problem};
use crate::model::{HttpFault, HttpMatch, HttpRetry, HttpRoute, StringMatch, VirtualService};
use crate::retry;

/// Every error of one VirtualService.
pub(crate) fn validate(vs: &VirtualService) -> Vec<IstioError> {
    let mut c = Check::new(&vs.meta, "VirtualService");
    hosts(&mut c, vs);
    if vs.http.is_empty() && !vs.has_tcp_or_tls {
        c.fail(
            "spec",
            "http, tcp or tls must be provided in virtual service",
        );
    }
    for (i, route) in vs.http.iter().enumerate() {
        http_route(&mut c, route, &format!("spec.http[{i}]"));
    }
    c.errors
}

fn hosts(c: &mut Check<'_>, vs: &VirtualService) {
    if vs.hosts.is_empty() {
        c.fail("spec.hosts", "virtual service must have at least one host (delegate virtual services are not supported by meshsim)");
    }
    let mut all_valid = true;
    for (i, host) in vs.hosts.iter().enumerate() {
        let path = format!("spec.hosts[{i}]");
        if let Err(message) = names::wildcard_domain(host) {
            if !names::is_ip(host) {
                c.fail(&path, message);
                all_valid = false;
            }
        } else if host == "*" && vs.applies_to_mesh() {
            c.fail(
                &path,
                "wildcard host * is not allowed for virtual services bound to the mesh gateway",
            );
            all_valid = false;
        }
    }
    if !all_valid {
        return;
    }
    for (i, a) in vs.hosts.iter().enumerate() {
        for b in &vs.hosts[i + 1..] {
            if names::hosts_match(a, b) {
                c.fail(
                    &format!("spec.hosts[{i}]"),
                    format!("duplicate hosts in virtual service: {a} & {b}"),
                );
            }
        }
    }
}

fn http_route(c: &mut Check<'_>, route: &HttpRoute, path: &str) {
    for (j, m) in route.matches.iter().enumerate() {
        http_match(c, m, &format!("{path}.match[{j}]"));
    }
    if let Some(fault) = &route.fault {
        http_fault(c, fault, &format!("{path}.fault"));
    }
    if route.route.is_empty() {
        c.fail(path, "HTTP route, redirect or direct_response is required");
    }
    destinations(c, route, path);
    if let Some(retries) = &route.retries {
        http_retry(c, retries, &format!("{path}.retries"));
    }
    c.duration(&format!("{path}.timeout"), route.timeout);
}

/// Istio's `validateHTTPRouteMatchRequest` for one match entry.
fn http_match(c: &mut Check<'_>, m: &HttpMatch, mp: &str) {
    if let Some(StringMatch::Prefix(p)) = &m.uri
        && p.is_empty()
    {
        c.fail(
            &format!("{mp}.uri.prefix"),
            "\"uri\": prefix string match should not be empty",
        );
    }
    let fields = [
        ("uri", &m.uri),
        ("method", &m.method),
        ("authority", &m.authority),
    ];
    for (field, sm) in fields {
        if let Some(sm) = sm {
            string_match_regex(c, sm, field, &format!("{mp}.{field}.regex"));
        }
    }
    // Istio checks `headers` only; meshsim checks `withoutHeaders` too, since
    // Envoy would reject the regex when the route is pushed.
    for (field, map) in [
        ("headers", &m.headers),
        ("withoutHeaders", &m.without_headers),
    ] {
        for (name, sm) in map {
            let hp = format!("{mp}.{field}.{name}");
            if name.is_empty() {
                c.fail(&hp, "header name cannot be empty");
            }
            string_match_regex(c, sm, field, &format!("{hp}.regex"));
        }
    }
    if let Some(port) = m.port {
        c.check(&format!("{mp}.port"), names::port(port));
    }
}

/// Istio's `validateStringMatchRegexp` (RE2 syntax, at most 1024 bytes).
fn string_match_regex(c: &mut Check<'_>, sm: &StringMatch, field: &str, path: &str) {
    let StringMatch::Regex(re) = sm else {
        return;
    };
    if re.is_empty() {
        c.fail(
            path,
            format!("{field:?}: regex string match should not be empty"),
        );
    } else if re.len() > 1024 {
        c.fail(
            path,
            format!("{field:?}: regex is too large, max length allowed is 1024"),
        );
    } else if let Err(e) = regex::Regex::new(re) {
        c.fail(
            path,
            format!("{field:?}: {e}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"),
        );
    }
}

/// Istio's `validateHTTPFaultInjection`.
fn http_fault(c: &mut Check<'_>, f: &HttpFault, path: &str) {
    if f.delay.is_none() && f.abort.is_none() {
        c.fail(
            path,
            "HTTP fault injection must have an abort and/or a delay",
        );
    }
    if let Some(a) = &f.abort {
        percentage(c, a.percentage, &format!("{path}.abort.percentage.value"));
        if let Some(status) = a.http_status.filter(|s| !(200..=599).contains(s)) {
            c.fail(
                &format!("{path}.abort.httpStatus"),
                format!("HTTP status {status} is not in range 200-599"),
            );
        }
    }
    if let Some(d) = &f.delay {
        percentage(c, d.percentage, &format!("{path}.delay.percentage.value"));
        if let Some(p) = d.percent.filter(|p| !(0..=100).contains(p)) {
            c.fail(
                &format!("{path}.delay.percent"),
                format!("percentage {p} is not in range 0..100"),
            );
        }
        c.duration(&format!("{path}.delay.fixedDelay"), d.fixed_delay);
        if d.exponential_delay.is_some() {
            c.fail(
                &format!("{path}.delay.exponentialDelay"),
                "exponentialDelay not supported yet",
            );
        }
    }
}

/// Istio's `validatePercentage`.
fn percentage(c: &mut Check<'_>, value: Option<f64>, path: &str) {
    if let Some(v) = value
        && (!(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001))
    {
        c.fail(
            path,
            format!("percentage {v} is neither 0.0, nor in range [0.0001, 100.0]"),
        );
    }
}

fn destinations(c: &mut Check<'_>, route: &HttpRoute, path: &str) {
    let mut total: i64 = 0;
    for (k, rd) in route.route.iter().enumerate() {
        let rp = format!("{path}.route[{k}]");
        let d = &rd.destination;
        if d.host == "*" {
            c.fail(
                &format!("{rp}.destination.host"),
                "invalid destination host *",
            );
        } else {
            c.check(
                &format!("{rp}.destination.host"),
                names::wildcard_domain(&d.host),
            );
        }
        if let Some(subset) = d.subset.as_deref().filter(|s| !names::is_dns1123_label(s)) {
            c.fail(
                &format!("{rp}.destination.subset"),
                format!("subset name is invalid: {subset}"),
            );
        }
        if let Some(port) = d.port {
            c.check(&format!("{rp}.destination.port.number"), names::port(port));
        }
        if rd.weight < 0 {
            c.fail(&format!("{rp}.weight"), format!("weight {} < 0", rd.weight));
        }
        total += i64::from(rd.weight);
    }
    if route.route.len() > 1 && total == 0 {
        c.fail(&format!("{path}.route"), "total destination weight = 0");
    }
}

/// Istio's `validateHTTPRetry`; also used for the mesh default policy.
pub(crate) fn http_retry(c: &mut Check<'_>, r: &HttpRetry, path: &str) {
    if r.attempts < 0 {
        c.fail(&format!("{path}.attempts"), "attempts cannot be negative");
    }
    if r.attempts == 0
        && (r.per_try_timeout.is_some()
            || r.retry_on.is_some()
            || r.retry_remote_localities.is_some())
    {
        c.fail(
            &format!("{path}.attempts"),
            "http retry policy configured when attempts are set to 0 (disabled)",
        );
    }
    c.duration(&format!("{path}.perTryTimeout"), r.per_try_timeout);
    if let Some(retry_on) = r.retry_on.as_deref().filter(|s| !s.is_empty()) {
        for token in retry_on.split(',') {
            if !retry::is_valid_retry_on(token) {
                let valid = retry::RETRY_ON_TOKENS
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                c.problem(
                    &format!("{path}.retryOn"),
                    Problem::InvalidRetryOn {
                        token: token.to_string(),
                        valid,
                    },
                );
            }
        }
    }
    c.duration(&format!("{path}.backoff"), r.backoff);
}
