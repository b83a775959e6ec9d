//! The load loop: schedule -> spawn one task per request -> drain -> stop.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meshsim_core::{Collector, ErrorKind, Outcome, ProxyLog, RequestRecord, SimRng};
use meshsim_net::Stack;
use meshsim_net::clock::Instant;
use tokio::sync::watch;

use crate::AppError;
use crate::config::{AppConfig, AppDeps, Call, Plan};
use crate::ids::{RecordSink, RequestIds};
use crate::lifecycle::{Hooks, run_lifecycle};
use crate::pool::Pool;
use crate::profile::ClientProfile;
use crate::resolve::{Resolve, dns_resolver};
use crate::tasks::Tracker;

/// Counts of one [`drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriveStats {
    /// Requests the schedule started: one record each, except those
    /// `abandoned` at SIGKILL.
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
    /// Requests in flight when the application was killed
    /// ([`crate::AppControl::kill`]): started, never recorded (no one observed
    /// an outcome). `scheduled` = records + `abandoned`.
    pub abandoned: u64,
    /// Retries the application's own [`crate::AppRetry`] made (tries after
    /// the first, over every request).
    pub app_retries: u64,
    /// The outcome of the [`crate::Lifecycle::on_done`] request, when it was
    /// made (not a load record).
    pub on_done: Option<Outcome>,
}

/// Where records go.
pub(crate) type Sink = Arc<dyn Fn(RequestRecord) + Send + Sync>;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) completed: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) dns_lookups: AtomicU64,
    pub(crate) dns_cache_hits: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) app_retries: AtomicU64,
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
/// `load -> drain -> stop -> wait for every task`, as a container kubelet
/// never signals.
pub(crate) async fn run(
    profile: ClientProfile,
    plan: Plan,
    stack: Stack,
    deps: AppDeps,
    run_deps: RunDeps,
) -> DriveStats {
    run_lifecycle(profile, plan, stack, deps, run_deps, Hooks::default()).await
}

impl Counters {
    pub(crate) fn stats(&self, scheduled: u64) -> DriveStats {
        DriveStats {
            scheduled,
            completed: self.completed.load(Ordering::Relaxed),
            connections_opened: self.connections_opened.load(Ordering::Relaxed),
            dns_lookups: self.dns_lookups.load(Ordering::Relaxed),
            dns_cache_hits: self.dns_cache_hits.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
            app_retries: self.app_retries.load(Ordering::Relaxed),
            on_done: None,
        }
    }
}
