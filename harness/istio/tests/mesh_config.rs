//! Mesh-wide settings from an `IstioOperator`'s `spec.meshConfig`, as an SRE
//! writes them for `istioctl install -f`: decoded with Istio's field names,
//! validated as Istio's `ValidateMeshConfig` does, and applied on top of the
//! version profile's defaults.

use std::time::Duration;

use meshsim_istio::{
    IstioVersion, MeshConfig, Problem, parse_resources, translate, unmodelled, validate,
};
use meshsim_sidecar::OutboundTrafficPolicy;

const OPERATOR: &str = "\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
spec:
  profile: default
  meshConfig:
    connectTimeout: 3s
    dnsRefreshRate: 15s
    outboundTrafficPolicy: { mode: REGISTRY_ONLY }
    defaultHttpRetryPolicy: { attempts: 4, retryOn: \"reset,503\" }
    enableTracing: true
";

const V: IstioVersion = IstioVersion::new(1, 24);

#[test]
fn an_istio_operator_without_metadata_sets_mesh_config_fields_over_the_version_defaults() {
    let res = parse_resources(OPERATOR).unwrap();
    validate(&res).unwrap();
    let mesh = MeshConfig::for_resources(V, &res);
    assert_eq!(mesh.connect_timeout, Duration::from_secs(3));
    assert_eq!(mesh.dns_refresh_rate, Duration::from_secs(15));
    assert_eq!(
        mesh.outbound_traffic_policy,
        OutboundTrafficPolicy::RegistryOnly
    );
    assert_eq!(mesh.default_http_retry_policy.unwrap().attempts, 4);
    // Fields it does not set keep the profile's value.
    assert_eq!(mesh.dns_jitter, MeshConfig::for_version(V).dns_jitter);
}

#[test]
fn mesh_config_reaches_the_sidecar_registry_only_and_connect_timeout() {
    let res = parse_resources(OPERATOR).unwrap();
    let mesh = MeshConfig::for_resources(V, &res);
    let config = translate(&res, V, &mesh, Vec::new());
    assert_eq!(
        config.outbound_traffic_policy,
        OutboundTrafficPolicy::RegistryOnly
    );
    assert!(
        config
            .clusters
            .iter()
            .all(|c| c.connect_timeout == Duration::from_secs(3))
    );
}

#[test]
fn valid_mesh_config_fields_meshsim_does_not_simulate_are_reported_as_unmodelled() {
    let res = parse_resources(OPERATOR).unwrap();
    let lines = unmodelled(&res);
    assert_eq!(
        lines,
        vec![
            "IstioOperator (unnamed): spec.meshConfig.enableTracing is accepted but not simulated"
        ]
    );
}

#[test]
fn a_typo_in_mesh_config_is_rejected_with_the_nearest_field() {
    let yaml = OPERATOR.replace("connectTimeout", "conectTimeout");
    let err = parse_resources(&yaml).unwrap_err();
    assert_eq!(
        (err.line(), err.path()),
        (6, "spec.meshConfig.conectTimeout")
    );
    match err.problem() {
        Problem::UnknownKey { suggestion, .. } => {
            assert_eq!(suggestion.as_deref(), Some("connectTimeout"));
        }
        p => panic!("{p:?}"),
    }
}

#[test]
fn mesh_config_values_are_validated_like_istios_webhook() {
    let yaml = OPERATOR.replace("connectTimeout: 3s", "connectTimeout: 500us");
    let err = validate(&parse_resources(&yaml).unwrap()).unwrap_err();
    assert_eq!(err.path(), "spec.meshConfig.connectTimeout");
    let yaml = OPERATOR.replace("reset,503", "reset,bogus");
    let err = validate(&parse_resources(&yaml).unwrap()).unwrap_err();
    assert_eq!(err.path(), "spec.meshConfig.defaultHttpRetryPolicy.retryOn");
    let yaml = OPERATOR.replace("REGISTRY_ONLY", "DENY");
    assert!(parse_resources(&yaml).is_err());
}

#[test]
fn one_mesh_has_one_mesh_config() {
    let twice = format!("{OPERATOR}---\n{OPERATOR}");
    let err = parse_resources(&twice).unwrap_err();
    assert_eq!(err.document(), 2);
    assert!(err.to_string().contains("one MeshConfig"), "{err}");
}

#[test]
fn an_istio_operator_needs_the_install_api_version() {
    let yaml = OPERATOR.replace("install.istio.io/v1alpha1", "networking.istio.io/v1");
    let err = parse_resources(&yaml).unwrap_err();
    assert!(
        matches!(err.problem(), Problem::UnsupportedApiVersion { .. }),
        "{err}"
    );
}

/// Fact sheet §5.4: access logging is off by default; a non-empty mesh
/// `accessLogFile` turns it on, in `accessLogEncoding`.
#[test]
fn access_log_file_in_mesh_config_turns_the_sidecars_access_log_on() {
    let off = parse_resources(OPERATOR).unwrap();
    let mesh = MeshConfig::for_resources(V, &off);
    assert_eq!(translate(&off, V, &mesh, Vec::new()).access_log, None);
    let yaml = OPERATOR.replace(
        "    enableTracing: true\n",
        "    accessLogFile: /dev/stdout\n    accessLogEncoding: JSON\n",
    );
    let on = parse_resources(&yaml).unwrap();
    let mesh = MeshConfig::for_resources(V, &on);
    let log = translate(&on, V, &mesh, Vec::new()).access_log.unwrap();
    assert_eq!(log.path, "/dev/stdout");
    assert_eq!(
        log.encoding,
        meshsim_sidecar::config::AccessLogEncoding::Json
    );
}

/// Fact sheet §4.2: the mesh-wide `tcpKeepalive` applies to every outbound
/// cluster's upstream connections (unset fields: the OS defaults).
#[test]
fn mesh_tcp_keepalive_reaches_every_outbound_cluster() {
    let se = "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: api }\nspec:\n  hosts: [api.example]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: DNS\n";
    let yaml = OPERATOR.replace(
        "    enableTracing: true\n",
        "    tcpKeepalive: { time: 30s, probes: 3 }\n",
    ) + se;
    let res = parse_resources(&yaml).unwrap();
    validate(&res).unwrap();
    let mesh = MeshConfig::for_resources(V, &res);
    let config = translate(&res, V, &mesh, Vec::new());
    let api = config
        .clusters
        .iter()
        .find(|c| c.name.contains("api.example"))
        .unwrap();
    let ka = api.pool.tcp_keepalive.unwrap();
    assert_eq!((ka.time, ka.probes), (Duration::from_secs(30), 3));
    assert_eq!(ka.interval, Duration::from_secs(75));
}

/// Fact sheet §6.3, §6.6: `meshConfig.defaultConfig` is the mesh-wide
/// ProxyConfig; its start-up and shutdown fields are decoded (the engine
/// lets a pod's `proxy.istio.io/config` override them), the others are
/// valid and reported as unmodelled, and a typo is refused.
#[test]
fn default_config_carries_the_proxy_lifecycle_fields() {
    let yaml = OPERATOR.replace(
        "    enableTracing: true\n",
        "    defaultConfig:\n      holdApplicationUntilProxyStarts: true\n      terminationDrainDuration: 30s\n      concurrency: 2\n      proxyMetadata: { EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"true\", MINIMUM_DRAIN_DURATION: 10s, ISTIO_META_DNS_CAPTURE: \"true\" }\n",
    );
    let res = parse_resources(&yaml).unwrap();
    let d = res
        .mesh_config
        .as_ref()
        .unwrap()
        .proxy_defaults
        .clone()
        .unwrap();
    assert_eq!(d.hold_application_until_proxy_starts, Some(true));
    assert_eq!(d.termination_drain_duration, Some(Duration::from_secs(30)));
    assert_eq!(d.exit_on_zero_active_connections, Some(true));
    assert_eq!(d.minimum_drain_duration, Some(Duration::from_secs(10)));
    let lines = unmodelled(&res).join("\n");
    assert!(lines.contains("defaultConfig.concurrency"), "{lines}");
    let typo = yaml.replace(
        "holdApplicationUntilProxyStarts",
        "holdApplicationUntilProxyStart",
    );
    assert!(parse_resources(&typo).is_err());
    let bad = yaml.replace(
        "MINIMUM_DRAIN_DURATION: 10s",
        "MINIMUM_DRAIN_DURATION: soon",
    );
    assert!(parse_resources(&bad).is_err());
}
