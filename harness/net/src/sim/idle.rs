//! The idle-timer middlebox on the simulated path (see [`crate::middlebox`]).
//!
//! Each connection crossing a box carries one [`IdleFlow`]: the box's state
//! for that flow. A packet checks and refreshes it under one lock; expiry is
//! found lazily, on the first packet after `idle`, so no timer runs.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Instant;

use crate::middlebox::{Counters, IdleEventKind, IdleTimer, IdleTimerEvent, OnExpiry, Verdict};

/// One installed middlebox.
pub(crate) struct IdleBox {
    clients: BTreeSet<IpAddr>,
    idle: Duration,
    on_expiry: OnExpiry,
    pub(crate) counters: Arc<Counters>,
}

impl IdleBox {
    pub(crate) fn new(timer: IdleTimer) -> IdleBox {
        IdleBox {
            clients: timer.clients.into_iter().collect(),
            idle: timer.idle,
            on_expiry: timer.on_expiry,
            counters: Arc::default(),
        }
    }

    /// The box's state for a new flow between `a` and `b`, if it crosses the
    /// box: exactly one end on a client host.
    pub(crate) fn track(&self, a: SocketAddr, b: SocketAddr) -> Option<IdleFlow> {
        let inside = self.clients.contains(&a.ip());
        if inside == self.clients.contains(&b.ip()) {
            return None;
        }
        let ends = if inside { (a, b) } else { (b, a) };
        Counters::bump(&self.counters.tracked);
        Some(IdleFlow {
            ends,
            idle: self.idle,
            on_expiry: self.on_expiry,
            counters: self.counters.clone(),
            state: Mutex::new(FlowState {
                last: Instant::now(),
                forgotten: None,
            }),
        })
    }
}

struct FlowState {
    /// When the box last saw a packet of the flow.
    last: Instant,
    /// When the box found the flow forgotten.
    forgotten: Option<Instant>,
}

/// A box's state for one flow.
pub(crate) struct IdleFlow {
    /// `(inside end, outside end)`.
    ends: (SocketAddr, SocketAddr),
    idle: Duration,
    on_expiry: OnExpiry,
    counters: Arc<Counters>,
    state: Mutex<FlowState>,
}

impl IdleFlow {
    fn lock(&self) -> MutexGuard<'_, FlowState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A packet of the flow reaches the box now. `is_rst`: a RST is never
    /// answered with a RST.
    pub(crate) fn packet(&self, is_rst: bool) -> Verdict {
        let now = Instant::now();
        let mut st = self.lock();
        if st.forgotten.is_none() {
            if now.duration_since(st.last) < self.idle {
                st.last = now;
                return Verdict::Forward;
            }
            self.forget(&mut st, now);
        }
        match self.on_expiry {
            OnExpiry::Drop => Verdict::Drop,
            OnExpiry::Reset | OnExpiry::ResetAtExpiry => {
                if !is_rst && self.on_expiry == OnExpiry::Reset {
                    Counters::bump(&self.counters.resets);
                }
                Verdict::Reset
            }
        }
    }

    /// When a box resetting at expiry sends (or sent) both ends their RST:
    /// the moment the flow expires, as things stand now (every packet moves
    /// it). `None` for the other kinds. Counts and logs the expiry once it
    /// has passed.
    pub(crate) fn reset_at_expiry(&self) -> Option<Instant> {
        let at = self.expiry_at()?;
        if at <= Instant::now() {
            let mut st = self.lock();
            if st.forgotten.is_none() {
                self.forget(&mut st, Instant::now());
            }
        }
        Some(at)
    }

    /// [`IdleFlow::reset_at_expiry`] without counting or logging anything.
    pub(crate) fn expiry_at(&self) -> Option<Instant> {
        if self.on_expiry != OnExpiry::ResetAtExpiry {
            return None;
        }
        let st = self.lock();
        Some(st.forgotten.unwrap_or(st.last + self.idle))
    }

    /// The box finds the flow forgotten, now: it expired `idle` after its
    /// last packet. Counts and logs the expiry and what the box did.
    fn forget(&self, st: &mut FlowState, now: Instant) {
        let expired_at = st.last + self.idle;
        Counters::bump(&self.counters.expired);
        let event = |at, kind| IdleTimerEvent {
            at,
            kind,
            flow: self.ends,
        };
        self.counters.log(event(expired_at, IdleEventKind::Expired));
        let (kind, at) = match self.on_expiry {
            OnExpiry::Drop => {
                Counters::bump(&self.counters.dropped);
                (IdleEventKind::Dropped, now)
            }
            OnExpiry::Reset => (IdleEventKind::Reset, now),
            OnExpiry::ResetAtExpiry => {
                // One RST to each end.
                Counters::bump(&self.counters.resets);
                Counters::bump(&self.counters.resets);
                (IdleEventKind::Reset, expired_at)
            }
        };
        self.counters.log(event(at, kind));
        st.forgotten = Some(match self.on_expiry {
            OnExpiry::ResetAtExpiry => expired_at,
            _ => now,
        });
    }

    /// The flow never was (a real-mode connect retried from another port).
    pub(crate) fn untrack(&self) {
        self.counters.tracked.fetch_sub(1, Ordering::Relaxed);
    }

    /// Since when the box black-holes the flow, if it does.
    pub(crate) fn dropped_since(&self) -> Option<Instant> {
        match self.on_expiry {
            OnExpiry::Drop => self.lock().forgotten,
            OnExpiry::Reset | OnExpiry::ResetAtExpiry => None,
        }
    }
}
