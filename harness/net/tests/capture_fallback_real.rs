//! A capture listener's fallback for connections without a PROXY header
//! (`Net::set_capture_fallback`), on real loopback sockets.
//!
//! Facts: envoy-istio-facts.md §10 (the PROXY v2 signature; a port that
//! expects the header must not guess and drops a connection without one) and
//! Envoy's `proxy_protocol` listener filter option
//! `allow_requests_without_proxy_protocol` (Envoy docs, "Proxy Protocol"
//! listener filter: accepts a connection without the header, against the
//! standard, and serves it as it is). A plain client such as `wrk` then
//! reaches a sidecar's 15001 directly.
//!
//! Nothing sleeps to synchronise; every wait is bounded only so that a
//! regression fails instead of hanging.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::clock::timeout;
use meshsim_net::{Capture, Net, NetListener, NetStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const POD: &str = "10.0.0.1";
const CAPTURE: &str = "10.0.0.1:15001";
const FALLBACK: &str = "52.1.1.10:80";
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nhost: api\r\n\r\n";
/// Longer than any step takes; shorter than a hang.
const BOUND: Duration = Duration::from_secs(20);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A real network with a capture listener on the pod's 15001.
async fn capture_listener() -> (Net, NetListener) {
    let net = Net::real();
    let l = net.stack(ip(POD)).listen_capture(15001).await.unwrap();
    (net, l)
}

/// A plain kernel client (no PROXY header) to the capture listener.
async fn plain_client(net: &Net) -> TcpStream {
    let real = net.real_addr(addr(CAPTURE)).unwrap();
    assert!(real.ip().is_loopback());
    TcpStream::connect(real).await.unwrap()
}

async fn accept(l: &NetListener) -> NetStream {
    timeout(BOUND, l.accept())
        .await
        .expect("accept hung")
        .unwrap()
        .0
}

async fn read_exactly(s: &mut NetStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    timeout(BOUND, s.read_exact(&mut buf))
        .await
        .expect("read hung")
        .unwrap();
    buf
}

fn proxy_header(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    use ppp::v2::{Builder, Command, Protocol, Version};
    Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, (src, dst))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_plain_client_gets_the_fallback_original_destination_and_its_bytes_arrive_intact_on_loopback()
 {
    let (net, l) = capture_listener().await;
    net.set_capture_fallback(addr(CAPTURE), Some(addr(FALLBACK)));
    let mut c = plain_client(&net).await;
    c.write_all(REQUEST).await.unwrap();
    let mut s = accept(&l).await;
    assert_eq!(s.original_dst(), Some(addr(FALLBACK)));
    assert_eq!(s.local_addr(), addr(CAPTURE));
    assert_eq!(read_exactly(&mut s, REQUEST.len()).await, REQUEST);
    s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
        .await
        .unwrap();
    let mut reply = [0u8; 12];
    c.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"HTTP/1.1 204");
}

#[tokio::test]
async fn without_the_fallback_a_plain_connection_is_dropped_on_loopback() {
    let (net, l) = capture_listener().await;
    let mut c = plain_client(&net).await;
    c.write_all(REQUEST).await.unwrap();
    // The listener drops it and hands over the next, well-formed, one.
    let app = net.pod_stack(ip(POD), Capture::default());
    let _captured = app.connect(addr("52.1.1.20:443"), BOUND).await.unwrap();
    let s = accept(&l).await;
    assert_eq!(s.original_dst(), Some(addr("52.1.1.20:443")));
    let mut b = [0u8; 1];
    let closed = timeout(BOUND, c.read(&mut b)).await.expect("never closed");
    assert!(
        matches!(closed, Ok(0) | Err(_)),
        "the plain connection got data: {closed:?}"
    );
}

#[tokio::test]
async fn removing_the_fallback_drops_plain_connections_again_on_loopback() {
    let (net, l) = capture_listener().await;
    net.set_capture_fallback(addr(CAPTURE), Some(addr(FALLBACK)));
    net.set_capture_fallback(addr(CAPTURE), None);
    let mut c = plain_client(&net).await;
    c.write_all(REQUEST).await.unwrap();
    let mut b = [0u8; 1];
    let race = async {
        tokio::select! {
            biased;
            r = c.read(&mut b) => { assert!(matches!(r, Ok(0) | Err(_)), "{r:?}"); false }
            _ = l.accept() => true,
        }
    };
    let accepted = timeout(BOUND, race)
        .await
        .expect("neither dropped nor accepted");
    assert!(
        !accepted,
        "a plain connection was accepted without a fallback"
    );
}

#[tokio::test]
async fn a_connection_with_a_proxy_header_keeps_its_own_destination_with_the_fallback_on_loopback()
{
    let (net, l) = capture_listener().await;
    net.set_capture_fallback(addr(CAPTURE), Some(addr(FALLBACK)));
    let app = net.pod_stack(ip(POD), Capture::default());
    let mut c = app.connect(addr("52.1.1.30:8443"), BOUND).await.unwrap();
    c.write_all(REQUEST).await.unwrap();
    let mut s = accept(&l).await;
    assert_eq!(s.original_dst(), Some(addr("52.1.1.30:8443")));
    assert_eq!(s.peer_addr(), c.local_addr());
    assert_eq!(read_exactly(&mut s, REQUEST.len()).await, REQUEST);
}

#[tokio::test]
async fn a_client_that_sends_part_of_the_signature_and_waits_does_not_block_the_accept_loop_on_loopback()
 {
    let (net, l) = capture_listener().await;
    net.set_capture_fallback(addr(CAPTURE), Some(addr(FALLBACK)));
    // First: 3 bytes of the PROXY signature, then nothing for now.
    let header = proxy_header(addr("10.0.0.1:40000"), addr("52.1.1.40:80"));
    let mut slow = plain_client(&net).await;
    slow.write_all(&header[..3]).await.unwrap();
    // Second: a plain request, accepted while the first still waits.
    let mut quick = plain_client(&net).await;
    quick.write_all(REQUEST).await.unwrap();
    let mut s = accept(&l).await;
    assert_eq!(s.peer_addr().port(), quick.local_addr().unwrap().port());
    assert_eq!(read_exactly(&mut s, REQUEST.len()).await, REQUEST);
    // The first was not dropped: the rest of its header completes it.
    slow.write_all(&header[3..]).await.unwrap();
    slow.write_all(REQUEST).await.unwrap();
    let mut s = accept(&l).await;
    assert_eq!(s.original_dst(), Some(addr("52.1.1.40:80")));
    assert_eq!(read_exactly(&mut s, REQUEST.len()).await, REQUEST);
}

#[tokio::test]
async fn a_silent_client_does_not_block_the_accept_loop_on_loopback() {
    let (net, l) = capture_listener().await;
    net.set_capture_fallback(addr(CAPTURE), Some(addr(FALLBACK)));
    let mut silent = plain_client(&net).await;
    let mut quick = plain_client(&net).await;
    quick.write_all(REQUEST).await.unwrap();
    let s = accept(&l).await;
    assert_eq!(s.peer_addr().port(), quick.local_addr().unwrap().port());
    // The silent one is still there once it speaks.
    silent.write_all(REQUEST).await.unwrap();
    let mut s = accept(&l).await;
    assert_eq!(s.peer_addr().port(), silent.local_addr().unwrap().port());
    assert_eq!(s.original_dst(), Some(addr(FALLBACK)));
    assert_eq!(read_exactly(&mut s, REQUEST.len()).await, REQUEST);
}
