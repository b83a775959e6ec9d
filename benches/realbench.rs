//! `meshsim-realbench`: meshsim's real-mode components on loopback, for
//! `benches/real_compare.sh` to measure against HAProxy and dnsmasq.
//!
//! Starts, on `Net::real()` (kernel sockets on 127.0.0.0/8 only):
//! - one fake upstream (`meshsim-upstream`) at scenario `52.1.1.10:80`:
//!   HTTP/1.1 `200` with a small body (64 bytes by default), keep-alive
//!   without an idle timeout, on a tokio runtime of its own
//!   (`--upstream-threads`, default 1), so that the sidecar's workers do
//!   only the sidecar's work, as HAProxy's threads do only HAProxy's;
//! - one sidecar (`meshsim-sidecar`, the default Istio outbound
//!   configuration: HTTP on port 80, every host through `PassthroughCluster`,
//!   ORIGINAL_DST) on pod `10.0.0.1`, its 15001 capture listener taking
//!   connections without a PROXY header as captured ones whose original
//!   destination is the upstream (`Net::set_capture_fallback`, Envoy's
//!   `allow_requests_without_proxy_protocol`), so `wrk` can talk to it;
//! - the DNS server (`meshsim-dns`) with a zone of a few names.
//!
//! It prints one JSON line with the real loopback addresses (`upstream`,
//! `sidecar` (15001), `dns` (UDP)) and the zone's records, then serves until
//! stdin closes or SIGINT/SIGTERM. The sidecar's access log is off and no
//! tracing subscriber is installed: nothing is logged per request.
//!
//! Run: `cargo run --release -p meshsim-benches --bin meshsim-realbench -- --threads 1`

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use meshsim_core::{ProxyLog, SimRng};
use meshsim_dns::{DnsHandle, ZoneSet};
use meshsim_net::Net;
use meshsim_sidecar::{SidecarConfig, SidecarDeps, SidecarHandle};
use meshsim_upstream::{RouteSpec, UpstreamConfig, UpstreamHandle};
use tokio::io::AsyncReadExt;

/// The pod whose sidecar is measured.
const POD: &str = "10.0.0.1";
/// The upstream's scenario address (port 80: an HTTP port of the default
/// sidecar configuration).
const UPSTREAM: &str = "52.1.1.10:80";
/// The DNS zone and its records (name, IPv4 address), served with a 300 s TTL.
const ZONE: &str = "bench.meshsim.test";
const RECORDS: [(&str, &str); 5] = [
    ("api.bench.meshsim.test", "10.96.0.10"),
    ("db.bench.meshsim.test", "10.96.0.11"),
    ("cache.bench.meshsim.test", "10.96.0.12"),
    ("auth.bench.meshsim.test", "10.96.0.13"),
    ("www.bench.meshsim.test", "10.96.0.14"),
];
const RECORD_TTL: Duration = Duration::from_secs(300);
/// How long shutdown waits for each component to stop.
const STOP_BOUND: Duration = Duration::from_secs(5);

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "meshsim-realbench", version, about)]
struct Args {
    /// Threads of the sidecar's (and DNS server's) tokio runtime (compare
    /// with HAProxy's `nbthread`): 1 is a current-thread runtime, more a
    /// multi-thread one with that many workers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Worker threads of the upstream's own runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    upstream_threads: u16,
    /// Body size of the upstream's 200 response, in bytes.
    #[arg(long, default_value_t = 64)]
    body_bytes: usize,
    /// Seed of the sidecar's random stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The running components (the upstream's live on their own runtime).
struct Bench {
    net: Net,
    upstream_addr: SocketAddr,
    sidecar: SidecarHandle,
    dns: DnsHandle,
}

fn main() -> ExitCode {
    match run_runtimes(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshsim-realbench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The upstream on a runtime of its own, then the sidecar and the DNS
/// server on the measured one until told to stop.
fn run_runtimes(args: &Args) -> anyhow::Result<()> {
    let multi = |threads: u16, name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(threads))
            .thread_name(name)
            .enable_all()
            .build()
            .with_context(|| format!("building the {name} runtime"))
    };
    // The upstream's runtime runs on workers of its own while the sidecar's
    // runs here. The sidecar with one thread: a current-thread runtime on
    // this thread, one event loop as Envoy's single worker
    // (`--concurrency 1`) and HAProxy's `nbthread 1`; with more, a
    // multi-thread runtime with that many workers.
    let upstream_rt = multi(args.upstream_threads, "upstream")?;
    let sidecar_rt = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the sidecar runtime")?,
        n => multi(n, "sidecar")?,
    };
    let net = Net::real();
    // Spawned inside `block_on`, the upstream's tasks stay on its runtime's
    // workers after it returns.
    let upstream = upstream_rt.block_on(spawn_upstream(&net, args.body_bytes))?;
    let result = sidecar_rt.block_on(run(net, upstream.addr(), args.seed));
    upstream_rt.block_on(async {
        let _ = meshsim_net::clock::timeout(STOP_BOUND, upstream.shutdown()).await;
    });
    result
}

