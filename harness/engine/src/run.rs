//! Running a scenario: one fresh world per mitigation, the same seed for each,
//! the application load and the timeline played concurrently.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_app::{AppConfig, AppDeps, RecordSink, RequestIds};
use meshsim_core::{Collector, MitigationResult, RunMode, RunResult, SimRng, TimelineMark};
use meshsim_net::clock::Instant;
use meshsim_net::{Net, RealConfig, SimConfig};

use crate::error::EngineError;

mod lag;
pub mod progress;
use crate::scenario::{Mitigation, Scenario};
use crate::world::{PodOutcome, RunDeps, World, run_pod};
use progress::{Progress, RunEvent};

/// Layout version of [`RunResult`] (see `reports/schema/`).
pub const SCHEMA_VERSION: u32 = 1;

/// How long in-flight requests may finish after the load phase before they
/// are recorded as timed out.
const DRAIN_FOR: Duration = Duration::from_secs(60);

/// Knobs of one run. `Default` runs every mitigation with the scenario's seed
/// and duration in sim mode.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Only these mitigations (in the scenario's order); empty = all. User
    /// mitigations (`--with`) always run.
    pub mitigations: Vec<String>,
    /// Overrides the scenario's duration.
    pub duration: Option<Duration>,
    /// Set from outside (Ctrl-C) to stop after the mitigation in progress; the
    /// result is then marked partial.
    pub interrupted: Option<Arc<AtomicBool>>,
    /// Real mode (`--real`): kernel sockets on loopback and the wall clock,
    /// instead of the simulated network on virtual time.
    pub real: bool,
    /// Real mode's `--time-scale`: wall seconds per scenario second (0.02
    /// plays a 15-minute incident in 18 s). Every duration of the run
    /// scales uniformly (see [`meshsim_net::clock`]); results stay in
    /// scenario units.
    pub time_scale: Option<f64>,
    /// Told when each mitigation starts and ends and as the load reaches
    /// each simulated second, for a progress display; never changes the
    /// result (see [`progress`]). `None`: nothing is told.
    pub progress: Option<Progress>,
}

impl RunOptions {
    /// The options' own errors, before anything runs.
    fn check(&self) -> Result<(), EngineError> {
        let invalid = |message: String| Err(EngineError::InvalidOption { message });
        if self.duration.is_some_and(|d| d.is_zero()) {
            return invalid("the run duration must be more than 0".into());
        }
        let Some(f) = self.time_scale else {
            return Ok(());
        };
        if !self.real {
            return invalid(
                "--time-scale applies to real runs only (add --real); simulated time needs no scaling"
                    .into(),
            );
        }
        real_clock(Some(f)).map(|_| ())
    }
}

/// Runs `scenario` under every selected mitigation, in sim mode. `on_done` is
/// called with the result so far after each mitigation, so a caller can write
/// reports as the run goes.
///
/// # Errors
/// [`EngineError::UnknownMitigation`] for a bad filter, [`EngineError::World`]
/// when a world cannot be built, [`EngineError::Runtime`].
pub fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    mut on_done: impl FnMut(&RunResult),
) -> Result<RunResult, EngineError> {
    opts.check()?;
    let selected = select(scenario, &opts.mitigations)?;
    let seed = opts.seed.unwrap_or(scenario.seed);
    let duration = opts.duration.unwrap_or(scenario.duration);
    tracing::info!(scenario = %scenario.name, seed, real = opts.real, "run starts");
    let mut result = empty_result(scenario, opts, seed, duration);
    for (i, m) in selected.iter().enumerate() {
        if opts
            .interrupted
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
        {
            result.partial = true;
            on_done(&result);
            break;
        }
        let count = selected.len();
        let tell = |event: RunEvent| opts.progress.iter().for_each(|p| p.emit(&event));
        tell(RunEvent::MitigationStarted {
            index: i,
            count,
            name: m.name.clone(),
            duration,
        });
        let clock = (opts.progress.clone()).map(|p| Arc::new(progress::Clock::new(p, i, duration)));
        let mut r = if opts.real {
            real_mitigation(scenario, m, (seed, duration), opts.time_scale, clock)?
        } else {
            sim_mitigation(scenario, m, seed, duration, clock)?
        };
        r.expectations = scenario
            .expectations
            .iter()
            .filter(|x| x.mitigation == m.name)
            .map(|x| x.evaluate(&r))
            .collect();
        result.mitigations.push(r);
        tell(RunEvent::MitigationFinished {
            index: i,
            count,
            name: m.name.clone(),
        });
        // Reports written now say whether more mitigations are to come.
        result.partial = i + 1 < selected.len();
        on_done(&result);
    }
    Ok(result)
}

