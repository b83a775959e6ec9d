//! PeerAuthentication and DestinationRule `tls` (fact sheet §8): decoded
//! with Istio's field names and webhook rules, resolved per workload
//! (workload over namespace over mesh), turned into each cluster's TLS and
//! the EDS endpoints' TLS mode, and linted against plaintext callers.

use std::collections::BTreeMap;

use meshsim_istio::lint::{HostFacts, LintContext};
use meshsim_istio::{
    IstioVersion, KubeService, KubeServicePort, MeshConfig, PodEndpoint, ServiceEndpoints,
    eds_assignments, lint, parse_resources, peer_authn_for, translate,
};
use meshsim_sidecar::tls::{ClusterTls, MtlsMode, TLS_MODE_LABEL};

const V: IstioVersion = IstioVersion::new(1, 24);

fn pa(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{ name: {name}, namespace: {ns} }}\nspec:\n{spec}---\n"
    )
}

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), app.to_string())])
}

fn orders() -> KubeService {
    KubeService {
        name: "orders".into(),
        namespace: "default".into(),
        cluster_ip: "10.96.0.20".parse().unwrap(),
        ports: vec![KubeServicePort {
            name: "http".into(),
            port: 80,
            target_port: 8080,
            app_protocol: None,
        }],
    }
}

/// Fact sheet §8: a workload policy beats the namespace's, which beats the
/// mesh's (root namespace); `UNSET` inherits; port-level modes are by
/// container port.
#[test]
fn the_workload_policy_wins_over_the_namespace_and_the_mesh_and_unset_inherits() {
    let yaml = pa("istio-system", "default", "  mtls: { mode: STRICT }\n")
        + &pa("default", "default", "  mtls: { mode: PERMISSIVE }\n")
        + &pa(
            "default",
            "orders",
            "  selector: { matchLabels: { app: orders } }\n  mtls: { mode: UNSET }\n  portLevelMtls:\n    9090: { mode: DISABLE }\n",
        );
    let res = parse_resources(&yaml).unwrap();
    let orders = peer_authn_for(&res, "default", &labels("orders"));
    assert_eq!(
        orders.mode,
        MtlsMode::Permissive,
        "UNSET inherits the namespace's"
    );
    assert_eq!(orders.mode_for(9090), MtlsMode::Disable);
    assert_eq!(orders.mode_for(8080), MtlsMode::Permissive);
    let other_ns = peer_authn_for(&res, "billing", &labels("ledger"));
    assert_eq!(other_ns.mode, MtlsMode::Strict, "the mesh-wide policy");
    let none = peer_authn_for(&parse_resources("").unwrap(), "default", &labels("x"));
    assert_eq!(none.mode, MtlsMode::Permissive, "Istio's default");
}

/// Istio's webhook: port-level mTLS needs a selector; modes are Istio's
/// names; the error names the line.
#[test]
fn bad_peer_authentications_are_refused_with_their_line() {
    let no_selector = pa(
        "default",
        "x",
        "  portLevelMtls:\n    8080: { mode: DISABLE }\n",
    );
    let e = parse_resources(&no_selector).unwrap_err();
    assert!(e.to_string().contains("cannot have port level mTLS"), "{e}");
    assert_eq!(e.line(), 6);
    let bad_mode = pa("default", "x", "  mtls: { mode: STRICTER }\n");
    let e = parse_resources(&bad_mode).unwrap_err();
    assert!(e.to_string().contains("STRICTER"), "{e}");
    let bad_port = pa(
        "default",
        "x",
        "  selector: { matchLabels: { app: a } }\n  portLevelMtls:\n    http: { mode: DISABLE }\n",
    );
    let e = parse_resources(&bad_port).unwrap_err();
    assert!(e.to_string().contains("between 1 and 65535"), "{e}");
    let unknown = pa("default", "x", "  mtls: { mode: STRICT, strict: true }\n");
    assert!(parse_resources(&unknown).is_err(), "unknown field");
    let wrong_api = "apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: x }\nspec: {}\n";
    assert!(
        parse_resources(wrong_api).is_err(),
        "security.istio.io only"
    );
}

