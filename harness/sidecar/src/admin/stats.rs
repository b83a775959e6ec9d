//! `/stats`: Envoy's counters and gauges as `name: value` lines, sorted, with
//! `?filter=REGEX` (a search, as Envoy's) and `?format=json`
//! (`{"stats":[{"name":..,"value":..}]}`).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::reply;
use crate::runtime::Sidecar;
use crate::stats::{ClusterStats, OutlierStats};

/// Every stat the sidecar keeps, by Envoy name.
pub(crate) fn collect(sc: &Sidecar) -> BTreeMap<String, u64> {
    let snap = sc.env.stats.snapshot();
    let mut out = BTreeMap::new();
    for (name, state) in &sc.clusters {
        let view = state.view();
        let p = format!("cluster.{name}.");
        let healthy = view.hosts.iter().filter(|h| !h.ejected).count();
        out.insert(format!("{p}membership_total"), view.hosts.len() as u64);
        out.insert(format!("{p}membership_healthy"), healthy as u64);
        out.insert(format!("{p}upstream_cx_active"), view.cx_active as u64);
        let c = snap.clusters.get(name).cloned().unwrap_or_default();
        cluster_counters(&mut out, &p, &c);
        if let Some(o) = snap.outlier_detection.get(name) {
            outlier(&mut out, &p, o);
        }
        if let Some(d) = snap.dns.get(name) {
            out.insert(format!("{p}update_attempt"), d.update_attempt);
            out.insert(format!("{p}update_success"), d.update_success);
            out.insert(format!("{p}update_failure"), d.update_failure);
        }
    }
    out.insert(
        "http.outbound.downstream_rq_total".into(),
        snap.downstream_rq_total,
    );
    out.insert(
        "listener.0.0.0.0_15001.downstream_cx_total".into(),
        snap.downstream_cx_total,
    );
    out.insert(
        "listener.0.0.0.0_15006.downstream_cx_total".into(),
        snap.inbound_downstream_cx_total,
    );
    out.insert(
        "listener.0.0.0.0_15001.downstream_cx_active".into(),
        snap.downstream_cx_active,
    );
    out.insert(
        "listener.0.0.0.0_15006.downstream_cx_active".into(),
        snap.inbound_downstream_cx_active,
    );
    out
}

fn cluster_counters(out: &mut BTreeMap<String, u64>, p: &str, c: &ClusterStats) {
    let counters = [
        ("upstream_rq_total", c.upstream_rq_total),
        ("upstream_rq_retry", c.upstream_rq_retry),
        ("upstream_rq_retry_success", c.upstream_rq_retry_success),
        ("upstream_rq_retry_overflow", c.upstream_rq_retry_overflow),
        (
            "upstream_rq_retry_limit_exceeded",
            c.upstream_rq_retry_limit_exceeded,
        ),
        ("upstream_rq_timeout", c.upstream_rq_timeout),
        ("upstream_rq_per_try_timeout", c.upstream_rq_per_try_timeout),
        (
            "upstream_rq_pending_overflow",
            c.upstream_rq_pending_overflow,
        ),
        ("upstream_rq_pending_total", c.upstream_rq_pending_total),
        ("upstream_cx_total", c.upstream_cx_total),
        ("upstream_cx_connect_fail", c.upstream_cx_connect_fail),
        ("upstream_cx_connect_timeout", c.upstream_cx_connect_timeout),
        ("upstream_cx_overflow", c.upstream_cx_overflow),
    ];
    for (name, v) in counters {
        out.insert(format!("{p}{name}"), v);
    }
    for (class, v) in c.upstream_rq_by_class.iter().enumerate().skip(1) {
        if *v > 0 {
            out.insert(format!("{p}upstream_rq_{class}xx"), *v);
        }
    }
}

fn outlier(out: &mut BTreeMap<String, u64>, p: &str, o: &OutlierStats) {
    let stats = [
        ("ejections_active", o.ejections_active),
        ("ejections_overflow", o.ejections_overflow),
        ("ejections_enforced_total", o.ejections_enforced_total),
        (
            "ejections_enforced_consecutive_5xx",
            o.ejections_enforced_consecutive_5xx,
        ),
        (
            "ejections_detected_consecutive_5xx",
            o.ejections_detected_consecutive_5xx,
        ),
        ("ejections_total", o.ejections_total),
    ];
    for (name, v) in stats {
        out.insert(format!("{p}outlier_detection.{name}"), v);
    }
}

/// Renders `/stats?query`.
pub(super) fn answer(sc: &Sidecar, query: &str) -> Response<Full<Bytes>> {
    let mut filter = None;
    let mut json = false;
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        match k {
            "filter" => match regex::Regex::new(v) {
                Ok(re) => filter = Some(re),
                Err(e) => {
                    let msg = format!("Invalid regex: \"{e}\"\n");
                    return reply(StatusCode::BAD_REQUEST, "text/plain", msg);
                }
            },
            "format" => json = v == "json",
            _ => {}
        }
    }
    let stats = collect(sc);
    let kept = stats
        .iter()
        .filter(|(n, _)| filter.as_ref().is_none_or(|re| re.is_match(n)));
    if json {
        let list: Vec<_> = kept
            .map(|(n, v)| serde_json::json!({ "name": n, "value": v }))
            .collect();
        let body = serde_json::json!({ "stats": list }).to_string();
        return reply(StatusCode::OK, "application/json", body);
    }
    let body: String = kept.map(|(n, v)| format!("{n}: {v}\n")).collect();
    reply(StatusCode::OK, "text/plain; charset=UTF-8", body)
}
