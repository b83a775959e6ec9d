//! The YAML shapes of a pod's lifecycle (`world.pods[].lifecycle`) and of a
//! mitigation's pod settings (`mitigations[].pod`).

use std::collections::BTreeMap;

use meshsim_core::HumanDuration;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// `world.pods[].lifecycle`: the pod is created at time zero and started the
/// way kubelet starts it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LifecycleFile {
    /// kubelet's create + start of one container.
    #[serde(default)]
    pub(crate) container_start: Option<Spanned<HumanDuration>>,
    /// Envoy's start-up phases after the istio-proxy container starts.
    #[serde(default)]
    pub(crate) sidecar_startup: Option<SidecarStartupFile>,
    /// The application's own start before its first call.
    #[serde(default)]
    pub(crate) app_warmup: Option<Spanned<HumanDuration>>,
    /// `istio-init` (default) or `cni`.
    #[serde(default)]
    pub(crate) capture: Option<Spanned<String>>,
    /// The application's init containers, in order.
    #[serde(default)]
    pub(crate) init_containers: Vec<InitContainerFile>,
    /// What the application does after SIGTERM: keeps working this long.
    #[serde(default)]
    pub(crate) app_shutdown: Option<Spanned<HumanDuration>>,
    // The pod settings a mitigation may also set (`PodSettingsFile`'s keys;
    // serde cannot flatten with unknown keys denied).
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(crate) termination_grace_period: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) app_pre_stop: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) proxy_pre_stop: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) init_run_as_user: Option<Spanned<u32>>,
    #[serde(default)]
    pub(crate) app_waits_for_sidecar: Option<bool>,
    #[serde(default)]
    pub(crate) quit_sidecar_when_done: Option<bool>,
}

impl LifecycleFile {
    /// The pod settings written in the lifecycle block.
    pub(crate) fn settings(&self) -> PodSettingsFile {
        PodSettingsFile {
            annotations: self.annotations.clone(),
            termination_grace_period: self.termination_grace_period.clone(),
            app_pre_stop: self.app_pre_stop.clone(),
            proxy_pre_stop: self.proxy_pre_stop.clone(),
            init_run_as_user: self.init_run_as_user.clone(),
            app_waits_for_sidecar: self.app_waits_for_sidecar,
            quit_sidecar_when_done: self.quit_sidecar_when_done,
        }
    }
}

/// `sidecar_startup`: each phase after the previous one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SidecarStartupFile {
    #[serde(default)]
    pub(crate) admin: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) xds: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub(crate) warm: Option<Spanned<HumanDuration>>,
}

/// One init container: the calls it makes, once each, in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InitContainerFile {
    pub(crate) name: Spanned<String>,
    pub(crate) calls: Vec<Spanned<String>>,
    /// `securityContext.runAsUser`.
    #[serde(default)]
    pub(crate) run_as_user: Option<Spanned<u32>>,
    /// Connect failures retried this many times, 1 s apart (a
    /// `until curl ...; do sleep 1; done` loop bounded by the count).
    #[serde(default)]
    pub(crate) retries: Option<Spanned<u32>>,
}

/// Pod settings shared by `lifecycle` and `mitigations[].pod`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PodSettingsFile {
    /// Pod annotations Istio reads (`proxy.istio.io/config`,
    /// `sidecar.istio.io/nativeSidecar`, ...).
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, Spanned<String>>,
    /// `terminationGracePeriodSeconds`.
    #[serde(default)]
    pub(crate) termination_grace_period: Option<Spanned<HumanDuration>>,
    /// A `preStop` sleep on the application container.
    #[serde(default)]
    pub(crate) app_pre_stop: Option<Spanned<HumanDuration>>,
    /// A `preStop` sleep on the istio-proxy container.
    #[serde(default)]
    pub(crate) proxy_pre_stop: Option<Spanned<HumanDuration>>,
    /// Every init container runs as this user (1337: the proxy's, never
    /// captured).
    #[serde(default)]
    pub(crate) init_run_as_user: Option<Spanned<u32>>,
    /// The application polls the sidecar's `/healthz/ready` before its first
    /// call.
    #[serde(default)]
    pub(crate) app_waits_for_sidecar: Option<bool>,
    /// The application (a Job) posts `/quitquitquit` to pilot-agent when done.
    #[serde(default)]
    pub(crate) quit_sidecar_when_done: Option<bool>,
}

/// `proxy.istio.io/config`: the ProxyConfig fields meshsim models.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ProxyConfigFile {
    #[serde(default)]
    pub(crate) hold_application_until_proxy_starts: Option<bool>,
    #[serde(default)]
    pub(crate) termination_drain_duration: Option<String>,
    #[serde(default)]
    pub(crate) proxy_metadata: BTreeMap<String, String>,
}