/// Fact sheet §8: without a DestinationRule `tls` the cluster uses auto
/// mTLS; `DISABLE` is plaintext, `ISTIO_MUTUAL` mTLS to every endpoint; a
/// subset's cluster carries its own SNI.
#[test]
fn destination_rule_tls_mode_sets_each_clusters_tls() {
    let dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: orders }\nspec:\n  host: orders.default.svc.cluster.local\n  trafficPolicy: { tls: { mode: DISABLE } }\n  subsets:\n    - name: v1\n      labels: { version: v1 }\n      trafficPolicy: { tls: { mode: ISTIO_MUTUAL } }\n";
    let mut res = parse_resources(dr).unwrap();
    res.kube_services.push(orders());
    let config = translate(&res, V, &MeshConfig::for_resources(V, &res), Vec::new());
    let tls = |name: &str| {
        config
            .clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.tls.clone())
            .unwrap()
    };
    assert_eq!(
        tls("outbound|80||orders.default.svc.cluster.local"),
        ClusterTls::Plaintext
    );
    assert_eq!(
        tls("outbound|80|v1|orders.default.svc.cluster.local"),
        ClusterTls::IstioMutual {
            sni: "outbound_.80_.v1_.orders.default.svc.cluster.local".into()
        }
    );
    let mut plain = parse_resources("").unwrap();
    plain.kube_services.push(orders());
    let config = translate(&plain, V, &MeshConfig::for_resources(V, &plain), Vec::new());
    assert!(matches!(config.clusters[0].tls, ClusterTls::Auto { .. }));
}

/// Fact sheet §8 (pilot's `mtlsChecker`): an endpoint whose workload a
/// PeerAuthentication DISABLEs (at any level, port included) is sent
/// with TLS mode `disabled`, so auto mTLS reaches it in plaintext.
#[test]
fn a_disable_policy_marks_the_workloads_endpoints_plaintext() {
    let yaml = pa(
        "default",
        "orders",
        "  selector: { matchLabels: { app: orders } }\n  mtls: { mode: DISABLE }\n",
    );
    let mut res = parse_resources(&yaml).unwrap();
    res.kube_services.push(orders());
    let mut pod_labels = labels("orders");
    pod_labels.insert(TLS_MODE_LABEL.into(), "istio".into());
    let services = vec![ServiceEndpoints {
        service: orders(),
        pods: vec![PodEndpoint {
            address: "10.1.0.1".parse().unwrap(),
            labels: pod_labels,
        }],
    }];
    let eds = eds_assignments(&res, &services);
    let ep = &eds["outbound|80||orders.default.svc.cluster.local"][0];
    assert_eq!(ep.labels[TLS_MODE_LABEL], "disabled");
    let strict = pa("default", "default", "  mtls: { mode: STRICT }\n");
    let eds = eds_assignments(&parse_resources(&strict).unwrap(), &services);
    let ep = &eds["outbound|80||orders.default.svc.cluster.local"][0];
    assert_eq!(ep.labels[TLS_MODE_LABEL], "istio");
}

fn ctx_with_plaintext_caller() -> LintContext {
    LintContext {
        hosts: BTreeMap::from([(
            "orders.default.svc.cluster.local".to_string(),
            HostFacts {
                plaintext_callers: ["legacy-batch".to_string()].into(),
                ..HostFacts::default()
            },
        )]),
        services: vec![orders()],
        ..LintContext::default()
    }
}

/// Fact sheet §8, INC-13: MS0301 finds STRICT where a caller without a
/// sidecar reaches the workload, at the policy's `mtls.mode` line; a
/// port-level PERMISSIVE exception or PERMISSIVE clears it.
#[test]
fn ms0301_strict_with_callers_outside_the_mesh_is_found_unless_the_port_is_permissive() {
    let strict = pa("default", "default", "  mtls: { mode: STRICT }\n");
    let f = lint(
        &parse_resources(&strict).unwrap(),
        &ctx_with_plaintext_caller(),
    );
    let ms: Vec<_> = f.iter().filter(|f| f.code == "MS0301").collect();
    assert_eq!(ms.len(), 1, "{f:?}");
    assert_eq!(
        (ms[0].line, ms[0].path.as_str()),
        (Some(5), "spec.mtls.mode")
    );
    assert!(ms[0].message.contains("legacy-batch"), "{}", ms[0].message);
    assert_eq!(
        ms[0].demo,
        Some("scenarios/strict-mtls-non-mesh-client.yaml")
    );
    let exception = strict.clone()
        + &pa(
            "default",
            "orders",
            "  selector: { matchLabels: { app: orders } }\n  portLevelMtls:\n    8080: { mode: PERMISSIVE }\n",
        );
    let f = lint(
        &parse_resources(&exception).unwrap(),
        &ctx_with_plaintext_caller(),
    );
    assert!(f.iter().all(|f| f.code != "MS0301"), "{f:?}");
    let permissive = pa("default", "default", "  mtls: { mode: PERMISSIVE }\n");
    let f = lint(
        &parse_resources(&permissive).unwrap(),
        &ctx_with_plaintext_caller(),
    );
    assert!(f.iter().all(|f| f.code != "MS0301"), "{f:?}");
}
