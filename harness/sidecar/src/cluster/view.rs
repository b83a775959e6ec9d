//! A cluster as the admin endpoints show it: hosts with their gauges,
//! membership, readiness (initial fetch done) and outlier state.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::ClusterState;
use crate::stats::OutlierStats;

/// One host of a cluster (`/clusters` lines).
#[derive(Debug, Clone)]
pub(crate) struct HostView {
    pub(crate) addr: SocketAddr,
    /// Connections open or opening (`cx_active`).
    pub(crate) cx_active: usize,
    /// Requests in flight (`rq_active`).
    pub(crate) rq_active: u64,
    /// Ejected by outlier detection (`/failed_outlier_check`).
    pub(crate) ejected: bool,
    /// `load_balancing_weight` (1 unless EDS said otherwise).
    pub(crate) weight: u32,
}

/// A snapshot of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct ClusterView {
    pub(crate) hosts: Vec<HostView>,
    /// Connections of every pool of the cluster (`upstream_cx_active`).
    pub(crate) cx_active: usize,
    pub(crate) outlier: Option<OutlierStats>,
}

impl ClusterState {
    /// Whether the cluster's initial fetch is done (Envoy's cluster init).
    pub(crate) fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// The admin view of the cluster.
    pub(crate) fn view(&self) -> ClusterView {
        let st = self.lock();
        let weight_of = |h: SocketAddr| {
            st.endpoints
                .iter()
                .find(|e| e.addr == h)
                .map_or(1, |e| e.weight)
        };
        let hosts = st
            .hosts
            .iter()
            .map(|&addr| HostView {
                addr,
                cx_active: st.pools.get(&addr).map_or(0, |p| p.open_conns()),
                rq_active: st
                    .active
                    .get(&addr)
                    .map_or(0, |c| c.load(Ordering::Relaxed)),
                ejected: st.outlier.as_ref().is_some_and(|d| d.is_ejected(addr)),
                weight: weight_of(addr),
            })
            .collect();
        let pooled: usize = st.pools.values().map(|p| p.open_conns()).sum();
        let logical = st.logical.as_ref().map_or(0, |p| p.open_conns());
        ClusterView {
            hosts,
            cx_active: pooled + logical,
            outlier: st.outlier.as_ref().map(|d| d.stats.clone()),
        }
    }
}
