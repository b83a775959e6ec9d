//! VirtualService features through the running sidecar: route matching on
//! headers, method and authority; weighted clusters; the fault filter.

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use meshsim_sidecar::fault::{FaultAbort, FaultDelay, FaultInjection, FractionalPercent};
use meshsim_sidecar::route::{ClusterWeight, HeaderMatch, HeaderMatcher, RouteMatcher};
use meshsim_sidecar::{Cluster, Discovery, Route, SidecarConfig, VirtualHost};

use crate::support::{Action, Upstream, World, addr, cluster, policy};

const HOST: &str = "svc";

fn static_cluster(name: &str, endpoint: &str) -> Cluster {
    cluster(
        name,
        Discovery::Static {
            endpoints: vec![addr(endpoint)],
        },
    )
}

/// One virtual host `svc` on port 80 with `routes`, clusters `a`, `b`, `c`
/// at 10.0.5.1, .2, .3.
fn config(routes: Vec<Route>) -> SidecarConfig {
    SidecarConfig {
        virtual_hosts: vec![VirtualHost {
            name: "svc:80".into(),
            port: 80,
            domains: vec![HOST.into()],
            routes,
        }],
        clusters: vec![
            static_cluster("a", "10.0.5.1:80"),
            static_cluster("b", "10.0.5.2:80"),
            static_cluster("c", "10.0.5.3:80"),
        ],
        ..SidecarConfig::default()
    }
}

fn header(name: &str, matches: HeaderMatch) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        matches,
        invert: false,
        treat_missing_as_empty: false,
    }
}

fn to(name: &str, cluster: &str, headers: Vec<HeaderMatcher>) -> Route {
    Route {
        name: name.into(),
        cluster: cluster.into(),
        matcher: RouteMatcher {
            headers,
            ..RouteMatcher::default()
        },
        ..Route::default()
    }
}

fn faulty(fault: FaultInjection) -> Route {
    Route {
        fault: Some(fault),
        ..to("f", "a", vec![])
    }
}

fn delay(secs: u64, pct: f64) -> Option<FaultDelay> {
    Some(FaultDelay {
        fixed_delay: Duration::from_secs(secs),
        percentage: FractionalPercent::from_percent(pct),
    })
}

fn abort(status: u16, pct: f64) -> Option<FaultAbort> {
    Some(FaultAbort {
        http_status: status,
        percentage: FractionalPercent::from_percent(pct),
    })
}

/// Upstreams `a`, `b`, `c` answering with their own name.
async fn upstreams(w: &World) -> [Upstream; 3] {
    [
        Upstream::ok(&w.net, addr("10.0.5.1:80"), "a").await,
        Upstream::ok(&w.net, addr("10.0.5.2:80"), "b").await,
        Upstream::ok(&w.net, addr("10.0.5.3:80"), "c").await,
    ]
}

/// Fact sheet §5.1: no route matched → 404, empty body, flag `NR`, details
/// `route_not_found` (a VirtualService whose matches all fail).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_no_route_matches_is_404_nr_route_not_found_with_an_empty_body() {
    let route = to(
        "canary",
        "a",
        vec![header("x-canary", HeaderMatch::Present)],
    );
    let w = World::start(config(vec![route])).await;
    let _ups = upstreams(&w).await;
    let r = w.dial("10.0.5.1:80").await.get(HOST, "/", 1).await;
    assert_eq!((r.status, r.body.len()), (404, 0));
    assert_eq!(r.header("server"), Some("envoy"));
    let entry = w.log.take(1).unwrap();
    assert_eq!(
        (entry.flags, entry.details.as_str(), entry.attempts),
        (ResponseFlags::NR, "route_not_found", 0)
    );
}

/// Istio VirtualService `match`: `headers`, `method` (`:method`) and
/// `authority` (`:authority`) become Envoy header matchers; the first route
/// that matches wins (pilot `TranslateRouteMatch`).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn header_method_and_authority_matchers_pick_the_first_matching_route() {
    let routes = vec![
        to(
            "canary",
            "a",
            vec![header("x-canary", HeaderMatch::Exact("yes".into()))],
        ),
        to(
            "posts",
            "b",
            vec![header(":method", HeaderMatch::Exact("POST".into()))],
        ),
        to(
            "port",
            "b",
            vec![header(":authority", HeaderMatch::Exact("svc:80".into()))],
        ),
        to("rest", "c", vec![]),
    ];
    let w = World::start(config(routes)).await;
    let _ups = upstreams(&w).await;
    let mut conn = w.dial("10.0.5.1:80").await;
    let cases = [
        ("GET / HTTP/1.1\r\nhost: svc\r\nx-canary: yes\r\n", "a"),
        ("POST / HTTP/1.1\r\nhost: svc\r\nx-canary: no\r\n", "b"),
        ("GET / HTTP/1.1\r\nhost: svc:80\r\n", "b"),
        ("GET / HTTP/1.1\r\nhost: svc\r\nx-canary: YES\r\n", "c"),
    ];
    for (i, (head, want)) in cases.iter().enumerate() {
        let r = conn.send(head, i as u64 + 1).await;
        assert_eq!((r.status, r.body_text().as_str()), (200, *want), "{head:?}");
    }
}

