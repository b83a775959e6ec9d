//! Retry policies: Istio's built-in default per version (fact sheet §2.2) and
//! the `HTTPRetry` -> Envoy `RetryPolicy` conversion (§2.1, Istio's
//! `retry.ConvertPolicy`).

use std::time::Duration;

use meshsim_sidecar::config::{RetryOn, RetryPolicy};

use crate::model::HttpRetry;
use crate::version::{IstioVersion, MeshConfig};

/// The `retryOn` tokens Istio's validation accepts (`supportedRetryOnPolicies`).
pub(crate) const RETRY_ON_TOKENS: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Status codes for which Go's `http.StatusText` is non-empty.
const KNOWN_STATUS: &[u16] = &[
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
    305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
    416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 510, 511,
];

/// Go's `strconv.Atoi` followed by `http.StatusText(i) != ""`.
fn status_code(token: &str) -> Option<u16> {
    let digits = token.strip_prefix(['+', '-']).unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || token.starts_with('-') {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    KNOWN_STATUS
        .iter()
        .copied()
        .find(|c| u64::from(*c) == value)
}

/// Istio's validation of one `retryOn` token (split on `,`, not trimmed).
pub(crate) fn is_valid_retry_on(token: &str) -> bool {
    status_code(token).is_some() || RETRY_ON_TOKENS.contains(&token)
}

/// Istio's built-in default outbound retry policy for `version` (§2.2):
/// none before 1.1; then 2 retries on
/// `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`
/// (plus `resource-exhausted` before 1.6), `retriable_status_codes: [503]`
/// before 1.24 only, the previous-hosts predicate, host selection attempts 5
/// (3 in 1.1), back-off 25 ms base / 250 ms max.
pub fn default_retry_policy(version: IstioVersion) -> Option<RetryPolicy> {
    if !version.at_least(1, 1) {
        return None;
    }
    Some(default_shape(version))
}

fn default_shape(version: IstioVersion) -> RetryPolicy {
    let mut retry_on = vec![
        RetryOn::ConnectFailure,
        RetryOn::RefusedStream,
        RetryOn::Unavailable,
        RetryOn::Cancelled,
    ];
    if !version.at_least(1, 6) {
        retry_on.push(RetryOn::ResourceExhausted);
    }
    retry_on.push(RetryOn::RetriableStatusCodes);
    RetryPolicy {
        retry_on,
        num_retries: 2,
        per_try_timeout: None,
        retriable_status_codes: if version.at_least(1, 24) {
            Vec::new()
        } else {
            vec![503]
        },
        previous_hosts_predicate: true,
        host_selection_retry_max_attempts: if version.at_least(1, 2) { 5 } else { 3 },
        base_interval: Duration::from_millis(25),
        max_interval: Duration::from_millis(250),
        ..RetryPolicy::default()
    }
}

/// Istio's default retry policy of an *inbound* route (§2.2): none before
/// 1.24; from 1.24, 2 retries on `reset-before-request` (the app refused or
/// dropped the connection before the request was written); from 1.26 not on
/// gRPC ports.
pub fn inbound_retry_policy(version: IstioVersion, grpc: bool) -> Option<RetryPolicy> {
    if !version.at_least(1, 24) || (grpc && version.at_least(1, 26)) {
        return None;
    }
    Some(RetryPolicy {
        retry_on: vec![RetryOn::ResetBeforeRequest],
        retriable_status_codes: Vec::new(),
        ..default_shape(version)
    })
}

/// The retry policy of an outbound route: the VirtualService's `retries` if
/// given, else the mesh `defaultHttpRetryPolicy` (Istio >= 1.12), else the
/// built-in default. `None` = never retry.
pub fn route_retry_policy(
    retries: Option<&HttpRetry>,
    version: IstioVersion,
    mesh: &MeshConfig,
) -> Option<RetryPolicy> {
    let mesh_default = mesh
        .default_http_retry_policy
        .as_ref()
        .filter(|_| version.at_least(1, 12));
    match retries.or(mesh_default) {
        Some(r) => convert(r, version),
        None => default_retry_policy(version),
    }
}

/// Istio's `ConvertPolicy`: the default policy overridden by the given fields;
/// `attempts <= 0` means no policy at all. Versions before 1.1 (no default
/// policy) start from the 1.1 shape.
pub fn convert(r: &HttpRetry, version: IstioVersion) -> Option<RetryPolicy> {
    if r.attempts <= 0 {
        return None;
    }
    let mut out = default_shape(version.max(IstioVersion::new(1, 1)));
    out.num_retries = r.attempts.unsigned_abs();
    if let Some(text) = r.retry_on.as_deref().filter(|s| !s.is_empty()) {
        let (tokens, codes) = parse_retry_on(text);
        out.retry_on = tokens;
        out.retriable_status_codes = codes;
        if !out.retriable_status_codes.is_empty() && !out.has(RetryOn::RetriableStatusCodes) {
            out.retry_on.push(RetryOn::RetriableStatusCodes);
        }
    }
    out.per_try_timeout = r.per_try_timeout;
    if version.at_least(1, 26) {
        if let Some(ignore) = r.retry_ignore_previous_hosts {
            out.previous_hosts_predicate = ignore;
        }
        if let Some(base) = r.backoff {
            out.base_interval = base.max(Duration::from_millis(1));
            out.max_interval = out.base_interval * 10;
        }
    }
    Some(out)
}

/// Istio's `parseRetryOn`: trimmed tokens; HTTP status codes go to
/// `retriable_status_codes`, the rest are Envoy tokens (unknown ones are
/// dropped, as Envoy ignores them).
fn parse_retry_on(text: &str) -> (Vec<RetryOn>, Vec<u16>) {
    let mut tokens = Vec::new();
    let mut codes = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(code) = status_code(part) {
            codes.push(code);
        } else if let Some(token) = RetryOn::parse(part) {
            tokens.push(token);
        }
    }
    (tokens, codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_go_atoi_and_status_text() {
        assert_eq!(status_code("503"), Some(503));
        assert_eq!(status_code("+503"), Some(503));
        assert_eq!(status_code("306"), None);
        assert_eq!(status_code("999"), None);
        assert_eq!(status_code(" 503"), None);
        assert_eq!(status_code("-1"), None);
    }

    #[test]
    fn retry_on_tokens_are_exactly_envoys_list() {
        for token in RETRY_ON_TOKENS {
            assert!(RetryOn::parse(token).is_some(), "{token}");
        }
        assert_eq!(RETRY_ON_TOKENS.len(), RetryOn::ALL.len());
    }
}
