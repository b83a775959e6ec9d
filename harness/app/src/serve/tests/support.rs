//! A raw HTTP/1.1 client over `NetStream`s and a starter for app servers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{ProxyLog, RequestRecord, SimRng};
use meshsim_net::clock::Instant;
use meshsim_net::{Net, NetStream, SimConfig, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ids::{RecordSink, RequestIds};
use crate::serve::{RouteSpec, ServeConfig, ServeDeps, ServerHandle, serve};

pub(crate) const SEC: Duration = Duration::from_secs(1);
pub(crate) const MS: Duration = Duration::from_millis(1);

pub(crate) fn sim() -> Net {
    Net::sim(SimConfig::default())
}

pub(crate) fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// A config serving `routes` on port 80.
pub(crate) fn config(routes: Vec<RouteSpec>) -> ServeConfig {
    ServeConfig {
        ports: vec![80],
        routes,
        ..ServeConfig::default()
    }
}

/// A route answering `status` after `latency` on `prefix`.
pub(crate) fn route(prefix: &str, status: u16, latency: Duration) -> RouteSpec {
    RouteSpec {
        prefix: prefix.into(),
        status,
        latency,
        ..RouteSpec::default()
    }
}

/// A running app server and the records of its downstream calls.
pub(crate) struct App {
    pub(crate) handle: ServerHandle,
    pub(crate) records: Arc<Mutex<Vec<RequestRecord>>>,
}

impl App {
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.records.lock().unwrap().clone()
    }
}

/// Serves `config` on a plain stack of `ip`, with a fresh id source.
pub(crate) async fn start(net: &Net, ip: &str, config: ServeConfig) -> App {
    start_on(net.stack(ip.parse().unwrap()), config, RequestIds::new()).await
}

/// Serves `config` on `stack`, drawing request ids from `ids`.
pub(crate) async fn start_on(stack: Stack, config: ServeConfig, ids: RequestIds) -> App {
    let (sink, records) = RecordSink::list();
    let deps = ServeDeps {
        rng: SimRng::new(1),
        proxy_log: ProxyLog::new(),
        ids,
        start: Instant::now(),
        sink,
    };
    let handle = serve(config, stack, deps).await.unwrap();
    App { handle, records }
}

/// One parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// The head, lowercase, up to and excluding the blank line.
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

/// A client connection from 10.0.0.1.
pub(crate) async fn connect(net: &Net, to: SocketAddr) -> NetStream {
    let stack = net.stack("10.0.0.1".parse().unwrap());
    stack.connect(to, SEC).await.unwrap()
}

/// Sends `GET path` (with `extra` header lines) on `stream`.
pub(crate) async fn send(stream: &mut NetStream, path: &str, extra: &str) {
    let req = format!("GET {path} HTTP/1.1\r\nhost: app\r\n{extra}\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
}

/// Reads one response (content-length bodies); `None` at EOF or on error.
pub(crate) async fn read_reply(stream: &mut NetStream) -> Option<Reply> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 512];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.get(9..12)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 512];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(Reply { status, head, body })
}

/// `GET path` on a new connection; the reply and the virtual time it took.
pub(crate) async fn get(net: &Net, to: SocketAddr, path: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let mut s = connect(net, to).await;
    send(&mut s, path, "").await;
    let reply = read_reply(&mut s).await.expect("a response");
    (reply, started.elapsed())
}

/// Reads until EOF or an error: `Ok(())` for EOF (FIN), the error otherwise.
pub(crate) async fn read_to_end(stream: &mut NetStream) -> std::io::Result<()> {
    let mut sink = Vec::new();
    stream.read_to_end(&mut sink).await.map(|_| ())
}

/// Whether `d` is at most 20 ms above `expected`: the network's own time
/// (a few 1 ms timer ticks per hop), never a second.
pub(crate) fn about(d: Duration, expected: Duration) -> bool {
    d >= expected && d < expected + 20 * MS
}
