//! The kubelet's readiness probes of the services' pods (incidents.md
//! INC-14). The kubelet runs on the node, outside every pod's network
//! namespace and without an Istio certificate: its probe of an application
//! port meets the pod's inbound capture, so under STRICT mTLS it finds no
//! plaintext filter chain. Istio's injector rewrites `httpGet` (and, from
//! 1.12, `tcpSocket`) probes to pilot-agent's `:15020/app-health/...`,
//! which port capture skips ([`meshsim_istio::inject`]).
//!
//! As the kubelet's prober worker: a probe every `period` (a ticker; a
//! probe slower than the period skips ticks), each bounded by `timeout`;
//! `failure_threshold` consecutive failures make the pod NotReady,
//! `success_threshold` consecutive successes Ready again. Pods running
//! when the run starts are Ready and first probed at a seeded offset within
//! one period (their workers started long before); a pod started during the
//! run is NotReady until its first successful probe, the first one at the
//! first tick after `initial_delay`. Each readiness change reaches the
//! endpoints (EDS, kube-proxy) through the mesh's EDS delay. HTTP probes
//! send no keep-alive (`Connection: close`), as the kubelet's transport.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{PodEvent, ProbeResult, SimRng};
use meshsim_istio::inject::PodProbeAction;
use meshsim_net::Net;
use meshsim_net::clock::{Instant, MissedTickBehavior};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::scenario::{NODE_ADDRESS, ProbeSpec};

/// The kubelet of the world's node: it starts a prober per probed pod,
/// tells the endpoints controller of readiness changes and keeps every
/// pod's figures.
pub(crate) struct Kubelet {
    net: Net,
    seed: u64,
    start: Instant,
    changes: mpsc::UnboundedSender<()>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
    records: Mutex<Vec<Arc<Mutex<Record>>>>,
}

/// A pod's figures, and since when it is NotReady (while it is).
#[derive(Debug)]
struct Record {
    result: ProbeResult,
    not_ready_since: Option<Instant>,
}

impl Record {
    /// Closes the current NotReady interval at `now`.
    fn close(&mut self, now: Instant) {
        if let Some(s) = self.not_ready_since.take() {
            let total = self.result.not_ready_for_s + (now - s).as_secs_f64();
            self.result.not_ready_for_s = round3(total);
        }
    }
}

/// A pod's probe as the kubelet runs it (after injection).
pub(crate) struct PodProbe {
    /// The pod's name and address.
    pub(crate) pod: (String, IpAddr),
    /// The kubelet's check.
    pub(crate) action: PodProbeAction,
    /// Whether the injector rewrote it.
    pub(crate) rewritten: bool,
    /// Its timing and thresholds.
    pub(crate) spec: ProbeSpec,
    /// Whether the pod ran before the run (Ready, probed at an offset).
    pub(crate) running: bool,
}

/// A probed pod's readiness and its prober, stopped on drop.
pub(crate) struct Prober {
    ready: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    record: Arc<Mutex<Record>>,
}

impl Prober {
    /// Whether the kubelet has the pod Ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

impl Drop for Prober {
    /// The pod stopped: its NotReady time ends here.
    fn drop(&mut self) {
        self.task.abort();
        lock(&self.record).close(Instant::now());
    }
}

fn lock(record: &Mutex<Record>) -> std::sync::MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(|e| e.into_inner())
}

impl Kubelet {
    /// The node's kubelet; probes go out from [`NODE_ADDRESS`].
    pub(crate) fn new(net: Net, seed: u64, start: Instant) -> Kubelet {
        let (changes, receiver) = mpsc::unbounded_channel();
        Kubelet {
            net,
            seed,
            start,
            changes,
            receiver: Mutex::new(Some(receiver)),
            records: Mutex::new(Vec::new()),
        }
    }

    /// The readiness changes, one message each (taken once).
    pub(crate) fn changes(&self) -> Option<mpsc::UnboundedReceiver<()>> {
        self.receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Every probed pod's figures so far (a pod NotReady now counted up to
    /// now), in start order.
    pub(crate) fn results(&self) -> Vec<ProbeResult> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let result = |r: &Arc<Mutex<Record>>| {
            let r = lock(r);
            let mut copy = Record {
                result: r.result.clone(),
                not_ready_since: r.not_ready_since,
            };
            copy.close(now);
            copy.result
        };
        records.iter().map(result).collect()
    }

