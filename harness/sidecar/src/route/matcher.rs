//! Envoy's per-route match (`RouteMatch`), cut to what Istio emits for a
//! VirtualService `HTTPMatchRequest`:
//!
//! - the path specifier: `prefix` (compared with the whole `:path`, query
//!   included), `path` (exact) or `safe_regex` (RE2 syntax, matched against the
//!   whole path with its query and fragment removed); `case_sensitive: false`
//!   (Istio's `ignoreUriCase`) folds ASCII case for `prefix` and `path` only;
//! - header matchers, AND'ed, on real headers or the pseudo-headers
//!   `:authority`, `:method`, `:path`, `:scheme` (how Istio spells `authority`
//!   and `method` matches). Several values of one header are joined with `,`
//!   before matching, as Envoy's `getAllOfHeaderAsString` does.
//!
//! Istio's `withoutHeaders` is a header matcher with `invert_match` and, unless
//! it is a presence match, `treat_missing_header_as_empty` (pilot's
//! `TranslateRouteMatch`), so a request without the header is not excluded.

use std::borrow::Cow;

use crate::config::Route;
pub use crate::config::{HeaderMatch, HeaderMatcher, SafeRegex};

/// Envoy's route `path_specifier`.
#[derive(Debug, Clone, PartialEq)]
pub enum PathMatch {
    /// `prefix`: the `:path` (query included) starts with it.
    Prefix(String),
    /// `path`: the path without query equals it.
    Exact(String),
    /// `safe_regex`: the path without query matches it entirely.
    Regex(SafeRegex),
}

/// What a route requires besides its `prefix`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatcher {
    /// Path specifier; when set it replaces the route's `prefix`.
    /// Default `None` (the route's `prefix` decides).
    pub path: Option<PathMatch>,
    /// `case_sensitive` (Istio: `!ignoreUriCase`). Default `true`.
    pub case_sensitive: bool,
    /// Header matchers, all of which must match. Default none.
    pub headers: Vec<HeaderMatcher>,
}

impl Default for RouteMatcher {
    fn default() -> Self {
        RouteMatcher {
            path: None,
            case_sensitive: true,
            headers: Vec::new(),
        }
    }
}

/// The parts of a request that route matching reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:authority` (the `Host` header in HTTP/1.1).
    pub authority: &'a str,
    /// `:path`, query included.
    pub path: &'a str,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
}

impl<'a> RequestView<'a> {
    /// The value Envoy matches for header `name`: pseudo-headers from the
    /// request line, real headers joined with `,`; `None` when absent.
    pub fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        match name {
            ":authority" => return Some(Cow::Borrowed(self.authority)),
            ":method" => return Some(Cow::Borrowed(self.method)),
            ":path" => return Some(Cow::Borrowed(self.path)),
            ":scheme" => return Some(Cow::Borrowed("http")),
            _ => {}
        }
        crate::config::joined_value(self.headers, name)
    }
}

/// The path without its query string and fragment.
fn path_only(path: &str) -> &str {
    path.find(['?', '#']).map_or(path, |i| &path[..i])
}

/// Whether `spec` matches `path` (query included).
pub fn path_matches(spec: &PathMatch, case_sensitive: bool, path: &str) -> bool {
    match spec {
        PathMatch::Prefix(p) => prefix_matches(p, case_sensitive, path),
        PathMatch::Exact(p) if case_sensitive => path_only(path) == p,
        PathMatch::Exact(p) => path_only(path).eq_ignore_ascii_case(p),
        PathMatch::Regex(re) => re.full_match(path_only(path)),
    }
}

/// Whether `path` starts with `prefix` (ASCII case folded unless `case_sensitive`).
fn prefix_matches(prefix: &str, case_sensitive: bool, path: &str) -> bool {
    if case_sensitive {
        return path.starts_with(prefix);
    }
    path.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Whether one header matcher matches the request (pseudo-headers
/// included); see [`HeaderMatcher::matches_value`] for the rules.
pub fn header_matches(m: &HeaderMatcher, req: &RequestView<'_>) -> bool {
    m.matches_value(req.header(&m.name).as_deref())
}

/// Whether `route` matches the request: its path specifier (or `prefix`) and
/// every header matcher.
pub fn route_matches(route: &Route, req: &RequestView<'_>) -> bool {
    let m = &route.matcher;
    let path_ok = match &m.path {
        Some(spec) => path_matches(spec, m.case_sensitive, req.path),
        None => prefix_matches(&route.prefix, m.case_sensitive, req.path),
    };
    path_ok && m.headers.iter().all(|h| header_matches(h, req))
}
