//! Outlier detection (fact sheet §9.1, §9.2): Envoy's `DetectorImpl` for the
//! consecutive-error detectors, as a state machine over the cluster's hosts.
//!
//! Each attempt's result is reported for the host it went to:
//! - an upstream response counts by its status: a 5xx bumps the consecutive
//!   5xx counter, a 502/503/504 also the gateway counter; anything else resets
//!   both;
//! - a connect failure or a reset before response headers is Envoy's
//!   `LocalOriginConnectFailed`, a connect or per-try timeout
//!   `LocalOriginTimeout`. Without `split_external_local_origin_errors` they
//!   count as a 503 and a 504 response (so as 5xx *and* gateway errors,
//!   §4.1 last row); with it they bump the consecutive local-origin counter,
//!   which every connection the pool hands over resets
//!   (`LocalOriginConnectSuccess` in `onPoolReady`): so only connect-phase
//!   failures add up, and a response resets it too.
//!
//! A counter reaching its threshold detects an outlier: unless the host is
//! already ejected, the detection is counted, the `max_ejection_percent` rule
//! ([`EjectionLimit`]) may refuse it (`ejections_overflow`), the enforcing
//! percentage may skip it, and otherwise the host is ejected; the counter
//! starts over. Every `interval` a sweep un-ejects the hosts whose
//! `min(base_ejection_time × backoff, max_ejection_time)` has passed
//! (`max_ejection_time_jitter` is 0, Envoy's default) and lowers the back-off
//! of hosts healthy for a whole interval. The back-off grows by one per
//! ejection while `backoff × base < max + base`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use meshsim_core::SimRng;
use meshsim_net::clock::Instant;

use super::ClusterState;
use crate::attempt::{AttemptFailure, ResetReason};
use crate::config::{EjectionLimit, OutlierDetection};
use crate::stats::OutlierStats;

/// What one attempt told about its host (Envoy's `Outlier::Result`, with the
/// response code of `putHttpResponseCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostResult {
    /// Response headers with this status.
    Response(u16),
    /// `LocalOriginConnectFailed` before a connection was had: refused, reset
    /// while connecting.
    ConnectFailed,
    /// `LocalOriginTimeout` before a connection was had: `connect_timeout`.
    ConnectTimeout,
    /// A reset before response headers on a connection the pool had handed
    /// over (`LocalOriginConnectSuccess`, then `LocalOriginConnectFailed`).
    Reset,
    /// A per-try timeout on a connection the pool had handed over
    /// (`LocalOriginConnectSuccess`, then `LocalOriginTimeout`).
    PerTryTimeout,
}

impl HostResult {
    /// The result of a failed attempt; `None` for an overflow (a circuit
    /// breaker), which is not the host's fault.
    pub(crate) fn of_failure(f: &AttemptFailure) -> Option<HostResult> {
        Some(match f.reason {
            ResetReason::Overflow => return None,
            ResetReason::ConnectionTimeout => HostResult::ConnectTimeout,
            r if r.is_connect_failure() => HostResult::ConnectFailed,
            _ if f.per_try_timeout => HostResult::PerTryTimeout,
            _ => HostResult::Reset,
        })
    }
}

/// Envoy's `OutlierEjectionType`, for the consecutive detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Consecutive5xx,
    ConsecutiveGateway,
    ConsecutiveLocalOrigin,
}

/// One host's monitor.
#[derive(Debug, Default)]
struct Monitor {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    consecutive_local: u32,
    /// When the host was ejected, while it is.
    ejected_at: Option<Instant>,
    /// Envoy's `ejectTimeBackoff`.
    backoff: u32,
    last_unejection: Option<Instant>,
}

/// The detector of one cluster.
#[derive(Debug)]
pub(crate) struct Detector {
    config: OutlierDetection,
    monitors: BTreeMap<SocketAddr, Monitor>,
    /// Envoy's `outlier_detection.*` stats of the cluster.
    pub(crate) stats: OutlierStats,
}

impl Detector {
    pub(crate) fn new(config: OutlierDetection) -> Detector {
        Detector {
            config,
            monitors: BTreeMap::new(),
            stats: OutlierStats::default(),
        }
    }

    /// The sweep period.
    pub(crate) fn interval(&self) -> std::time::Duration {
        self.config.interval
    }

