//! Routing, passthrough, local replies and response headers.

use std::time::Duration;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;
use meshsim_sidecar::{Discovery, OutboundTrafficPolicy, SidecarConfig};

use crate::support::*;

const UC_BODY: &str = "upstream connect error or disconnect/reset before headers. reset reason: connection termination";

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn passthrough_request_is_pinned_to_the_original_destination_ip() {
    let w = World::start(SidecarConfig::default()).await;
    let one = Upstream::ok(&w.net, addr("52.1.1.10:80"), "one").await;
    let two = Upstream::ok(&w.net, addr("52.1.1.11:80"), "two").await;
    // The app resolved api.partner.example to .10 and keeps its connection.
    let mut conn = w.dial("52.1.1.10:80").await;
    for id in 1..=3 {
        let r = conn.get("api.partner.example", "/charge", id).await;
        assert_eq!((r.status, r.body_text().as_str()), (200, "one"));
        let entry = w.log.take(id).unwrap();
        assert_eq!(entry.upstream_host, Some(addr("52.1.1.10:80")));
        assert_eq!(
            (entry.details.as_str(), entry.attempts),
            ("via_upstream", 1)
        );
    }
    assert_eq!(one.requests().len(), 3);
    assert!(two.requests().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn proxied_responses_carry_server_envoy_and_upstream_service_time_in_virtual_ms() {
    let w = World::start(SidecarConfig::default()).await;
    let _up = Upstream::spawn(&w.net, addr("52.1.1.10:80"), None, |_, _| {
        Action::RespondAfter(Duration::from_millis(250), 200, "slow")
    })
    .await;
    let start = Instant::now();
    let r = w.get("52.1.1.10:80", "api", 1).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("server"),
        Some("envoy"),
        "upstream's server header is overwritten"
    );
    // 250 ms of upstream think time plus a few 1 ms timer ticks of network hops.
    let service_time: u64 = r
        .header("x-envoy-upstream-service-time")
        .unwrap()
        .parse()
        .unwrap();
    assert!((250..255).contains(&service_time), "{service_time}");
    assert!(r.header("date").is_none(), "no wall-clock date header");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(260),
        "{elapsed:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn upstream_sees_attempt_count_and_request_id_passed_through() {
    let w = World::start(SidecarConfig::default()).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    w.get("52.1.1.10:80", "api", 77).await;
    let seen = &up.requests()[0];
    assert_eq!(seen.header("x-envoy-attempt-count"), Some("1"));
    assert_eq!(seen.header("x-request-id"), Some("77"));
    assert_eq!(seen.header("host"), Some("api"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn upstream_rst_on_a_reused_connection_is_503_uc_with_the_exact_95_byte_body_and_server_envoy()
 {
    let w = World::start(SidecarConfig::default()).await;
    let up = Upstream::spawn(&w.net, addr("52.1.1.10:80"), None, |_, i| {
        if i == 0 {
            Action::Respond(200, "ok")
        } else {
            Action::Reset
        }
    })
    .await;
    assert_eq!(w.get("52.1.1.10:80", "api", 1).await.status, 200);
    let r = w.get("52.1.1.10:80", "api", 2).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body_text(), UC_BODY);
    assert_eq!(r.body.len(), 95);
    assert_eq!(r.header("content-length"), Some("95"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("server"), Some("envoy"));
    assert!(
        r.header("x-envoy-upstream-service-time").is_none(),
        "never on local replies"
    );
    let entry = w.log.take(2).unwrap();
    assert_eq!(entry.flags, ResponseFlags::UC);
    assert_eq!(
        entry.details,
        "upstream_reset_before_response_started{connection_termination}"
    );
    assert_eq!(entry.upstream_host, Some(addr("52.1.1.10:80")));
    let requests = up.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (requests[1].conn, requests[1].index_on_conn),
        (0, 1),
        "the second request reused connection 0"
    );
    let stats = w.sidecar.stats();
    assert_eq!(stats.upstream_rq_reused_cx, 1);
    assert_eq!(stats.local_replies[&ResponseFlags::UC], 1);
    assert_eq!(
        stats.upstream_rq_retry, 0,
        "passthrough has no retry policy"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_refused_is_503_uf_with_the_delayed_connect_error_111_body() {
    let w = World::start(SidecarConfig::default()).await;
    let start = Instant::now();
    let r = w.get("52.1.1.99:80", "api", 5).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body_text(),
        "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, \
         transport failure reason: delayed connect error: 111"
    );
    assert_eq!(r.header("server"), Some("envoy"));
    // Refused after one round trip (the sim's timer ticks are 1 ms).
    assert!(
        start.elapsed() < Duration::from_millis(5),
        "refused at once: {:?}",
        start.elapsed()
    );
    let entry = w.log.take(5).unwrap();
    assert_eq!(entry.flags, ResponseFlags::UF);
    assert_eq!(
        entry.details,
        "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_111}"
    );
    assert_eq!(entry.attempts, 1);
    assert_eq!(w.sidecar.stats().upstream_cx_connect_fail, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_timeout_is_503_uf_connection_timeout_after_the_clusters_connect_timeout() {
    let w = World::start(SidecarConfig::default()).await;
    w.net.set_blackhole(ip("52.1.1.10"), true);
    let start = Instant::now();
    let r = w.get("52.1.1.10:80", "api", 1).await;
    assert_eq!(r.status, 503);
    assert!(r.body_text().ends_with("reset reason: connection timeout"));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_millis(10_010),
        "{elapsed:?}"
    );
    assert_eq!(w.sidecar.stats().upstream_cx_connect_timeout, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn registry_only_unknown_host_gets_a_direct_502_with_an_empty_body() {
    let config = SidecarConfig {
        outbound_traffic_policy: OutboundTrafficPolicy::RegistryOnly,
        ..SidecarConfig::default()
    };
    let w = World::start(config).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    let r = w.get("52.1.1.10:80", "api", 3).await;
    assert_eq!((r.status, r.body.len()), (502, 0));
    assert_eq!(r.header("server"), Some("envoy"));
    assert!(up.requests().is_empty());
    let entry = w.log.take(3).unwrap();
    assert_eq!(
        (entry.details.as_str(), entry.attempts),
        ("direct_response", 0)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_virtual_host_without_a_matching_route_is_404_nr() {
    let c = cluster(
        "svc",
        Discovery::Static {
            endpoints: vec![addr("10.0.3.1:80")],
        },
    );
    let mut config = routed("svc", c, None, None);
    config.virtual_hosts[0].routes[0].prefix = "/api".into();
    let w = World::start(config).await;
    let r = w.dial("10.0.3.1:80").await.get("svc", "/other", 9).await;
    assert_eq!((r.status, r.body.len()), (404, 0));
    assert_eq!(w.log.take(9).unwrap().flags, ResponseFlags::NR);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_route_to_a_static_cluster_goes_to_its_endpoints_not_the_dialled_address() {
    let c = cluster(
        "svc",
        Discovery::Static {
            endpoints: vec![addr("10.0.3.1:8080")],
        },
    );
    let w = World::start(routed("svc.ns", c, None, None)).await;
    let up = Upstream::ok(&w.net, addr("10.0.3.1:8080"), "svc").await;
    // The app dialled a service VIP; the route picks the endpoint.
    let r = w.get("10.96.0.10:80", "svc.ns:80", 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "svc"));
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_unbinds_the_capture_port_and_closes_pooled_connections() {
    let w = World::start(SidecarConfig::default()).await;
    let up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "ok").await;
    w.get("52.1.1.10:80", "api", 1).await;
    let World { app, sidecar, .. } = w;
    sidecar.shutdown().await;
    meshsim_net::clock::sleep(Duration::from_millis(10)).await;
    assert!(
        up.closed_by_peer()[0].is_some(),
        "pooled upstream connection closed"
    );
    let err = app
        .connect(addr("52.1.1.10:80"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test(flavor = "current_thread")]
async fn over_real_loopback_passthrough_answers_and_refused_connects_are_503_uf() {
    let net = meshsim_net::Net::real();
    let resolver = meshsim_sidecar::ScriptedResolver::new();
    let w = World::start_on(net, SidecarConfig::default(), resolver).await;
    let _up = Upstream::ok(&w.net, addr("52.1.1.10:80"), "real").await;
    let r = w.get("52.1.1.10:80", "api", 1).await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "real"));
    assert_eq!(r.header("server"), Some("envoy"));
    let refused = w.get("52.1.1.11:80", "api", 2).await;
    assert_eq!(refused.status, 503);
    assert_eq!(w.log.take(2).unwrap().flags, ResponseFlags::UF);
    w.sidecar.shutdown().await;
}
