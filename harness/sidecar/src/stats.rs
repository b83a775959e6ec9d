//! Counters named after Envoy's cluster and listener stats.
//!
//! Envoy keeps these per cluster; meshsim sums the request and connection
//! counters over the whole sidecar (one sidecar usually talks to one or two
//! clusters in a scenario) and keeps the DNS ones per cluster, where they mean
//! something only per name.

mod cluster;

use std::collections::BTreeMap;
use std::sync::Mutex;

use meshsim_core::ResponseFlags;

pub use cluster::ClusterStats;

/// A snapshot of one sidecar's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidecarStats {
    /// Connections accepted on the outbound capture port.
    pub downstream_cx_total: u64,
    /// Connections accepted on the inbound capture port (15006).
    pub inbound_downstream_cx_total: u64,
    /// Connections open now on the outbound capture port (a gauge,
    /// `listener.0.0.0.0_15001.downstream_cx_active`).
    pub downstream_cx_active: u64,
    /// Connections open now on the inbound capture port (a gauge,
    /// `listener.0.0.0.0_15006.downstream_cx_active`).
    pub inbound_downstream_cx_active: u64,
    /// HTTP requests received from the application.
    pub downstream_rq_total: u64,
    /// Attempts sent (or tried) upstream, retries included.
    pub upstream_rq_total: u64,
    /// Retries performed (`upstream_rq_retry`).
    pub upstream_rq_retry: u64,
    /// Requests that ended after a retry with a non-retriable answer.
    pub upstream_rq_retry_success: u64,
    /// Requests whose failure was retriable but no retry was left.
    pub upstream_rq_retry_limit_exceeded: u64,
    /// Attempts ended by `per_try_timeout`.
    pub upstream_rq_per_try_timeout: u64,
    /// Requests ended by the route timeout (504 UT).
    pub upstream_rq_timeout: u64,
    /// Attempts that used a pooled (reused) connection.
    pub upstream_rq_reused_cx: u64,
    /// Attempts that found no ready connection and queued as pending requests.
    pub upstream_rq_pending_total: u64,
    /// Pending requests failed by a connect failure (`purgePendingStreams`).
    pub upstream_rq_pending_failure_eject: u64,
    /// Pending requests cancelled before a connection was ready (route timeout).
    pub upstream_rq_cancelled: u64,
    /// Upstream connections opened (or tried), HTTP and TCP.
    pub upstream_cx_total: u64,
    /// Upstream connects that failed (refused, timed out...).
    pub upstream_cx_connect_fail: u64,
    /// Upstream connects that hit `connect_timeout`.
    pub upstream_cx_connect_timeout: u64,
    /// Pooled connections closed by the upstream idle timeout.
    pub upstream_cx_idle_timeout: u64,
    /// Pooled connections closed after `max_requests_per_connection`.
    pub upstream_cx_max_requests: u64,
    /// Pooled connections that reached `max_connection_duration`.
    pub upstream_cx_max_duration_reached: u64,
    /// Pooled connections closed because their host left the cluster.
    pub upstream_cx_drained: u64,
    /// HTTP/2 upstream connections opened (or tried); also counted in
    /// `upstream_cx_total`.
    pub upstream_cx_http2_total: u64,
    /// Upstream connections the peer announced it would close: an HTTP/2
    /// GOAWAY (Envoy's `onGoAway`).
    pub upstream_cx_close_notify: u64,
    /// Upstream streams the sidecar reset (per-try timeout, route timeout,
    /// response abandoned), HTTP/2.
    pub upstream_rq_tx_reset: u64,
    /// Upstream streams the peer reset or refused (RST_STREAM, streams above
    /// a GOAWAY's last stream id), HTTP/2.
    pub upstream_rq_rx_reset: u64,
    /// Requests refused by `max_pending_requests` or `max_requests` (503 UO).
    pub upstream_rq_pending_overflow: u64,
    /// Times a new connection was wanted at the `max_connections` limit.
    pub upstream_cx_overflow: u64,
    /// Retries not made because of the retry breaker or budget (`UO` added).
    pub upstream_rq_retry_overflow: u64,
    /// Requests whose retries were given up because the body passed the
    /// retry buffer limit.
    pub retry_or_shadow_abandoned: u64,
    /// Downstream connections handled by the TCP proxy.
    pub tcp_downstream_cx_total: u64,
    /// TCP-proxied connections whose connects failed `max_connect_attempts`
    /// times (`upstream_cx_connect_attempts_exceeded`, flag `URX`).
    pub upstream_cx_connect_attempts_exceeded: u64,
    /// TCP-proxied connections closed by the `tcp_proxy` `idle_timeout`
    /// (`tcp.<prefix>.idle_timeout`).
    pub tcp_idle_timeout: u64,
    /// TCP-proxied connections closed by `max_downstream_connection_duration`
    /// (`tcp.<prefix>.max_downstream_connection_duration`, flag `DT`).
    pub tcp_max_downstream_connection_duration: u64,
    /// TCP-proxied connections by the response flags of their access-log
    /// entry (`UF,URX`, `UH`, `DT`...); connections that ended without a
    /// flag are not counted.
    pub tcp_response_flags: BTreeMap<ResponseFlags, u64>,
    /// Upstream connections of the HTTP pools closed by the upstream side or
    /// by a socket error (a FIN, a RST, a keepalive timeout), not by the
    /// sidecar (`upstream_cx_destroy_remote`).
    pub upstream_cx_destroy_remote: u64,
    /// Local replies by their response flags (`-` for direct responses).
    pub local_replies: BTreeMap<ResponseFlags, u64>,
    /// DNS counters per STRICT_DNS / LOGICAL_DNS cluster.
    pub dns: BTreeMap<String, DnsClusterStats>,
    /// Host picks made in panic mode: too few healthy hosts, so every host
    /// was a candidate (`lb_healthy_panic`, summed over clusters).
    pub lb_healthy_panic: u64,
    /// `outlier_detection.*` per cluster with outlier detection.
    pub outlier_detection: BTreeMap<String, OutlierStats>,
    /// Request counters per cluster (`cluster.<name>.upstream_rq_*`).
    pub clusters: BTreeMap<String, ClusterStats>,
    /// Pushes applied (`cluster_manager.cds.update_success`; meshsim applies
    /// a whole push, routes and clusters, at once).
    pub cds_update_success: u64,
    /// Clusters a push added (`cluster_manager.cluster_added`; the clusters of
    /// the first configuration are not counted).
    pub cluster_added: u64,
    /// Clusters a push changed, hence replaced (`cluster_manager.cluster_modified`).
    pub cluster_modified: u64,
    /// Clusters a push removed (`cluster_manager.cluster_removed`).
    pub cluster_removed: u64,
    /// Sniffed connections found to be HTTP/1.x or h2c
    /// (`http_inspector.http11_found` + `http10_found` + `http2_found`).
    pub http_inspector_http_found: u64,
    /// Sniffed connections whose first bytes were not HTTP, or that sent
    /// nothing before the timeout (`http_inspector.http_not_found`).
    pub http_inspector_http_not_found: u64,
    /// Sniffed connections that reached the listener filter timeout
    /// (`listener.<addr>.downstream_pre_cx_timeout`).
    pub downstream_pre_cx_timeout: u64,
    /// Upstream mTLS handshakes completed (`cluster.<name>.ssl.handshake`,
    /// summed over clusters).
    pub ssl_handshake: u64,
    /// Upstream mTLS handshakes that failed (`ssl.connection_error`).
    pub ssl_connection_error: u64,
    /// Inbound mTLS handshakes completed (`listener.<addr>.ssl.handshake`).
    pub inbound_ssl_handshake: u64,
    /// Inbound mTLS handshakes that failed (`listener.<addr>.ssl.connection_error`).
    pub inbound_ssl_connection_error: u64,
    /// Inbound connections no filter chain matched, such as plaintext to a
    /// STRICT port (`listener.<addr>.no_filter_chain_match`).
    pub no_filter_chain_match: u64,
}

