//! `ValidateVirtualService` (sidecar-bound VirtualServices).

use super::{Check, names};
use crate::error::{IstioError, Problem};
use crate::model::{HttpRetry, HttpRoute, VirtualService};
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
        let mp = format!("{path}.match[{j}]");
        if m.uri_prefix.as_deref() == Some("") {
            c.fail(
                &format!("{mp}.uri.prefix"),
                "\"uri\": prefix string match should not be empty",
            );
        }
        if let Some(port) = m.port {
            c.check(&format!("{mp}.port"), names::port(port));
        }
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
