//! kubelet's start-up of a pod with a lifecycle.
//!
//! - The redirect: the Istio CNI plugin installs it at sandbox creation,
//!   before any init container; without CNI, `istio-init` is the *last* init
//!   container, so user init containers run unredirected (fact sheet §6.5).
//! - Init containers run one at a time, each to completion; a failed one is
//!   restarted after kubelet's back-off (10 s doubling, at most 5 min) and
//!   the pod goes no further until it succeeds.
//! - Regular containers start one after another in spec order, kubelet
//!   waiting only for each one's postStart hook (fact sheet §6.2, [K1]): the
//!   injector puts istio-proxy last, so the app starts first; with
//!   `holdApplicationUntilProxyStarts` istio-proxy is first and its postStart
//!   `pilot-agent wait` polls `/healthz/ready` every 500 ms for up to 60 s
//!   (§6.3); a failed hook kills the container, restarted after the back-off.
//! - Native sidecars: istio-proxy is an init container with `restartPolicy:
//!   Always` after istio-init (istio-validation with CNI) and before the user
//!   init containers; kubelet moves on when its startup probe (`/healthz/ready`
//!   every 1 s, 600 failures allowed) passes (§6.4).

use std::sync::Arc;
use std::time::Duration;

use meshsim_app::{AppConfig, AppDeps, CallSpec, Lifecycle};
use meshsim_core::SimRng;
use meshsim_net::clock::sleep;
use meshsim_sidecar::SidecarDeps;
use meshsim_sidecar::agent::{WaitReady, wait_ready};

use super::{AGENT_STATUS_PORT, Pod, READINESS_PORT};
use crate::scenario::{CaptureInstall, InitContainerSpec, PROXY_UID};

/// kubelet's restart back-off: 10 s, doubling, at most 300 s.
pub(super) fn backoff(restarts: u32) -> Duration {
    let secs = 10u64.saturating_mul(1 << restarts.min(5));
    Duration::from_secs(secs.min(300))
}

impl Pod {
    /// Starts the pod as kubelet does; returns once the application
    /// container started (the application's own start goes on in its task).
    pub(super) async fn start_up(&mut self) -> bool {
        let injected = self.injected();
        let cni = injected && self.cx.spec.capture == CaptureInstall::Cni;
        if cni {
            self.log
                .note("pod sandbox: istio-cni installs the redirect to 15001");
        }
        if self.native() {
            self.run_istio_init(cni).await;
            if !self.start_native_proxy().await {
                return false;
            }
            self.run_init_containers(true).await;
            self.start_app().await;
        } else if injected {
            if cni {
                self.run_istio_init(true).await;
                self.run_init_containers(true).await;
            } else {
                self.run_init_containers(false).await;
                self.run_istio_init(false).await;
            }
            self.start_regular_containers().await;
        } else {
            self.run_init_containers(false).await;
            self.start_app().await;
        }
        true
    }

    /// `istio-init` (installs the redirect) or, with CNI, `istio-validation`.
    async fn run_istio_init(&mut self, cni: bool) {
        sleep(self.cx.spec.container_start).await;
        if cni {
            self.log.note("istio-validation: redirect checked");
        } else {
            self.log.note("istio-init: redirect to 15001 installed");
        }
    }

    /// Classic injection: the app, then istio-proxy (last in spec order);
    /// with holdApplicationUntilProxyStarts, istio-proxy first and the app
    /// after its postStart hook.
    async fn start_regular_containers(&mut self) {
        if self.cx.settings.hold_application_until_proxy_starts == Some(true) {
            self.start_proxy_with_post_start().await;
            self.probe_proxy();
            self.start_app().await;
        } else {
            self.start_app().await;
            self.start_proxy().await;
            self.probe_proxy();
        }
    }

    /// The istio-proxy container starts: pilot-agent boots Envoy.
    async fn start_proxy(&mut self) {
        sleep(self.cx.spec.container_start).await;
        self.log.note("container istio-proxy started");
        let s = self.cx.spec.sidecar_startup;
        let startup = meshsim_sidecar::Startup {
            admin: s.admin,
            xds: s.xds,
            warm: s.warm,
        };
        let deps = SidecarDeps {
            rng: SimRng::fork(self.cx.seed, &format!("sidecar:{}", self.cx.pod.name)),
            proxy_log: self.cx.proxy_log.clone(),
            identity: self.cx.mesh.identity(&self.cx.pod.name),
        };
        let stack = self.cx.net.stack(self.address());
        let config = self.cx.mesh.entry_config();
        match meshsim_sidecar::boot(config, stack, deps, startup).await {
            Ok(h) => {
                if let Some(sample) = &self.cx.sample {
                    h.sample_access_log(sample.clone());
                }
                let h = Arc::new(h);
                self.cx.mesh.attach_entry(h.clone()).await;
                self.sidecar = Some(h);
            }
            Err(e) => self.log.note(format!("istio-proxy failed to start: {e}")),
        }
    }