    /// Follows a host-set change: new hosts get a fresh monitor, removed ones
    /// lose theirs (and their ejection).
    pub(crate) fn set_hosts(&mut self, hosts: &[SocketAddr]) {
        let gone: Vec<SocketAddr> = self
            .monitors
            .keys()
            .filter(|h| !hosts.contains(h))
            .copied()
            .collect();
        for h in gone {
            if self
                .monitors
                .remove(&h)
                .is_some_and(|m| m.ejected_at.is_some())
            {
                self.stats.ejections_active -= 1;
            }
        }
        for h in hosts {
            self.monitors.entry(*h).or_default();
        }
    }

    /// Whether `host` is ejected now.
    pub(crate) fn is_ejected(&self, host: SocketAddr) -> bool {
        self.monitors
            .get(&host)
            .is_some_and(|m| m.ejected_at.is_some())
    }

    /// Takes one result for `host` (ignored for a host no longer in the set).
    pub(crate) fn report(
        &mut self,
        host: SocketAddr,
        result: HostResult,
        now: Instant,
        rng: &mut SimRng,
    ) {
        let split = self.config.split_external_local_origin_errors;
        let detected = match (result, split) {
            (HostResult::Response(code), _) => self.response(host, code, split),
            (HostResult::ConnectFailed | HostResult::Reset, false) => {
                self.response(host, 503, false)
            }
            (HostResult::ConnectTimeout | HostResult::PerTryTimeout, false) => {
                self.response(host, 504, false)
            }
            (HostResult::ConnectFailed | HostResult::ConnectTimeout, true) => {
                self.local_failure(host, false)
            }
            (HostResult::Reset | HostResult::PerTryTimeout, true) => self.local_failure(host, true),
        };
        for kind in detected {
            self.detected(host, kind, now, rng);
        }
    }

    /// `putHttpResponseCode` (plus the local-origin success of a connection
    /// that produced a response, when split).
    fn response(&mut self, host: SocketAddr, code: u16, split: bool) -> Vec<Kind> {
        let (c5xx, cgw) = (
            self.config.consecutive_5xx,
            self.config.consecutive_gateway_failure,
        );
        let Some(m) = self.monitors.get_mut(&host) else {
            return Vec::new();
        };
        if split {
            m.consecutive_local = 0;
        }
        let mut out = Vec::new();
        if !(500..600).contains(&code) {
            m.consecutive_5xx = 0;
            m.consecutive_gateway = 0;
            return out;
        }
        if matches!(code, 502..=504) {
            m.consecutive_gateway += 1;
            if m.consecutive_gateway == cgw {
                out.push(Kind::ConsecutiveGateway);
            }
        } else {
            m.consecutive_gateway = 0;
        }
        m.consecutive_5xx += 1;
        if m.consecutive_5xx == c5xx {
            out.push(Kind::Consecutive5xx);
        }
        out
    }

    /// A local-origin failure (split mode). One that came after the pool
    /// handed over a connection follows that connection's success, which
    /// reset the counter: such failures alone only reach a threshold of 1.
    fn local_failure(&mut self, host: SocketAddr, connected: bool) -> Vec<Kind> {
        let threshold = self.config.consecutive_local_origin_failure;
        let Some(m) = self.monitors.get_mut(&host) else {
            return Vec::new();
        };
        if connected {
            m.consecutive_local = 0;
        }
        m.consecutive_local += 1;
        if m.consecutive_local == threshold {
            vec![Kind::ConsecutiveLocalOrigin]
        } else {
            Vec::new()
        }
    }

    /// `onConsecutiveErrorWorker`: count, maybe eject, reset the counter.
    fn detected(&mut self, host: SocketAddr, kind: Kind, now: Instant, rng: &mut SimRng) {
        if self.is_ejected(host) {
            return;
        }
        let s = &mut self.stats;
        match kind {
            Kind::Consecutive5xx => s.ejections_detected_consecutive_5xx += 1,
            Kind::ConsecutiveGateway => s.ejections_detected_consecutive_gateway_failure += 1,
            Kind::ConsecutiveLocalOrigin => {
                s.ejections_detected_consecutive_local_origin_failure += 1;
            }
        }
        self.eject(host, kind, now, rng);
        let Some(m) = self.monitors.get_mut(&host) else {
            return;
        };
        match kind {
            Kind::Consecutive5xx => {
                self.stats.ejections_consecutive_5xx += 1;
                m.consecutive_5xx = 0;
            }
            Kind::ConsecutiveGateway => m.consecutive_gateway = 0,
            Kind::ConsecutiveLocalOrigin => m.consecutive_local = 0,
        }
    }

