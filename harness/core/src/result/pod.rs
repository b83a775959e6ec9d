//! What a pod's lifecycle cost, per mitigation: how long its start-up took,
//! which calls failed while its sidecar was not ready, what its termination
//! broke, and whether (and when) it completed. Only pods whose scenario
//! models a lifecycle (`world.pods[].lifecycle`) have one.

use serde::{Deserialize, Serialize};

/// One pod's lifecycle figures and its event log.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PodLifecycleResult {
    /// The pod's `name`.
    pub pod: String,
    /// Seconds from the pod's creation until its application container
    /// started (`None`: it never started within the run).
    pub app_start_s: Option<f64>,
    /// Seconds until the sidecar was ready (`/healthz/ready` 200).
    pub sidecar_ready_s: Option<f64>,
    /// Seconds until the application's first request (`None`: none).
    pub first_request_s: Option<f64>,
    /// Seconds until the end of the application's first successful request.
    pub first_success_s: Option<f64>,
    /// Failed requests that started before the first successful one: the
    /// start-up burst.
    pub startup_failures: u64,
    /// Failed requests that were in flight at SIGTERM or started after it.
    pub termination_failures: u64,
    /// Requests in flight when the application was killed (SIGKILL at the
    /// end of the grace period): no outcome was ever seen.
    pub abandoned: u64,
    /// Init-container runs (first runs and restarts).
    pub init_runs: u64,
    /// Of those, runs that failed.
    pub init_failures: u64,
    /// Seconds until every container of the pod had exited (a Job's
    /// completion, a terminated pod gone); `None`: still running at the end.
    pub completion_s: Option<f64>,
    /// What happened, oldest first.
    pub events: Vec<PodEvent>,
}

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodEvent {
    /// Seconds from the pod's creation (the start of the run).
    pub at_s: f64,
    /// What happened, e.g. `istio-proxy: ready (/healthz/ready 200)`.
    pub what: String,
}
