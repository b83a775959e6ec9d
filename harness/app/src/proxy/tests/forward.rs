//! Absolute-form requests: destination, rewrite, bodies both ways.

use super::support::*;

/// Fact sheet §6.1: the app's connect is redirected to 15001 and the
/// sidecar recovers the original destination (`SO_ORIGINAL_DST`); the proxy
/// makes that connect for the client, to the address the pod's DNS gave.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_absolute_form_get_reaches_its_original_destination_in_origin_form_with_host_kept_and_hop_by_hop_removed()
 {
    let w = world(Fake::Ok).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(
        &mut c,
        "GET http://api.partner.example:8080/charge?id=7 HTTP/1.1\r\n\
         host: wrong.example\r\nproxy-connection: keep-alive\r\n\
         proxy-authorization: Basic eA==\r\nconnection: keep-alive, x-hop\r\n\
         x-hop: 1\r\nkeep-alive: timeout=5\r\nte: trailers\r\nx-request-id: 42\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = w.sidecar.seen();
    assert_eq!(seen.len(), 1);
    let dst = format!("{API}:8080").parse().unwrap();
    assert_eq!(seen[0].original_dst, Some(dst));
    let head = &seen[0].head;
    assert!(head.starts_with("GET /charge?id=7 HTTP/1.1\n"), "{head}");
    assert!(head.contains("host: api.partner.example:8080\n"), "{head}");
    assert!(head.contains("x-request-id: 42\n"), "{head}");
    for hop in ["proxy-", "connection", "x-hop", "keep-alive", "te:"] {
        assert!(!head.contains(hop), "{hop} left in {head}");
    }
    assert_eq!(reply.body, format!("ok from {API}:8080").into_bytes());
    assert_eq!(w.proxy.stats().forwarded, 1);
}

/// Go's `net/http` keeps one pool of proxy connections for every http
/// target: each request on one proxy connection goes to its own
/// destination, and a second request to the same one reuses its upstream
/// connection.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn two_requests_on_one_proxy_connection_reach_their_own_destinations() {
    let w = world(Fake::Ok).await;
    let mut c = client(&w.net, &w.proxy).await;
    for url in [
        "http://api.partner.example/a",
        "http://other.example/b",
        "http://api.partner.example/c",
    ] {
        let reply = exchange(&mut c, &format!("GET {url} HTTP/1.1\r\n\r\n")).await;
        assert_eq!(reply.status, 200);
    }
    let dsts: Vec<String> = w
        .sidecar
        .seen()
        .iter()
        .map(|s| s.original_dst.unwrap().to_string())
        .collect();
    assert_eq!(
        dsts,
        [
            format!("{API}:80"),
            format!("{OTHER}:80"),
            format!("{API}:80")
        ]
    );
    let stats = w.proxy.stats();
    assert_eq!((stats.connections, stats.upstream_connections), (1, 2));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_post_body_goes_through_with_its_length_or_chunked() {
    let w = world(Fake::Ok).await;
    let mut c = client(&w.net, &w.proxy).await;
    let sized = "POST http://api.partner.example/charge HTTP/1.1\r\n\
                 content-length: 11\r\ncontent-type: text/plain\r\n\r\namount=1200";
    assert_eq!(exchange(&mut c, sized).await.status, 200);
    let chunked = "POST http://api.partner.example/charge HTTP/1.1\r\n\
                   transfer-encoding: chunked\r\n\r\n6\r\namount\r\n5\r\n=1300\r\n0\r\n\r\n";
    assert_eq!(exchange(&mut c, chunked).await.status, 200);
    let seen = w.sidecar.seen();
    assert_eq!(seen[0].body, b"amount=1200");
    assert!(
        seen[0].head.contains("content-length: 11\n"),
        "{}",
        seen[0].head
    );
    assert_eq!(seen[1].body, b"amount=1300");
}

/// Fact sheet §5.1 (connection termination: 503, the exact body) and §5.2
/// (`server: envoy` on every response of the outbound sidecar): the client
/// sees the sidecar's local reply exactly as an app in the pod would.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_sidecars_local_reply_comes_back_unchanged() {
    let w = world(Fake::ResetLocalReply).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(&mut c, "GET http://api.partner.example/ HTTP/1.1\r\n\r\n").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body, UC_BODY.as_bytes());
    assert!(
        reply.head.contains("\r\nserver: envoy\r\n"),
        "{}",
        reply.head
    );
    assert!(
        reply.head.contains("\r\ncontent-type: text/plain\r\n"),
        "{}",
        reply.head
    );
    assert!(!reply.head.contains("x-meshsim-proxy"), "{}", reply.head);
    assert_eq!(w.proxy.stats().bad_gateway, 0);
}

/// The relayed answer keeps the sidecar's `x-envoy-*` headers.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_relayed_answer_keeps_the_envoy_headers() {
    let w = world(Fake::Ok).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(&mut c, "GET http://10.0.1.10/ HTTP/1.1\r\n\r\n").await;
    assert!(
        reply
            .head
            .contains("\r\nx-envoy-upstream-service-time: 3\r\n"),
        "{}",
        reply.head
    );
    // An IP literal is dialled as it is: no DNS query.
    assert_eq!(w.dns.stats().queries, 0);
}

/// A kept upstream connection the sidecar closed while it was idle is
/// replaced by a new one: the client sees no error.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_upstream_connection_closed_while_idle_is_replaced_without_an_error() {
    let w = world(Fake::OneShot).await;
    let mut c = client(&w.net, &w.proxy).await;
    for _ in 0..3 {
        let reply = exchange(&mut c, "GET http://api.partner.example/ HTTP/1.1\r\n\r\n").await;
        assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok"[..]));
    }
    let stats = w.proxy.stats();
    assert_eq!((stats.upstream_connections, stats.bad_gateway), (3, 0));
}
