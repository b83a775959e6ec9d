//! DestinationRule subsets: one cluster per subset, the subset's traffic
//! policy merged over the rule's, VirtualService `subset` routing, and EDS
//! assignments from pod labels (pilot's `applyDestinationRule` and
//! `MergeSubsetTrafficPolicy`; fact sheet §3.1, §4.2, §9.2).

use std::collections::BTreeMap;
use std::time::Duration;

use meshsim_istio::{
    IstioVersion, KubeService, KubeServicePort, MeshConfig, PodEndpoint, Resources,
    ServiceEndpoints, eds_assignments, parse_resources, translate, unknown_subsets, validate,
};
use meshsim_sidecar::config::{Cluster, Discovery, LbPolicy, SidecarConfig};

const FQDN: &str = "reviews.default.svc.cluster.local";

fn reviews() -> KubeService {
    KubeService {
        name: "reviews".into(),
        namespace: "default".into(),
        cluster_ip: "10.96.1.1".parse().unwrap(),
        ports: vec![KubeServicePort {
            name: "http".into(),
            port: 80,
            target_port: 9080,
            app_protocol: None,
        }],
    }
}

const DR: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy:
    connectionPool: { http: { idleTimeout: 30s } }
    outlierDetection: { consecutive5xxErrors: 3 }
  subsets:
  - name: v1
    labels: { version: v1 }
  - name: v2
    labels: { version: v2 }
    trafficPolicy:
      loadBalancer: { simple: RANDOM }
      connectionPool: { http: { maxRequestsPerConnection: 1 } }
  - name: v3
    labels: { version: v3 }
    trafficPolicy:
      portLevelSettings:
      - port: { number: 80 }
        loadBalancer: { simple: ROUND_ROBIN }
";

fn resources(yaml: &str) -> Resources {
    let mut res = parse_resources(yaml).unwrap();
    validate(&res).unwrap();
    res.kube_services.push(reviews());
    res
}

fn config(yaml: &str) -> SidecarConfig {
    let v: IstioVersion = "1.24".parse().unwrap();
    let cfg = translate(&resources(yaml), v, &MeshConfig::for_version(v), vec![]);
    cfg.validate().unwrap();
    cfg
}

fn cluster<'c>(cfg: &'c SidecarConfig, name: &str) -> &'c Cluster {
    cfg.clusters
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

/// Pilot builds `outbound|PORT|SUBSET|host` for every subset; a Kubernetes
/// Service's subset clusters are EDS clusters named after themselves.
#[test]
fn every_subset_gets_its_own_eds_cluster_named_outbound_port_subset_host() {
    let cfg = config(DR);
    for subset in ["", "v1", "v2", "v3"] {
        let name = format!("outbound|80|{subset}|{FQDN}");
        let c = cluster(&cfg, &name);
        assert_eq!(c.discovery, Discovery::Eds { service: name });
    }
}

/// `MergeSubsetTrafficPolicy`: a subset without a policy inherits the
/// rule's; a subset's `connectionPool` replaces the rule's whole group (the
/// rule's `idleTimeout` is gone), groups it leaves unset stay the rule's.
#[test]
fn a_subset_policy_replaces_the_rules_field_groups_it_sets_and_inherits_the_rest() {
    let cfg = config(DR);
    let v1 = cluster(&cfg, &format!("outbound|80|v1|{FQDN}"));
    assert_eq!(v1.pool.idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(v1.lb_policy, LbPolicy::LeastRequest);
    let v2 = cluster(&cfg, &format!("outbound|80|v2|{FQDN}"));
    assert_eq!(v2.lb_policy, LbPolicy::Random);
    assert_eq!(v2.pool.max_requests_per_connection, Some(1));
    assert_eq!(v2.pool.idle_timeout, Some(Duration::from_secs(3600)));
    assert_eq!(v2.outlier_detection.as_ref().unwrap().consecutive_5xx, 3);
}

/// `MergeSubsetTrafficPolicy`: a subset's `portLevelSettings` entry for the
/// port replaces every group, unset ones included (no outlier detection).
#[test]
fn a_subset_port_level_entry_replaces_every_group_for_its_port() {
    let cfg = config(DR);
    let v3 = cluster(&cfg, &format!("outbound|80|v3|{FQDN}"));
    assert_eq!(v3.lb_policy, LbPolicy::RoundRobin);
    assert!(v3.outlier_detection.is_none());
    assert_eq!(v3.pool.idle_timeout, Some(Duration::from_secs(3600)));
}

const VS: &str = "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - route:
    - { destination: { host: reviews.default.svc.cluster.local, subset: v1 }, weight: 90 }
    - { destination: { host: reviews.default.svc.cluster.local, subset: v9 }, weight: 10 }
";

/// A VirtualService `destination.subset` routes to the subset's cluster; a
/// subset no rule defines still gets its (missing) cluster name, which Envoy
/// answers with 503 NC, and istioctl analyze warns (IST0101).
#[test]
fn a_route_subset_names_the_subset_cluster_and_an_unknown_one_is_warned() {
    let yaml = format!("{DR}{VS}");
    let cfg = config(&yaml);
    let route = cfg
        .virtual_hosts
        .iter()
        .flat_map(|vh| vh.routes.iter())
        .find(|r| !r.weighted_clusters.is_empty())
        .unwrap();
    let names: Vec<&str> = route
        .weighted_clusters
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            format!("outbound|80|v1|{FQDN}"),
            format!("outbound|80|v9|{FQDN}")
        ]
    );
    assert!(!cfg.clusters.iter().any(|c| c.name.contains("|v9|")));
    let warnings = unknown_subsets(&resources(&yaml));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("IST0101") && warnings[0].contains("+v9"));
}