async fn run(net: Net, upstream_addr: SocketAddr, seed: u64) -> anyhow::Result<()> {
    let bench = Bench::start(net, upstream_addr, seed).await?;
    let line = bench.addresses_json()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("writing the addresses")?;
    out.flush().context("writing the addresses")?;
    drop(out);
    wait_for_stop().await?;
    bench.shutdown().await;
    Ok(())
}

// === impl Bench ===

impl Bench {
    async fn start(net: Net, upstream_addr: SocketAddr, seed: u64) -> anyhow::Result<Bench> {
        let sidecar = spawn_sidecar(&net, seed).await?;
        // wrk sends no PROXY header: its connections are captured ones to
        // the upstream.
        net.set_capture_fallback(sidecar.addr(), Some(upstream_addr));
        let dns = spawn_dns(&net).await?;
        Ok(Bench {
            net,
            upstream_addr,
            sidecar,
            dns,
        })
    }

    /// The JSON line: real loopback addresses and the zone's records.
    fn addresses_json(&self) -> anyhow::Result<String> {
        let real = |scenario: SocketAddr| {
            self.net
                .real_addr(scenario)
                .with_context(|| format!("no loopback address for {scenario}"))
        };
        let records: Vec<String> = RECORDS.iter().map(|(n, a)| format!("{n}/{a}")).collect();
        let line = serde_json::json!({
            "upstream": real(self.upstream_addr)?.to_string(),
            "sidecar": real(self.sidecar.addr())?.to_string(),
            "dns": self.dns.addr().to_string(),
            "records": records,
        });
        Ok(line.to_string())
    }

    async fn shutdown(self) {
        let _ = meshsim_net::clock::timeout(STOP_BOUND, self.sidecar.shutdown()).await;
        let _ = meshsim_net::clock::timeout(STOP_BOUND, self.dns.shutdown()).await;
    }
}

fn parse<T: std::str::FromStr>(s: &str) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse::<T>().with_context(|| format!("parsing {s:?}"))
}

/// HTTP/1.1 200 with `body_bytes` of body, keep-alive without idle timeout.
async fn spawn_upstream(net: &Net, body_bytes: usize) -> anyhow::Result<UpstreamHandle> {
    let addr: SocketAddr = parse(UPSTREAM)?;
    let config = UpstreamConfig {
        name: "bench-upstream".to_owned(),
        routes: vec![RouteSpec {
            body_bytes,
            ..RouteSpec::default()
        }],
        keepalive_timeout: None,
        ..UpstreamConfig::default()
    };
    config.validate().context("upstream configuration")?;
    meshsim_upstream::spawn(config, net.stack(addr.ip()), addr.port())
        .await
        .context("starting the upstream")
}

/// The default Istio outbound sidecar (passthrough, ORIGINAL_DST), no
/// access log.
async fn spawn_sidecar(net: &Net, seed: u64) -> anyhow::Result<SidecarHandle> {
    let pod: IpAddr = parse(POD)?;
    let deps = SidecarDeps {
        rng: SimRng::new(seed),
        proxy_log: ProxyLog::new(),
        identity: None,
    };
    meshsim_sidecar::spawn(SidecarConfig::default(), net.stack(pod), deps)
        .await
        .context("starting the sidecar")
}

/// The DNS server on `127.0.0.1` (its scenario and real UDP address are the
/// same, so a plain kernel client such as dnsperf reaches it).
async fn spawn_dns(net: &Net) -> anyhow::Result<DnsHandle> {
    let zones = ZoneSet::new();
    zones.add_zone(ZONE, RECORD_TTL);
    for (name, a) in RECORDS {
        zones.set_a(name, vec![parse(a)?], RECORD_TTL);
    }
    let stack = net.stack(parse("127.0.0.1")?);
    meshsim_dns::spawn(zones, &stack, 0)
        .await
        .context("starting the DNS server")
}

/// Returns when stdin closes (or fails), or on SIGINT or SIGTERM.
async fn wait_for_stop() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        biased;
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = stdin_closed => {}
    }
    Ok(())
}
