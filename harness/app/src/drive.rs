//! The load loop: schedule -> spawn one task per request -> drain -> stop.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meshsim_core::{Collector, ErrorKind, ProxyLog, RequestRecord, SimRng};
use meshsim_net::Stack;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::AppError;
use crate::config::{AppConfig, AppDeps, Call, Plan};
use crate::ids::{RecordSink, RequestIds};
use crate::pool::Pool;
use crate::profile::ClientProfile;
use crate::request::run_request;
use crate::resolve::{Resolve, dns_resolver};
use crate::schedule::Schedule;
use crate::tasks::Tracker;

/// Counts of one [`drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriveStats {
    /// Requests the schedule started (one record each).
    pub scheduled: u64,
    /// Requests whose outcome (success or failure, including their own
    /// request timeout) was known before the drain ended; the others were
    /// recorded as `RequestTimeout` when it did.
    pub completed: u64,
    /// TCP connections established.
    pub connections_opened: u64,
    /// Name lookups the client made (one per dial to a host name), whether its
    /// cache or a DNS server answered.
    pub dns_lookups: u64,
    /// Of `dns_lookups`, those the client's own cache answered.
    pub dns_cache_hits: u64,
}

/// Where records go.
pub(crate) type Sink = Arc<dyn Fn(RequestRecord) + Send + Sync>;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) completed: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) dns_lookups: AtomicU64,
    pub(crate) dns_cache_hits: AtomicU64,
}

/// Everything the request tasks of one application share.
pub(crate) struct Shared {
    pub(crate) profile: ClientProfile,
    pub(crate) calls: Vec<Call>,
    pub(crate) stack: Stack,
    pub(crate) names: Arc<dyn Resolve>,
    pub(crate) proxy_log: ProxyLog,
    pub(crate) start: Instant,
    // A short std critical section, never held across an await.
    pub(crate) pool: Mutex<Pool>,
    /// Connection tasks; request tasks are tracked by `run`.
    pub(crate) conn_tasks: Tracker,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) counters: Counters,
    pub(crate) sink: Sink,
}

impl Shared {
    /// The first address of `name`, through the client's cache.
    pub(crate) async fn lookup(&self, name: &str) -> Result<IpAddr, ErrorKind> {
        self.counters.dns_lookups.fetch_add(1, Ordering::Relaxed);
        let answer = self.names.resolve(name).await.map_err(ErrorKind::Dns)?;
        if answer.from_cache {
            self.counters.dns_cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(answer.addr)
    }
}

/// Runs the application: schedules every call's requests from `deps.start`
/// for `deps.load_for`, each in its own task at its scheduled time (open loop,
/// no coordinated omission), and records one [`RequestRecord`] per request
/// into `sink`. In-flight requests get at most `deps.drain_for` after the
/// load phase; those still unfinished are recorded as `RequestTimeout`.
/// Returns once every task it spawned (requests, connections) is gone.
///
/// # Errors
/// [`AppError::InvalidUrl`] / [`AppError::UnsupportedScheme`] for a call's URL,
/// [`AppError::NoDnsServers`] when a call names a host and no DNS server is
/// configured; both before any request is made.
pub async fn drive(
    config: AppConfig,
    stack: Stack,
    deps: AppDeps,
    sink: Arc<Mutex<Collector>>,
) -> Result<DriveStats, AppError> {
    let sink = RecordSink::collector(sink);
    drive_with(config, stack, deps, RequestIds::new(), sink).await
}

/// [`drive`] with the pod's request-id source and any record sink: give it
/// the same [`RequestIds`] as the pod's [`crate::serve()`], so that the ids
/// of the pod's requests, which key its sidecar's [`ProxyLog`], never
/// collide.
///
/// # Errors
/// As [`drive`].
pub async fn drive_with(
    config: AppConfig,
    stack: Stack,
    mut deps: AppDeps,
    ids: RequestIds,
    sink: RecordSink,
) -> Result<DriveStats, AppError> {
    let plan = Plan::new(&config)?;
    let rng = SimRng::new(deps.rng.next_u64());
    let names = dns_resolver(&config.profile, &config.dns_servers, &stack, rng);
    let run_deps = RunDeps {
        names,
        ids,
        sink: sink.0,
    };
    Ok(run(config.profile, plan, stack, deps, run_deps).await)
}

/// What [`run`] takes besides the plan: name service, id source, sink.
pub(crate) struct RunDeps {
    pub(crate) names: Arc<dyn Resolve>,
    pub(crate) ids: RequestIds,
    pub(crate) sink: Sink,
}

/// [`drive`] with the name service and the record sink given:
/// `load -> drain -> stop -> wait for every task`.
pub(crate) async fn run(
    profile: ClientProfile,
    plan: Plan,
    stack: Stack,
    mut deps: AppDeps,
    run_deps: RunDeps,
) -> DriveStats {
    let (stop_tx, stop) = watch::channel(false);
    let schedule = Schedule::new(&plan.rates(), deps.load_for, &mut deps.rng);
    let shared = Arc::new(Shared {
        profile,
        calls: plan.calls,
        stack,
        names: run_deps.names,
        proxy_log: deps.proxy_log.clone(),
        start: deps.start,
        pool: Mutex::new(Pool::default()),
        conn_tasks: Tracker::new(),
        stop,
        counters: Counters::default(),
        sink: run_deps.sink,
    });
    let requests = Tracker::new();
    let scheduled = load(&shared, &requests, schedule, &run_deps.ids).await;
    let drain_end = deps.start + deps.load_for + deps.drain_for;
    tokio::select! {
        biased;
        () = requests.idle() => {}
        () = sleep_until(drain_end) => {}
    }
    // Unfinished requests record `RequestTimeout`; connection tasks end.
    stop_tx.send_replace(true);
    requests.idle().await;
    shared
        .pool
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    shared.conn_tasks.idle().await;
    shared.counters.stats(scheduled)
}

/// Starts every request of `schedule` at its time, each in its own task;
/// returns how many were started.
async fn load(
    shared: &Arc<Shared>,
    requests: &Tracker,
    schedule: Schedule,
    ids: &RequestIds,
) -> u64 {
    let mut scheduled = 0u64;
    for (call, offset) in schedule {
        sleep_until(shared.start + offset).await;
        scheduled += 1;
        // x-request-id: the pod's counter, shared with its server side.
        requests.spawn(run_request(shared.clone(), call, ids.issue(), offset));
    }
    scheduled
}

impl Counters {
    fn stats(&self, scheduled: u64) -> DriveStats {
        DriveStats {
            scheduled,
            completed: self.completed.load(Ordering::Relaxed),
            connections_opened: self.connections_opened.load(Ordering::Relaxed),
            dns_lookups: self.dns_lookups.load(Ordering::Relaxed),
            dns_cache_hits: self.dns_cache_hits.load(Ordering::Relaxed),
        }
    }
}
