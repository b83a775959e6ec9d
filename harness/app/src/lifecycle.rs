//! The application container's life as kubelet runs it: when it starts
//! calling ([`Lifecycle::begin`]), the signals it gets ([`AppControl`]:
//! SIGTERM, SIGKILL), a Job's bounded work ([`crate::CallSpec::count`]) and
//! what it does when done ([`Lifecycle::on_done`], a Job calling
//! `/quitquitquit` on its sidecar's agent).
//!
//! [`drive_lifecycle`] returning *is* the container exiting: the engine takes
//! that moment as the exit time. The load loop is the one of [`crate::drive()`]
//! (`load -> drain -> stop -> wait for every task`); the lifecycle only decides
//! when the load phase ends and whether the drain is cut short:
//! - the schedule runs out (at `load_for`, or after the last counted request
//!   when every call has a count): in-flight requests get `drain_for` more;
//! - SIGTERM with `keep_working`: requests are still scheduled for
//!   `keep_working` (the app finishes its batch), then the drain as above;
//! - SIGKILL: nothing more is scheduled and in-flight requests vanish with the
//!   process, unrecorded (counted in [`DriveStats::abandoned`]).

mod control;
mod on_done;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::SimRng;
use meshsim_net::Stack;
use meshsim_net::clock::{Instant, sleep_until};
use tokio::sync::watch;

use crate::AppError;
use crate::config::{AppConfig, AppDeps, Call, Plan, check_resolvable};
use crate::drive::{Counters, DriveStats, RunDeps, Shared};
use crate::ids::{RecordSink, RequestIds};
use crate::pool::Pool;
use crate::profile::ClientProfile;
use crate::request::run_request;
use crate::resolve::dns_resolver;
use crate::schedule::Schedule;
use crate::tasks::Tracker;

pub use control::AppControl;
pub(crate) use control::LoadEnd;

/// How kubelet runs the application container (see [`drive_lifecycle`]).
/// The default is [`crate::drive_with`]'s behaviour: calls from the start,
/// never signalled, nothing posted when done.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// Requests are scheduled from `start + begin` (the app's first call) to
    /// `start + load_for`; the schedule's first request is at `begin` (not a
    /// burst of the requests "missed" before it; a Poisson call draws its
    /// first gap from `begin`). Call [`drive_lifecycle`] no later than
    /// `start + begin`: a request whose time has passed starts at once.
    /// Default 0.
    pub begin: Duration,
    /// Signals from kubelet; `None` (default): never signalled.
    pub control: Option<AppControl>,
    /// A URL the application POSTs (`connection: close`, no body) once its
    /// load is done and its in-flight requests finished, before it returns:
    /// a Job calling `POST http://localhost:15020/quitquitquit` (pass the
    /// pod's own address: traffic to it stays on `lo` and is never captured,
    /// fact sheet §6.1). Made after SIGTERM too (a wrapper's `trap ...
    /// EXIT`), never after SIGKILL. Its outcome is
    /// [`DriveStats::on_done`], not a load record. `None` (default): nothing.
    pub on_done: Option<String>,
}

/// What [`run_lifecycle`] takes from a [`Lifecycle`], validated.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    pub(crate) begin: Duration,
    pub(crate) control: Option<AppControl>,
    pub(crate) on_done: Option<Call>,
}

/// [`crate::drive_with`] under kubelet's control: schedules every call's
/// requests from `start + lc.begin` to `start + load_for` (each call at most
/// its [`crate::CallSpec::count`] times), obeys `lc.control`'s SIGTERM and
/// SIGKILL, posts `lc.on_done` when done, and returns when the container
/// exits: once every task and connection it made is gone.
///
/// # Errors
/// As [`crate::drive()`], for the calls and for `lc.on_done`'s URL, and
/// [`AppError::InvalidRetryBackoff`] for the profile's retry; all before any
/// request is made.
pub async fn drive_lifecycle(
    config: AppConfig,
    stack: Stack,
    mut deps: AppDeps,
    ids: RequestIds,
    sink: RecordSink,
    lc: Lifecycle,
) -> Result<DriveStats, AppError> {
    let plan = Plan::new(&config)?;
    let on_done = match lc.on_done.as_deref() {
        None => None,
        Some(url) => Some(Call::new(url, &http::Method::POST)?),
    };
    check_resolvable(on_done.as_slice(), &config.dns_servers)?;
    let rng = SimRng::new(deps.rng.next_u64());
    let names = dns_resolver(&config.profile, &config.dns_servers, &stack, rng);
    let run_deps = RunDeps {
        names,
        ids,
        sink: sink.0,
    };
    let hooks = Hooks {
        begin: lc.begin,
        control: lc.control,
        on_done,
    };
    Ok(run_lifecycle(config.profile, plan, stack, deps, run_deps, hooks).await)
}

