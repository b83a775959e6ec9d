//! A cluster's circuit breakers: Envoy's `ResourceManager` (fact sheet §1.3,
//! §4.2, §9.3).
//!
//! Four counters per cluster, summed over every host's pool:
//! - connections open or being opened (`max_connections`): at the limit the
//!   pool opens no new connection and counts `upstream_cx_overflow`; the
//!   request stays pending and takes the next connection that frees. A pool
//!   with no connection at all opens one anyway, so its queue can drain
//!   (Envoy's `tryCreateNewConnection`);
//! - pending requests (`max_pending_requests`): a request finding no ready
//!   connection past the limit fails with reset reason `overflow`;
//! - requests on connections (`max_requests`): checked when a request is
//!   attached to a connection; past it, `overflow`. Both count
//!   `upstream_rq_pending_overflow` and end in 503 `UO` with
//!   `x-envoy-overloaded: true`, never retried;
//! - retries in progress (`max_retries`, or the retry budget when one is
//!   configured): a retry holds its slot from the decision to retry until the
//!   retried attempt's outcome is known (Envoy's `RetryStateImpl` releases it
//!   at its next `shouldRetry`). A retry past the limit is not made; the
//!   request ends with its last failure plus `UO`
//!   (`upstream_rq_retry_overflow`).
//!
//! Each slot is a [`Permit`] that gives the count back when dropped, so no
//! path can leak one. The counters sit behind a short std mutex never held
//! across an await.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::{PoolSettings, RetryBudget};

/// The limit of concurrent retries under a retry budget: `budget_percent` %
/// of the cluster's active plus pending requests (rounded down, as Envoy's
/// integer conversion), and never less than `min_retry_concurrency`.
pub fn retry_budget_max(budget: RetryBudget, active_and_pending: u64) -> u64 {
    let by_percent = (budget.budget_percent / 100.0 * active_and_pending as f64) as u64;
    by_percent.max(u64::from(budget.min_retry_concurrency))
}

/// What a [`Permit`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// A connection open or being opened.
    Connection,
    /// A request waiting for a connection.
    Pending,
    /// A request on a connection.
    Request,
    /// A retry in progress.
    Retry,
}

#[derive(Debug, Default)]
struct Counts {
    connections: u64,
    pending: u64,
    requests: u64,
    retries: u64,
}

impl Counts {
    fn slot(&mut self, r: Resource) -> &mut u64 {
        match r {
            Resource::Connection => &mut self.connections,
            Resource::Pending => &mut self.pending,
            Resource::Request => &mut self.requests,
            Resource::Retry => &mut self.retries,
        }
    }
}

/// The breakers of one cluster.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    max_connections: u64,
    max_pending: u64,
    max_requests: u64,
    max_retries: u64,
    budget: Option<RetryBudget>,
    counts: Mutex<Counts>,
}

