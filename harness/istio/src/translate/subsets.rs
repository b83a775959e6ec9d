//! DestinationRule subsets: one cluster per subset and port, the subset's
//! traffic policy merged over the rule's, and the EDS assignment of each
//! cluster from the pods' labels.
//!
//! Pilot builds `outbound|PORT|SUBSET|host` for every subset of the rule
//! that applies to a host (`buildOutboundClusters` → `applyDestinationRule`),
//! with the same discovery type as the subset-less cluster: EDS for a
//! Kubernetes Service (the endpoints whose labels contain the subset's
//! labels), the selected `endpoints` for a STATIC ServiceEntry, and the same
//! DNS name for a DNS one (labels cannot select among DNS answers).
//!
//! The merge is pilot's `MergeSubsetTrafficPolicy`
//! (`pilot/pkg/networking/util/util.go`): first the rule's policy for the
//! port, then, per field group (`connectionPool`, `outlierDetection`,
//! `loadBalancer`, `tls`), the subset's replaces the rule's when the subset
//! sets it; when the subset has a `portLevelSettings` entry for the port,
//! that entry replaces all the groups, unset ones included. meshsim keeps
//! the rule's `retryBudget` unless the subset sets one [X].
//!
//! A VirtualService naming a subset that no rule defines still routes to
//! `outbound|PORT|SUBSET|host`: no such cluster exists, so Envoy answers 503
//! with flag `NC` (`cluster_not_found`); istioctl analyze reports it
//! (`IST0101 ReferencedResourceNotFound`), the admission webhook does not.
//! [`unknown_subsets`] gives the same warning.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use meshsim_sidecar::config::Endpoint;

use super::clusters::destination_rule_for;
use super::registry::cluster_name;
use crate::kube::KubeService;
use crate::model::{DestinationRule, Resources, Subset, TrafficPolicy};

/// The effective rule of `subset` on `port`: the rule's policy for the port
/// with the subset's merged over it, and no port-level settings left.
pub(crate) fn merged_rule(dr: &DestinationRule, subset: &Subset, port: u16) -> DestinationRule {
    let base = dr
        .traffic_policy
        .as_ref()
        .map(|p| port_policy(p, port))
        .unwrap_or_default();
    let policy = match &subset.traffic_policy {
        None => base,
        Some(sp) => {
            let port_level = sp
                .port_level_settings
                .iter()
                .any(|pl| pl.port == Some(u32::from(port)));
            let over = port_policy(sp, port);
            TrafficPolicy {
                connection_pool: pick(over.connection_pool, base.connection_pool, port_level),
                outlier_detection: pick(over.outlier_detection, base.outlier_detection, port_level),
                load_balancer: pick(over.load_balancer, base.load_balancer, port_level),
                port_level_settings: Vec::new(),
                retry_budget: over.retry_budget.or(base.retry_budget),
                tls: pick(over.tls, base.tls, port_level),
            }
        }
    };
    DestinationRule {
        traffic_policy: Some(policy),
        subsets: Vec::new(),
        ..dr.clone()
    }
}

/// The subset's group when it sets it (or always, from a port-level entry).
fn pick<T>(subset: Option<T>, base: Option<T>, port_level: bool) -> Option<T> {
    if port_level || subset.is_some() {
        subset
    } else {
        base
    }
}

/// The policy that applies on `port` (pilot's `GetPortLevelTrafficPolicy`):
/// a `portLevelSettings` entry for the port replaces the whole policy, so the
/// groups it leaves unset get their defaults, not the top-level values ("port
/// level policies do not inherit"); without one, the top-level policy. The
/// rule's `retryBudget` is kept either way [X].
pub(crate) fn port_policy(p: &TrafficPolicy, port: u16) -> TrafficPolicy {
    let retry_budget = p.retry_budget.clone();
    match p
        .port_level_settings
        .iter()
        .find(|pl| pl.port == Some(u32::from(port)))
    {
        Some(pl) => TrafficPolicy {
            connection_pool: pl.connection_pool.clone(),
            outlier_detection: pl.outlier_detection.clone(),
            load_balancer: pl.load_balancer.clone(),
            port_level_settings: Vec::new(),
            retry_budget,
            tls: pl.tls,
        },
        None => TrafficPolicy {
            port_level_settings: Vec::new(),
            ..p.clone()
        },
    }
}