    /// Whether one more ejection is allowed by `max_ejection_percent`.
    fn ejection_allowed(&self) -> bool {
        let hosts = self.monitors.len() as u64;
        let active = self.stats.ejections_active;
        let max = u64::from(self.config.max_ejection_percent.min(100));
        match self.config.ejection_limit {
            EjectionLimit::Current => {
                100 * (active + 1) <= max * hosts
                    || (self.config.always_eject_one_host && active == 0)
            }
            EjectionLimit::Legacy => 100 * active < max * hosts,
        }
    }

    /// `ejectHost`.
    fn eject(&mut self, host: SocketAddr, kind: Kind, now: Instant, rng: &mut SimRng) {
        if !self.ejection_allowed() {
            self.stats.ejections_overflow += 1;
            return;
        }
        if kind == Kind::Consecutive5xx {
            self.stats.ejections_total += 1;
        }
        let c = &self.config;
        let percent = match kind {
            Kind::Consecutive5xx => c.enforcing_consecutive_5xx,
            Kind::ConsecutiveGateway => c.enforcing_consecutive_gateway_failure,
            Kind::ConsecutiveLocalOrigin => c.enforcing_consecutive_local_origin_failure,
        };
        if !enforced(percent, rng) {
            return;
        }
        let (base, max) = (c.base_ejection_time, c.max_ejection_time);
        let Some(m) = self.monitors.get_mut(&host) else {
            return;
        };
        m.ejected_at = Some(now);
        if base * m.backoff < max + base {
            m.backoff += 1;
        }
        let s = &mut self.stats;
        s.ejections_active += 1;
        s.ejections_enforced_total += 1;
        match kind {
            Kind::Consecutive5xx => s.ejections_enforced_consecutive_5xx += 1,
            Kind::ConsecutiveGateway => s.ejections_enforced_consecutive_gateway_failure += 1,
            Kind::ConsecutiveLocalOrigin => {
                s.ejections_enforced_consecutive_local_origin_failure += 1;
            }
        }
    }

    /// `onIntervalTimer`: un-eject hosts whose time is up, then lower the
    /// back-off of hosts that stayed healthy for an interval.
    pub(crate) fn sweep(&mut self, now: Instant) {
        let c = &self.config;
        for m in self.monitors.values_mut() {
            let Some(at) = m.ejected_at else { continue };
            let due = (c.base_ejection_time * m.backoff).min(c.max_ejection_time);
            if now.duration_since(at) >= due {
                m.ejected_at = None;
                m.last_unejection = Some(now);
                m.consecutive_5xx = 0;
                m.consecutive_gateway = 0;
                m.consecutive_local = 0;
                self.stats.ejections_active -= 1;
            }
        }
        for m in self.monitors.values_mut() {
            let healthy_for_an_interval = m
                .last_unejection
                .is_some_and(|t| now.duration_since(t) >= c.interval);
            if m.ejected_at.is_none() && healthy_for_an_interval && m.backoff > 0 {
                m.backoff -= 1;
            }
        }
    }
}

/// Envoy's `featureEnabled(key, percent)`: always at 100, never at 0, else a
/// draw (only then is the random stream used).
fn enforced(percent: u32, rng: &mut SimRng) -> bool {
    match percent {
        0 => false,
        p if p >= 100 => true,
        p => rng.below(100) < u64::from(p),
    }
}

/// Runs the detector's sweep every `interval` from the cluster's start.
pub(crate) async fn interval_loop(cluster: Arc<ClusterState>) {
    let Some(interval) = cluster.outlier_interval() else {
        return;
    };
    let mut next = Instant::now() + interval;
    loop {
        meshsim_net::clock::sleep_until(next).await;
        cluster.outlier_sweep();
        next += interval;
    }
}

#[cfg(test)]
mod tests;
