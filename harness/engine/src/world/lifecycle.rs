//! Pods with a lifecycle (`world.pods[].lifecycle`): kubelet's model of a
//! pod from its creation at time zero to its deletion or completion, with
//! the sidecar's real start-up phases (fact sheet §6, incidents.md INC-07,
//! INC-08, INC-09, INC-11).
//!
//! One task per pod: [`run_pod`] plays the start-up ([`start`]: sandbox and
//! CNI, init containers in order with their restart back-off, istio-init,
//! containers in spec order with postStart hooks, native sidecars and their
//! startup probe), then waits for the pod's deletion (`pod.terminate`) or its
//! application's exit ([`stop`]: preStop hooks, SIGTERM, pilot-agent's drain,
//! the grace period's SIGKILL, a Job's completion), and reports what it cost
//! ([`track`]).

mod start;
mod stop;
mod track;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use meshsim_app::{AppConfig, AppControl, AppError, DriveStats, RecordSink, RequestIds};
use meshsim_core::{PodLifecycleResult, ProxyLog};
use meshsim_net::clock::{Instant, sleep_until};
use meshsim_net::{Capture, Net, Stack};
use meshsim_sidecar::{AccessLogSample, Phase, SidecarHandle};
use tokio::sync::watch;

use super::mesh::Mesh;
use crate::scenario::{LifecycleSpec, PodSettings, PodSpec};
use track::{Log, Tracker};

/// pilot-agent's status port (`/quitquitquit`).
const AGENT_STATUS_PORT: u16 = 15020;
/// Envoy's readiness port (`/healthz/ready`).
const READINESS_PORT: u16 = 15021;

/// What one lifecycle pod is given.
pub(crate) struct PodCtx {
    pub(crate) pod: PodSpec,
    pub(crate) spec: LifecycleSpec,
    /// The lifecycle's settings under the mitigation's.
    pub(crate) settings: PodSettings,
    pub(crate) net: Net,
    pub(crate) mesh: Arc<Mesh>,
    /// The pod's entry in the report's access-log sample.
    pub(crate) sample: Option<AccessLogSample>,
    pub(crate) seed: u64,
    pub(crate) start: Instant,
    /// The application container (profile with the mitigation applied).
    pub(crate) app: AppConfig,
    pub(crate) proxy_log: ProxyLog,
    pub(crate) sink: RecordSink,
    pub(crate) load_for: Duration,
    pub(crate) drain_for: Duration,
}

/// What a lifecycle pod's task returns.
pub(crate) struct PodOutcome {
    pub(crate) result: PodLifecycleResult,
    /// The application's drive, when its container started (an error says
    /// why it stopped).
    pub(crate) app: Option<Result<DriveStats, String>>,
}

/// A pod in progress.
struct Pod {
    cx: PodCtx,
    log: Log,
    track: Tracker,
    ids: RequestIds,
    sidecar: Option<Arc<SidecarHandle>>,
    /// Kubelet's signals to the application container.
    control: AppControl,
    /// The application's drive, once its container started.
    app: Option<tokio::task::JoinHandle<Result<DriveStats, AppError>>>,
    /// kubelet's probes of istio-proxy, stopped at the end.
    probes: Vec<tokio::task::JoinHandle<()>>,
    /// When the application exited (set by its task).
    app_exit: watch::Receiver<Option<Duration>>,
    app_exit_tx: watch::Sender<Option<Duration>>,
    /// When the application container started.
    app_started: Option<Duration>,
    /// When the pod's deletion began.
    sigterm: Option<Duration>,
    /// When every container had exited.
    completed: Option<Duration>,
    init_runs: u64,
    init_failures: u64,
}

impl Pod {
    fn injected(&self) -> bool {
        self.cx.settings.injected(self.cx.pod.sidecar)
    }

    fn native(&self) -> bool {
        self.injected() && self.cx.settings.native_sidecar == Some(true)
    }

    fn address(&self) -> IpAddr {
        self.cx.pod.address
    }

    /// The redirect the pod's containers see (exclusions applied).
    fn capture(&self) -> Capture {
        Capture {
            exclude_ranges: self
                .cx
                .settings
                .exclude_outbound_ip_ranges
                .clone()
                .unwrap_or_default(),
            exclude_ports: self
                .cx
                .settings
                .exclude_outbound_ports
                .clone()
                .unwrap_or_default(),
            ..Capture::default()
        }
    }

    /// A container's stack: redirected when the pod has a sidecar and the
    /// container's traffic is captured.
    fn stack(&self, captured: bool) -> Stack {
        if captured {
            self.cx.net.pod_stack(self.address(), self.capture())
        } else {
            self.cx.net.stack(self.address())
        }
    }