/// The pods behind one Kubernetes Service, as the control plane sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEndpoints {
    /// The Service.
    pub service: KubeService,
    /// Its ready pods.
    pub pods: Vec<PodEndpoint>,
}

/// One ready pod: its address and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEndpoint {
    /// The pod IP.
    pub address: IpAddr,
    /// The pod's labels (`app`, `version`...).
    pub labels: BTreeMap<String, String>,
}

/// The EDS assignment of every Kubernetes-Service cluster: for each service
/// port, `outbound|PORT||fqdn` gets every pod at the port's `targetPort`, and
/// each subset of the DestinationRule for the service,
/// `outbound|PORT|SUBSET|fqdn`, the pods whose labels it selects. Endpoints
/// carry the pod's labels. Pods keep their given order.
pub fn eds_assignments(
    res: &Resources,
    services: &[ServiceEndpoints],
) -> BTreeMap<String, Vec<Endpoint>> {
    let mut out = BTreeMap::new();
    for s in services {
        let fqdn = s.service.fqdn();
        let subsets = destination_rule_for(res, &fqdn).map_or(&[][..], |dr| &dr.subsets[..]);
        for port in &s.service.ports {
            let endpoint = |p: &PodEndpoint| Endpoint {
                labels: endpoint_labels(res, &s.service.namespace, p, port.target_port),
                ..Endpoint::new(SocketAddr::new(p.address, port.target_port))
            };
            let all = s.pods.iter().map(endpoint).collect();
            out.insert(cluster_name(port.port, None, &fqdn), all);
            for subset in subsets {
                let name = cluster_name(port.port, Some(&subset.name), &fqdn);
                let chosen = s.pods.iter().filter(|p| subset.selects(&p.labels));
                out.insert(name, chosen.map(endpoint).collect());
            }
        }
    }
    out
}

/// An endpoint's labels as istiod sends them: the pod's, with
/// `security.istio.io/tlsMode` turned to `disabled` when a
/// PeerAuthentication DISABLE applies to the pod's `port` (pilot's
/// `mtlsChecker`, so auto mTLS sends it plaintext).
fn endpoint_labels(
    res: &Resources,
    namespace: &str,
    pod: &PodEndpoint,
    port: u16,
) -> BTreeMap<String, String> {
    use meshsim_sidecar::tls::{MtlsMode, TLS_MODE_ISTIO, TLS_MODE_LABEL};
    let mut labels = pod.labels.clone();
    let meshed = labels
        .get(TLS_MODE_LABEL)
        .is_some_and(|m| m == TLS_MODE_ISTIO);
    if meshed {
        let authn = super::mtls::peer_authn_for(res, namespace, &pod.labels);
        if authn.mode_for(port) == MtlsMode::Disable {
            labels.insert(TLS_MODE_LABEL.to_string(), "disabled".to_string());
        }
    }
    labels
}

/// istioctl analyze's `IST0101` for subsets: every VirtualService
/// destination naming a subset that the DestinationRule for its host does
/// not define (such a route answers 503 `NC` at run time).
pub fn unknown_subsets(res: &Resources) -> Vec<String> {
    let mut out = Vec::new();
    for vs in &res.virtual_services {
        let dests = vs
            .http
            .iter()
            .flat_map(|r| r.route.iter().map(|w| &w.destination));
        for d in dests {
            let Some(subset) = &d.subset else { continue };
            let defined = destination_rule_for(res, &d.host)
                .is_some_and(|dr| dr.subsets.iter().any(|s| &s.name == subset));
            if !defined {
                out.push(format!(
                    "VirtualService {}: Referenced host+subset in destinationrule not found: \"{}+{subset}\" (IST0101; requests to it get 503 NC)",
                    vs.meta.name, d.host
                ));
            }
        }
    }
    out
}
