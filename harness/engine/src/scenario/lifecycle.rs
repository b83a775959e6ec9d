//! A pod's lifecycle (`world.pods[].lifecycle`) and the pod settings a
//! mitigation changes (`mitigations[].pod`), validated. Kubernetes and Istio
//! defaults are cited where they are set (fact sheet §6, incidents.md
//! INC-07, INC-08, INC-09, INC-11).

use std::time::Duration;

use meshsim_net::Cidr;

/// How a pod with a lifecycle is started, run and stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleSpec {
    /// `container_start`: kubelet's create + start of one container with a
    /// cached image (default 300 ms; containers start one after another).
    pub container_start: Duration,
    /// `sidecar_startup`: Envoy's phases after the istio-proxy container
    /// starts.
    pub sidecar_startup: SidecarStartup,
    /// `app_warmup`: the application's own start before its first call
    /// (default 0: it calls at once, as the incidents' apps do).
    pub app_warmup: Duration,
    /// `capture`: who installs the redirect.
    pub capture: CaptureInstall,
    /// `init_containers`, in order.
    pub init_containers: Vec<InitContainerSpec>,
    /// `app_shutdown`: after SIGTERM the application keeps working this long
    /// (flushing, finishing its batch), then exits (default 0).
    pub app_shutdown: Duration,
    /// The settings written in the block itself (a mitigation's `pod`
    /// overrides them field by field).
    pub settings: PodSettings,
}

/// Envoy's start-up phases, each after the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SidecarStartup {
    /// pilot-agent start -> Envoy admin listening (default 300 ms).
    pub admin: Duration,
    /// admin -> first CDS/LDS from istiod: certificate, xDS stream, push
    /// (default 700 ms).
    pub xds: Duration,
    /// first CDS/LDS -> initialization done and workers started: listeners
    /// accept, `/healthz/ready` is 200 (default 100 ms).
    pub warm: Duration,
}

impl Default for SidecarStartup {
    fn default() -> Self {
        SidecarStartup {
            admin: Duration::from_millis(300),
            xds: Duration::from_millis(700),
            warm: Duration::from_millis(100),
        }
    }
}

/// Who installs the pod's redirect rules (fact sheet §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureInstall {
    /// `istio-init`: an init container moved last among the init containers,
    /// so user init containers run before the redirect exists.
    #[default]
    IstioInit,
    /// The Istio CNI plugin: the redirect exists at pod network set-up,
    /// before any init container.
    Cni,
}

/// One application init container.
#[derive(Debug, Clone, PartialEq)]
pub struct InitContainerSpec {
    /// `name`.
    pub name: String,
    /// `calls`: URLs fetched once each, in order.
    pub calls: Vec<String>,
    /// `run_as_user` (`securityContext.runAsUser`).
    pub run_as_user: Option<u32>,
    /// `retries`: connect failures retried this many times, 1 s apart.
    pub retries: u32,
}

/// The proxy's UID: its traffic is never redirected (fact sheet §6.1).
pub const PROXY_UID: u32 = 1337;

/// Pod settings from `lifecycle` and `mitigations[].pod`; `None` keeps the
/// value beneath (the lifecycle's, then Istio's and Kubernetes' defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSettings {
    /// `proxy.istio.io/config` `holdApplicationUntilProxyStarts`.
    pub hold_application_until_proxy_starts: Option<bool>,
    /// `sidecar.istio.io/nativeSidecar`.
    pub native_sidecar: Option<bool>,
    /// `sidecar.istio.io/inject` (`false`: no sidecar at all).
    pub inject: Option<bool>,
    /// `proxy.istio.io/config` `terminationDrainDuration`.
    pub termination_drain_duration: Option<Duration>,
    /// `proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS`.
    pub exit_on_zero_active_connections: Option<bool>,
    /// `proxyMetadata.MINIMUM_DRAIN_DURATION`.
    pub minimum_drain_duration: Option<Duration>,
    /// `traffic.sidecar.istio.io/excludeOutboundIPRanges`.
    pub exclude_outbound_ip_ranges: Option<Vec<Cidr>>,
    /// `traffic.sidecar.istio.io/excludeOutboundPorts`.
    pub exclude_outbound_ports: Option<Vec<u16>>,
    /// `termination_grace_period` (`terminationGracePeriodSeconds`).
    pub termination_grace_period: Option<Duration>,
    /// `app_pre_stop`: a preStop sleep on the application container.
    pub app_pre_stop: Option<Duration>,
    /// `proxy_pre_stop`: a preStop sleep on the istio-proxy container.
    pub proxy_pre_stop: Option<Duration>,
    /// `init_run_as_user`: every init container's UID.
    pub init_run_as_user: Option<u32>,
    /// `app_waits_for_sidecar`.
    pub app_waits_for_sidecar: Option<bool>,
    /// `quit_sidecar_when_done`.
    pub quit_sidecar_when_done: Option<bool>,
}

