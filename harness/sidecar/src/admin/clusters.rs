//! `/clusters`: Envoy's text format, `cluster::key::value` for the cluster's
//! circuit breakers and outlier settings, and `cluster::host:port::stat::value`
//! per host (`cx_active`, `rq_active`, `health_flags` `healthy` or
//! `/failed_outlier_check`, `weight`). Per-host request totals are not kept.

use std::fmt::Write as _;

use crate::runtime::Sidecar;

/// The whole page.
pub(super) fn render(sc: &Sidecar) -> String {
    let mut s = String::new();
    for (name, state) in &sc.clusters {
        let pool = &state.config.pool;
        let thresholds = [
            ("max_connections", pool.max_connections),
            ("max_pending_requests", pool.max_pending_requests),
            ("max_requests", pool.max_requests),
            ("max_retries", pool.max_retries),
        ];
        for (key, v) in thresholds {
            let _ = writeln!(s, "{name}::default_priority::{key}::{v}");
        }
        let view = state.view();
        if let Some(o) = &view.outlier {
            let _ = writeln!(
                s,
                "{name}::outlier::ejections_active::{}",
                o.ejections_active
            );
        }
        let _ = writeln!(
            s,
            "{name}::added_via_api::{}",
            name.starts_with("outbound|")
        );
        for h in &view.hosts {
            let flags = if h.ejected {
                "/failed_outlier_check"
            } else {
                "healthy"
            };
            let a = h.addr;
            let _ = writeln!(s, "{name}::{a}::cx_active::{}", h.cx_active);
            let _ = writeln!(s, "{name}::{a}::rq_active::{}", h.rq_active);
            let _ = writeln!(s, "{name}::{a}::health_flags::{flags}");
            let _ = writeln!(s, "{name}::{a}::weight::{}", h.weight);
        }
    }
    s
}
