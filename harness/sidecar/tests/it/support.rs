//! Test fixtures: a scripted upstream on raw streams, an application client,
//! and a world with one pod (app + sidecar).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{ProxyLog, SimRng};
use meshsim_net::clock::Instant;
use meshsim_net::{Capture, Net, NetStream, SimConfig, Stack};
use meshsim_sidecar::{
    Cluster, LbPolicy, RetryOn, RetryPolicy, Route, ScriptedResolver, SidecarConfig, SidecarDeps,
    SidecarHandle, Startup, VirtualHost, boot_with_resolver, spawn_with_resolver,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

pub(crate) const POD: &str = "10.0.0.1";

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

// === World ===

pub(crate) struct World {
    pub(crate) net: Net,
    pub(crate) app: Stack,
    pub(crate) sidecar: SidecarHandle,
    pub(crate) log: ProxyLog,
    pub(crate) resolver: Arc<ScriptedResolver>,
}

impl World {
    pub(crate) async fn start(config: SidecarConfig) -> World {
        let resolver = ScriptedResolver::new();
        World::start_with(config, resolver).await
    }

    pub(crate) async fn start_with(
        config: SidecarConfig,
        resolver: Arc<ScriptedResolver>,
    ) -> World {
        let net = Net::sim(SimConfig::default());
        World::start_on(net, config, resolver).await
    }

    pub(crate) async fn start_on(
        net: Net,
        config: SidecarConfig,
        resolver: Arc<ScriptedResolver>,
    ) -> World {
        World::start_with_startup(net, config, resolver, None, None).await
    }

    /// A world whose sidecar holds `identity` (a mesh certificate).
    pub(crate) async fn start_secured(
        net: Net,
        config: SidecarConfig,
        identity: Arc<meshsim_sidecar::tls::WorkloadIdentity>,
    ) -> World {
        World::start_with_startup(net, config, ScriptedResolver::new(), None, Some(identity)).await
    }

    /// A world whose sidecar boots phase after phase ([`meshsim_sidecar::boot`]).
    pub(crate) async fn boot(config: SidecarConfig, startup: Startup) -> World {
        let net = Net::sim(SimConfig::default());
        World::start_with_startup(net, config, ScriptedResolver::new(), Some(startup), None).await
    }

    async fn start_with_startup(
        net: Net,
        config: SidecarConfig,
        resolver: Arc<ScriptedResolver>,
        startup: Option<Startup>,
        identity: Option<Arc<meshsim_sidecar::tls::WorkloadIdentity>>,
    ) -> World {
        let log = ProxyLog::new();
        let deps = SidecarDeps {
            rng: SimRng::new(7),
            proxy_log: log.clone(),
            identity,
        };
        let stack = net.stack(ip(POD));
        let sidecar = match startup {
            None => spawn_with_resolver(config, stack, deps, resolver.clone()).await,
            Some(s) => boot_with_resolver(config, stack, deps, resolver.clone(), s).await,
        }
        .unwrap();
        let app = net.pod_stack(ip(POD), Capture::default());
        World {
            net,
            app,
            sidecar,
            log,
            resolver,
        }
    }

    /// A new application connection to `dst` (captured by the sidecar).
    pub(crate) async fn dial(&self, dst: &str) -> AppConn {
        let stream = self
            .app
            .connect(addr(dst), Duration::from_secs(5))
            .await
            .unwrap();
        AppConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects the app to `dst` (a TCP destination) through the sidecar
    /// and waits until the sidecar closes the connection without a byte, as
    /// it does when the TCP proxy cannot reach the upstream.
    pub(crate) async fn connect_and_see_it_closed(&self, dst: &str) {
        let mut c = self
            .app
            .connect(addr(dst), Duration::from_secs(1))
            .await
            .unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).await.unwrap(), 0, "closed without data");
    }

    /// One request on a new connection.
    pub(crate) async fn get(&self, dst: &str, host: &str, id: u64) -> Resp {
        self.dial(dst).await.get(host, "/", id).await
    }
}