/// The run's result before any mitigation ran.
fn empty_result(
    scenario: &Scenario,
    opts: &RunOptions,
    seed: u64,
    duration: Duration,
) -> RunResult {
    RunResult {
        schema_version: SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        summary: scenario.summary.clone(),
        seed,
        mode: if opts.real {
            RunMode::Real
        } else {
            RunMode::Sim
        },
        time_scale: opts.time_scale.filter(|_| opts.real),
        duration_s: duration.as_secs_f64(),
        events: scenario
            .timeline
            .iter()
            .filter(|e| e.at < duration)
            .map(|e| TimelineMark {
                at_s: e.at.as_secs_f64(),
                what: e.action.describe(),
            })
            .collect(),
        mitigations: Vec::new(),
        partial: false,
    }
}

fn select<'a>(
    scenario: &'a Scenario,
    names: &[String],
) -> Result<Vec<&'a Mitigation>, EngineError> {
    for n in names {
        if scenario.mitigation(n).is_none() {
            let known: Vec<&str> = scenario
                .mitigations
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            return Err(EngineError::UnknownMitigation {
                scenario: scenario.name.clone(),
                name: n.clone(),
                known: known.join(", "),
            });
        }
    }
    Ok(scenario
        .mitigations
        .iter()
        .filter(|m| names.is_empty() || names.contains(&m.name) || m.user_file.is_some())
        .collect())
}

/// Runs one mitigation in a fresh simulated world on its own paused-clock
/// runtime. Expectations are left empty.
///
/// # Errors
/// [`EngineError::World`] or [`EngineError::Runtime`].
pub fn run_mitigation(
    scenario: &Scenario,
    mitigation: &Mitigation,
    seed: u64,
    duration: Duration,
) -> Result<MitigationResult, EngineError> {
    sim_mitigation(scenario, mitigation, seed, duration, None)
}

/// [`run_mitigation`], telling `clock` how far the load got.
fn sim_mitigation(
    scenario: &Scenario,
    mitigation: &Mitigation,
    seed: u64,
    duration: Duration,
    clock: Option<Arc<progress::Clock>>,
) -> Result<MitigationResult, EngineError> {
    // Time only: a simulated world does no kernel I/O, and without an I/O
    // driver the runtime never polls epoll between virtual-time jumps.
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time().start_paused(true);
    // Tokio's own random choices (which of a `watch` channel's notifiers a
    // receiver waits on, hence the wake order of tasks woken at the same
    // virtual instant) follow the run's seed (`.cargo/config.toml` sets
    // `tokio_unstable`; lib.rs refuses to build without it).
    builder.rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()));
    let rt = builder.build().map_err(EngineError::Runtime)?;
    rt.block_on(async {
        let net = Net::sim(SimConfig {
            seed,
            base_latency: scenario.network.latency,
            jitter: scenario.network.jitter,
            ..SimConfig::default()
        });
        drive(scenario, mitigation, net, (seed, duration), clock).await
    })
}