/// `load -> drain (unless killed) -> stop -> wait for every task -> on_done`.
pub(crate) async fn run_lifecycle(
    profile: ClientProfile,
    plan: Plan,
    stack: Stack,
    mut deps: AppDeps,
    run_deps: RunDeps,
    hooks: Hooks,
) -> DriveStats {
    let (stop_tx, stop) = watch::channel(false);
    let schedule = Schedule::new(&plan.rates(), deps.load_for, &mut deps.rng)
        .limited(plan.counts())
        .starting_at(hooks.begin);
    let shared = Arc::new(client(profile, plan.calls, stack, &deps, &run_deps, stop));
    let signals = hooks.control;
    let requests = Tracker::new();
    let load_end = deps.start + deps.load_for;
    let ids = &run_deps.ids;
    let (scheduled, end) = load(&shared, &requests, schedule, ids, &signals, load_end).await;
    tracing::debug!(scheduled, ?end, "application load ended");
    let killed = match end {
        LoadEnd::Killed => true,
        LoadEnd::Drain { from } => drain(&requests, from + deps.drain_for, &signals).await,
    };
    // Unfinished requests record `RequestTimeout` (or vanish, when killed);
    // connection tasks end.
    stop_tx.send_replace(true);
    requests.idle().await;
    shared
        .pool
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    shared.conn_tasks.idle().await;
    let mut stats = shared.counters.stats(scheduled);
    if let (false, Some(call)) = (killed, hooks.on_done) {
        let bound = deps.drain_for;
        stats.on_done = on_done::post(&shared, call, &run_deps.ids, bound, &signals).await;
    }
    stats
}

/// The load's client: a fresh pool and counters over the run's name service.
fn client(
    profile: ClientProfile,
    calls: Vec<Call>,
    stack: Stack,
    deps: &AppDeps,
    run_deps: &RunDeps,
    stop: watch::Receiver<bool>,
) -> Shared {
    Shared {
        profile,
        calls,
        stack,
        names: run_deps.names.clone(),
        proxy_log: deps.proxy_log.clone(),
        start: deps.start,
        pool: Mutex::new(Pool::default()),
        conn_tasks: Tracker::new(),
        stop,
        counters: Counters::default(),
        sink: run_deps.sink.clone(),
    }
}

/// Starts every request of `schedule` at its time, each in its own task,
/// until the schedule runs out or a signal ends the load; returns how many
/// were started and how the load ended. `load_end` is `start + load_for`.
async fn load(
    shared: &Arc<Shared>,
    requests: &Tracker,
    mut schedule: Schedule,
    ids: &RequestIds,
    signals: &Option<AppControl>,
    load_end: Instant,
) -> (u64, LoadEnd) {
    let mut scheduled = 0u64;
    for (call, offset) in schedule.by_ref() {
        tokio::select! {
            biased;
            end = control::halted(signals) => return (scheduled, end),
            () = sleep_until(shared.start + offset) => {}
        }
        scheduled += 1;
        // x-request-id: the pod's counter, shared with its server side.
        let request = run_request(shared.clone(), call, ids.issue(), offset);
        requests.spawn(control::unless_killed(
            signals.clone(),
            shared.clone(),
            request,
        ));
    }
    // A Job's load is over with its last request; any other at `load_for`.
    let from = if schedule.counts_done() {
        Instant::now()
    } else {
        load_end
    };
    (scheduled, LoadEnd::Drain { from })
}

/// Waits for the in-flight requests until `until`; returns whether SIGKILL
/// came first.
async fn drain(requests: &Tracker, until: Instant, signals: &Option<AppControl>) -> bool {
    tokio::select! {
        biased;
        () = control::killed(signals) => true,
        () = requests.idle() => false,
        () = sleep_until(until) => false,
    }
}
