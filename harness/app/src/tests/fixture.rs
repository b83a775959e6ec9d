//! The scripted server and the runner the simulation tests share.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{ProxyLog, ProxyLogEntry, RequestRecord, ResponseFlags, SimRng};
use meshsim_net::clock::Instant;
use meshsim_net::{Net, NetStream, SimConfig, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::config::{AppConfig, AppDeps, CallSpec, Plan};
use crate::drive::{DriveStats, RunDeps, run};
use crate::ids::RequestIds;
use crate::profile::ClientProfile;
use crate::resolve::Scripted;
use crate::schedule::Arrival;

pub(crate) const SEC: Duration = Duration::from_secs(1);

/// How the scripted server answers.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub(crate) status: u16,
    /// Wait before answering.
    pub(crate) delay: Duration,
    /// Read requests but never answer.
    pub(crate) silent: bool,
    /// Close (FIN) a keep-alive connection idle this long.
    pub(crate) idle_close: Option<Duration>,
    /// Act as a sidecar: log an entry with these flags and attempts.
    pub(crate) proxy: Option<(ProxyLog, ResponseFlags, u32)>,
    /// Reset the connection (RST) instead of answering.
    pub(crate) reset: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            status: 200,
            delay: Duration::ZERO,
            silent: false,
            idle_close: None,
            proxy: None,
            reset: false,
        }
    }
}

/// What the server saw.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) connections: usize,
    /// Request heads, in arrival order.
    pub(crate) heads: Vec<String>,
    /// Connections whose handler has ended (the client closed, or the script did).
    pub(crate) closed: watch::Sender<usize>,
}

/// Starts a server on `addr` in `net`; returns what it sees.
pub(crate) async fn serve(net: &Net, addr: SocketAddr, script: Script) -> Arc<Mutex<Seen>> {
    serve_on(&net.stack(addr.ip()), addr.port(), script).await.1
}

/// Starts a server on `port` (0: ephemeral) of `stack`; returns its address
/// and what it sees.
pub(crate) async fn serve_on(
    stack: &Stack,
    port: u16,
    script: Script,
) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = stack.listen(port).await.unwrap();
    let addr = listener.local_addr();
    let seen = Seen {
        connections: 0,
        heads: Vec::new(),
        closed: watch::Sender::new(0),
    };
    let seen = Arc::new(Mutex::new(seen));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen2.lock().unwrap().connections += 1;
            let seen3 = seen2.clone();
            let script = script.clone();
            tokio::spawn(async move {
                connection(stream, script, seen3.clone()).await;
                seen3.lock().unwrap().closed.send_modify(|n| *n += 1);
            });
        }
    });
    (addr, seen)
}

/// Waits (at most a minute of virtual time) until the server has seen `n`
/// connections end.
pub(crate) async fn wait_closed(seen: &Arc<Mutex<Seen>>, n: usize) {
    let mut rx = seen.lock().unwrap().closed.subscribe();
    let waited = meshsim_net::clock::timeout(60 * SEC, rx.wait_for(|c| *c >= n))
        .await
        .is_ok();
    assert!(waited, "only {} of {n} connections closed", *rx.borrow());
}

