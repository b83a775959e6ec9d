//! What the kubelet's probes of a service's pods saw, per mitigation: how
//! many probes ran and failed, when the pod left and rejoined the Ready
//! set (and so the endpoints), and the kubelet's messages. Only services
//! with a probe (`world.services[].readiness_probe`) have one per pod.

use serde::{Deserialize, Serialize};

use super::PodEvent;

/// One pod's readiness probe figures and its event log.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The pod's name (`<service>-<n>`, `<service>-<version>-<n>`).
    pub pod: String,
    /// The probe as `kubectl describe pod` shows it after injection, e.g.
    /// `http-get http://:15020/app-health/orders/readyz`.
    pub check: String,
    /// Whether Istio's injector rewrote the probe to pilot-agent.
    pub rewritten: bool,
    /// Probes run.
    pub probes: u64,
    /// Of those, probes that failed.
    pub failures: u64,
    /// Seconds from the start of the run until the pod first went NotReady
    /// (`None`: it never did).
    pub first_not_ready_s: Option<f64>,
    /// Seconds the pod spent NotReady while it ran, up to the end of the
    /// run or its stop (a pod started during the run counts from its start
    /// until its first passing probe).
    pub not_ready_for_s: f64,
    /// Transitions and the first failure of each streak, oldest first
    /// (`at_s` from the start of the run), at most
    /// [`ProbeResult::MAX_EVENTS`].
    pub events: Vec<PodEvent>,
}

impl ProbeResult {
    /// The most events kept per pod.
    pub const MAX_EVENTS: usize = 40;
}