/// Istio weighted `route[]` destinations → Envoy `weighted_clusters`: the
/// split follows the weights (here 20/80 within ±4 points over 1000 requests
/// for the test's fixed seed) and a weight-0 cluster never gets a request.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn weighted_clusters_split_by_weight_and_a_zero_weight_gets_nothing() {
    let weights = [("a", 20), ("b", 80), ("c", 0)];
    let route = Route {
        weighted_clusters: weights
            .iter()
            .map(|(name, weight)| ClusterWeight {
                name: name.to_string(),
                weight: *weight,
            })
            .collect(),
        ..to("split", "", vec![])
    };
    let w = World::start(config(vec![route])).await;
    let ups = upstreams(&w).await;
    let mut conn = w.dial("10.0.5.1:80").await;
    for id in 1..=1000 {
        assert_eq!(conn.get(HOST, "/", id).await.status, 200);
    }
    let counts: Vec<usize> = ups.iter().map(|u| u.requests().len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 1000);
    assert!((160..=240).contains(&counts[0]), "{counts:?}");
    assert_eq!(counts[2], 0, "weight 0 never gets traffic");
}

/// Fact sheet §5.3 `DI`; Envoy fault filter: the delay holds the request,
/// then it goes upstream; the router (and its route timeout) only starts
/// after the delay, so a 2 s delay under a 1 s route timeout still succeeds.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_injected_delay_holds_the_request_then_forwards_it_with_flag_di() {
    let mut route = faulty(FaultInjection {
        delay: delay(2, 100.0),
        abort: None,
    });
    route.timeout = Some(Duration::from_secs(1));
    let w = World::start(config(vec![route])).await;
    let up = Upstream::spawn(&w.net, addr("10.0.5.1:80"), None, |_, _| {
        Action::RespondAfter(Duration::from_millis(500), 200, "a")
    })
    .await;
    let start = Instant::now();
    let r = w.dial("10.0.5.1:80").await.get(HOST, "/", 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "a"));
    let seen = up.requests()[0].at - start;
    assert!(
        seen >= Duration::from_secs(2) && seen < Duration::from_millis(2010),
        "{seen:?}"
    );
    // Measured from when the router got the request, after the delay.
    let service_ms: u64 = r
        .header("x-envoy-upstream-service-time")
        .unwrap()
        .parse()
        .unwrap();
    assert!((500..600).contains(&service_ms), "{service_ms}");
    let entry = w.log.take(1).unwrap();
    assert_eq!((entry.flags, entry.response_code), (ResponseFlags::DI, 200));
}

/// Fact sheet §5.1/§5.3 `FI`; Envoy `fault_filter.cc`: an abort is a local
/// reply (status as configured, body `fault filter abort`, details
/// `fault_filter_abort`) that never reaches the router, so no upstream attempt
/// is made and a retry policy that would retry that status does not apply.
/// Istio keeps the route's retry policy on faulty routes (pilot `route.go`
/// sets `RetryPolicy` unconditionally); the filter order is what prevents retries.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_injected_abort_is_a_local_fault_filter_abort_with_fi_and_is_never_retried() {
    let mut route = faulty(FaultInjection {
        delay: None,
        abort: abort(503, 100.0),
    });
    route.retry_policy = Some(policy("5xx,retriable-status-codes", 3));
    let w = World::start(config(vec![route])).await;
    let ups = upstreams(&w).await;
    let r = w.dial("10.0.5.1:80").await.get(HOST, "/", 1).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (503, "fault filter abort")
    );
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(ups[0].requests().len(), 0);
    let entry = w.log.take(1).unwrap();
    assert_eq!(
        (entry.flags, entry.details.as_str(), entry.attempts),
        (ResponseFlags::FI, "fault_filter_abort", 0)
    );
}

/// Envoy fault filter: a delay can be followed by an abort; the abort comes
/// after the delay and the reply carries both flags (`DI,FI`).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_delay_then_abort_waits_the_delay_and_aborts_with_di_and_fi() {
    let route = faulty(FaultInjection {
        delay: delay(3, 100.0),
        abort: abort(429, 100.0),
    });
    let w = World::start(config(vec![route])).await;
    let start = Instant::now();
    let r = w.dial("10.0.5.1:80").await.get(HOST, "/", 1).await;
    assert_eq!(r.status, 429);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_millis(3010),
        "{elapsed:?}"
    );
    let entry = w.log.take(1).unwrap();
    assert_eq!(entry.flags, ResponseFlags::DI | ResponseFlags::FI);
    assert_eq!(entry.flags.to_string(), "DI,FI");
}

/// Istio `fault.abort.percentage`: drawn per request from the sidecar's seeded
/// stream (30 % of 1000 requests within ±5 points for the fixed seed), the same
/// seed giving the same requests aborted.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_abort_percentage_aborts_that_share_of_requests_the_same_way_for_a_seed() {
    async fn aborted_ids() -> Vec<u64> {
        let route = faulty(FaultInjection {
            delay: None,
            abort: abort(500, 30.0),
        });
        let w = World::start(config(vec![route])).await;
        let _ups = upstreams(&w).await;
        let mut conn = w.dial("10.0.5.1:80").await;
        let mut out = Vec::new();
        for id in 1..=1000 {
            if conn.get(HOST, "/", id).await.status == 500 {
                out.push(id);
            }
        }
        out
    }
    let first = aborted_ids().await;
    assert!((250..=350).contains(&first.len()), "{}", first.len());
    assert_eq!(first, aborted_ids().await);
}