/// Runs one mitigation in a fresh world on kernel sockets on loopback, on
/// its own current-thread runtime with the wall clock, scaled by
/// `time_scale` (wall seconds per scenario second) when given. Expectations
/// are left empty.
///
/// # Errors
/// [`EngineError::InvalidOption`] for a scale out of range,
/// [`EngineError::World`] or [`EngineError::Runtime`].
pub fn run_mitigation_real(
    scenario: &Scenario,
    mitigation: &Mitigation,
    seed: u64,
    duration: Duration,
    time_scale: Option<f64>,
) -> Result<MitigationResult, EngineError> {
    real_mitigation(scenario, mitigation, (seed, duration), time_scale, None)
}

/// [`run_mitigation_real`], telling `clock` how far the load got.
fn real_mitigation(
    scenario: &Scenario,
    mitigation: &Mitigation,
    (seed, duration): (u64, Duration),
    time_scale: Option<f64>,
    clock: Option<Arc<progress::Clock>>,
) -> Result<MitigationResult, EngineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EngineError::Runtime)?;
    rt.block_on(async {
        // Every task of this runtime runs on this thread: the scale holds
        // for the whole world.
        let _scaled = real_clock(time_scale)?.enter();
        let net = Net::real_with(RealConfig::default());
        let lag = lag::Watch::start();
        let result = drive(scenario, mitigation, net, (seed, duration), clock).await;
        lag.stop().await.warn_if_behind(&mitigation.name);
        let left = tasks_left().await;
        if left > 0 {
            LEFTOVER_TASKS.fetch_add(left as u64, Ordering::SeqCst);
            tracing::warn!(left, mitigation = %mitigation.name, "tasks still alive after the world shut down");
        }
        result
    })
}

/// The clock of a real world: scaled by `time_scale` (wall seconds per
/// scenario second) when given, and, scaled or not, with its timers on the
/// precise clock thread (tokio's wheel fires on whole milliseconds).
///
/// # Errors
/// [`EngineError::InvalidOption`] for a scale out of range.
pub(crate) fn real_clock(
    time_scale: Option<f64>,
) -> Result<meshsim_net::clock::TimeScale, EngineError> {
    meshsim_net::clock::TimeScale::start(time_scale.unwrap_or(1.0))
        .map(meshsim_net::clock::TimeScale::with_precise_timers)
        .map_err(|e| EngineError::InvalidOption {
            message: e.to_string(),
        })
}

/// Tasks found alive after a real world shut down, over the process's life
/// (see [`leftover_tasks`]).
static LEFTOVER_TASKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many tasks real runs of this process left alive after their world
/// shut down: 0 when every component stops what it spawned (the runtime
/// would drop them anyway, but a leak inside a run is a leak in `meshsim up`).
pub fn leftover_tasks() -> u64 {
    LEFTOVER_TASKS.load(Ordering::SeqCst)
}

/// Tasks alive on this runtime besides the caller, once aborted tasks have
/// had the scheduler's turns they need to be freed.
async fn tasks_left() -> usize {
    let handle = tokio::runtime::Handle::current();
    for _ in 0..1000 {
        if handle.metrics().num_alive_tasks() == 0 {
            return 0;
        }
        tokio::task::yield_now().await;
    }
    handle.metrics().num_alive_tasks()
}

/// A sink that numbers a pod's calls after the calls of the pods before it.
pub(crate) fn offset_sink(collector: Arc<Mutex<Collector>>, first_call: usize) -> RecordSink {
    RecordSink::new(move |mut r| {
        r.call += first_call;
        collector
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&r);
    })
}