    /// Whether a Job's work is done when its calls are (every call counted).
    fn is_job(&self) -> bool {
        !self.cx.pod.calls.is_empty() && self.cx.pod.calls.iter().all(|c| c.count.is_some())
    }
}

/// Runs one pod from its creation to the end of the run; every task it
/// started is gone when it returns (its sidecar belongs to the mesh, which
/// shuts it down with the world).
pub(crate) async fn run_pod(cx: PodCtx, mut terminate: watch::Receiver<bool>) -> PodOutcome {
    let (app_exit_tx, app_exit) = watch::channel(None);
    let end = cx.start + cx.load_for + cx.drain_for;
    let mut pod = Pod {
        log: Log::new(cx.start),
        track: Tracker::default(),
        ids: RequestIds::new(),
        sidecar: None,
        control: AppControl::new(),
        app: None,
        probes: Vec::new(),
        app_exit,
        app_exit_tx,
        app_started: None,
        sigterm: None,
        completed: None,
        init_runs: 0,
        init_failures: 0,
        cx,
    };
    tokio::select! {
        biased;
        () = pod.life(&mut terminate) => {}
        () = sleep_until(end) => {}
    }
    pod.finish().await
}

impl Pod {
    /// Start-up, then running until deletion or the application's exit.
    async fn life(&mut self, terminate: &mut watch::Receiver<bool>) {
        let load_end = self.cx.start + self.cx.load_for;
        let started = tokio::select! {
            biased;
            () = signalled(terminate) => false,
            started = self.start_up() => started,
            () = sleep_until(load_end) => false,
        };
        if !started {
            // Deleted during start-up, or never started within the load.
            let deleted = *terminate.borrow();
            if deleted {
                self.deleted_early().await;
            }
            return;
        }
        // A deletion that came as the app started is handled from here.
        self.running(terminate).await;
    }

    /// The pod is deleted before its application started: kubelet kills
    /// what runs (no work is in flight yet).
    async fn deleted_early(&mut self) {
        let now = self.log.now();
        self.sigterm = Some(now);
        self.log.note("pod deleted before its application started");
        self.control.kill();
        if let Some(s) = &self.sidecar {
            s.exit();
            s.exited().await;
        }
        self.completed = Some(self.log.now());
    }

    /// The figures, the log, and the application's drive.
    async fn finish(mut self) -> PodOutcome {
        for p in self.probes.drain(..) {
            p.abort();
            let _ = p.await;
        }
        // The application's drive ends on its own by the end of the drain.
        let app = match self.app.take() {
            Some(task) => Some(match task.await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("its task failed: {e}")),
            }),
            None => None,
        };
        let mut result = PodLifecycleResult {
            pod: self.cx.pod.name.clone(),
            init_runs: self.init_runs,
            init_failures: self.init_failures,
            completion_s: self.completed.map(|d| d.as_secs_f64()),
            ..PodLifecycleResult::default()
        };
        if let Some(Ok(stats)) = &app {
            result.abandoned = stats.abandoned;
        }
        self.track.fill(&mut result, self.sigterm);
        if let Some(s) = &self.sidecar {
            for (at, phase) in s.phase_log() {
                let at = at.saturating_duration_since(self.cx.start);
                if phase == Phase::Ready && result.sidecar_ready_s.is_none() {
                    result.sidecar_ready_s = Some(at.as_secs_f64());
                }
                self.log
                    .note_at(at, format!("istio-proxy: {}", describe(phase)));
            }
        }
        result.app_start_s = self.app_started.map(|d| d.as_secs_f64());
        result.events = self.log.events();
        PodOutcome { result, app }
    }
}

/// How the report shows a sidecar phase.
fn describe(phase: Phase) -> &'static str {
    match phase {
        Phase::Starting => "pilot-agent started",
        Phase::AdminUp => "Envoy admin up (15000)",
        Phase::ConfigReceived => "first CDS/LDS received from istiod",
        Phase::Ready => "workers started, listeners accept (/healthz/ready 200)",
        Phase::Draining => "draining inbound listeners",
        Phase::Exited => "exited (listeners closed; the redirect stays)",
    }
}

/// Resolves once `pod.terminate` came (the watch guard is not held on).
pub(super) async fn signalled(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|t| *t).await;
}

/// Resolves once the application exited.
pub(super) async fn exited(rx: &mut watch::Receiver<Option<Duration>>) {
    let _ = rx.wait_for(Option::is_some).await;
}
