//! pilot-agent's `terminate()` (istio `pkg/envoy/agent.go`; fact sheet
//! §6.6): drain the inbound listeners, then kill Envoy after
//! `terminationDrainDuration`, or with `EXIT_ON_ZERO_ACTIVE_CONNECTIONS` once
//! the active downstream connections reach zero.

use std::sync::Arc;
use std::time::Duration;

use super::{Drain, Phase};
use crate::runtime::Env;

/// How often pilot-agent reads `downstream_cx_active`
/// (`activeConnectionCheckDelay`).
const ACTIVE_CONNECTION_CHECK_DELAY: Duration = Duration::from_secs(1);

/// Starts the drain (Envoy admin `drain_listeners?inboundonly&graceful`):
/// inbound HTTP responses carry `connection: close` from now on.
pub(crate) fn start_drain(env: &Env) {
    if env.lifecycle.advance(Phase::Draining) {
        tracing::info!("agent draining proxy: inbound listeners only");
    }
}

/// `POST /drain` (native sidecars' preStop `pilot-agent request POST
/// drain`): drain now; a later SIGTERM exits at once (`DrainNow` sets
/// `skipDrain`).
pub(crate) fn drain_now(env: &Env) {
    start_drain(env);
    env.lifecycle.skip_drain();
}

/// pilot-agent's SIGTERM handling, to its end (the exit).
pub(crate) async fn terminate(env: Arc<Env>, drain: Drain) {
    if env.lifecycle.drain_skipped() {
        tracing::info!("agent already drained, exiting immediately");
        exit(&env);
        return;
    }
    start_drain(&env);
    if drain.exit_on_zero_active_connections {
        wait_for_zero_connections(&env, drain.minimum_drain_duration).await;
    } else {
        meshsim_net::clock::sleep(drain.termination_drain_duration).await;
        tracing::info!("graceful termination period complete, terminating proxy");
    }
    exit(&env);
}

/// Sleeps `minimum`, then every second reads the active downstream
/// connections, until there are none or the stat does not exist.
async fn wait_for_zero_connections(env: &Env, minimum: Duration) {
    meshsim_net::clock::sleep(minimum).await;
    loop {
        meshsim_net::clock::sleep(ACTIVE_CONNECTION_CHECK_DELAY).await;
        match active_connections(env) {
            None => {
                tracing::info!("downstream_cx_active not available, skipping the check");
                return;
            }
            Some(0) => {
                tracing::info!("no more active connections, terminating proxy");
                return;
            }
            Some(n) => tracing::info!(active = n, "still active connections"),
        }
    }
}

/// The active downstream connections of every listener pilot-agent counts
/// (all but readiness 15021, stats 15090 and admin: here the capture
/// listeners, whose connections include the app's own to 15001); `None`
/// while no such listener ever accepted a connection (Envoy's
/// `/stats?usedonly` has no `downstream_cx_active` line: the agent's
/// `ac == -1`).
pub(crate) fn active_connections(env: &Env) -> Option<u64> {
    env.stats.read(|s| {
        let ever = s.downstream_cx_total + s.inbound_downstream_cx_total;
        (ever > 0).then_some(s.downstream_cx_active + s.inbound_downstream_cx_active)
    })
}

/// Envoy and pilot-agent exit now: every task ends, so every listener
/// closes (captured connects are refused again) and every socket is closed
/// as the kernel closes a dead process's (FIN; RST where unread data was
/// left). The phase becomes `Exited` once all of it is gone.
pub(crate) fn exit(env: &Arc<Env>) {
    if !env.lifecycle.begin_exit() {
        return;
    }
    tracing::info!("envoy and pilot-agent exit");
    let tasks = env.tasks.take();
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // No runtime to wait in: dropping the set aborts every task.
        drop(tasks);
        env.lifecycle.advance(Phase::Exited);
        return;
    };
    let env = env.clone();
    // Outside the sidecar's task set, which it ends: the caller may be one
    // of its tasks.
    runtime.spawn(async move {
        if let Some(mut set) = tasks {
            set.shutdown().await;
        }
        env.lifecycle.advance(Phase::Exited);
    });
}