async fn connection(mut stream: NetStream, script: Script, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::new();
    loop {
        let head = match script.idle_close {
            Some(idle) => {
                match meshsim_net::clock::timeout(idle, read_head(&mut stream, &mut buf)).await {
                    Ok(h) => h,
                    Err(_) => return, // idle keep-alive timeout: drop = FIN
                }
            }
            None => read_head(&mut stream, &mut buf).await,
        };
        let Some(head) = head else { return };
        seen.lock().unwrap().heads.push(head.clone());
        if script.reset {
            stream.reset();
            return;
        }
        if script.silent {
            // Never answer; notice only the client's close.
            while read_head(&mut stream, &mut buf).await.is_some() {}
            return;
        }
        if !script.delay.is_zero() {
            meshsim_net::clock::sleep(script.delay).await;
        }
        if let Some((log, flags, attempts)) = &script.proxy {
            let entry = ProxyLogEntry {
                response_code: script.status,
                flags: *flags,
                details: "test".into(),
                attempts: *attempts,
                upstream_host: Some("10.9.9.9:80".parse().unwrap()),
            };
            log.record(request_id(&head), entry);
        }
        let close = head.to_ascii_lowercase().contains("connection: close");
        let reply = format!(
            "HTTP/1.1 {} X\r\ncontent-length: 2\r\n\r\nok",
            script.status
        );
        if stream.write_all(reply.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

/// Reads one request head (requests have no body); `None` at EOF.
async fn read_head(stream: &mut NetStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            return Some(String::from_utf8_lossy(&head).into_owned());
        }
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn request_id(head: &str) -> u64 {
    head.lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("request carries x-request-id")
}

/// One application run's inputs.
pub(crate) struct App {
    pub(crate) profile: ClientProfile,
    pub(crate) calls: Vec<CallSpec>,
    pub(crate) names: Scripted,
    pub(crate) load_for: Duration,
    pub(crate) drain_for: Duration,
    pub(crate) proxy_log: ProxyLog,
    pub(crate) seed: u64,
}

impl App {
    pub(crate) fn new(profile: &str, url: &str, rate: &str) -> App {
        App {
            profile: ClientProfile::named(profile).unwrap(),
            calls: vec![call(url, rate, Arrival::Constant)],
            names: Scripted::default(),
            load_for: 10 * SEC,
            drain_for: 30 * SEC,
            proxy_log: ProxyLog::new(),
            seed: 1,
        }
    }

    /// Its container config (no DNS server: literal IPs only) and what a run
    /// lends it, from time zero now.
    pub(crate) fn parts(self) -> (AppConfig, AppDeps) {
        let config = AppConfig {
            profile: self.profile,
            calls: self.calls,
            dns_servers: vec![],
        };
        let deps = AppDeps {
            rng: SimRng::new(self.seed),
            proxy_log: self.proxy_log,
            start: Instant::now(),
            load_for: self.load_for,
            drain_for: self.drain_for,
        };
        (config, deps)
    }
}

pub(crate) fn call(url: &str, rate: &str, arrival: Arrival) -> CallSpec {
    CallSpec {
        url: url.into(),
        method: http::Method::GET,
        rate: rate.parse().unwrap(),
        arrival,
        count: None,
    }
}

pub(crate) fn sim() -> Net {
    Net::sim(SimConfig::default())
}

pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Runs `app` from 10.0.0.1 until every task is gone; records come back in
/// schedule order.
pub(crate) async fn run_app(net: &Net, app: App) -> (Vec<RequestRecord>, DriveStats) {
    run_app_from(net.stack(ip("10.0.0.1")), app).await
}

/// Runs `app` from `stack`, as [`run_app`].
pub(crate) async fn run_app_from(stack: Stack, app: App) -> (Vec<RequestRecord>, DriveStats) {
    let config = AppConfig {
        profile: app.profile.clone(),
        calls: app.calls,
        dns_servers: vec!["10.0.0.53:53".parse().unwrap()],
    };
    let plan = Plan::new(&config).unwrap();
    let deps = AppDeps {
        rng: SimRng::new(app.seed),
        proxy_log: app.proxy_log,
        start: Instant::now(),
        load_for: app.load_for,
        drain_for: app.drain_for,
    };
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink_records = records.clone();
    let sink = Arc::new(move |r| sink_records.lock().unwrap().push(r));
    let run_deps = RunDeps {
        names: Arc::new(app.names),
        ids: RequestIds::new(),
        sink,
    };
    let stats = run(app.profile, plan, stack, deps, run_deps).await;
    let mut records = std::mem::take(&mut *records.lock().unwrap());
    records.sort_by_key(|r| (r.scheduled, r.call));
    (records, stats)
}