impl CircuitBreaker {
    /// Breakers with the cluster's thresholds.
    pub(crate) fn new(settings: &PoolSettings) -> Arc<CircuitBreaker> {
        Arc::new(CircuitBreaker {
            max_connections: u64::from(settings.max_connections),
            max_pending: u64::from(settings.max_pending_requests),
            max_requests: u64::from(settings.max_requests),
            max_retries: u64::from(settings.max_retries),
            budget: settings.retry_budget,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn max(&self, r: Resource, counts: &Counts) -> u64 {
        match r {
            Resource::Connection => self.max_connections,
            Resource::Pending => self.max_pending,
            Resource::Request => self.max_requests,
            Resource::Retry => match self.budget {
                Some(b) => retry_budget_max(b, counts.requests + counts.pending),
                None => self.max_retries,
            },
        }
    }

    /// A slot of `r` if the count is below its limit (Envoy's `canCreate`).
    pub(crate) fn try_acquire(self: &Arc<Self>, r: Resource) -> Option<Permit> {
        let mut counts = self.lock();
        if *counts.slot(r) >= self.max(r, &counts) {
            return None;
        }
        *counts.slot(r) += 1;
        Some(Permit {
            breaker: self.clone(),
            resource: r,
        })
    }

    /// A slot of `r` past its limit (the one connection a pool without any
    /// connection always gets).
    pub(crate) fn force(self: &Arc<Self>, r: Resource) -> Permit {
        *self.lock().slot(r) += 1;
        Permit {
            breaker: self.clone(),
            resource: r,
        }
    }

    /// The current count of `r`.
    #[cfg(test)]
    pub(crate) fn count(&self, r: Resource) -> u64 {
        *self.lock().slot(r)
    }
}

/// One counted slot; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: Arc<CircuitBreaker>,
    resource: Resource,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.breaker.lock();
        let slot = counts.slot(self.resource);
        *slot = slot.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn breaker(f: impl FnOnce(&mut PoolSettings)) -> Arc<CircuitBreaker> {
        let mut s = PoolSettings::default();
        f(&mut s);
        CircuitBreaker::new(&s)
    }

    /// Fact sheet §4.2: Istio's defaults (2^32 - 1) never bite.
    #[test]
    fn istio_default_thresholds_admit_thousands_of_everything() {
        let b = breaker(|_| {});
        let permits: Vec<_> = (0..5000)
            .flat_map(|_| {
                [
                    Resource::Connection,
                    Resource::Pending,
                    Resource::Request,
                    Resource::Retry,
                ]
                .map(|r| b.try_acquire(r))
            })
            .collect();
        assert!(permits.iter().all(Option::is_some));
    }

    #[test]
    fn a_limit_admits_exactly_that_many_and_a_dropped_permit_frees_its_slot() {
        let b = breaker(|s| s.max_pending_requests = 2);
        let one = b.try_acquire(Resource::Pending).unwrap();
        let _two = b.try_acquire(Resource::Pending).unwrap();
        assert!(b.try_acquire(Resource::Pending).is_none());
        drop(one);
        assert_eq!(b.count(Resource::Pending), 1);
        assert!(b.try_acquire(Resource::Pending).is_some());
    }

    /// Fact sheet §1.3: the retry breaker is `max_retries` concurrent retries.
    #[test]
    fn max_retries_bounds_concurrent_retries_not_retries_in_total() {
        let b = breaker(|s| s.max_retries = 1);
        let r = b.try_acquire(Resource::Retry).unwrap();
        assert!(b.try_acquire(Resource::Retry).is_none());
        drop(r);
        assert!(b.try_acquire(Resource::Retry).is_some());
    }

    /// Fact sheet §1.3: a budget replaces `max_retries`; it is `budget_percent`
    /// of active + pending requests, floored at `min_retry_concurrency`.
    #[test]
    fn retry_budget_replaces_max_retries_and_grows_with_active_and_pending_requests() {
        let b = breaker(|s| {
            s.max_retries = 0;
            s.retry_budget = Some(RetryBudget::default());
        });
        let floor: Vec<_> = (0..3).map(|_| b.try_acquire(Resource::Retry)).collect();
        assert!(floor.iter().all(Option::is_some), "min_retry_concurrency 3");
        assert!(b.try_acquire(Resource::Retry).is_none());
        // 20 active requests: 20 % of them is 4.
        let _active: Vec<_> = (0..20)
            .map(|_| b.try_acquire(Resource::Request).unwrap())
            .collect();
        let _fourth = b.try_acquire(Resource::Retry).unwrap();
        assert!(b.try_acquire(Resource::Retry).is_none());
    }

    #[test]
    fn retry_budget_max_rounds_down_and_keeps_the_floor() {
        let budget = |p, m| RetryBudget {
            budget_percent: p,
            min_retry_concurrency: m,
        };
        assert_eq!(retry_budget_max(budget(20.0, 3), 0), 3);
        assert_eq!(retry_budget_max(budget(20.0, 3), 24), 4);
        assert_eq!(retry_budget_max(budget(20.0, 3), 100), 20);
        assert_eq!(retry_budget_max(budget(0.2, 3), 1000), 3);
        assert_eq!(retry_budget_max(budget(100.0, 0), 7), 7);
    }

    proptest! {
        #[test]
        fn retry_budget_max_is_the_floor_or_the_percent_share_whichever_is_larger(
            percent in 0.0f64..=100.0, min in 0u32..50, load in 0u64..100_000,
        ) {
            let budget = RetryBudget { budget_percent: percent, min_retry_concurrency: min };
            let max = retry_budget_max(budget, load);
            prop_assert!(max >= u64::from(min));
            prop_assert!(max <= load.max(u64::from(min)));
            let share = percent / 100.0 * load as f64;
            prop_assert!(max as f64 <= share.max(f64::from(min)) + 1e-9);
        }

        #[test]
        fn permits_never_exceed_the_limit_whatever_the_order(
            limit in 0u32..8, ops in proptest::collection::vec(any::<bool>(), 0..60),
        ) {
            let b = breaker(|s| s.max_requests = limit);
            let mut held = Vec::new();
            for take in ops {
                if take {
                    if let Some(p) = b.try_acquire(Resource::Request) {
                        held.push(p);
                    }
                } else {
                    held.pop();
                }
                prop_assert!(held.len() as u64 <= u64::from(limit));
                prop_assert_eq!(b.count(Resource::Request), held.len() as u64);
            }
        }
    }
}
