//! Init containers: a pod's one-shot setup steps (fetch config, run a
//! migration, wait for a dependency) that must all succeed before the app
//! container starts.
//!
//! INC-08: with a non-native sidecar, the redirect rules exist before the
//! init containers run but the proxy starts only after all of them, so their
//! egress is refused; the kubelet-side consequence (`Init:Error`, restarts)
//! is the engine's. [`run_once`] is the container's work: each call once, in
//! order, stopping at the first failure, through the same client as the load
//! (profile, DNS, [`crate::AppRetry`]). A shell's `until curl ...; do sleep
//! 1; done` is modelled by a generous retry on connect failure.

use std::sync::Mutex;
use std::time::Duration;

use meshsim_core::{ErrorKind, Outcome, ResponseFlags, SimRng};
use meshsim_net::Stack;
use meshsim_net::clock::Instant;
use tokio::sync::watch;

use crate::AppError;
use crate::config::{AppConfig, AppDeps, Plan};
use crate::drive::{Counters, Shared};
use crate::ids::RequestIds;
use crate::pool::Pool;
use crate::request::call_once;
use crate::resolve::dns_resolver;
use crate::tasks::Tracker;

/// Why an init container failed: its first call that did not answer 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("init call {call} failed with {kind} at {at:?}")]
pub struct InitFailure {
    /// The index of the failed call in `config.calls`.
    pub call: usize,
    /// How it failed (a non-2xx status is [`ErrorKind::Http`]).
    pub kind: ErrorKind,
    /// When it failed, from `deps.start`: the container's exit time.
    pub at: Duration,
}

/// Runs an init container: each call of `config.calls` once, in order, one
/// request each (connections may be pooled between them), stopping at the
/// first failure. Returns when the container exits, with every connection
/// closed. Only `deps.rng`, `deps.proxy_log` and `deps.start` are used (there
/// is no schedule, so no `load_for` / `drain_for`); the calls' rates, arrivals
/// and counts are ignored. A call only needs its status: 2xx succeeds,
/// anything else (or no response) is the failure.
///
/// # Errors
/// The outer error is an [`AppError`] for the configuration (as
/// [`crate::drive()`]), before any request; `Ok(Err(failure))` is the
/// container failing.
pub async fn run_once(
    config: AppConfig,
    stack: Stack,
    mut deps: AppDeps,
    ids: RequestIds,
) -> Result<Result<(), InitFailure>, AppError> {
    let plan = Plan::new(&config)?;
    let rng = SimRng::new(deps.rng.next_u64());
    let names = dns_resolver(&config.profile, &config.dns_servers, &stack, rng);
    let (stop_tx, stop) = watch::channel(false);
    let client = Shared {
        profile: config.profile,
        calls: plan.calls,
        stack,
        names,
        proxy_log: deps.proxy_log,
        start: deps.start,
        pool: Mutex::new(Pool::default()),
        conn_tasks: Tracker::new(),
        stop,
        counters: Counters::default(),
        // Init calls are not load records.
        sink: std::sync::Arc::new(|_| {}),
    };
    let result = each_call(&client, &ids).await;
    stop_tx.send_replace(true);
    client
        .pool
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    client.conn_tasks.idle().await;
    Ok(result)
}

/// Every call once, in order, until one fails.
async fn each_call(client: &Shared, ids: &RequestIds) -> Result<(), InitFailure> {
    for call in 0..client.calls.len() {
        let at = Instant::now() - client.start;
        let record = call_once(client, call, ids.issue(), at).await;
        if let Some(kind) = failure(record.outcome) {
            return Err(InitFailure {
                call,
                kind,
                at: record.ended,
            });
        }
    }
    Ok(())
}

/// The failure an outcome means for a step that needs a 2xx.
fn failure(outcome: Outcome) -> Option<ErrorKind> {
    match outcome {
        Outcome::Ok { status } if (200..300).contains(&status) => None,
        Outcome::Ok { status } => Some(ErrorKind::Http {
            status,
            flags: ResponseFlags::NONE,
        }),
        Outcome::Error(kind) => Some(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_2xx_status_is_success() {
        assert_eq!(failure(Outcome::Ok { status: 204 }), None);
        let not_found = ErrorKind::Http {
            status: 404,
            flags: ResponseFlags::NONE,
        };
        assert_eq!(failure(Outcome::Ok { status: 404 }), Some(not_found));
        let refused = Outcome::Error(ErrorKind::ConnectRefused);
        assert_eq!(failure(refused), Some(ErrorKind::ConnectRefused));
    }
}