// === Application client ===

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) struct AppConn {
    stream: NetStream,
    buf: Vec<u8>,
}

/// Wraps a raw application stream.
pub(crate) struct AppConnExt;

impl AppConnExt {
    pub(crate) fn wrap(stream: NetStream) -> AppConn {
        AppConn {
            stream,
            buf: Vec::new(),
        }
    }
}

impl AppConn {
    pub(crate) async fn get(&mut self, host: &str, path: &str, id: u64) -> Resp {
        self.try_get(host, path, id)
            .await
            .expect("a complete response")
    }

    /// Sends `head` (request line and headers, each ending in CRLF, no body)
    /// plus `x-request-id: id`, and reads one response.
    pub(crate) async fn send(&mut self, head: &str, id: u64) -> Resp {
        let req = format!("{head}x-request-id: {id}\r\n\r\n");
        self.stream.write_all(req.as_bytes()).await.unwrap();
        self.read_response().await.expect("a complete response")
    }

    /// Sends a GET and reads one response; `None` when the connection broke first.
    pub(crate) async fn try_get(&mut self, host: &str, path: &str, id: u64) -> Option<Resp> {
        let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nx-request-id: {id}\r\n\r\n");
        self.stream.write_all(req.as_bytes()).await.ok()?;
        self.read_response().await
    }

