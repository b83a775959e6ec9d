use super::*;
use proptest::prelude::*;

fn route(name: &str, prefix: &str) -> Route {
    Route {
        name: name.into(),
        prefix: prefix.into(),
        cluster: format!("c-{name}"),
        ..Route::default()
    }
}

fn vh(name: &str, port: u16, domains: &[&str], routes: Vec<Route>) -> VirtualHost {
    VirtualHost {
        name: name.into(),
        port,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        routes,
    }
}

fn config(vhosts: Vec<VirtualHost>) -> SidecarConfig {
    SidecarConfig {
        virtual_hosts: vhosts,
        ..SidecarConfig::default()
    }
}

#[test]
fn host_port_is_stripped_before_matching() {
    let c = config(vec![vh("a", 80, &["api.example"], vec![route("r", "/")])]);
    assert!(matches!(
        select(&c, 80, "API.example:80", "/x"),
        RouteMatch::Route { .. }
    ));
}

#[test]
fn virtual_hosts_only_match_their_own_listener_port() {
    let c = config(vec![vh("a", 8080, &["api.example"], vec![route("r", "/")])]);
    assert_eq!(select(&c, 80, "api.example", "/"), RouteMatch::Passthrough);
}

#[test]
fn exact_domain_beats_wildcards_and_longer_suffix_beats_shorter() {
    let c = config(vec![
        vh("star", 80, &["*"], vec![route("star", "/")]),
        vh("short", 80, &["*.example"], vec![route("short", "/")]),
        vh("long", 80, &["*.api.example"], vec![route("long", "/")]),
        vh("exact", 80, &["v1.api.example"], vec![route("exact", "/")]),
    ]);
    let name = |h: &str| match select(&c, 80, h, "/") {
        RouteMatch::Route { virtual_host, .. } => virtual_host.name.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(name("v1.api.example"), "exact");
    assert_eq!(name("v2.api.example"), "long");
    assert_eq!(name("www.example"), "short");
    assert_eq!(name("other.test"), "star");
}

#[test]
fn wildcard_needs_a_label_before_the_suffix() {
    let c = config(vec![vh("w", 80, &["*.example"], vec![route("r", "/")])]);
    assert_eq!(select(&c, 80, "example", "/"), RouteMatch::Passthrough);
}

#[test]
fn first_matching_prefix_wins_and_no_prefix_is_404() {
    let c = config(vec![vh(
        "a",
        80,
        &["api"],
        vec![route("v1", "/v1"), route("v", "/v"), route("all", "/x")],
    )]);
    let route_name = |p: &str| match select(&c, 80, "api", p) {
        RouteMatch::Route { route, .. } => route.name.clone(),
        other => format!("{other:?}"),
    };
    assert_eq!(route_name("/v1/a"), "v1");
    assert_eq!(route_name("/v2"), "v");
    assert_eq!(route_name("/zzz"), "NoRoute");
}

#[test]
fn unknown_host_goes_to_passthrough_under_allow_any_and_block_all_under_registry_only() {
    let mut c = config(vec![]);
    assert_eq!(select(&c, 80, "unknown", "/"), RouteMatch::Passthrough);
    c.outbound_traffic_policy = OutboundTrafficPolicy::RegistryOnly;
    assert_eq!(select(&c, 80, "unknown", "/"), RouteMatch::BlockAll);
}

#[test]
fn strip_port_keeps_ipv6_literals_and_bare_names() {
    assert_eq!(strip_port("a.b:8080"), "a.b");
    assert_eq!(strip_port("a.b"), "a.b");
    assert_eq!(strip_port("[::1]:80"), "[::1]");
    assert_eq!(strip_port("::1"), "::1");
}

proptest! {
    #[test]
    fn an_exact_domain_always_matches_its_own_host_with_any_port(
        name in "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}", port in 1u16..,
    ) {
        let c = config(vec![
            vh("star", 80, &["*"], vec![route("star", "/")]),
            vh("exact", 80, &[name.as_str()], vec![route("exact", "/")]),
        ]);
        let host = format!("{name}:{port}");
        match select(&c, 80, &host, "/") {
            RouteMatch::Route { virtual_host, .. } => prop_assert_eq!(&virtual_host.name, "exact"),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

// === Route match (Envoy `RouteMatch` as Istio emits it) ===

fn view<'a>(path: &'a str, headers: &'a http::HeaderMap) -> RequestView<'a> {
    RequestView {
        method: "GET",
        authority: "api",
        path,
        headers,
    }
}

fn with_path(spec: PathMatch, case_sensitive: bool) -> Route {
    Route {
        matcher: RouteMatcher {
            path: Some(spec),
            case_sensitive,
            ..RouteMatcher::default()
        },
        ..route("r", "/")
    }
}

fn re(p: &str) -> SafeRegex {
    SafeRegex::new(p).unwrap()
}

fn hm(name: &str, matches: HeaderMatch, invert: bool, missing_empty: bool) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        matches,
        invert,
        treat_missing_as_empty: missing_empty,
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, http::HeaderValue::from_static(v));
    }
    h
}

/// Envoy `path`: exact, compared after the query string is removed.
#[test]
fn an_exact_uri_matches_only_that_path_whatever_the_query() {
    let h = http::HeaderMap::new();
    let r = with_path(PathMatch::Exact("/a".into()), true);
    assert!(route_matches(&r, &view("/a", &h)));
    assert!(route_matches(&r, &view("/a?x=1", &h)));
    assert!(!route_matches(&r, &view("/a/", &h)));
    assert!(!route_matches(&r, &view("/ab", &h)));
    assert!(!route_matches(&r, &view("/A", &h)));
}

/// Envoy `safe_regex`: RE2 syntax, the whole path (no query) must match.
#[test]
fn a_regex_uri_must_match_the_whole_path_not_a_part() {
    let h = http::HeaderMap::new();
    let r = with_path(PathMatch::Regex(re("/v[0-9]+/.*")), true);
    assert!(route_matches(&r, &view("/v2/items", &h)));
    assert!(route_matches(&r, &view("/v2/items?q=1", &h)));
    assert!(
        !route_matches(&r, &view("/api/v2/items", &h)),
        "anchored at the start"
    );
    let short = with_path(PathMatch::Regex(re("/v[0-9]")), true);
    assert!(
        !route_matches(&short, &view("/v2/items", &h)),
        "anchored at the end"
    );
}

/// Istio `ignoreUriCase` → Envoy `case_sensitive: false`: folds case for
/// prefix and exact matches only, never for regex.
#[test]
fn ignore_uri_case_folds_prefix_and_exact_but_not_regex() {
    let h = http::HeaderMap::new();
    let exact = with_path(PathMatch::Exact("/Login".into()), false);
    assert!(route_matches(&exact, &view("/LOGIN", &h)));
    let prefix = with_path(PathMatch::Prefix("/Api".into()), false);
    assert!(route_matches(&prefix, &view("/api/x", &h)));
    let mut plain = route("p", "/Api");
    plain.matcher.case_sensitive = false;
    assert!(
        route_matches(&plain, &view("/API", &h)),
        "the route's own prefix too"
    );
    let regex = with_path(PathMatch::Regex(re("/login")), false);
    assert!(!route_matches(&regex, &view("/LOGIN", &h)));
}

/// Envoy `prefix` compares with the whole `:path`, query included.
#[test]
fn a_prefix_is_compared_with_the_path_and_its_query() {
    let h = http::HeaderMap::new();
    let r = route("q", "/search?q=");
    assert!(route_matches(&r, &view("/search?q=x", &h)));
    assert!(!route_matches(&r, &view("/search", &h)));
}

/// Istio `headers` (exact / prefix / regex / `{}` = present): every matcher of
/// one match entry must hold (AND).
#[test]
fn header_matchers_are_anded_and_support_exact_prefix_regex_and_presence() {
    let h = headers(&[("x-user", "alice"), ("x-ver", "v2"), ("x-flag", "")]);
    let route_with = |ms: Vec<HeaderMatcher>| Route {
        matcher: RouteMatcher {
            headers: ms,
            ..RouteMatcher::default()
        },
        ..route("h", "/")
    };
    let exact = hm("x-user", HeaderMatch::Exact("alice".into()), false, false);
    let prefix = hm("x-ver", HeaderMatch::Prefix("v".into()), false, false);
    let regex = hm("x-ver", HeaderMatch::Regex(re("v[0-9]")), false, false);
    let present = hm("x-flag", HeaderMatch::Present, false, false);
    let all = route_with(vec![exact.clone(), prefix, regex, present]);
    assert!(route_matches(&all, &view("/", &h)));
    let wrong = hm("x-user", HeaderMatch::Exact("Alice".into()), false, false);
    assert!(!route_matches(
        &route_with(vec![exact, wrong]),
        &view("/", &h)
    ));
    let absent = hm("x-none", HeaderMatch::Present, false, false);
    assert!(!route_matches(&route_with(vec![absent]), &view("/", &h)));
}

/// Envoy joins several values of one header with `,` before matching.
#[test]
fn several_values_of_a_header_are_joined_with_commas() {
    let h = headers(&[("x-tag", "a"), ("x-tag", "b")]);
    let m = hm("x-tag", HeaderMatch::Exact("a,b".into()), false, false);
    assert!(header_matches(&m, &view("/", &h)));
}

/// Istio `withoutHeaders` → `invert_match` + `treat_missing_header_as_empty`
/// (presence: `invert_match` only): a request without the header is kept,
/// one with a matching value is excluded.
#[test]
fn without_headers_excludes_matching_values_but_not_absent_headers() {
    let none = http::HeaderMap::new();
    let test = headers(&[("x-env", "test")]);
    let prod = headers(&[("x-env", "prod")]);
    let not_test = hm("x-env", HeaderMatch::Exact("test".into()), true, true);
    assert!(header_matches(&not_test, &view("/", &none)));
    assert!(header_matches(&not_test, &view("/", &prod)));
    assert!(!header_matches(&not_test, &view("/", &test)));
    let not_present = hm("x-env", HeaderMatch::Present, true, false);
    assert!(header_matches(&not_present, &view("/", &none)));
    assert!(!header_matches(&not_present, &view("/", &prod)));
    // Envoy without treat_missing: an inverted value match fails on an absent header.
    let raw = hm("x-env", HeaderMatch::Exact("test".into()), true, false);
    assert!(!header_matches(&raw, &view("/", &none)));
}

/// Istio `authority` and `method` are header matchers on `:authority` and
/// `:method`.
#[test]
fn authority_and_method_are_matched_as_pseudo_headers() {
    let h = http::HeaderMap::new();
    let v = RequestView {
        method: "PUT",
        authority: "api:8080",
        path: "/",
        headers: &h,
    };
    assert!(header_matches(
        &hm(":method", HeaderMatch::Exact("PUT".into()), false, false),
        &v
    ));
    let auth = hm(
        ":authority",
        HeaderMatch::Prefix("api".into()),
        false,
        false,
    );
    assert!(header_matches(&auth, &v));
    assert!(header_matches(
        &hm(":scheme", HeaderMatch::Exact("http".into()), false, false),
        &v
    ));
}

#[test]
fn a_regex_that_does_not_compile_is_an_error_not_a_panic() {
    assert!(matches!(
        SafeRegex::new("(unclosed"),
        Err(SidecarError::InvalidRegex { .. })
    ));
}

/// Envoy rejects weighted clusters summing to 0 and abort statuses outside 200..=599.
#[test]
fn routes_with_zero_total_weight_or_an_invalid_abort_status_are_rejected() {
    let mut r = route("w", "/");
    r.weighted_clusters = vec![ClusterWeight {
        name: "a".into(),
        weight: 0,
    }];
    assert!(matches!(
        validate_route(&r),
        Err(SidecarError::ZeroTotalWeight { .. })
    ));
    let mut f = route("f", "/");
    f.fault = Some(crate::fault::FaultInjection {
        delay: None,
        abort: Some(crate::fault::FaultAbort {
            http_status: 600,
            percentage: crate::fault::FractionalPercent::ALWAYS,
        }),
    });
    assert!(matches!(
        validate_route(&f),
        Err(SidecarError::InvalidFaultStatus { status: 600, .. })
    ));
    assert!(validate_route(&route("ok", "/")).is_ok());
}

proptest! {
    /// A route with an exact uri never matches another path.
    #[test]
    fn an_exact_uri_route_never_matches_another_path(
        exact in "/[a-z0-9/]{0,12}", other in "/[a-z0-9/]{0,12}", query in "(\\?[a-z=]{0,6})?",
    ) {
        prop_assume!(exact != other);
        let h = http::HeaderMap::new();
        let r = with_path(PathMatch::Exact(exact.clone()), true);
        let path = format!("{other}{query}");
        prop_assert!(!route_matches(&r, &view(&path, &h)));
        let own = format!("{exact}{query}");
        prop_assert!(route_matches(&r, &view(&own, &h)));
    }

    /// An escaped literal regex behaves like an exact match.
    #[test]
    fn a_literal_regex_matches_exactly_what_an_exact_uri_matches(
        lit in "/[a-z.+*]{0,8}", path in "/[a-z.+*]{0,8}",
    ) {
        let h = http::HeaderMap::new();
        let as_regex = with_path(PathMatch::Regex(re(&regex::escape(&lit))), true);
        let as_exact = with_path(PathMatch::Exact(lit.clone()), true);
        prop_assert_eq!(
            route_matches(&as_regex, &view(&path, &h)),
            route_matches(&as_exact, &view(&path, &h))
        );
    }
}