    /// kubelet's startup probe on istio-proxy (the injected one: `/healthz/ready`
    /// every 1 s, 600 failures allowed): when it passes the container is
    /// Ready (`2/2` once the app runs). A native sidecar's is awaited by
    /// kubelet itself ([`Pod::start_native_proxy`]).
    fn probe_proxy(&mut self) {
        let stack = self.cx.net.stack(self.address());
        let readiness = (self.address(), READINESS_PORT).into();
        let log = self.log.clone();
        self.probes.push(tokio::spawn(async move {
            if wait_ready(&stack, readiness, startup_probe()).await.is_ok() {
                log.note("istio-proxy Ready: kubelet's startup probe (every 1 s) passed");
            }
        }));
    }

    /// istio-proxy first with its postStart `pilot-agent wait`; a hook that
    /// gives up kills the container, restarted after kubelet's back-off.
    async fn start_proxy_with_post_start(&mut self) {
        let mut restarts = 0;
        loop {
            self.start_proxy().await;
            let readiness = (self.address(), READINESS_PORT).into();
            let stack = self.cx.net.stack(self.address());
            match wait_ready(&stack, readiness, WaitReady::default()).await {
                Ok(_) => {
                    self.log
                        .note("istio-proxy postStart `pilot-agent wait` returned: ready");
                    return;
                }
                Err(e) => {
                    let wait = backoff(restarts);
                    self.log.note(format!(
                        "FailedPostStartHook: {e}; istio-proxy killed, restarted in {}",
                        meshsim_core::units::format_duration(wait)
                    ));
                    if let Some(s) = self.sidecar.take() {
                        s.exit();
                    }
                    sleep(wait).await;
                    restarts += 1;
                }
            }
        }
    }

    /// A native sidecar: started as a restartable init container; kubelet
    /// waits for its startup probe (every 1 s, up to 600 failures).
    async fn start_native_proxy(&mut self) -> bool {
        self.start_proxy().await;
        let readiness = (self.address(), READINESS_PORT).into();
        let stack = self.cx.net.stack(self.address());
        match wait_ready(&stack, readiness, startup_probe()).await {
            Ok(_) => {
                self.log
                    .note("istio-proxy (native sidecar) startup probe passed");
                true
            }
            Err(e) => {
                self.log
                    .note(format!("istio-proxy startup probe failed 600 times: {e}"));
                false
            }
        }
    }

    /// Every user init container in order, each until it succeeds.
    async fn run_init_containers(&mut self, redirected: bool) {
        for init in self.cx.spec.init_containers.clone() {
            let uid = self.cx.settings.init_run_as_user.or(init.run_as_user);
            let captured = redirected && uid != Some(PROXY_UID);
            let mut restarts = 0;
            while !self.run_init_once(&init, captured).await {
                let wait = backoff(restarts);
                self.log.note(format!(
                    "init container {}: back-off {} before restart",
                    init.name,
                    meshsim_core::units::format_duration(wait)
                ));
                sleep(wait).await;
                restarts += 1;
            }
        }
    }

    /// One run of an init container; whether it succeeded.
    async fn run_init_once(&mut self, init: &InitContainerSpec, captured: bool) -> bool {
        sleep(self.cx.spec.container_start).await;
        self.init_runs += 1;
        self.log
            .note(format!("init container {} started", init.name));
        let mut profile = self.cx.app.profile.clone();
        profile.retry = (init.retries > 0).then_some(meshsim_app::AppRetry {
            attempts: init.retries,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
            on: meshsim_app::RetryOn::ConnectFailure,
        });
        let config = AppConfig {
            profile,
            calls: init.calls.iter().map(|u| one_call(u)).collect(),
            dns_servers: self.cx.app.dns_servers.clone(),
        };
        let deps = self.app_deps(&format!("init:{}:{}", init.name, self.init_runs));
        let stack = self.stack(captured);
        match meshsim_app::run_once(config, stack, deps, self.ids.clone()).await {
            Ok(Ok(())) => {
                self.log
                    .note(format!("init container {} completed", init.name));
                true
            }
            Err(e) => {
                self.init_failures += 1;
                self.log
                    .note(format!("init container {} cannot run: {e}", init.name));
                false
            }
            Ok(Err(f)) => {
                self.init_failures += 1;
                self.log.note(format!(
                    "init container {} failed: {} -> {}",
                    init.name, init.calls[f.call], f.kind
                ));
                false
            }
        }
    }

