//! The life of a world that stays up: build it in real mode, start the
//! pods' proxies and (optionally) their applications, serve the control
//! endpoint's commands in arrival order until told to stop, then shut
//! everything down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_app::{AppConfig, AppDeps, ProxyConfig, ProxyHandle, RequestIds};
use meshsim_core::{Collector, KindCount, MiddleboxResult, SimRng};
use meshsim_net::clock::Instant;
use meshsim_net::{Net, RealConfig};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::control::{self, Command, ControlHandle};
use super::endpoints::Endpoints;
use super::{Stopper, UpOptions};
use crate::error::EngineError;
use crate::scenario::{Action, Mitigation, Scenario};
use crate::world::{RunDeps, World};

/// How long the built-in application schedules requests: for as long as
/// the world is up, which is less than this (ten years).
const LOAD_FOR: Duration = Duration::from_secs(10 * 365 * 86_400);
/// How long in-flight requests may finish after the load phase.
const DRAIN_FOR: Duration = Duration::from_secs(60);
/// The scenario port of each pod's forward proxy (squid's, for a readable
/// scenario address; the real port is ephemeral).
const PROXY_PORT: u16 = 3128;

/// What [`super::start`] hands the world's thread.
pub(super) struct Setup {
    pub(super) scenario: Arc<Scenario>,
    pub(super) mitigation: Mitigation,
    pub(super) opts: UpOptions,
    pub(super) stopper: Stopper,
    pub(super) stop: watch::Receiver<bool>,
}

/// A timeline action carried out while the world was up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedAction {
    /// When, in scenario seconds from the world's start.
    pub at_s: f64,
    /// [`Action::describe`].
    pub what: String,
    /// `ctl` (the control endpoint) or `timeline` (the scenario's own).
    pub by: String,
}

/// What a forward proxy has done, by pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyFigures {
    /// The pod.
    pub pod: String,
    /// Client connections accepted.
    pub connections: u64,
    /// Requests answered from upstream (the sidecar, whatever it answered).
    pub forwarded: u64,
    /// `CONNECT` tunnels.
    pub tunnels: u64,
    /// The proxy's own `502`s.
    pub bad_gateway: u64,
    /// The proxy's own `400`s.
    pub bad_request: u64,
}

/// What a world that is up has measured so far (`GET /stats`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpStats {
    /// The scenario.
    pub scenario: String,
    /// The mitigation the world was built with.
    pub mitigation: String,
    /// Scenario seconds since the world started.
    pub uptime_s: f64,
    /// Whether the built-in application runs.
    pub app: bool,
    /// The built-in application's requests so far.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// Errors by kind (the run report's figures).
    pub errors_by_kind: Vec<KindCount>,
    /// Attempts the upstream side saw.
    pub upstream_attempts: u64,
    /// Each pod's forward proxy.
    pub proxies: Vec<ProxyFigures>,
    /// Every middlebox's counters and event log.
    pub middleboxes: Vec<MiddleboxResult>,
    /// Timeline actions carried out, in order.
    pub applied: Vec<AppliedAction>,
}

impl UpStats {
    /// One line for the terminal when the world stops.
    pub fn summary_line(&self) -> String {
        let forwarded: u64 = self.proxies.iter().map(|p| p.forwarded).sum();
        format!(
            "meshsim up: stopped after {:.1} s: app {} requests, {} errors ({:.2}%); proxies forwarded {forwarded}; {} actions applied",
            self.uptime_s,
            self.requests,
            self.errors,
            self.error_rate * 100.0,
            self.applied.len()
        )
    }
}

/// The running world and what `up` added to it.
struct Session {
    scenario: Arc<Scenario>,
    mitigation: Mitigation,
    app: bool,
    world: World,
    collector: Arc<Mutex<Collector>>,
    start: Instant,
    proxies: Vec<(String, ProxyHandle)>,
    apps: tokio::task::JoinSet<()>,
    applied: Vec<AppliedAction>,
}

