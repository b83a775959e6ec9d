//! VirtualService `http` routes: match requests, weighted destinations and
//! fault injection, parsed, validated like Istio's webhook
//! (`pkg/config/validation/virtualservice.go`, `validation.go`) and translated
//! like pilot (`pilot/pkg/networking/core/route/route.go`: `translateRoute`,
//! `TranslateRouteMatch`, `TranslateFault`, `applyHTTPRouteDestination`).

use std::time::Duration;

use meshsim_istio::{
    IstioError, IstioVersion, MeshConfig, Problem, parse_resources, translate, validate,
};
use meshsim_sidecar::config::{Route, SidecarConfig};
use meshsim_sidecar::fault::FractionalPercent;
use meshsim_sidecar::route::{self, HeaderMatch, PathMatch, RequestView, RouteMatch};

const V: IstioVersion = IstioVersion::new(1, 24);
const SE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: se }\nspec:\n  hosts: [api.example, b.example]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n---\n";

/// A ServiceEntry for `api.example` and `b.example` and a VirtualService for
/// `api.example` with `http` (indented as items of `http:`).
fn yaml(http: &str) -> String {
    format!(
        "{SE}apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{ name: vs }}\nspec:\n  hosts: [api.example]\n  http:\n{http}"
    )
}

fn config(http: &str) -> SidecarConfig {
    let res = parse_resources(&yaml(http)).unwrap();
    validate(&res).unwrap();
    let cfg = translate(&res, V, &MeshConfig::for_version(V), vec![]);
    cfg.validate().unwrap();
    cfg
}

fn routes(cfg: &SidecarConfig) -> &[Route] {
    let vh = cfg
        .virtual_hosts
        .iter()
        .find(|vh| vh.name == "api.example:80");
    &vh.unwrap().routes
}

fn err_of(http: &str) -> IstioError {
    let res = parse_resources(&yaml(http)).unwrap();
    validate(&res).unwrap_err()
}

fn message(e: &IstioError) -> String {
    e.problem().to_string()
}

const DEST: &str = "    route: [{ destination: { host: api.example } }]\n";

// === Match requests ===

/// `TranslateRouteMatch`: `uri.exact` -> `path`, `uri.regex` -> `safe_regex`,
/// `uri.prefix` -> `prefix`; each `match` entry is its own Envoy route, in order
/// (the entries are OR'ed).
#[test]
fn each_match_entry_becomes_an_envoy_route_with_its_path_specifier_in_order() {
    let http = format!(
        "  - name: r\n    match:\n    - {{ name: e, uri: {{ exact: /login }} }}\n    - {{ name: x, uri: {{ regex: \"/v[0-9]+/.*\" }} }}\n    - {{ name: p, uri: {{ prefix: /static }} }}\n{DEST}"
    );
    let cfg = config(&http);
    let r = routes(&cfg);
    let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r.e", "r.x", "r.p"]);
    assert_eq!(r[0].matcher.path, Some(PathMatch::Exact("/login".into())));
    let Some(PathMatch::Regex(re)) = &r[1].matcher.path else {
        panic!("{:?}", r[1].matcher.path);
    };
    assert_eq!(re.pattern(), "/v[0-9]+/.*");
    assert_eq!(
        (r[2].matcher.path.as_ref(), r[2].prefix.as_str()),
        (None, "/static")
    );
}

/// `headers`, `method` (`:method`), `authority` (`:authority`) become header
/// matchers; `withoutHeaders` inverts and treats a missing header as empty;
/// `{}` is a presence match; `ignoreUriCase` -> `case_sensitive: false`.
#[test]
fn headers_method_authority_and_without_headers_become_envoy_header_matchers() {
    let http = format!(
        "  - match:\n    - headers: {{ x-user: {{ prefix: al }}, x-any: {{}} }}\n      withoutHeaders: {{ x-env: {{ exact: test }} }}\n      method: {{ exact: POST }}\n      authority: {{ regex: \"api.*\" }}\n      ignoreUriCase: true\n      uri: {{ exact: /Login }}\n{DEST}"
    );
    let cfg = config(&http);
    let m = &routes(&cfg)[0].matcher;
    assert!(!m.case_sensitive);
    let summary: Vec<(&str, bool, bool)> = m
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.invert, h.treat_missing_as_empty))
        .collect();
    assert_eq!(
        summary,
        [
            ("x-any", false, false),
            ("x-user", false, false),
            ("x-env", true, true),
            (":method", false, false),
            (":authority", false, false),
        ]
    );
    assert_eq!(m.headers[0].matches, HeaderMatch::Present);
    assert_eq!(m.headers[1].matches, HeaderMatch::Prefix("al".into()));
}