impl PodSettings {
    /// The settings `meshConfig.defaultConfig` gives every pod.
    pub fn from_mesh(d: &meshsim_istio::ProxyDefaults) -> PodSettings {
        PodSettings {
            hold_application_until_proxy_starts: d.hold_application_until_proxy_starts,
            termination_drain_duration: d.termination_drain_duration,
            exit_on_zero_active_connections: d.exit_on_zero_active_connections,
            minimum_drain_duration: d.minimum_drain_duration,
            ..PodSettings::default()
        }
    }

    /// `over`'s fields where set, else this one's.
    pub fn overridden_by(&self, over: &PodSettings) -> PodSettings {
        fn pick<T: Clone>(base: &Option<T>, over: &Option<T>) -> Option<T> {
            over.clone().or_else(|| base.clone())
        }
        PodSettings {
            hold_application_until_proxy_starts: pick(
                &self.hold_application_until_proxy_starts,
                &over.hold_application_until_proxy_starts,
            ),
            native_sidecar: pick(&self.native_sidecar, &over.native_sidecar),
            inject: pick(&self.inject, &over.inject),
            termination_drain_duration: pick(
                &self.termination_drain_duration,
                &over.termination_drain_duration,
            ),
            exit_on_zero_active_connections: pick(
                &self.exit_on_zero_active_connections,
                &over.exit_on_zero_active_connections,
            ),
            minimum_drain_duration: pick(
                &self.minimum_drain_duration,
                &over.minimum_drain_duration,
            ),
            exclude_outbound_ip_ranges: pick(
                &self.exclude_outbound_ip_ranges,
                &over.exclude_outbound_ip_ranges,
            ),
            exclude_outbound_ports: pick(
                &self.exclude_outbound_ports,
                &over.exclude_outbound_ports,
            ),
            termination_grace_period: pick(
                &self.termination_grace_period,
                &over.termination_grace_period,
            ),
            app_pre_stop: pick(&self.app_pre_stop, &over.app_pre_stop),
            proxy_pre_stop: pick(&self.proxy_pre_stop, &over.proxy_pre_stop),
            init_run_as_user: pick(&self.init_run_as_user, &over.init_run_as_user),
            app_waits_for_sidecar: pick(&self.app_waits_for_sidecar, &over.app_waits_for_sidecar),
            quit_sidecar_when_done: pick(
                &self.quit_sidecar_when_done,
                &over.quit_sidecar_when_done,
            ),
        }
    }

    /// Whether the pod gets a sidecar, given the scenario's `sidecar`.
    pub fn injected(&self, sidecar: bool) -> bool {
        sidecar && self.inject != Some(false)
    }

    /// Kubernetes' default `terminationGracePeriodSeconds`: 30 s.
    pub fn grace_period(&self) -> Duration {
        self.termination_grace_period
            .unwrap_or(Duration::from_secs(30))
    }

    /// Istio's defaults: `terminationDrainDuration` 5 s,
    /// `EXIT_ON_ZERO_ACTIVE_CONNECTIONS` false, `MINIMUM_DRAIN_DURATION` 5 s
    /// (fact sheet §6.6).
    pub fn drain(&self) -> (Duration, bool, Duration) {
        (
            self.termination_drain_duration
                .unwrap_or(Duration::from_secs(5)),
            self.exit_on_zero_active_connections.unwrap_or(false),
            self.minimum_drain_duration
                .unwrap_or(Duration::from_secs(5)),
        )
    }
}
