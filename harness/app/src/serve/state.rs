//! The state one serving application shares between its handle, its accept
//! loops and its connections: the plan, the capacity gates, the overrides,
//! the counters, and the client its downstream calls go through.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::StatusCode;
use meshsim_core::SimRng;

use crate::drive::Shared;
use crate::ids::RequestIds;
use crate::serve::config::BehaviourOverride;
use crate::serve::gate::Gate;
use crate::serve::plan::ServePlan;

/// What a serving application has done so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServeStats {
    /// Connections accepted.
    pub connections: u64,
    /// Responses written, all statuses (rejections included).
    pub served: u64,
    /// Responses by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests in service now (admitted by their route's capacity).
    pub in_flight: usize,
    /// Requests waiting for a place in service now.
    pub queued: usize,
    /// Requests answered `503` at once because their route's queue was full.
    pub rejected: u64,
    /// Downstream calls made (one record each).
    pub downstream_calls: u64,
}

/// The overrides in force.
#[derive(Debug, Default)]
struct Overrides {
    /// For every route.
    all: Option<BehaviourOverride>,
    /// For one route (by index); wins over `all` field by field.
    by_route: BTreeMap<usize, BehaviourOverride>,
}

/// How route `i` behaves now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Effective {
    pub(crate) latency: Duration,
    /// Answer this status without making the downstream calls.
    pub(crate) status: Option<StatusCode>,
    pub(crate) capacity: Option<usize>,
}

/// Everything the tasks of one serving application share.
pub(crate) struct Server {
    pub(crate) plan: ServePlan,
    pub(crate) idle_timeout: Option<Duration>,
    /// One gate per route, in route order.
    pub(crate) gates: Vec<Arc<Gate>>,
    /// The client of the downstream calls (pool, resolver, sink).
    pub(crate) client: Arc<Shared>,
    pub(crate) ids: RequestIds,
    /// Latency jitter draws, in request order.
    rng: Mutex<SimRng>,
    overrides: Mutex<Overrides>,
    counts: Mutex<ServeStats>,
}

/// Locks `m`, ignoring poisoning (every critical section is short and never
/// held across an await).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A field of the route's override, else of the every-route one.
fn pick<T>(
    one: Option<&BehaviourOverride>,
    all: Option<&BehaviourOverride>,
    f: impl Fn(&BehaviourOverride) -> Option<T>,
) -> Option<T> {
    one.and_then(&f).or_else(|| all.and_then(&f))
}

impl Server {
    pub(crate) fn new(
        plan: ServePlan,
        idle_timeout: Option<Duration>,
        client: Arc<Shared>,
        ids: RequestIds,
        rng: SimRng,
    ) -> Server {
        let gates = plan
            .routes
            .iter()
            .map(|r| match r.capacity {
                Some(c) => Gate::new(Some(c.limit), c.queue_limit),
                None => Gate::new(None, None),
            })
            .collect();
        Server {
            plan,
            idle_timeout,
            gates,
            client,
            ids,
            rng: Mutex::new(rng),
            overrides: Mutex::new(Overrides::default()),
            counts: Mutex::new(ServeStats::default()),
        }
    }

    /// Route `i`'s behaviour with the overrides in force.
    pub(crate) fn effective(&self, i: usize) -> Effective {
        let route = &self.plan.routes[i];
        let o = lock(&self.overrides);
        let (one, all) = (o.by_route.get(&i), o.all.as_ref());
        Effective {
            latency: pick(one, all, |b| b.latency).unwrap_or(route.latency),
            // Checked when the override was set.
            status: pick(one, all, |b| b.status).and_then(|s| StatusCode::from_u16(s).ok()),
            capacity: pick(one, all, |b| b.capacity).or(route.capacity.map(|c| c.limit)),
        }
    }

    /// A jitter draw for route `i` (no draw when it has no jitter).
    pub(crate) fn jitter(&self, i: usize) -> Duration {
        let max = self.plan.routes[i].jitter;
        if max.is_zero() {
            return Duration::ZERO;
        }
        lock(&self.rng).duration_below(max)
    }

    /// Puts `o` in force for route `route` (`None`: every route).
    pub(crate) fn set_override(&self, route: Option<usize>, o: BehaviourOverride) {
        {
            let mut all = lock(&self.overrides);
            match route {
                Some(i) => {
                    all.by_route.insert(i, o);
                }
                None => all.all = Some(o),
            }
        }
        self.apply_capacities();
    }

    /// Ends the override of `route` (`None`: the every-route one).
    pub(crate) fn clear_override(&self, route: Option<usize>) {
        {
            let mut all = lock(&self.overrides);
            match route {
                Some(i) => {
                    all.by_route.remove(&i);
                }
                None => all.all = None,
            }
        }
        self.apply_capacities();
    }

    fn apply_capacities(&self) {
        for (i, gate) in self.gates.iter().enumerate() {
            gate.set_limit(self.effective(i).capacity);
        }
    }

    /// Counts a response.
    pub(crate) fn count_response(&self, status: StatusCode, rejected: bool) {
        let mut c = lock(&self.counts);
        c.served += 1;
        *c.by_status.entry(status.as_u16()).or_default() += 1;
        c.rejected += u64::from(rejected);
    }

    pub(crate) fn count_connection(&self) {
        lock(&self.counts).connections += 1;
    }

    pub(crate) fn count_downstream_call(&self) {
        lock(&self.counts).downstream_calls += 1;
    }

    /// The counters, with the gates' current occupancy.
    pub(crate) fn stats(&self) -> ServeStats {
        let mut s = lock(&self.counts).clone();
        s.in_flight = self.gates.iter().map(|g| g.in_service()).sum();
        s.queued = self.gates.iter().map(|g| g.queued()).sum();
        s
    }
}
