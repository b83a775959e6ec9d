//! A running pod's end: its deletion (`pod.terminate`) or its application's
//! exit (a Job's work done).
//!
//! Deletion, as kubelet does it (incidents.md INC-09; fact sheet §6.4, §6.6):
//! every container's preStop hook runs, then that container gets SIGTERM;
//! whatever still runs at the end of `terminationGracePeriodSeconds` (from
//! the deletion) is killed. The application keeps working for
//! `app_shutdown` after its SIGTERM. pilot-agent on SIGTERM drains the
//! inbound listeners and exits after `terminationDrainDuration` (or, with
//! `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`, once no connection is left); a native
//! sidecar starts draining at the deletion (its preStop) and gets SIGTERM
//! only after the application exited, then exits at once.
//!
//! A Job completes when every container exited: a classic sidecar never
//! exits on its own (INC-11) unless the application posted
//! `/quitquitquit`; a native sidecar is stopped by kubelet once the
//! application exited.

use meshsim_core::units::format_duration;
use meshsim_net::clock::{sleep, sleep_until};
use tokio::sync::watch;

use super::{Pod, exited, signalled};

impl Pod {
    /// Waits for the pod's deletion or its application's exit, and plays
    /// what follows.
    pub(super) async fn running(&mut self, terminate: &mut watch::Receiver<bool>) {
        let mut exit = self.app_exit.clone();
        tokio::select! {
            biased;
            () = signalled(terminate) => self.delete().await,
            () = exited(&mut exit) => self.app_exited(terminate).await,
        }
    }

    /// pilot-agent's drain settings (ProxyConfig, Istio's defaults).
    fn drain(&self) -> meshsim_sidecar::Drain {
        let (drain_for, exit_on_zero, minimum) = self.cx.settings.drain();
        meshsim_sidecar::Drain {
            termination_drain_duration: drain_for,
            exit_on_zero_active_connections: exit_on_zero,
            minimum_drain_duration: minimum,
        }
    }

    /// The application exited by itself; a deletion afterwards stops what
    /// is left (a Job's classic sidecar).
    async fn app_exited(&mut self, terminate: &mut watch::Receiver<bool>) {
        let at = self.app_exit.borrow().unwrap_or_default();
        if !self.is_job() {
            // A service-like app only stops because the run's load ended.
            return;
        }
        self.log.note_at(at, "container app exited (its work done)");
        let Some(sidecar) = self.sidecar.clone() else {
            self.completed = Some(at);
            self.log.note_at(at, "pod completed");
            return;
        };
        if self.native() {
            self.log
                .note("kubelet stops the native sidecar: SIGTERM to istio-proxy");
            sidecar.exit();
        } else if self.cx.settings.quit_sidecar_when_done != Some(true) {
            self.log
                .note("istio-proxy keeps running: the pod never completes (2/2 -> 1/2 Running)");
        }
        tokio::select! {
            biased;
            () = sidecar.exited() => {}
            () = signalled(terminate) => {
                self.sigterm = Some(self.log.now());
                self.log.note("pod deleted: SIGTERM to istio-proxy");
                sidecar.terminate(self.drain());
                sidecar.exited().await;
            }
        }
        let done = self.log.now();
        self.completed = Some(done);
        self.log.note("pod completed");
    }

    /// `pod.terminate`: preStop hooks, SIGTERM, the grace period.
    async fn delete(&mut self) {
        let now = self.log.now();
        self.sigterm = Some(now);
        let grace = self.cx.settings.grace_period();
        self.log.note(format!(
            "pod deleted: preStop hooks, then SIGTERM; SIGKILL at {} (grace period {})",
            format_duration(now + grace),
            format_duration(grace)
        ));
        let deadline = meshsim_net::clock::Instant::now() + grace;
        let both = async {
            tokio::join!(self.stop_app(), self.stop_proxy());
        };
        let killed = tokio::select! {
            biased;
            () = both => false,
            () = sleep_until(deadline) => true,
        };
        if killed {
            self.log
                .note("grace period over: SIGKILL to every container left");
            self.control.kill();
            if let Some(s) = &self.sidecar {
                s.exit();
            }
            let mut exit = self.app_exit.clone();
            exited(&mut exit).await;
            if let Some(s) = &self.sidecar {
                s.exited().await;
            }
        }
        self.completed = Some(self.log.now());
        self.log.note("pod gone: every container exited");
    }

    /// The application container: its preStop, SIGTERM, its own shutdown.
    async fn stop_app(&self) {
        if let Some(d) = self.cx.settings.app_pre_stop.filter(|d| !d.is_zero()) {
            self.log
                .note(format!("app preStop: sleep {}", format_duration(d)));
            sleep(d).await;
        }
        let keep = self.cx.spec.app_shutdown;
        self.log.note(format!(
            "SIGTERM to app: it keeps working {} then exits",
            format_duration(keep)
        ));
        self.control.terminate(keep);
        let mut exit = self.app_exit.clone();
        exited(&mut exit).await;
        let at = self.app_exit.borrow().unwrap_or_default();
        self.log.note_at(at, "container app exited");
    }

    /// The istio-proxy container: classic (preStop, SIGTERM, drain) or
    /// native (drain at once, SIGTERM after the application exited).
    async fn stop_proxy(&self) {
        let Some(sidecar) = self.sidecar.clone() else {
            return;
        };
        if self.native() {
            self.log
                .note("istio-proxy preStop: `pilot-agent request POST drain` (native sidecar)");
            sidecar.drain();
            let mut exit = self.app_exit.clone();
            exited(&mut exit).await;
            self.log.note(
                "SIGTERM to istio-proxy after the app exited: drained already, it exits at once",
            );
            sidecar.terminate(self.drain());
        } else {
            if let Some(d) = self.cx.settings.proxy_pre_stop.filter(|d| !d.is_zero()) {
                self.log
                    .note(format!("istio-proxy preStop: sleep {}", format_duration(d)));
                sleep(d).await;
            }
            self.log.note(describe_drain(&self.drain()));
            sidecar.terminate(self.drain());
        }
        sidecar.exited().await;
    }
}

/// How the log shows pilot-agent's reaction to SIGTERM.
fn describe_drain(d: &meshsim_sidecar::Drain) -> String {
    if d.exit_on_zero_active_connections {
        format!(
            "SIGTERM to istio-proxy: inbound drain; EXIT_ON_ZERO_ACTIVE_CONNECTIONS: after {}, exit once no connection is open",
            format_duration(d.minimum_drain_duration)
        )
    } else {
        format!(
            "SIGTERM to istio-proxy: inbound drain, Envoy killed after terminationDrainDuration {}",
            format_duration(d.termination_drain_duration)
        )
    }
}
