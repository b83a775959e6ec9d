//! The lifecycle part of [`SidecarHandle`]: phases, drain and exit.

use std::net::SocketAddr;
use std::sync::Arc;

use meshsim_net::clock::Instant;

use super::{Drain, Phase, shutdown};
use crate::SidecarHandle;
use crate::runtime::Env;

impl SidecarHandle {
    fn env(&self) -> Arc<Env> {
        self.live.current().env.clone()
    }

    /// pilot-agent's status server (`pod-ip:15020`), when [`crate::boot`]
    /// bound it.
    pub fn status_addr(&self) -> Option<SocketAddr> {
        self.status_addr
    }

    /// The phase now ([`crate::spawn`]: `Ready` from the start).
    pub fn phase(&self) -> Phase {
        self.env().lifecycle.phase()
    }

    /// Resolves once the sidecar reached `phase` or a later one.
    pub async fn wait_for(&self, phase: Phase) {
        self.env().lifecycle.wait_for(phase).await;
    }

    /// Every phase transition so far with its (virtual) time, in order; the
    /// first entry is the start.
    pub fn phase_log(&self) -> Vec<(Instant, Phase)> {
        self.env().lifecycle.log()
    }

    /// pilot-agent's SIGTERM: drain the inbound listeners, then exit as
    /// `drain` says (after `termination_drain_duration`, or with
    /// `exit_on_zero_active_connections` once no downstream connection is
    /// left). After [`SidecarHandle::drain`] or `/drain`, exits at once.
    pub fn terminate(&self, drain: Drain) {
        let env = self.env();
        env.tasks.spawn(shutdown::terminate(env.clone(), drain));
    }

    /// Starts draining only (native sidecars' preStop `pilot-agent request
    /// POST drain`); a later [`SidecarHandle::terminate`] exits at once.
    pub fn drain(&self) {
        shutdown::drain_now(&self.env());
    }

    /// Envoy and the agent exit now (SIGKILL; the native sidecar's SIGTERM
    /// after the app stopped): every listener closes and every connection
    /// the sidecar holds is closed.
    pub fn exit(&self) {
        shutdown::exit(&self.env());
    }

    /// Resolves once the sidecar exited.
    pub async fn exited(&self) {
        self.wait_for(Phase::Exited).await;
    }
}
