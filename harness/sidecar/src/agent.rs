//! pilot-agent and the Envoy process's lifecycle: start-up phases, readiness,
//! drain and exit (fact sheet §6.2, §6.3, §6.6; INC-07, INC-09, INC-11).
//!
//! [`crate::spawn`] gives a sidecar that is ready at once. [`boot`] gives one
//! that starts as an istio-proxy container does, phase after phase
//! ([`Startup`]):
//!
//! 1. **Starting**: pilot-agent runs; its status server listens on 15020
//!    (`POST /quitquitquit`, `POST /drain`). Nothing listens on 15001: the
//!    app's captured connects are refused.
//! 2. **AdminUp** (`Startup::admin` later): Envoy admin (15000) listens and
//!    answers `/ready` `INITIALIZING`.
//! 3. **ConfigReceived** (`Startup::xds` later): the first CDS and LDS. The
//!    pushes made before (`SidecarHandle::apply`,
//!    `SidecarHandle::update_endpoints`) were held, as istiod would have put
//!    them in its first push, and are in force from now on. DNS clusters
//!    start resolving, EDS clusters wait for their first assignment.
//! 4. **Ready** (`Startup::warm` later, and once every cluster has its first
//!    resolution or assignment: Istio sets `initial_fetch_timeout: 0`, so an
//!    EDS cluster that never gets one keeps the sidecar initializing):
//!    Envoy starts its workers, which bind the capture listeners (15001,
//!    15006) and the readiness listener (15021); `/healthz/ready` answers 200.
//!
//! Shutdown is pilot-agent's `terminate()` (`SidecarHandle::terminate`):
//! **Draining** (Envoy's `drain_listeners?inboundonly&graceful`: inbound
//! HTTP/1.1 responses carry `connection: close`, outbound is untouched), then
//! **Exited** after `terminationDrainDuration`, or with
//! `EXIT_ON_ZERO_ACTIVE_CONNECTIONS` once no downstream connection is left.
//! At exit every listener closes (the iptables rules stay, so captured
//! connects are refused again) and every connection the sidecar holds is
//! closed as the kernel closes a dead process's sockets.
//!
//! [`wait_ready`] is `pilot-agent wait` (holdApplicationUntilProxyStarts'
//! postStart hook), polling `/healthz/ready` with a hand-written GET.

mod app_probe;
mod handle;
pub(crate) mod lifecycle;
pub(crate) mod push;
mod shutdown;
mod startup;
mod status;
mod wait;
mod wire;

use std::time::Duration;

pub use startup::{boot, boot_with_resolver};
pub(crate) use status::bind as status_server;
pub use wait::{PollFailure, WaitOutcome, WaitReady, wait_ready};

/// Where the Envoy process is in its life, as pilot-agent sees it. Phases
/// only move forward, in this order (a drain may start before `Ready`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// pilot-agent started; Envoy is being launched.
    Starting,
    /// Envoy admin (15000) listens.
    AdminUp,
    /// The first CDS and LDS arrived; clusters initialize, listeners warm.
    ConfigReceived,
    /// Workers started: capture and readiness listeners listen.
    Ready,
    /// Inbound listeners drain (pilot-agent's SIGTERM or `/drain`).
    Draining,
    /// Envoy and pilot-agent exited: nothing listens, every socket closed.
    Exited,
}

impl Phase {
    /// The phase's name, for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::AdminUp => "admin_up",
            Phase::ConfigReceived => "config_received",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
            Phase::Exited => "exited",
        }
    }
}

/// Envoy's start-up after the istio-proxy container starts; each phase
/// follows the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Startup {
    /// pilot-agent start -> Envoy admin (15000) listening (bootstrap
    /// generation, Envoy launch). Default 300 ms.
    pub admin: Duration,
    /// admin up -> first CDS and LDS from istiod (workload certificate
    /// signed, xDS stream, first push). Default 700 ms.
    pub xds: Duration,
    /// first CDS/LDS -> initialization done (RDS, listener warming), after
    /// which Envoy starts its workers. Default 100 ms. Initialization also
    /// waits for every EDS cluster's first assignment (Istio:
    /// `initial_fetch_timeout` 0, wait forever), so a cluster that never gets
    /// one keeps the sidecar un-ready.
    pub warm: Duration,
}

impl Default for Startup {
    fn default() -> Self {
        Startup {
            admin: Duration::from_millis(300),
            xds: Duration::from_millis(700),
            warm: Duration::from_millis(100),
        }
    }
}

/// How pilot-agent drains Envoy on SIGTERM (ProxyConfig and the agent's
/// environment; fact sheet §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// `terminationDrainDuration` (ProxyConfig): how long after the drain
    /// started Envoy is killed. Default 5 s.
    pub termination_drain_duration: Duration,
    /// `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`: instead, after
    /// `minimum_drain_duration`, check the active downstream connections
    /// every second and exit at zero (no other cap: the pod's grace-period
    /// SIGKILL is `SidecarHandle::exit`). Default false.
    pub exit_on_zero_active_connections: bool,
    /// `MINIMUM_DRAIN_DURATION`. Default 5 s.
    pub minimum_drain_duration: Duration,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            termination_drain_duration: Duration::from_secs(5),
            exit_on_zero_active_connections: false,
            minimum_drain_duration: Duration::from_secs(5),
        }
    }
}