    /// Sends `method /` with `extra` header lines (each ending in `\r\n`)
    /// and `body`, and reads one response; `None` when the connection broke
    /// first.
    pub(crate) async fn send_with(
        &mut self,
        method: &str,
        host: &str,
        id: u64,
        extra: &str,
        body: &[u8],
    ) -> Option<Resp> {
        let head = format!(
            "{method} / HTTP/1.1\r\nhost: {host}\r\nx-request-id: {id}\r\ncontent-length: {}\r\n{extra}\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await.ok()?;
        self.stream.write_all(body).await.ok()?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> Option<Resp> {
        loop {
            if let Some((resp, used)) = parse_response(&self.buf) {
                let total = used + resp.body.len();
                self.buf.drain(..total);
                return Some(resp);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A complete response at the start of `buf`: (response, header length).
fn parse_response(buf: &[u8]) -> Option<(Resp, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let used = match r.parse(buf).ok()? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    if buf.len() < used + len {
        return None;
    }
    let body = buf[used..used + len].to_vec();
    Some((
        Resp {
            status: r.code.unwrap(),
            headers,
            body,
        },
        used,
    ))
}

// === Scripted upstream ===

/// What the upstream does with one request.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Answer with this status and body.
    Respond(u16, &'static str),
    /// Answer after a delay.
    RespondAfter(Duration, u16, &'static str),
    /// Answer with this status, extra header lines (each ending in `\r\n`)
    /// and body.
    RespondWith(u16, &'static str, &'static str),
    /// Send headers announcing a longer body, a part of it, then RST.
    TruncateThenReset,
    /// RST the connection instead of answering.
    Reset,
    /// Close (FIN) instead of answering.
    Close,
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) conn: usize,
    pub(crate) index_on_conn: usize,
    pub(crate) at: Instant,
    pub(crate) headers: Vec<(String, String)>,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Script = Arc<dyn Fn(usize, usize) -> Action + Send + Sync>;

#[derive(Default)]
pub(crate) struct Journal {
    pub(crate) requests: Vec<Seen>,
    /// Connections accepted (index = conn number): when each saw EOF from the sidecar.
    pub(crate) closed_by_peer: Vec<Option<Instant>>,
}

pub(crate) struct Upstream {
    pub(crate) journal: Arc<Mutex<Journal>>,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Serves `script` on `addr`; `idle_close` closes a connection idle that long.
    pub(crate) async fn spawn(
        net: &Net,
        addr: SocketAddr,
        idle_close: Option<Duration>,
        script: impl Fn(usize, usize) -> Action + Send + Sync + 'static,
    ) -> Upstream {
        let listener = net.stack(addr.ip()).listen(addr.port()).await.unwrap();
        let journal = Arc::new(Mutex::new(Journal::default()));
        let script: Script = Arc::new(script);
        let j = journal.clone();
        let task = tokio::spawn(async move {
            let mut conns = Vec::new();
            let mut n = 0;
            while let Ok((stream, _)) = listener.accept().await {
                j.lock().unwrap().closed_by_peer.push(None);
                conns.push(tokio::spawn(serve(
                    stream,
                    n,
                    idle_close,
                    script.clone(),
                    j.clone(),
                )));
                n += 1;
            }
        });
        Upstream { journal, task }
    }

    /// Answers every request with 200 and `body`.
    pub(crate) async fn ok(net: &Net, addr: SocketAddr, body: &'static str) -> Upstream {
        Upstream::spawn(net, addr, None, move |_, _| Action::Respond(200, body)).await
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.journal.lock().unwrap().requests.clone()
    }

    pub(crate) fn closed_by_peer(&self) -> Vec<Option<Instant>> {
        self.journal.lock().unwrap().closed_by_peer.clone()
    }
}

async fn serve(
    mut stream: NetStream,
    conn: usize,
    idle_close: Option<Duration>,
    script: Script,
    journal: Arc<Mutex<Journal>>,
) {
    let mut buf = Vec::new();
    for index_on_conn in 0.. {
        let headers = match read_request(&mut stream, &mut buf, idle_close).await {
            ReadEnd::Request(h) => h,
            ReadEnd::PeerClosed => {
                journal.lock().unwrap().closed_by_peer[conn] = Some(Instant::now());
                return;
            }
            ReadEnd::Idle => return,
        };
        journal.lock().unwrap().requests.push(Seen {
            conn,
            index_on_conn,
            at: Instant::now(),
            headers,
        });
        let keep = match script(conn, index_on_conn) {
            Action::Respond(status, body) => respond(&mut stream, status, body).await,
            Action::RespondAfter(d, status, body) => {
                meshsim_net::clock::sleep(d).await;
                respond(&mut stream, status, body).await
            }
            Action::RespondWith(status, extra, body) => {
                respond_with(&mut stream, status, extra, body).await
            }
            Action::TruncateThenReset => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nten bytes!")
                    .await;
                meshsim_net::clock::sleep(Duration::from_millis(10)).await;
                stream.reset();
                return;
            }
            Action::Reset => {
                stream.reset();
                return;
            }
            Action::Close => return,
            Action::Hang => std::future::pending().await,
        };
        if !keep {
            return;
        }
    }
}

async fn respond(stream: &mut NetStream, status: u16, body: &str) -> bool {
    respond_with(stream, status, "", body).await
}

async fn respond_with(stream: &mut NetStream, status: u16, extra: &str, body: &str) -> bool {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nserver: upstream\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.is_ok()
        && stream.write_all(body.as_bytes()).await.is_ok()
}

enum ReadEnd {
    Request(Vec<(String, String)>),
    PeerClosed,
    Idle,
}

async fn read_request(
    stream: &mut NetStream,
    buf: &mut Vec<u8>,
    idle_close: Option<Duration>,
) -> ReadEnd {
    loop {
        {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(buf) {
                let h = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                buf.drain(..n);
                return ReadEnd::Request(h);
            }
        }
        let mut chunk = [0u8; 4096];
        let read = stream.read(&mut chunk);
        let n = match idle_close {
            Some(t) => match meshsim_net::clock::timeout(t, read).await {
                Ok(r) => r,
                Err(_) => return ReadEnd::Idle,
            },
            None => read.await,
        };
        match n {
            Ok(0) | Err(_) => return ReadEnd::PeerClosed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

// === Configuration helpers ===

pub(crate) fn policy(tokens: &str, num_retries: u32) -> RetryPolicy {
    RetryPolicy {
        retry_on: tokens.split(',').filter_map(RetryOn::parse).collect(),
        num_retries,
        per_try_timeout: None,
        retriable_status_codes: Vec::new(),
        previous_hosts_predicate: true,
        host_selection_retry_max_attempts: 5,
        base_interval: Duration::from_millis(25),
        max_interval: Duration::from_millis(250),
        ..RetryPolicy::default()
    }
}

/// Istio >= 1.24's default outbound policy.
pub(crate) fn istio_default_policy() -> RetryPolicy {
    policy(
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        2,
    )
}

pub(crate) fn cluster(name: &str, discovery: meshsim_sidecar::Discovery) -> Cluster {
    // Round robin (Istio < 1.14's default): these fixtures predate the
    // least-request default and their tests expect hosts in turn.
    Cluster {
        name: name.into(),
        discovery,
        lb_policy: LbPolicy::RoundRobin,
        ..Cluster::default()
    }
}

/// A config with one virtual host `host` on port 80 routing `/` to `cluster`.
pub(crate) fn routed(
    host: &str,
    cluster: Cluster,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
) -> SidecarConfig {
    let route = Route {
        name: "r".into(),
        prefix: "/".into(),
        cluster: cluster.name.clone(),
        timeout,
        retry_policy: retry,
        ..Route::default()
    };
    let vh = VirtualHost {
        name: format!("{host}:80"),
        port: 80,
        domains: vec![host.into()],
        routes: vec![route],
    };
    SidecarConfig {
        virtual_hosts: vec![vh],
        clusters: vec![cluster],
        ..SidecarConfig::default()
    }
}

// === HTTP/2 upstreams ===

/// A static cluster `outbound|80||api` of one host speaking HTTP/2 with at
/// most `max_streams` streams per connection.
pub(crate) fn h2_cluster(endpoint: &str, max_streams: u32) -> Cluster {
    Cluster {
        upstream_protocol: meshsim_sidecar::UpstreamProtocol::Http2,
        http2: meshsim_sidecar::Http2Options {
            max_concurrent_streams: max_streams,
        },
        ..cluster(
            "outbound|80||api",
            meshsim_sidecar::Discovery::Static {
                endpoints: vec![addr(endpoint)],
            },
        )
    }
}

/// A fake upstream (the `meshsim-upstream` crate) in HTTP/2 mode at `at`:
/// `/` answers 200 `ok`, `/slow` answers 200 after `slow`.
pub(crate) async fn h2_upstream(
    net: &Net,
    at: &str,
    mode: meshsim_upstream::Http2Mode,
    slow: Duration,
) -> meshsim_upstream::UpstreamHandle {
    let at = addr(at);
    let config = meshsim_upstream::UpstreamConfig {
        routes: vec![
            meshsim_upstream::RouteSpec {
                prefix: "/slow".into(),
                latency: slow,
                ..Default::default()
            },
            meshsim_upstream::RouteSpec::default(),
        ],
        http2: Some(mode),
        ..Default::default()
    };
    meshsim_upstream::spawn(config, net.stack(at.ip()), at.port())
        .await
        .unwrap()
}

// === Pod-local endpoints and refused connects ===

impl World {
    /// `GET path` on `port` of the pod, from the pod's app (its own address
    /// is never captured): admin, readiness, the agent's status port.
    pub(crate) async fn pod_get(&self, port: u16, path: &str) -> Resp {
        self.pod_request("GET", port, path).await
    }

    /// `method path` (no body) on `port` of the pod, from the pod's app.
    pub(crate) async fn pod_request(&self, method: &str, port: u16, path: &str) -> Resp {
        let dst = SocketAddr::new(ip(POD), port);
        let stream = self.app.connect(dst, Duration::from_secs(1)).await.unwrap();
        let head = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n");
        AppConnExt::wrap(stream).send(&head, 1).await
    }

    /// Whether the app's connect to `dst` (captured when `dst` is not the
    /// pod's own address) is refused.
    pub(crate) async fn refused(&self, dst: &str) -> bool {
        match self.app.connect(addr(dst), Duration::from_secs(1)).await {
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            Ok(_) => false,
        }
    }
}
