//! `CONNECT` tunnels.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::*;

/// Fact sheet §6.1: a tunnel's connect is captured like any other, so the
/// sidecar sees the tunnel's destination as the original destination.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn connect_splices_bytes_both_ways_and_passes_a_half_close_on() {
    let w = world(Fake::Echo).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(
        &mut c,
        "CONNECT api.partner.example:443 HTTP/1.1\r\nhost: api.partner.example:443\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);
    c.write_all(b"ping").await.unwrap();
    // The client's FIN reaches the sidecar, which only then answers: the
    // other direction still flows after the half-close.
    c.shutdown().await.unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"ping|eof");
    assert_eq!(w.proxy.stats().tunnels, 1);
    w.sidecar.wait_closed(1).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_tunnel_to_the_dialled_address_is_seen_by_the_sidecar_as_the_original_destination() {
    let w = world(Fake::Ok).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(&mut c, "CONNECT other.example:8080 HTTP/1.1\r\n\r\n").await;
    assert_eq!(reply.status, 200);
    // An HTTP request through the tunnel: the fake sidecar answers it with
    // the original destination it saw.
    let reply = exchange(&mut c, "GET /x HTTP/1.1\r\nhost: other.example\r\n\r\n").await;
    assert_eq!(reply.body, format!("ok from {OTHER}:8080").into_bytes());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connect_without_a_port_gets_a_400() {
    let w = world(Fake::Echo).await;
    let mut c = client(&w.net, &w.proxy).await;
    let reply = exchange(&mut c, "CONNECT api.partner.example HTTP/1.1\r\n\r\n").await;
    assert_eq!(reply.status, 400);
    assert_eq!(w.proxy.stats().tunnels, 0);
}