/// The world's thread: its own current-thread runtime, scaled when asked;
/// `ready` gets the endpoints once every address is bound.
pub(super) fn run(
    setup: Setup,
    ready: std::sync::mpsc::Sender<Endpoints>,
) -> Result<UpStats, EngineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EngineError::Runtime)?;
    rt.block_on(async move {
        // Every task of this runtime runs on this thread.
        let _scaled = crate::run::real_clock(setup.opts.time_scale)?.enter();
        let (session, endpoints, control, commands) = Session::open(&setup).await?;
        let _ = ready.send(endpoints);
        let mut session = session;
        session
            .serve(setup.stop, commands, setup.opts.timeline)
            .await;
        Ok(session.close(control).await)
    })
}

impl Session {
    /// Builds the world, the proxies, the application and the control
    /// endpoint.
    async fn open(
        setup: &Setup,
    ) -> Result<(Session, Endpoints, ControlHandle, mpsc::Receiver<Command>), EngineError> {
        let scenario = &setup.scenario;
        let mitigation = &setup.mitigation;
        let seed = setup.opts.seed.unwrap_or(scenario.seed);
        tracing::info!(scenario = %scenario.name, mitigation = %mitigation.name, seed, "up starts");
        let net = Net::real_with(RealConfig::default());
        let bucket = scenario.bucket_for(scenario.duration);
        let collector = Arc::new(Mutex::new(Collector::with_calls(
            bucket,
            scenario.call_labels(),
        )));
        let start = Instant::now();
        let deps = RunDeps {
            seed,
            start,
            sink: meshsim_app::RecordSink::collector(collector.clone()),
        };
        let world = World::build(scenario, mitigation, net.clone(), deps).await?;
        let fail = |what: &str, e: std::io::Error| EngineError::World {
            scenario: scenario.name.clone(),
            mitigation: mitigation.name.clone(),
            message: format!("{what}: {e}"),
        };
        let proxies = proxies(&world, scenario, mitigation, seed)
            .await
            .map_err(|(what, e)| fail(&what, e))?;
        let listener = net
            .stack(std::net::Ipv4Addr::LOCALHOST.into())
            .listen(0)
            .await
            .map_err(|e| fail("control endpoint", e))?;
        let control_addr = listener.local_addr();
        let endpoints =
            Endpoints::collect(&world, scenario, mitigation, &proxies, control_addr, seed);
        let (tx, rx) = mpsc::channel(16);
        let control = control::spawn(
            listener,
            control::Shared {
                scenario: scenario.clone(),
                endpoints: endpoints.clone(),
                commands: tx,
                stopper: setup.stopper.clone(),
            },
        );
        let mut session = Session {
            scenario: scenario.clone(),
            mitigation: mitigation.clone(),
            app: setup.opts.app,
            world,
            collector,
            start,
            proxies,
            apps: tokio::task::JoinSet::new(),
            applied: Vec::new(),
        };
        if setup.opts.app {
            session.start_apps(seed);
        }
        Ok((session, endpoints, control, rx))
    }

    /// The built-in application of every pod without a lifecycle (a pod
    /// with one is started by kubelet's task, which `up` does not run).
    fn start_apps(&mut self, seed: u64) {
        let mut first_call = 0;
        for pod in &self.scenario.pods {
            let sink = crate::run::offset_sink(self.collector.clone(), first_call);
            first_call += pod.calls.len();
            if pod.lifecycle.is_some() {
                tracing::warn!(pod = %pod.name, "up does not start pods with a lifecycle");
                continue;
            }
            let mut profile = pod.profile.clone();
            self.mitigation.app.apply(&mut profile);
            let config = AppConfig {
                profile,
                calls: pod.calls.clone(),
                dns_servers: vec![self.world.dns_addr()],
            };
            let deps = AppDeps {
                rng: SimRng::fork(seed, &format!("app:{}", pod.name)),
                proxy_log: self.world.proxy_log(pod),
                start: self.start,
                load_for: LOAD_FOR,
                drain_for: DRAIN_FOR,
            };
            let stack = self.world.app_stack(pod);
            let name = pod.name.clone();
            self.apps.spawn(async move {
                let r = meshsim_app::drive_with(config, stack, deps, RequestIds::new(), sink).await;
                if let Err(e) = r {
                    tracing::warn!(pod = %name, error = %e, "the application stopped");
                }
            });
        }
    }