/// Envoy's `cluster.<name>.outlier_detection.*` stats (consecutive
/// detectors only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlierStats {
    /// Hosts ejected now (a gauge).
    pub ejections_active: u64,
    /// Ejections refused by `max_ejection_percent`.
    pub ejections_overflow: u64,
    /// Ejections performed, all kinds.
    pub ejections_enforced_total: u64,
    /// Ejections performed for consecutive 5xx.
    pub ejections_enforced_consecutive_5xx: u64,
    /// Ejections performed for consecutive gateway errors.
    pub ejections_enforced_consecutive_gateway_failure: u64,
    /// Ejections performed for consecutive local-origin failures.
    pub ejections_enforced_consecutive_local_origin_failure: u64,
    /// Consecutive 5xx outliers detected (enforced or not).
    pub ejections_detected_consecutive_5xx: u64,
    /// Consecutive gateway-error outliers detected (enforced or not).
    pub ejections_detected_consecutive_gateway_failure: u64,
    /// Consecutive local-origin-failure outliers detected (enforced or not).
    pub ejections_detected_consecutive_local_origin_failure: u64,
    /// Deprecated Envoy counter: consecutive 5xx detections that passed the
    /// `max_ejection_percent` rule (enforced or not).
    pub ejections_total: u64,
    /// Deprecated Envoy counter: consecutive 5xx detections.
    pub ejections_consecutive_5xx: u64,
}

