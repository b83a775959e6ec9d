//! Host selection settings of a cluster: EDS endpoints, `lb_policy`,
//! `outlier_detection` and `common_lb_config.healthy_panic_threshold`
//! (fact sheet §3.1, §9.1, §9.2). Re-exported from [`crate::config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// One EDS endpoint (Envoy `LbEndpoint`), as the control plane pushes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint's address.
    pub addr: SocketAddr,
    /// `load_balancing_weight` (default 1). Kept, not yet used by the load
    /// balancers (meshsim's policies assume equal weights).
    pub weight: u32,
    /// Workload labels, for DestinationRule subsets (kept, not matched yet).
    pub labels: BTreeMap<String, String>,
}

impl Endpoint {
    /// An endpoint at `addr` with weight 1 and no label.
    pub fn new(addr: SocketAddr) -> Endpoint {
        Endpoint {
            addr,
            weight: 1,
            labels: BTreeMap::new(),
        }
    }
}

/// Envoy `lb_policy` (Istio DR `trafficPolicy.loadBalancer.simple`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LbPolicy {
    /// `ROUND_ROBIN`: hosts in turn from a random start (Istio's default
    /// before 1.14).
    RoundRobin,
    /// `LEAST_REQUEST`: power of two choices on active requests (Istio's
    /// default since 1.14, istio/istio PR #37220).
    #[default]
    LeastRequest,
    /// `RANDOM`: a uniformly random host.
    Random,
    /// `CLUSTER_PROVIDED`: the cluster picks (ORIGINAL_DST; Istio's
    /// `PASSTHROUGH`).
    ClusterProvided,
}

/// How `max_ejection_percent` limits ejections (fact sheet §13 item 10).
///
/// Envoy changed this in 2023 (envoyproxy/envoy issue #26877, PRs #27624 and
/// #27909, ≈ Envoy 1.27); PR #34796 (2024) then added `always_eject_one_host`
/// to get the old floor of one host back on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EjectionLimit {
    /// Current Envoy: a host is ejected only if the ejected share *after* the
    /// ejection stays within the limit, `100 × (active + 1) / hosts <= max`
    /// (so at 10 % nothing is ejected from a cluster of fewer than 10 hosts),
    /// unless `always_eject_one_host` and none is ejected yet.
    #[default]
    Current,
    /// Envoy before mid-2023: the share *before* the ejection is compared,
    /// `100 × active / hosts < max`, so one host can always be ejected (a
    /// 1-host cluster at 10 % too) and at most one more past the limit.
    Legacy,
}

/// Envoy `OutlierDetection` (success-rate and failure-percentage ejection are
/// not modelled: Istio turns success-rate off and never sets the other).
/// Defaults are Envoy's (§9.1).
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierDetection {
    /// `consecutive_5xx` (default 5).
    pub consecutive_5xx: u32,
    /// `enforcing_consecutive_5xx` percent (default 100).
    pub enforcing_consecutive_5xx: u32,
    /// `consecutive_gateway_failure` (default 5).
    pub consecutive_gateway_failure: u32,
    /// `enforcing_consecutive_gateway_failure` percent (default 0: off).
    pub enforcing_consecutive_gateway_failure: u32,
    /// `split_external_local_origin_errors` (default false: connect
    /// failures, resets and timeouts count as 503/504 responses).
    pub split_external_local_origin_errors: bool,
    /// `consecutive_local_origin_failure` (default 5; only when split).
    pub consecutive_local_origin_failure: u32,
    /// `enforcing_consecutive_local_origin_failure` percent (default 100).
    pub enforcing_consecutive_local_origin_failure: u32,
    /// `interval`: the sweep that un-ejects hosts (default 10 s).
    pub interval: Duration,
    /// `base_ejection_time` (default 30 s), multiplied by the host's ejection
    /// back-off (+1 per ejection, -1 per healthy interval).
    pub base_ejection_time: Duration,
    /// `max_ejection_time` (default 300 s, or `base_ejection_time` if larger).
    pub max_ejection_time: Duration,
    /// `max_ejection_percent` (default 10).
    pub max_ejection_percent: u32,
    /// `always_eject_one_host` (default false; [`EjectionLimit::Current`] only).
    pub always_eject_one_host: bool,
    /// Which Envoy's `max_ejection_percent` rule applies (default current).
    pub ejection_limit: EjectionLimit,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_5xx: 5,
            enforcing_consecutive_5xx: 100,
            consecutive_gateway_failure: 5,
            enforcing_consecutive_gateway_failure: 0,
            split_external_local_origin_errors: false,
            consecutive_local_origin_failure: 5,
            enforcing_consecutive_local_origin_failure: 100,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            always_eject_one_host: false,
            ejection_limit: EjectionLimit::Current,
        }
    }
}

/// Envoy's default `healthy_panic_threshold` (50 %). Istio replaces it with
/// DR `outlierDetection.minHealthPercent` (default 0 = panic mode off)
/// whenever a DestinationRule sets outlier detection.
pub const ENVOY_HEALTHY_PANIC_THRESHOLD: u32 = 50;