/// End to end through the sidecar's route table: the first matching route
/// wins, and a request no route matches is 404 `NR` (fact sheet §5.1).
#[test]
fn a_translated_virtual_service_routes_by_match_and_leaves_the_rest_unrouted() {
    let http = "  - match: [{ headers: { x-canary: { exact: \"on\" } } }]\n    route: [{ destination: { host: b.example } }]\n  - match: [{ uri: { exact: /api } }, { method: { exact: DELETE } }]\n    route: [{ destination: { host: api.example } }]\n";
    let cfg = config(http);
    let pick = |method: &str, path: &str, canary: bool| {
        let mut h = http::HeaderMap::new();
        if canary {
            h.insert("x-canary", http::HeaderValue::from_static("on"));
        }
        let req = RequestView {
            method,
            authority: "api.example",
            path,
            headers: &h,
        };
        match route::select_request(&cfg, 80, &req) {
            RouteMatch::Route { route, .. } => route.cluster.clone(),
            other => format!("{other:?}"),
        }
    };
    assert_eq!(pick("GET", "/api", true), "outbound|80||b.example");
    assert_eq!(pick("GET", "/api?x=1", false), "outbound|80||api.example");
    assert_eq!(pick("DELETE", "/other", false), "outbound|80||api.example");
    assert_eq!(pick("GET", "/api/v2", false), "NoRoute");
}

// === Destinations ===

/// `applyHTTPRouteDestination`: several destinations become weighted clusters
/// (weight-0 ones dropped); a single destination is a plain cluster whatever
/// its weight (Istio's implicit 100).
#[test]
fn weighted_destinations_become_weighted_clusters_and_a_single_one_is_a_plain_cluster() {
    let http = "  - route:\n    - { destination: { host: api.example }, weight: 25 }\n    - { destination: { host: b.example }, weight: 75 }\n    - { destination: { host: b.example, port: { number: 8080 } }, weight: 0 }\n";
    let cfg = config(http);
    let w: Vec<(&str, u32)> = routes(&cfg)[0]
        .weighted_clusters
        .iter()
        .map(|c| (c.name.as_str(), c.weight))
        .collect();
    assert_eq!(
        w,
        [
            ("outbound|80||api.example", 25),
            ("outbound|80||b.example", 75)
        ]
    );
    let single = config("  - route: [{ destination: { host: b.example }, weight: 30 }]\n");
    let r = &routes(&single)[0];
    assert_eq!(
        (r.cluster.as_str(), r.weighted_clusters.len()),
        ("outbound|80||b.example", 0)
    );
}

/// Current Istio (`validateHTTPRouteDestinations`) only rejects negative
/// weights and a zero total; the sum no longer has to be 100 (older Istio
/// said `total destination weight %v != 100`).
#[test]
fn istio_accepts_weights_not_summing_to_100_but_rejects_a_zero_total() {
    let ok = "  - route:\n    - { destination: { host: api.example }, weight: 1 }\n    - { destination: { host: b.example }, weight: 2 }\n";
    assert_eq!(routes(&config(ok))[0].weighted_clusters.len(), 2);
    let zero = "  - route:\n    - { destination: { host: api.example }, weight: 0 }\n    - { destination: { host: b.example } }\n";
    let e = err_of(zero);
    assert_eq!(
        (e.path(), message(&e).as_str()),
        ("spec.http[0].route", "total destination weight = 0")
    );
}

// === Fault injection ===

/// `TranslateFault`: `percentage.value` -> millionths (`value * 10000`), an
/// unset percentage is 0 %, the deprecated delay `percent` is used when
/// `percentage` is unset; the route timeout is kept.
#[test]
fn fault_delay_and_abort_translate_with_percentages_in_millionths() {
    let http = format!(
        "  - fault:\n      delay: {{ fixedDelay: 2s, percentage: {{ value: 12.5 }} }}\n      abort: {{ httpStatus: 503 }}\n    timeout: 3s\n{DEST}"
    );
    let cfg = config(&http);
    let r = &routes(&cfg)[0];
    let f = r.fault.as_ref().unwrap();
    let d = f.delay.as_ref().unwrap();
    assert_eq!(
        (d.fixed_delay, d.percentage.per_million),
        (Duration::from_secs(2), 125_000)
    );
    let a = f.abort.as_ref().unwrap();
    assert_eq!(
        (a.http_status, a.percentage),
        (503, FractionalPercent::default())
    );
    assert_eq!(r.timeout, Some(Duration::from_secs(3)));
    let old = format!("  - fault: {{ delay: {{ fixedDelay: 1s, percent: 40 }} }}\n{DEST}");
    let cfg = config(&old);
    let pct = routes(&cfg)[0]
        .fault
        .as_ref()
        .unwrap()
        .delay
        .as_ref()
        .unwrap()
        .percentage;
    assert_eq!(pct.per_million, 400_000);
}

