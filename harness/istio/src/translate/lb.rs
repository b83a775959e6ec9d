//! DestinationRule `loadBalancer` and `outlierDetection` onto a cluster
//! (pilot's `applyLoadBalancer` and `applyOutlierDetection` in
//! `cluster_traffic_policy.go`, fact sheet §9.2).
//!
//! - `loadBalancer.simple`: unset -> `LEAST_REQUEST` from Istio 1.14
//!   (istio/istio PR #37220, 1.14 change notes), `ROUND_ROBIN` before;
//!   `LEAST_CONN` is an alias of `LEAST_REQUEST`; `PASSTHROUGH` turns the
//!   cluster into ORIGINAL_DST (`CLUSTER_PROVIDED`), dropping its endpoints.
//!   An ORIGINAL_DST cluster is always `CLUSTER_PROVIDED`.
//! - `outlierDetection`: absent -> none. Present -> success-rate ejection off;
//!   `consecutive5xxErrors` / `consecutiveGatewayErrors` set the threshold and
//!   enforcing 100 % (0 % when set to 0), unset they keep Envoy's 5/100 % and
//!   5/0 %; `interval`, `baseEjectionTime` pass through;
//!   `maxEjectionPercent` only when > 0; `splitExternalLocalOriginErrors`
//!   with `consecutiveLocalOriginFailures` > 0 sets that threshold at 100 %;
//!   `minHealthPercent` (default 0) becomes `healthy_panic_threshold`, so
//!   panic mode is off unless asked for. `consecutiveErrors` (deprecated) is
//!   not read by current Istio.
//! - A `portLevelSettings` entry for the port replaces each of the two when it
//!   sets it.
//!
//! `max_ejection_percent` semantics: Istio 1.19 is the first release built on
//! Envoy 1.27, the first Envoy with the "after the ejection" rule of
//! envoyproxy/envoy PR #27909 (June 2023), so older profiles get
//! [`EjectionLimit::Legacy`]. The release mapping is derived from release
//! dates, not read in Istio's source.

use meshsim_sidecar::config::{
    Cluster, Discovery, EjectionLimit, LbPolicy, OutlierDetection as EnvoyOutlier,
};

use crate::model::{DestinationRule, LoadBalancer, OutlierDetection, SimpleLb};
use crate::version::IstioVersion;

/// Applies `dr`'s load balancer and outlier detection for `port` to `cluster`.
pub(crate) fn apply(
    mut cluster: Cluster,
    dr: Option<&DestinationRule>,
    port: u16,
    version: IstioVersion,
) -> Cluster {
    let (lb, od) = components(dr, port);
    if let Some(od) = &od {
        cluster.outlier_detection = Some(outlier_detection(od, version));
        cluster.healthy_panic_threshold = od.min_health_percent.unwrap_or(0).max(0).unsigned_abs();
    }
    cluster.lb_policy = match lb.and_then(|lb| lb.simple) {
        None if version.at_least(1, 14) => LbPolicy::LeastRequest,
        None | Some(SimpleLb::RoundRobin) => LbPolicy::RoundRobin,
        Some(SimpleLb::LeastConn | SimpleLb::LeastRequest) => LbPolicy::LeastRequest,
        Some(SimpleLb::Random) => LbPolicy::Random,
        Some(SimpleLb::Passthrough) => {
            cluster.discovery = Discovery::OriginalDst;
            LbPolicy::ClusterProvided
        }
    };
    if matches!(cluster.discovery, Discovery::OriginalDst) {
        cluster.lb_policy = LbPolicy::ClusterProvided;
    }
    cluster
}

/// The load balancer and outlier detection that apply on `port`
/// ([`super::subsets::port_policy`]).
fn components(
    dr: Option<&DestinationRule>,
    port: u16,
) -> (Option<LoadBalancer>, Option<OutlierDetection>) {
    let Some(policy) = dr.and_then(|dr| dr.traffic_policy.as_ref()) else {
        return (None, None);
    };
    let p = super::subsets::port_policy(policy, port);
    (p.load_balancer, p.outlier_detection)
}

/// `applyOutlierDetection` onto Envoy's defaults.
fn outlier_detection(od: &OutlierDetection, version: IstioVersion) -> EnvoyOutlier {
    let enforcing = |v: u32| if v > 0 { 100 } else { 0 };
    let mut out = EnvoyOutlier {
        ejection_limit: if version.at_least(1, 19) {
            EjectionLimit::Current
        } else {
            EjectionLimit::Legacy
        },
        ..EnvoyOutlier::default()
    };
    if let Some(v) = od.consecutive_5xx_errors {
        out.consecutive_5xx = v;
        out.enforcing_consecutive_5xx = enforcing(v);
    }
    if let Some(v) = od.consecutive_gateway_errors {
        out.consecutive_gateway_failure = v;
        out.enforcing_consecutive_gateway_failure = enforcing(v);
    }
    if let Some(d) = od.interval {
        out.interval = d;
    }
    if let Some(d) = od.base_ejection_time {
        out.base_ejection_time = d;
        // Envoy: max_ejection_time unset = max(300 s, base).
        out.max_ejection_time = out.max_ejection_time.max(d);
    }
    if let Some(p) = od.max_ejection_percent.filter(|p| *p > 0) {
        out.max_ejection_percent = p.unsigned_abs();
    }
    if od.split_external_local_origin_errors {
        out.split_external_local_origin_errors = true;
        if let Some(v) = od.consecutive_local_origin_failures.filter(|v| *v > 0) {
            out.consecutive_local_origin_failure = v;
            out.enforcing_consecutive_local_origin_failure = 100;
        }
    }
    out
}