    /// Serves commands (and the scenario's timeline when asked) until the
    /// stop signal.
    async fn serve(
        &mut self,
        mut stop: watch::Receiver<bool>,
        mut commands: mpsc::Receiver<Command>,
        play_timeline: bool,
    ) {
        let timeline = if play_timeline {
            self.scenario.timeline.clone()
        } else {
            Vec::new()
        };
        let mut next = 0;
        loop {
            if *stop.borrow_and_update() {
                return;
            }
            let due = timeline.get(next).map(|e| self.start + e.at);
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                Some(cmd) = commands.recv() => self.handle(cmd).await,
                () = until(due) => {
                    let action = timeline[next].action.clone();
                    next += 1;
                    self.apply(&action, "timeline").await;
                }
            }
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Apply { actions, reply } => {
                let mut done = Vec::new();
                for a in &actions {
                    done.push(self.apply(a, "ctl").await);
                }
                let _ = reply.send(done);
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
        }
    }

    async fn apply(&mut self, action: &Action, by: &str) -> AppliedAction {
        tracing::info!(what = %action.describe(), by, "applying");
        self.world.apply(action).await;
        let applied = AppliedAction {
            at_s: meshsim_core::stats::round3(self.start.elapsed().as_secs_f64()),
            what: action.describe(),
            by: by.to_string(),
        };
        self.applied.push(applied.clone());
        applied
    }

    /// The figures so far.
    fn stats(&self) -> UpStats {
        let uptime = self.start.elapsed();
        let r = self
            .collector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish(&self.mitigation.name, uptime);
        UpStats {
            scenario: self.scenario.name.clone(),
            mitigation: self.mitigation.name.clone(),
            uptime_s: meshsim_core::stats::round3(uptime.as_secs_f64()),
            app: self.app,
            requests: r.requests,
            errors: r.errors,
            error_rate: r.error_rate,
            errors_by_kind: r.errors_by_kind,
            upstream_attempts: r.upstream_attempts,
            proxies: self
                .proxies
                .iter()
                .map(|(pod, p)| proxy_figures(pod, p.stats()))
                .collect(),
            middleboxes: self.world.middlebox_results(),
            applied: self.applied.clone(),
        }
    }

    /// Stops the control endpoint, the proxies, the application and the
    /// world, in that order; the last figures.
    async fn close(self, control: ControlHandle) -> UpStats {
        control.shutdown().await;
        let stats = self.stats();
        for (_, p) in self.proxies {
            p.shutdown().await;
        }
        let mut apps = self.apps;
        apps.shutdown().await;
        self.world.shutdown().await;
        tracing::info!(scenario = %stats.scenario, "up stopped");
        stats
    }
}

/// Sleeps until `due`, or forever without one.
async fn until(due: Option<Instant>) {
    match due {
        Some(d) => meshsim_net::clock::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn proxy_figures(pod: &str, s: meshsim_app::ProxyStats) -> ProxyFigures {
    ProxyFigures {
        pod: pod.to_string(),
        connections: s.connections,
        forwarded: s.forwarded,
        tunnels: s.tunnels,
        bad_gateway: s.bad_gateway,
        bad_request: s.bad_request,
    }
}

/// A forward proxy per meshed pod started with the world, on the pod's
/// captured stack (what its application gets), as its client profile.
async fn proxies(
    world: &World,
    scenario: &Scenario,
    mitigation: &Mitigation,
    seed: u64,
) -> Result<Vec<(String, ProxyHandle)>, (String, std::io::Error)> {
    let mut out = Vec::new();
    for pod in scenario
        .pods
        .iter()
        .filter(|p| p.sidecar && p.lifecycle.is_none())
    {
        let stack = world.app_stack(pod);
        let listener = stack
            .listen(PROXY_PORT)
            .await
            .map_err(|e| (format!("forward proxy of pod {}", pod.name), e))?;
        let mut profile = pod.profile.clone();
        mitigation.app.apply(&mut profile);
        let config = ProxyConfig {
            dns_servers: vec![world.dns_addr()],
            profile,
        };
        let rng = SimRng::fork(seed, &format!("proxy:{}", pod.name));
        let handle = meshsim_app::serve_proxy(listener, stack, config, rng);
        out.push((pod.name.clone(), handle));
    }
    Ok(out)
}