/// Pilot's `applyHTTPRouteDestination` sets the retry policy whether or not
/// the route injects faults; an abort is not retried because the fault filter
/// answers before the router (see the sidecar's fault tests).
#[test]
fn a_route_with_a_fault_keeps_its_retry_policy() {
    let http = format!(
        "  - fault: {{ abort: {{ httpStatus: 500, percentage: {{ value: 50 }} }} }}\n    retries: {{ attempts: 3, retryOn: 5xx }}\n{DEST}"
    );
    let cfg = config(&http);
    let r = &routes(&cfg)[0];
    assert_eq!(r.retry_policy.as_ref().unwrap().num_retries, 3);
    assert_eq!(
        r.fault
            .as_ref()
            .unwrap()
            .abort
            .as_ref()
            .unwrap()
            .percentage
            .per_million,
        500_000
    );
}

/// `validateHTTPFaultInjection` and friends, with Istio's messages.
#[test]
fn istio_validates_fault_percentages_status_and_presence() {
    let cases = [
        (
            "{}",
            "spec.http[0].fault",
            "HTTP fault injection must have an abort and/or a delay",
        ),
        (
            "{ abort: { httpStatus: 503, percentage: { value: 150 } } }",
            "spec.http[0].fault.abort.percentage.value",
            "percentage 150 is neither 0.0, nor in range [0.0001, 100.0]",
        ),
        (
            "{ abort: { httpStatus: 700 } }",
            "spec.http[0].fault.abort.httpStatus",
            "HTTP status 700 is not in range 200-599",
        ),
        (
            "{ delay: { exponentialDelay: 1s } }",
            "spec.http[0].fault.delay.exponentialDelay",
            "exponentialDelay not supported yet",
        ),
    ];
    for (fault, path, msg) in cases {
        let e = err_of(&format!("  - fault: {fault}\n{DEST}"));
        assert_eq!((e.path(), message(&e).as_str()), (path, msg), "{fault}");
    }
}

#[test]
fn grpc_and_http2_aborts_are_rejected_as_unsupported_by_meshsim() {
    let res = parse_resources(&yaml(&format!(
        "  - fault: {{ abort: {{ grpcStatus: UNAVAILABLE }} }}\n{DEST}"
    )));
    let e = res.unwrap_err();
    assert_eq!(e.path(), "spec.http[0].fault.abort.grpcStatus");
    assert!(matches!(e.problem(), Problem::Unsupported { .. }));
}

// === StringMatch validation ===

/// `StringMatch` is a proto oneof: at most one of exact / prefix / regex.
#[test]
fn a_string_match_with_two_kinds_is_rejected() {
    let res = parse_resources(&yaml(&format!(
        "  - match: [{{ uri: {{ exact: /a, prefix: /b }} }}]\n{DEST}"
    )));
    let e = res.unwrap_err();
    assert_eq!(e.path(), "spec.http[0].match[0].uri.prefix");
    assert_eq!(message(&e), "only one of exact, prefix or regex may be set");
}

/// `validateStringMatchRegexp`: an empty or invalid RE2 regex is rejected.
#[test]
fn istio_rejects_empty_and_invalid_regexes_with_its_re2_hint() {
    let e = err_of(&format!(
        "  - match: [{{ uri: {{ regex: \"\" }} }}]\n{DEST}"
    ));
    assert_eq!(
        message(&e),
        "\"uri\": regex string match should not be empty"
    );
    let e = err_of(&format!(
        "  - match: [{{ headers: {{ x-a: {{ regex: \"(open\" }} }} }}]\n{DEST}"
    ));
    assert_eq!(e.path(), "spec.http[0].match[0].headers.x-a.regex");
    assert!(message(&e).starts_with("\"headers\": "), "{}", message(&e));
    assert!(message(&e).ends_with(
        "Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
    ));
}
