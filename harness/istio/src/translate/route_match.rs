//! One VirtualService `HTTPRoute` x match entry -> the parts of an Envoy route
//! (pilot's `TranslateRouteMatch`, `TranslateFault` and the weighted
//! destinations of `applyHTTPRouteDestination`).
//!
//! - `uri`: `exact` -> `path`, `prefix` -> `prefix`, `regex` -> `safe_regex`;
//!   `ignoreUriCase` -> `case_sensitive: false`;
//! - `headers`, `method` (`:method`), `authority` (`:authority`): header
//!   matchers; `{}` and the regex `*` become presence matches;
//! - `withoutHeaders`: the same, inverted, with `treat_missing_header_as_empty`
//!   unless it is a presence match;
//! - `fault`: a fixed delay and an HTTP-status abort, percentages as
//!   millionths (`value * 10000`); an unset percentage is 0 % (deprecated
//!   integer `percent` is used for a delay when `percentage` is unset).

use meshsim_sidecar::fault::{FaultAbort, FaultDelay, FaultInjection, FractionalPercent};
use meshsim_sidecar::route::{HeaderMatch, HeaderMatcher, PathMatch, RouteMatcher, SafeRegex};

use crate::model::{HttpFault, HttpMatch, StringMatch};

/// The Envoy route prefix and matcher of one match entry (`None` = the whole
/// VirtualService route matches). `None` when a regex does not compile (input
/// is assumed validated; such a route is dropped, never a panic).
pub(crate) fn route_match(m: Option<&HttpMatch>) -> Option<(String, RouteMatcher)> {
    let Some(m) = m else {
        return Some(("/".to_string(), RouteMatcher::default()));
    };
    let mut prefix = "/".to_string();
    let mut matcher = RouteMatcher {
        case_sensitive: !m.ignore_uri_case,
        ..RouteMatcher::default()
    };
    match &m.uri {
        Some(StringMatch::Prefix(p)) => prefix = p.clone(),
        Some(StringMatch::Exact(p)) => matcher.path = Some(PathMatch::Exact(p.clone())),
        Some(StringMatch::Regex(r)) => {
            matcher.path = Some(PathMatch::Regex(SafeRegex::new(r).ok()?));
        }
        Some(StringMatch::Any) | None => {}
    }
    for (name, sm) in &m.headers {
        matcher.headers.push(header(name, sm, false)?);
    }
    for (name, sm) in &m.without_headers {
        matcher.headers.push(header(name, sm, true)?);
    }
    for (name, sm) in [(":method", &m.method), (":authority", &m.authority)] {
        if let Some(sm) = sm {
            matcher.headers.push(header(name, sm, false)?);
        }
    }
    Some((prefix, matcher))
}

/// Pilot's `translateHeaderMatch` (+ inversion for `withoutHeaders`).
fn header(name: &str, sm: &StringMatch, invert: bool) -> Option<HeaderMatcher> {
    let matches = match sm {
        StringMatch::Any => HeaderMatch::Present,
        // `*` is not RE2: Istio turns it into a presence match (istio/istio#20629).
        StringMatch::Regex(r) if r == "*" => HeaderMatch::Present,
        StringMatch::Exact(v) => HeaderMatch::Exact(v.clone()),
        StringMatch::Prefix(v) => HeaderMatch::Prefix(v.clone()),
        StringMatch::Regex(r) => HeaderMatch::Regex(SafeRegex::new(r).ok()?),
    };
    let present = matches == HeaderMatch::Present;
    Some(HeaderMatcher {
        name: name.to_ascii_lowercase(),
        matches,
        invert,
        treat_missing_as_empty: invert && !present,
    })
}

/// Pilot's `TranslateFault`; `None` when neither a fixed delay nor an HTTP
/// abort remains.
pub(crate) fn fault(f: &HttpFault) -> Option<FaultInjection> {
    let delay = f.delay.as_ref().and_then(|d| {
        let percentage = match (d.percentage, d.percent) {
            (Some(p), _) => FractionalPercent::from_percent(p),
            (None, Some(p)) => FractionalPercent::from_percent(f64::from(p.max(0))),
            (None, None) => FractionalPercent::default(),
        };
        d.fixed_delay.map(|fixed_delay| FaultDelay {
            fixed_delay,
            percentage,
        })
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let http_status = u16::try_from(a.http_status?).ok()?;
        Some(FaultAbort {
            http_status,
            percentage: a.percentage.map_or(FractionalPercent::default(), |p| {
                FractionalPercent::from_percent(p)
            }),
        })
    });
    (delay.is_some() || abort.is_some()).then_some(FaultInjection { delay, abort })
}
