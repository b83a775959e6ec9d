//! Header handling on the way up and down.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderMap, HeaderName, HeaderValue, SERVER};
use http_body_util::Full;
use hyper::{Request, Version};

/// Hop-by-hop headers Envoy does not forward.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" | "te"
    )
}

/// Request headers that steer Envoy's retries; stripped before the upstream.
fn envoy_retry_header(name: &str) -> bool {
    name.strip_prefix("x-envoy-").is_some_and(|rest| {
        matches!(
            rest,
            "retry-on"
                | "retry-grpc-on"
                | "max-retries"
                | "retriable-status-codes"
                | "retriable-header-names"
                | "upstream-rq-per-try-timeout-ms"
                | "hedge-on-per-try-timeout"
                | "attempt-count"
        )
    })
}

/// `x-envoy-attempt-count`.
const ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-envoy-attempt-count");
/// `x-envoy-upstream-service-time`.
const SERVICE_TIME: HeaderName = HeaderName::from_static("x-envoy-upstream-service-time");

/// `x-request-id` as a number, when it is one.
pub(super) fn request_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-request-id")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Host`, or the URI's authority, or empty.
pub(super) fn authority(parts: &http::request::Parts) -> &str {
    parts
        .headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// The request of one attempt; `attempt_count` is the 1-based attempt number
/// when `x-envoy-attempt-count` is to be sent. A request that came over
/// HTTP/2 carries its authority in the URI (`:authority`): as Envoy's
/// HTTP/1.1 codec does, it becomes the `Host` header and the target the
/// origin form (the HTTP/2 pool turns it back into `:authority`).
pub(super) fn upstream_request(
    parts: &http::request::Parts,
    body: &Bytes,
    attempt_count: Option<u32>,
) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = Version::HTTP_11;
    let mut headers = parts.headers.clone();
    if parts.version == Version::HTTP_2 {
        from_h2(&mut req, &mut headers);
    }
    strip(&mut headers, |name| {
        hop_by_hop(name) || envoy_retry_header(name)
    });
    if let Some(attempt) = attempt_count {
        headers.insert(ATTEMPT_COUNT, HeaderValue::from(attempt));
    }
    *req.headers_mut() = headers;
    req
}

/// `:authority` to `Host` (unless one came too) and the URI to its origin
/// form.
fn from_h2(req: &mut Request<Full<Bytes>>, headers: &mut HeaderMap) {
    let uri = req.uri().clone();
    if let Some(authority) = uri.authority()
        && !headers.contains_key(HOST)
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(HOST, v);
    }
    if let Some(pq) = uri.path_and_query()
        && let Ok(origin) = http::Uri::try_from(pq.as_str())
    {
        *req.uri_mut() = origin;
    }
}

/// Response headers as the downstream sees them: hop-by-hop removed,
/// `server` overwritten (`envoy` outbound, `istio-envoy` inbound),
/// `x-envoy-upstream-service-time` in ms.
pub(super) fn prepare_response(
    headers: &mut HeaderMap,
    service_time: Duration,
    server: &'static str,
) {
    strip(headers, hop_by_hop);
    headers.insert(SERVER, HeaderValue::from_static(server));
    let ms = u64::try_from(service_time.as_millis()).unwrap_or(u64::MAX);
    headers.insert(SERVICE_TIME, HeaderValue::from(ms));
}

/// `x-envoy-upstream-service-time` of a response, in ms.
pub(super) fn service_time(headers: &HeaderMap) -> Option<u64> {
    headers.get(SERVICE_TIME)?.to_str().ok()?.parse().ok()
}

/// Removes every header whose name `doomed` picks: one pass over the
/// names (a request rarely carries any), then a removal per name found.
fn strip(headers: &mut HeaderMap, doomed: impl Fn(&str) -> bool) {
    let found: Vec<HeaderName> = headers
        .keys()
        .filter(|name| doomed(name.as_str()))
        .cloned()
        .collect();
    for name in found {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = Request::builder().uri("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn upstream_request_carries_attempt_count_and_drops_retry_and_hop_headers() {
        let p = parts(&[
            ("host", "api"),
            ("x-request-id", "7"),
            ("x-envoy-retry-on", "5xx"),
            ("x-envoy-attempt-count", "9"),
            ("connection", "keep-alive"),
        ]);
        let req = upstream_request(&p, &Bytes::new(), Some(2));
        let h = req.headers();
        assert_eq!(h["x-envoy-attempt-count"], "2");
        assert_eq!(h["x-request-id"], "7");
        assert_eq!(h["host"], "api");
        assert!(!h.contains_key("x-envoy-retry-on"));
        assert!(!h.contains_key("connection"));
    }

    #[test]
    fn every_hop_by_hop_and_retry_steering_header_is_stripped_and_no_other() {
        let doomed = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
            "te",
            "x-envoy-retry-on",
            "x-envoy-retry-grpc-on",
            "x-envoy-max-retries",
            "x-envoy-retriable-status-codes",
            "x-envoy-retriable-header-names",
            "x-envoy-upstream-rq-per-try-timeout-ms",
            "x-envoy-hedge-on-per-try-timeout",
            "x-envoy-attempt-count",
        ];
        let kept = ["x-envoy-original-path", "x-retry-on", "accept"];
        let all: Vec<(&str, &str)> = doomed.iter().chain(&kept).map(|n| (*n, "1")).collect();
        let req = upstream_request(&parts(&all), &Bytes::new(), None);
        for name in doomed {
            assert!(
                !req.headers().contains_key(name),
                "{name} reached the upstream"
            );
        }
        for name in kept {
            assert!(req.headers().contains_key(name), "{name} was stripped");
        }
    }

    #[test]
    fn attempt_count_is_omitted_when_not_configured() {
        let req = upstream_request(&parts(&[]), &Bytes::new(), None);
        assert!(!req.headers().contains_key("x-envoy-attempt-count"));
    }

    #[test]
    fn responses_get_server_envoy_overwritten_and_service_time_in_ms() {
        let mut h = HeaderMap::new();
        h.insert(SERVER, HeaderValue::from_static("nginx"));
        prepare_response(&mut h, Duration::from_micros(12_700), "envoy");
        assert_eq!(h["server"], "envoy");
        assert_eq!(h["x-envoy-upstream-service-time"], "12");
    }

    #[test]
    fn request_id_must_be_a_number() {
        assert_eq!(
            request_id(&parts(&[("x-request-id", "42")]).headers),
            Some(42)
        );
        assert_eq!(request_id(&parts(&[("x-request-id", "abc")]).headers), None);
        assert_eq!(request_id(&parts(&[]).headers), None);
    }
}
