//! Envoy's per-cluster counters (`cluster.<name>.upstream_rq_*`,
//! `upstream_cx_*`): request counters come from the router, which knows each
//! attempt's cluster; connection counters from the cluster's pools and the
//! TCP proxy. Gauges (active connections, membership, ejections) are read
//! from the cluster when the admin endpoints render them.

/// One cluster's request counters (Envoy names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Attempts sent (or tried) upstream, retries included.
    pub upstream_rq_total: u64,
    /// Retries performed.
    pub upstream_rq_retry: u64,
    /// Requests that ended after a retry with a non-retriable answer.
    pub upstream_rq_retry_success: u64,
    /// Retries not made because of the retry breaker or budget.
    pub upstream_rq_retry_overflow: u64,
    /// Requests whose failure was retriable but no retry was left.
    pub upstream_rq_retry_limit_exceeded: u64,
    /// Requests ended by the route timeout.
    pub upstream_rq_timeout: u64,
    /// Attempts ended by `per_try_timeout`.
    pub upstream_rq_per_try_timeout: u64,
    /// Attempts refused by a circuit breaker (`max_pending_requests`,
    /// `max_requests`).
    pub upstream_rq_pending_overflow: u64,
    /// Upstream responses by status class (`upstream_rq_2xx`...), keyed by
    /// the class digit.
    pub upstream_rq_by_class: [u64; 6],
    /// Requests that waited for a connection.
    pub upstream_rq_pending_total: u64,
    /// Upstream connections opened (or tried).
    pub upstream_cx_total: u64,
    /// Upstream connects that failed.
    pub upstream_cx_connect_fail: u64,
    /// Upstream connects that hit `connect_timeout`.
    pub upstream_cx_connect_timeout: u64,
    /// Times a new connection was wanted at `max_connections`.
    pub upstream_cx_overflow: u64,
}
