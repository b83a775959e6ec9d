//! `meshConfig.defaultConfig`: the mesh-wide `ProxyConfig` every sidecar
//! starts from (a pod's `proxy.istio.io/config` annotation overrides it).
//! meshsim models the fields that decide a pod's start-up and shutdown
//! (fact sheet §6.3, §6.6); the others are valid and recorded as ignored.

use super::{Cx, Keys, Obj, boolean, duration, map_of, string};
use crate::error::{Fault, Problem};
use crate::model::ProxyDefaults;
use crate::yaml::Node;

/// `ProxyConfig` fields meshsim decodes.
const KNOWN: &[&str] = &[
    "holdApplicationUntilProxyStarts",
    "terminationDrainDuration",
    "proxyMetadata",
];

/// Valid `ProxyConfig` fields meshsim accepts without modelling them.
const SKIPPED: &[&str] = &[
    "configPath",
    "binaryPath",
    "serviceCluster",
    "drainDuration",
    "parentShutdownDuration",
    "discoveryAddress",
    "discoveryRefreshDelay",
    "zipkinAddress",
    "statsdUdpAddress",
    "envoyMetricsServiceAddress",
    "proxyAdminPort",
    "availabilityZone",
    "controlPlaneAuthPolicy",
    "customConfigFile",
    "statNameLength",
    "concurrency",
    "proxyBootstrapTemplatePath",
    "interceptionMode",
    "tracing",
    "sds",
    "envoyAccessLogService",
    "envoyMetricsService",
    "statusPort",
    "extraStatTags",
    "gatewayTopology",
    "readinessProbe",
    "proxyStatsMatcher",
    "image",
    "privateKeyProvider",
    "caCertificatesPem",
    "meshId",
    "runtimeValues",
    "fileFlushInterval",
    "fileFlushMinSizeKb",
    "proxyHeaders",
    "tracingServiceName",
];

/// `proxyMetadata` keys meshsim models; others are kept out silently (an
/// agent environment variable meshsim has no use for changes nothing here).
const EXIT_ON_ZERO: &str = "EXIT_ON_ZERO_ACTIVE_CONNECTIONS";
const MINIMUM_DRAIN: &str = "MINIMUM_DRAIN_DURATION";

/// Decodes `meshConfig.defaultConfig`.
pub(crate) fn decode(cx: &mut Cx, node: &Node, path: &str) -> Result<ProxyDefaults, Fault> {
    let obj = Obj::open(cx, node, path, &Keys::with_skipped(KNOWN, SKIPPED))?;
    let mut out = ProxyDefaults {
        hold_application_until_proxy_starts: obj.opt("holdApplicationUntilProxyStarts", boolean)?,
        termination_drain_duration: obj.opt("terminationDrainDuration", duration)?,
        ..ProxyDefaults::default()
    };
    if let Some((n, p)) = obj.get("proxyMetadata") {
        let meta = map_of(cx, n, &p, string)?;
        if let Some(v) = meta.get(EXIT_ON_ZERO) {
            out.exit_on_zero_active_connections = Some(v.trim() == "true");
        }
        if let Some(v) = meta.get(MINIMUM_DRAIN) {
            let invalid = |reason| {
                let problem = Problem::InvalidDuration {
                    text: v.clone(),
                    reason,
                };
                Fault::new(format!("{p}.{MINIMUM_DRAIN}"), n.pos, problem)
            };
            match crate::duration::parse_go(v) {
                Ok((false, d)) => out.minimum_drain_duration = Some(d),
                Ok((true, _)) => return Err(invalid("negative durations are not allowed")),
                Err(reason) => return Err(invalid(reason)),
            }
        }
    }
    Ok(out)
}