    /// Starts probing `probe`'s pod.
    pub(crate) fn watch(&self, probe: PodProbe) -> Prober {
        let ready = Arc::new(AtomicBool::new(probe.running));
        let now = Instant::now();
        let record = Arc::new(Mutex::new(Record {
            result: ProbeResult {
                pod: probe.pod.0.clone(),
                check: describe(&probe.action, &probe.spec),
                rewritten: probe.rewritten,
                first_not_ready_s: (!probe.running)
                    .then(|| round3((now - self.start).as_secs_f64())),
                ..ProbeResult::default()
            },
            // A pod started during the run is NotReady until it passes.
            not_ready_since: (!probe.running).then_some(now),
        }));
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record.clone());
        let mut rng = SimRng::fork(self.seed, &format!("kubelet:{}", probe.pod.0));
        let first = match probe.running {
            true => rng.duration_below(probe.spec.period),
            false => first_tick(&probe.spec),
        };
        let worker = Worker {
            net: self.net.clone(),
            start: self.start,
            probe,
            ready: ready.clone(),
            changes: self.changes.clone(),
            record: record.clone(),
        };
        let task = tokio::spawn(worker.run(first));
        Prober {
            ready,
            task,
            record,
        }
    }
}

/// The first tick at or after the initial delay (ticks every period from
/// the container's start).
fn first_tick(spec: &ProbeSpec) -> Duration {
    let period = spec.period.as_nanos().max(1);
    let ticks = spec.initial_delay.as_nanos().div_ceil(period);
    Duration::from_nanos(u64::try_from(ticks * period).unwrap_or(u64::MAX))
}

/// The run of equal probe results so far (the kubelet's `resultRun`).
#[derive(Debug, Clone, Copy)]
struct Streak {
    last_ok: bool,
    run: u32,
}

impl Streak {
    /// A running pod starts Ready and settled; a new one with no result.
    fn new(running: bool, success_threshold: u32) -> Streak {
        let run = if running { success_threshold } else { 0 };
        Streak {
            last_ok: running,
            run,
        }
    }

    /// Counts one result; `(a failure streak starts, readiness flips)` for
    /// a pod that was `ready`.
    fn step(&mut self, ok: bool, ready: bool, spec: &ProbeSpec) -> (bool, bool) {
        self.run = if ok == self.last_ok {
            self.run.saturating_add(1)
        } else {
            1
        };
        self.last_ok = ok;
        let threshold = if ok {
            spec.success_threshold
        } else {
            spec.failure_threshold
        };
        (self.run == 1 && !ok, ready != ok && self.run >= threshold)
    }
}

/// One pod's prober worker.
struct Worker {
    net: Net,
    start: Instant,
    probe: PodProbe,
    ready: Arc<AtomicBool>,
    changes: mpsc::UnboundedSender<()>,
    record: Arc<Mutex<Record>>,
}

