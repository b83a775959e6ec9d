//! The request a finished Job makes to let its pod complete:
//! `POST http://<pod>:15020/quitquitquit` (pilot-agent, Istio >= 1.3), which
//! stops the sidecar (INC-11).

use std::sync::Mutex;
use std::time::Duration;

use meshsim_core::Outcome;
use meshsim_net::clock::Instant;
use tokio::sync::watch;

use super::control::{AppControl, killed};
use crate::config::Call;
use crate::drive::{Counters, Shared};
use crate::ids::RequestIds;
use crate::pool::Pool;
use crate::request::call_once;
use crate::tasks::Tracker;

/// POSTs `call` once through a client like the load's (same profile, name
/// service and retry) but without keep-alive (`connection: close`, no body,
/// no pooling), bounded by the profile's `request_timeout` or else by
/// `bound`. Returns its outcome, or `None` when SIGKILL came first.
pub(super) async fn post(
    load: &Shared,
    call: Call,
    ids: &RequestIds,
    bound: Duration,
    signals: &Option<AppControl>,
) -> Option<Outcome> {
    let mut profile = load.profile.clone();
    profile.keep_alive = false;
    profile.request_timeout = profile.request_timeout.or(Some(bound));
    let (stop_tx, stop) = watch::channel(false);
    let client = Shared {
        profile,
        calls: vec![call],
        stack: load.stack.clone(),
        names: load.names.clone(),
        proxy_log: load.proxy_log.clone(),
        start: load.start,
        pool: Mutex::new(Pool::default()),
        conn_tasks: Tracker::new(),
        stop,
        counters: Counters::default(),
        sink: load.sink.clone(),
    };
    let at = Instant::now() - client.start;
    let outcome = tokio::select! {
        biased;
        () = killed(signals) => None,
        record = call_once(&client, 0, ids.issue(), at) => Some(record.outcome),
    };
    stop_tx.send_replace(true);
    client.conn_tasks.idle().await;
    outcome
}
