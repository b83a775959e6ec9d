//! Istio's mesh-wide settings as an SRE writes them: an `IstioOperator`
//! (`install.istio.io/v1alpha1`) whose `spec.meshConfig` sets `MeshConfig`
//! fields. The rest of the operator spec (components, values...) installs
//! Istio and is accepted without effect.

use super::destination_rule::decode_keepalive;
use super::virtual_service::decode_retry;
use super::{Cx, Keys, Obj, duration, enumeration, string};
use crate::error::Fault;
use crate::model::{H2UpgradePolicy, MeshConfigOverrides};
use crate::yaml::Node;
use meshsim_sidecar::OutboundTrafficPolicy;
use meshsim_sidecar::config::AccessLogEncoding;

/// `IstioOperator.spec` keys besides `meshConfig`.
const OPERATOR_SKIPPED: &[&str] = &[
    "profile",
    "installPackagePath",
    "hub",
    "tag",
    "resourceSuffix",
    "namespace",
    "revision",
    "compatibilityVersion",
    "components",
    "values",
    "unvalidatedValues",
];

/// `MeshConfig` fields meshsim decodes.
const MESH_KNOWN: &[&str] = &[
    "connectTimeout",
    "dnsRefreshRate",
    "outboundTrafficPolicy",
    "defaultHttpRetryPolicy",
    "accessLogFile",
    "accessLogEncoding",
    "tcpKeepalive",
    "h2UpgradePolicy",
    "protocolDetectionTimeout",
    "defaultConfig",
];

/// Valid `MeshConfig` fields meshsim accepts without modelling them.
const MESH_SKIPPED: &[&str] = &[
    "proxyListenPort",
    "proxyInboundListenPort",
    "proxyHttpPort",
    "ingressClass",
    "ingressService",
    "ingressControllerMode",
    "ingressSelector",
    "enableTracing",
    "accessLogFormat",
    "enableEnvoyAccessLogService",
    "disableEnvoyListenerLog",
    "inboundTrafficPolicy",
    "configSources",
    "enableAutoMtls",
    "trustDomain",
    "trustDomainAliases",
    "caCertificates",
    "defaultServiceExportTo",
    "defaultVirtualServiceExportTo",
    "defaultDestinationRuleExportTo",
    "rootNamespace",
    "localityLbSetting",
    "inboundClusterStatName",
    "outboundClusterStatName",
    "certificates",
    "serviceSettings",
    "enablePrometheusMerge",
    "verifyCertificateAtClient",
    "ca",
    "extensionProviders",
    "defaultProviders",
    "discoverySelectors",
    "pathNormalization",
    "meshMTLS",
    "tlsDefaults",
    "serviceScopeConfigs",
];

/// Decodes an `IstioOperator` spec; `None` when it has no `meshConfig`.
pub(crate) fn decode_operator(
    cx: &mut Cx,
    spec: &Node,
    path: &str,
) -> Result<Option<MeshConfigOverrides>, Fault> {
    // They install Istio; nothing to warn about.
    let keys = Keys {
        silent: true,
        ..Keys::with_skipped(&["meshConfig"], OPERATOR_SKIPPED)
    };
    let obj = Obj::open(cx, spec, path, &keys)?;
    obj.opt("meshConfig", |n, p| decode(cx, n, p))
        .map(Option::flatten)
}

fn decode(cx: &mut Cx, node: &Node, path: &str) -> Result<Option<MeshConfigOverrides>, Fault> {
    let obj = Obj::open(
        cx,
        node,
        path,
        &Keys::with_skipped(MESH_KNOWN, MESH_SKIPPED),
    )?;
    let mut out = MeshConfigOverrides {
        connect_timeout: obj.opt("connectTimeout", duration)?,
        dns_refresh_rate: obj.opt("dnsRefreshRate", duration)?,
        protocol_detection_timeout: obj.opt("protocolDetectionTimeout", duration)?,
        access_log_file: obj.opt("accessLogFile", string)?,
        access_log_encoding: obj.opt("accessLogEncoding", |n, p| {
            let values = [
                (AccessLogEncoding::Text, "TEXT"),
                (AccessLogEncoding::Json, "JSON"),
            ];
            enumeration(n, p, &values)
        })?,
        h2_upgrade_policy: obj.opt("h2UpgradePolicy", |n, p| {
            let values = [
                (H2UpgradePolicy::DoNotUpgrade, "DO_NOT_UPGRADE"),
                (H2UpgradePolicy::Upgrade, "UPGRADE"),
            ];
            enumeration(n, p, &values)
        })?,
        ..MeshConfigOverrides::default()
    };
    if let Some((n, p)) = obj.get("outboundTrafficPolicy") {
        let policy = Obj::open(cx, n, &p, &Keys::only(&["mode"]))?;
        let modes = [
            (OutboundTrafficPolicy::AllowAny, "ALLOW_ANY"),
            (OutboundTrafficPolicy::RegistryOnly, "REGISTRY_ONLY"),
        ];
        out.outbound_traffic_policy = policy.opt("mode", |n, p| enumeration(n, p, &modes))?;
    }
    if let Some((n, p)) = obj.get("tcpKeepalive") {
        out.tcp_keepalive = Some(decode_keepalive(cx, n, &p)?);
    }
    if let Some((n, p)) = obj.get("defaultConfig") {
        out.proxy_defaults = Some(super::proxy_config::decode(cx, n, &p)?);
    }
    if let Some((n, p)) = obj.get("defaultHttpRetryPolicy") {
        out.default_http_retry_policy = Some(decode_retry(cx, n, &p)?);
    }
    Ok(Some(out))
}