impl Worker {
    async fn run(self, first: Duration) {
        let spec = &self.probe.spec;
        let mut ticker = meshsim_net::clock::interval_at(Instant::now() + first, spec.period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut streak = Streak::new(self.probe.running, spec.success_threshold);
        loop {
            ticker.tick().await;
            let outcome = probe_once(&self.net, &self.probe).await;
            let ok = outcome.is_ok();
            let was_ready = self.ready.load(Ordering::Relaxed);
            let (streak_start, flips) = streak.step(ok, was_ready, spec);
            let mut r = lock(&self.record);
            r.result.probes += 1;
            if let Err(why) = &outcome {
                r.result.failures += 1;
                if streak_start {
                    self.event(&mut r.result, format!("Readiness probe failed: {why}"));
                }
            }
            if flips {
                self.ready.store(ok, Ordering::Relaxed);
                let _ = self.changes.send(());
                self.flip(&mut r, ok);
            }
        }
    }

    /// Records a readiness change.
    fn flip(&self, r: &mut Record, ready: bool) {
        let now = Instant::now();
        if ready {
            r.close(now);
            self.event(
                &mut r.result,
                "Ready: the readiness probe passed".to_string(),
            );
        } else {
            r.not_ready_since = Some(now);
            let at = round3((now - self.start).as_secs_f64());
            r.result.first_not_ready_s.get_or_insert(at);
            let n = self.probe.spec.failure_threshold;
            let what = format!("NotReady: {n} readiness probes failed in a row");
            self.event(&mut r.result, what);
        }
    }

    fn event(&self, r: &mut ProbeResult, what: String) {
        if r.events.len() < ProbeResult::MAX_EVENTS {
            let at_s = round3((Instant::now() - self.start).as_secs_f64());
            r.events.push(PodEvent { at_s, what });
        }
    }
}

fn round3(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// `kubectl describe pod`'s line for a probe.
fn describe(action: &PodProbeAction, spec: &ProbeSpec) -> String {
    let d = meshsim_core::units::format_duration;
    let timing = format!(
        "delay={} timeout={} period={} #success={} #failure={}",
        d(spec.initial_delay),
        d(spec.timeout),
        d(spec.period),
        spec.success_threshold,
        spec.failure_threshold
    );
    match action {
        PodProbeAction::HttpGet { path, port } => format!("http-get http://:{port}{path} {timing}"),
        PodProbeAction::TcpSocket { port } => format!("tcp-socket :{port} {timing}"),
        PodProbeAction::Exec => format!("exec {timing}"),
    }
}

/// One probe, bounded by the probe's timeout; the kubelet's message when
/// it fails.
async fn probe_once(net: &Net, probe: &PodProbe) -> Result<(), String> {
    let host = probe.pod.1;
    let timeout = probe.spec.timeout;
    match &probe.action {
        PodProbeAction::Exec => Ok(()),
        PodProbeAction::TcpSocket { port } => {
            let dst = SocketAddr::new(host, *port);
            let stack = net.stack(NODE_ADDRESS);
            match stack.connect(dst, timeout).await {
                Ok(_) => Ok(()),
                Err(e) => Err(format!("dial tcp {dst}: {}", dial_error(&e))),
            }
        }
        PodProbeAction::HttpGet { path, port } => {
            let dst = SocketAddr::new(host, *port);
            let url = format!("http://{dst}{path}");
            let get = http_get(net, dst, path, timeout);
            match meshsim_net::clock::timeout(timeout, get).await {
                Ok(Ok(status)) if (200..400).contains(&status) => Ok(()),
                Ok(Ok(status)) => Err(format!("HTTP probe failed with statuscode: {status}")),
                Ok(Err(why)) => Err(format!("Get \"{url}\": {why}")),
                Err(_) => Err(format!(
                    "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                )),
            }
        }
    }
}

/// Go's words for a failed dial.
fn dial_error(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused",
        std::io::ErrorKind::TimedOut => "i/o timeout",
        _ => "connect: network is unreachable",
    }
}

/// The kubelet's GET; the response's status, or Go's words for what broke.
async fn http_get(
    net: &Net,
    dst: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let stack = net.stack(NODE_ADDRESS);
    let mut s = stack
        .connect(dst, timeout)
        .await
        .map_err(|e| format!("dial tcp {dst}: {}", dial_error(&e)))?;
    let local = s.local_addr();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {dst}\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    let broke = |op: &str, e: std::io::Error| match e.kind() {
        std::io::ErrorKind::ConnectionReset => {
            format!("{op} tcp {local}->{dst}: {op}: connection reset by peer")
        }
        std::io::ErrorKind::BrokenPipe => format!("write tcp {local}->{dst}: write: broken pipe"),
        _ => "EOF".to_string(),
    };
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| broke("write", e))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf).await {
            Ok(0) => return Err("EOF".to_string()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(broke("read", e)),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split(' ');
    let http = words.next().is_some_and(|v| v.starts_with("HTTP/1."));
    let code = words.next().filter(|_| http).and_then(|c| c.parse().ok());
    code.ok_or_else(|| {
        "net/http: HTTP/1.x transport connection broken: malformed HTTP response".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(period: u64, delay_ms: u64) -> ProbeSpec {
        ProbeSpec {
            action: PodProbeAction::Exec,
            period: Duration::from_secs(period),
            timeout: Duration::from_secs(1),
            failure_threshold: 3,
            success_threshold: 1,
            initial_delay: Duration::from_millis(delay_ms),
        }
    }

    /// The kubelet's thresholds: a Ready pod flips after
    /// `failure_threshold` failures in a row (a success in between starts
    /// over), back after `success_threshold` successes; one streak event.
    #[test]
    fn readiness_flips_only_after_the_thresholds_in_a_row() {
        let mut s = spec(10, 0);
        s.success_threshold = 2;
        let mut streak = Streak::new(true, 2);
        assert_eq!(streak.step(false, true, &s), (true, false));
        assert_eq!(streak.step(true, true, &s), (false, false));
        assert_eq!(streak.step(false, true, &s), (true, false));
        assert_eq!(streak.step(false, true, &s), (false, false));
        assert_eq!(streak.step(false, true, &s), (false, true));
        assert_eq!(streak.step(false, false, &s), (false, false));
        assert_eq!(streak.step(true, false, &s), (false, false));
        assert_eq!(streak.step(true, false, &s), (false, true));
        let mut new = Streak::new(false, 1);
        assert_eq!(new.step(true, false, &spec(10, 0)), (false, true));
    }

    #[test]
    fn a_new_pods_first_probe_is_the_first_tick_after_the_initial_delay() {
        assert_eq!(first_tick(&spec(10, 0)), Duration::ZERO);
        assert_eq!(first_tick(&spec(10, 1)), Duration::from_secs(10));
        assert_eq!(first_tick(&spec(10, 10_000)), Duration::from_secs(10));
        assert_eq!(first_tick(&spec(5, 12_000)), Duration::from_secs(15));
    }

    #[test]
    fn probes_are_described_as_kubectl_describe_shows_them() {
        let http = PodProbeAction::HttpGet {
            path: "/app-health/orders/readyz".into(),
            port: 15020,
        };
        let s = spec(10, 0);
        assert_eq!(
            describe(&http, &s),
            "http-get http://:15020/app-health/orders/readyz delay=0s timeout=1s period=10s #success=1 #failure=3"
        );
        assert_eq!(
            describe(&PodProbeAction::TcpSocket { port: 8080 }, &s),
            "tcp-socket :8080 delay=0s timeout=1s period=10s #success=1 #failure=3"
        );
    }
}