/// Istio's `validateSubset`: subset names are unique DNS-1123 labels.
#[test]
fn subset_names_must_be_unique_dns_labels() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: r }\nspec:\n  host: r\n  subsets:\n  - { name: v1, labels: { version: v1 } }\n  - { name: v1, labels: { version: v2 } }\n  - { name: V_3, labels: { version: v3 } }\n";
    let res = parse_resources(yaml).unwrap();
    let errors = meshsim_istio::validate_all(&res);
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{text:?}");
    assert!(text[0].contains("duplicate subset names: v1"), "{text:?}");
    assert!(text[1].contains("subset name is invalid: V_3"), "{text:?}");
}

fn pod(ip: &str, version: &str) -> PodEndpoint {
    PodEndpoint {
        address: ip.parse().unwrap(),
        labels: BTreeMap::from([
            ("app".to_string(), "reviews".to_string()),
            ("version".to_string(), version.to_string()),
        ]),
    }
}

/// EDS per subset cluster: each gets the pods whose labels its selector
/// matches (at the target port), the subset-less cluster every pod.
#[test]
fn eds_assignments_give_each_subset_cluster_the_pods_its_labels_select() {
    let res = resources(DR);
    let services = [ServiceEndpoints {
        service: reviews(),
        pods: vec![
            pod("10.1.0.1", "v1"),
            pod("10.1.0.2", "v1"),
            pod("10.1.0.3", "v2"),
        ],
    }];
    let eds = eds_assignments(&res, &services);
    let addrs = |subset: &str| -> Vec<String> {
        eds[&format!("outbound|80|{subset}|{FQDN}")]
            .iter()
            .map(|e| e.addr.to_string())
            .collect()
    };
    assert_eq!(
        addrs(""),
        ["10.1.0.1:9080", "10.1.0.2:9080", "10.1.0.3:9080"]
    );
    assert_eq!(addrs("v1"), ["10.1.0.1:9080", "10.1.0.2:9080"]);
    assert_eq!(addrs("v2"), ["10.1.0.3:9080"]);
    assert!(addrs("v3").is_empty());
}

/// Pilot's `ResolveShortnameToFQDN`: a VirtualService's and a
/// DestinationRule's short host `reviews` is the Service of the resource's
/// namespace, so a rule written with short names still builds the subset
/// clusters and the weighted route of the FQDN.
#[test]
fn short_host_names_resolve_to_the_service_of_the_resources_namespace() {
    let short = DR.replace("host: reviews.default.svc.cluster.local", "host: reviews");
    let vs = "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews, namespace: default }\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - { destination: { host: reviews, subset: v1 }, weight: 90 }\n    - { destination: { host: reviews, subset: v2 }, weight: 10 }\n";
    let cfg = config(&(short + vs));
    let subset_cluster = format!("outbound|80|v2|{FQDN}");
    assert_eq!(cluster(&cfg, &subset_cluster).lb_policy, LbPolicy::Random);
    let weighted: Vec<String> = cfg
        .virtual_hosts
        .iter()
        .filter(|vh| vh.domains.iter().any(|d| d == FQDN))
        .flat_map(|vh| &vh.routes)
        .flat_map(|r| &r.weighted_clusters)
        .map(|w| w.name.clone())
        .collect();
    assert_eq!(
        weighted,
        [
            format!("outbound|80|v1|{FQDN}"),
            format!("outbound|80|v2|{FQDN}")
        ]
    );
}

/// `ResolveShortnameToFQDN` only expands names without a dot: `reviews.prod`
/// is taken as a fully qualified name (and so matches no Service), a
/// well-known way to write a rule that silently applies to nothing.
#[test]
fn a_host_with_a_dot_is_not_expanded() {
    assert_eq!(
        meshsim_istio::kube::resolve_short_name("reviews.prod", Some("default")),
        "reviews.prod"
    );
    assert_eq!(
        meshsim_istio::kube::resolve_short_name("reviews", Some("prod")),
        "reviews.prod.svc.cluster.local"
    );
    assert_eq!(meshsim_istio::kube::resolve_short_name("*", None), "*");
}