    /// What a run lends one of the pod's processes.
    fn app_deps(&self, stream: &str) -> AppDeps {
        AppDeps {
            rng: SimRng::fork(self.cx.seed, &format!("app:{}:{stream}", self.cx.pod.name)),
            proxy_log: self.cx.proxy_log.clone(),
            start: self.cx.start,
            load_for: self.cx.load_for,
            drain_for: self.cx.drain_for,
        }
    }

    /// The application container starts; its own start (waiting for the
    /// sidecar, warming up) and its load go on in its own task.
    pub(super) async fn start_app(&mut self) {
        sleep(self.cx.spec.container_start).await;
        self.app_started = Some(self.log.now());
        self.log.note("container app started");
        let wait = self.injected() && self.cx.settings.app_waits_for_sidecar == Some(true);
        let quit = self.injected() && self.cx.settings.quit_sidecar_when_done == Some(true);
        let on_done =
            quit.then(|| format!("http://{}:{AGENT_STATUS_PORT}/quitquitquit", self.address()));
        let stack = self.stack(self.injected());
        let readiness = (self.address(), READINESS_PORT).into();
        let warmup = self.cx.spec.app_warmup;
        let config = self.cx.app.clone();
        let deps = self.app_deps("main");
        let control = self.control.clone();
        let sink = self.track.wrap(self.cx.sink.clone());
        let ids = self.ids.clone();
        let log = self.log.clone();
        let exit = self.app_exit_tx.clone();
        let start = self.cx.start;
        let load_end = start + self.cx.load_for;
        self.app = Some(tokio::spawn(async move {
            if wait {
                app_waits(&stack, readiness, &log, load_end).await;
            }
            sleep(warmup).await;
            let begin = meshsim_net::clock::Instant::now().saturating_duration_since(start);
            let lc = Lifecycle {
                begin,
                control: Some(control),
                on_done,
            };
            let r = meshsim_app::drive_lifecycle(config, stack, deps, ids, sink, lc).await;
            exit.send_replace(Some(log.now()));
            r
        }));
    }
}

/// The application polls `/healthz/ready` itself (a start script's
/// `until curl -fs localhost:15021/healthz/ready; do sleep 1; done`), at
/// most until the run's load ends.
async fn app_waits(
    stack: &meshsim_net::Stack,
    readiness: std::net::SocketAddr,
    log: &super::Log,
    until: meshsim_net::clock::Instant,
) {
    let opts = WaitReady {
        period: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        give_up: until.saturating_duration_since(meshsim_net::clock::Instant::now()),
    };
    match wait_ready(stack, readiness, opts).await {
        Ok(_) => log.note("app: the sidecar answered /healthz/ready 200"),
        Err(e) => log.note(format!("app: gave up waiting for the sidecar: {e}")),
    }
}

/// Istio's injected startup probe on istio-proxy: period 1 s, timeout 3 s,
/// failure threshold 600 (fact sheet §6.2).
fn startup_probe() -> WaitReady {
    WaitReady {
        period: Duration::from_secs(1),
        request_timeout: Duration::from_secs(3),
        give_up: Duration::from_secs(600),
    }
}

/// An init container's request to `url`.
fn one_call(url: &str) -> CallSpec {
    CallSpec {
        url: url.to_string(),
        method: http::Method::GET,
        rate: meshsim_core::Rate::ONE_PER_SECOND,
        arrival: meshsim_app::Arrival::Constant,
        count: Some(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_back_off_doubles_from_ten_seconds_up_to_five_minutes() {
        let secs: Vec<u64> = (0..7).map(|r| backoff(r).as_secs()).collect();
        assert_eq!(secs, vec![10, 20, 40, 80, 160, 300, 300]);
    }
}