/// Builds the world, plays load and timeline together, collects, tears down.
async fn drive(
    scenario: &Scenario,
    mitigation: &Mitigation,
    net: Net,
    (seed, duration): (u64, Duration),
    clock: Option<Arc<progress::Clock>>,
) -> Result<MitigationResult, EngineError> {
    let labels = scenario.call_labels();
    let bucket = scenario.bucket_for(duration);
    let collector = Arc::new(Mutex::new(Collector::with_calls(bucket, labels)));
    let start = Instant::now();
    let deps = RunDeps {
        seed,
        start,
        sink: RecordSink::collector(collector.clone()),
    };
    let world = World::build(scenario, mitigation, net, deps).await?;
    let mut first_call = 0;
    let mut apps = tokio::task::JoinSet::new();
    let mut pods = tokio::task::JoinSet::new();
    for (index, pod) in scenario.pods.iter().enumerate() {
        let mut profile = pod.profile.clone();
        mitigation.app.apply(&mut profile);
        let config = AppConfig {
            profile,
            calls: pod.calls.clone(),
            dns_servers: vec![world.dns_addr()],
        };
        let sink = progress::observed(offset_sink(collector.clone(), first_call), clock.as_ref());
        first_call += pod.calls.len();
        let times = (duration, DRAIN_FOR);
        if let Some((cx, terminate)) =
            world.pod_ctx(pod, mitigation, config.clone(), sink.clone(), seed, times)
        {
            pods.spawn(async move { (index, run_pod(cx, terminate).await) });
            continue;
        }
        let deps = AppDeps {
            rng: SimRng::fork(seed, &format!("app:{}", pod.name)),
            proxy_log: world.proxy_log(pod),
            start,
            load_for: duration,
            drain_for: DRAIN_FOR,
        };
        let stack = world.app_stack(pod);
        let name = pod.name.clone();
        let ids = RequestIds::new();
        apps.spawn(async move {
            let stats = meshsim_app::drive_with(config, stack, deps, ids, sink).await;
            (name, stats.map_err(|e| e.to_string()))
        });
    }
    let timeline = scenario.timeline.iter().filter(|e| e.at < duration);
    for event in timeline {
        meshsim_net::clock::sleep_until(start + event.at).await;
        tracing::debug!(at = ?event.at, what = %event.action.describe(), "timeline");
        world.apply(&event.action).await;
    }
    let mut failure = None;
    while let Some(joined) = apps.join_next().await {
        let problem = match joined {
            Ok((pod, Ok(stats))) => {
                tracing::info!(%pod, ?stats, "application done");
                None
            }
            Ok((pod, Err(e))) => Some(format!("the application of pod {pod} stopped: {e}")),
            Err(e) => Some(format!("an application task failed: {e}")),
        };
        failure = failure.or(problem);
    }
    let (lifecycles, problem) = join_pods(scenario, pods).await;
    failure = failure.or(problem);
    let access_log = world.access_log();
    let middleboxes = world.middlebox_results();
    let probes = world.probe_results();
    for b in &middleboxes {
        tracing::info!(middlebox = %b.name, counters = ?b.counters, mitigation = %mitigation.name, "middlebox");
    }
    world.shutdown().await;
    if let Some(message) = failure {
        // A run that measured nothing must not pass its expectations.
        return Err(EngineError::World {
            scenario: scenario.name.clone(),
            mitigation: mitigation.name.clone(),
            message,
        });
    }
    let c = collector.lock().unwrap_or_else(|e| e.into_inner());
    let mut result = c.finish(&mitigation.name, duration);
    result.access_log = access_log;
    result.middleboxes = middleboxes;
    result.pods = lifecycles;
    result.probes = probes;
    Ok(result)
}

/// Every lifecycle pod's figures in the scenario's order, and the first
/// problem of an application that could not run.
async fn join_pods(
    scenario: &Scenario,
    mut pods: tokio::task::JoinSet<(usize, PodOutcome)>,
) -> (Vec<meshsim_core::PodLifecycleResult>, Option<String>) {
    let mut done = Vec::new();
    let mut failure = None;
    while let Some(joined) = pods.join_next().await {
        match joined {
            Ok((index, outcome)) => {
                if let Some(Err(e)) = &outcome.app {
                    let pod = &scenario.pods[index].name;
                    failure =
                        failure.or(Some(format!("the application of pod {pod} stopped: {e}")));
                }
                done.push((index, outcome.result));
            }
            Err(e) => failure = failure.or(Some(format!("a pod task failed: {e}"))),
        }
    }
    done.sort_by_key(|(i, _)| *i);
    (done.into_iter().map(|(_, r)| r).collect(), failure)
}