/// Envoy's `cluster.<name>.update_*` counters of a DNS cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsClusterStats {
    /// Resolutions started.
    pub update_attempt: u64,
    /// Resolutions answered (an empty answer counts as success for
    /// STRICT_DNS, as failure for LOGICAL_DNS).
    pub update_success: u64,
    /// Resolutions that failed, or gave LOGICAL_DNS no address (hosts kept).
    pub update_failure: u64,
    /// Hosts after the latest successful resolution.
    pub hosts: u64,
}

/// The live counters: one short critical section per update.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    inner: Mutex<SidecarStats>,
}

impl Counters {
    /// Applies `f` to the counters.
    pub(crate) fn bump(&self, f: impl FnOnce(&mut SidecarStats)) {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Counts one local reply carrying `flags`.
    pub(crate) fn local_reply(&self, flags: ResponseFlags) {
        self.bump(|s| *s.local_replies.entry(flags).or_default() += 1);
    }

    /// Applies `f` to the DNS counters of `cluster`.
    pub(crate) fn dns(&self, cluster: &str, f: impl FnOnce(&mut DnsClusterStats)) {
        self.bump(|s| f(s.dns.entry(cluster.to_string()).or_default()));
    }

    /// Replaces the outlier-detection stats of `cluster`.
    pub(crate) fn outlier(&self, cluster: &str, stats: &OutlierStats) {
        self.bump(|s| {
            s.outlier_detection
                .insert(cluster.to_string(), stats.clone());
        });
    }

    /// Applies `f` to the request counters of `cluster`.
    pub(crate) fn cluster(&self, cluster: &str, f: impl FnOnce(&mut ClusterStats)) {
        // Look up before inserting: no allocation once the cluster has counters.
        self.bump(|s| match s.clusters.get_mut(cluster) {
            Some(c) => f(c),
            None => f(s.clusters.entry(cluster.to_string()).or_default()),
        });
    }

    /// Reads the counters without copying them.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&SidecarStats) -> R) -> R {
        f(&self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A copy of the counters.
    pub(crate) fn snapshot(&self) -> SidecarStats {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_replies_are_counted_by_flag() {
        let c = Counters::default();
        c.local_reply(ResponseFlags::UC);
        c.local_reply(ResponseFlags::UC);
        c.local_reply(ResponseFlags::UF | ResponseFlags::URX);
        let s = c.snapshot();
        assert_eq!(s.local_replies[&ResponseFlags::UC], 2);
        assert_eq!(
            s.local_replies[&(ResponseFlags::UF | ResponseFlags::URX)],
            1
        );
    }

    #[test]
    fn dns_counters_are_kept_per_cluster() {
        let c = Counters::default();
        c.dns("a", |d| d.update_attempt += 1);
        c.dns("b", |d| d.update_failure += 1);
        let s = c.snapshot();
        assert_eq!(s.dns["a"].update_attempt, 1);
        assert_eq!(s.dns["b"].update_failure, 1);
    }
}
