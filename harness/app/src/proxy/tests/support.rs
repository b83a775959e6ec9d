//! A pod with its forward proxy, a fake sidecar on 15001 and a DNS server,
//! on a simulated (or real) network; a raw client from another host.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meshsim_core::SimRng;
use meshsim_dns::{DnsHandle, ZoneSet, spawn};
use meshsim_net::{Capture, Net, NetListener, NetStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::proxy::{ProxyConfig, ProxyHandle, serve_proxy};
pub(crate) use crate::serve::tests::support::{Reply, SEC, read_reply, sim};

pub(crate) const POD: &str = "10.0.0.1";
pub(crate) const API: &str = "10.0.1.10";
pub(crate) const OTHER: &str = "10.0.1.20";

pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// What the fake sidecar saw of one request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) original_dst: Option<SocketAddr>,
    /// Request line and headers as `name: value` lines, lowercase names.
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

/// How the fake sidecar answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fake {
    /// `200 ok` from "the upstream" (through `server: envoy`).
    Ok,
    /// Envoy's local reply for a reset before headers (503 UC).
    ResetLocalReply,
    /// Raw bytes: reads to EOF, then writes back what it read with
    /// `|eof` appended and closes (a tunnel's half-close).
    Echo,
    /// Answers one request `200` without `connection: close`, then closes
    /// the connection (FIN) as an idle timeout would.
    OneShot,
}

/// The local reply body of fact sheet §5.1, "connection termination" row.
pub(crate) const UC_BODY: &str = "upstream connect error or disconnect/reset before headers. reset reason: connection termination";

/// The fake sidecar: what it saw, and how many connections it has closed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sidecar {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    pub(crate) closed: Arc<watch::Sender<usize>>,
}

impl Sidecar {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `n` of its connections have ended.
    pub(crate) async fn wait_closed(&self, n: usize) {
        let mut rx = self.closed.subscribe();
        rx.wait_for(|c| *c >= n).await.unwrap();
    }
}

/// Listens on the pod's 15001 (the sidecar's uncaptured stack) as `fake`.
pub(crate) async fn fake_sidecar(net: &Net, fake: Fake) -> Sidecar {
    let listener = net.stack(ip(POD)).listen_capture(15001).await.unwrap();
    let sidecar = Sidecar::default();
    tokio::spawn(accept(listener, fake, sidecar.clone()));
    sidecar
}

async fn accept(listener: NetListener, fake: Fake, sidecar: Sidecar) {
    while let Ok((stream, _)) = listener.accept().await {
        let sidecar = sidecar.clone();
        tokio::spawn(async move {
            match fake {
                Fake::Echo => echo(stream).await,
                Fake::OneShot => one_shot(stream, sidecar.clone()).await,
                _ => http(stream, fake, sidecar.clone()).await,
            }
            sidecar.closed.send_modify(|n| *n += 1);
        });
    }
}

async fn echo(mut stream: NetStream) {
    let mut read = Vec::new();
    if stream.read_to_end(&mut read).await.is_ok() {
        read.extend_from_slice(b"|eof");
        let _ = stream.write_all(&read).await;
    }
}

async fn one_shot(mut stream: NetStream, sidecar: Sidecar) {
    let mut read = Vec::new();
    while !read.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        read.push(byte[0]);
    }
    let seen = Seen {
        original_dst: stream.original_dst(),
        head: String::from_utf8_lossy(&read).into_owned(),
        body: Vec::new(),
    };
    sidecar.seen.lock().unwrap().push(seen);
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        .await;
}

async fn http(stream: NetStream, fake: Fake, sidecar: Sidecar) {
    let original_dst = stream.original_dst();
    let service = service_fn(move |req: Request<Incoming>| {
        let sidecar = sidecar.clone();
        async move {
            let seen = record(original_dst, req).await;
            sidecar.seen.lock().unwrap().push(seen);
            Ok::<_, hyper::Error>(answer(fake, original_dst))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .auto_date_header(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn record(original_dst: Option<SocketAddr>, req: Request<Incoming>) -> Seen {
    let (parts, body) = req.into_parts();
    let mut head = format!("{} {} {:?}\n", parts.method, parts.uri, parts.version);
    for (name, value) in &parts.headers {
        head.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
    }
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    Seen {
        original_dst,
        head,
        body,
    }
}

fn answer(fake: Fake, original_dst: Option<SocketAddr>) -> Response<Full<Bytes>> {
    let (status, body) = match fake {
        Fake::ResetLocalReply => (503, UC_BODY.to_string()),
        _ => (200, format!("ok from {}", original_dst.unwrap())),
    };
    let mut builder = Response::builder()
        .status(status)
        .header("server", "envoy")
        .header("content-type", "text/plain");
    if status == 200 {
        builder = builder.header("x-envoy-upstream-service-time", "3");
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// A DNS server at 10.0.0.53 for `api.partner.example` (`API`) and
/// `other.example` (`OTHER`).
pub(crate) async fn dns(net: &Net) -> DnsHandle {
    let zones = ZoneSet::new();
    zones.add_zone("example", 30 * SEC);
    zones.set_a("api.partner.example", vec![ip(API)], 60 * SEC);
    zones.set_a("other.example", vec![ip(OTHER)], 60 * SEC);
    spawn(zones, &net.stack(ip("10.0.0.53")), 53).await.unwrap()
}

/// The proxy in the pod's app container: listening on the pod's 3128,
/// dialling through the pod's captured stack, with `config` (and the DNS
/// server, when given).
pub(crate) async fn proxy(
    net: &Net,
    dns: Option<&DnsHandle>,
    mut config: ProxyConfig,
) -> ProxyHandle {
    let pod = net.pod_stack(ip(POD), Capture::default());
    let listener = pod.listen(3128).await.unwrap();
    config.dns_servers.extend(dns.map(DnsHandle::addr));
    serve_proxy(listener, pod, config, SimRng::new(5))
}

/// A sim world: DNS, the fake sidecar and the proxy in the pod.
pub(crate) struct World {
    pub(crate) net: Net,
    pub(crate) sidecar: Sidecar,
    pub(crate) proxy: ProxyHandle,
    pub(crate) dns: DnsHandle,
}

/// A sim world whose fake sidecar answers as `fake`.
pub(crate) async fn world(fake: Fake) -> World {
    let net = sim();
    let dns = dns(&net).await;
    let sidecar = fake_sidecar(&net, fake).await;
    let proxy = proxy(&net, Some(&dns), ProxyConfig::default()).await;
    World {
        net,
        sidecar,
        proxy,
        dns,
    }
}

/// A client connection to the proxy from another host.
pub(crate) async fn client(net: &Net, proxy: &ProxyHandle) -> NetStream {
    let stack = net.stack(ip("10.0.0.99"));
    stack.connect(proxy.local_addr(), SEC).await.unwrap()
}

/// Writes `bytes` and reads one reply.
pub(crate) async fn exchange(stream: &mut NetStream, bytes: &str) -> Reply {
    stream.write_all(bytes.as_bytes()).await.unwrap();
    read_reply(stream).await.expect("a reply")
}
