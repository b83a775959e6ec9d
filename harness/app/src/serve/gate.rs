//! A route's capacity: at most `limit` requests in service, the others
//! waiting in a FIFO queue, and beyond `queue_limit` waiters an immediate
//! rejection.
//!
//! Written by hand rather than with `tokio::sync::Semaphore` because the limit
//! changes at run time (a [`super::BehaviourOverride`]) in both directions and
//! the queue length must be observable and bounded. A [`Permit`] is released
//! when dropped; one handed to a waiter that has gone away is dropped with
//! its channel and so released too: no permit leaks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The state behind the gate's lock (a short std critical section, never
/// held across an await).
#[derive(Debug)]
struct State {
    /// `None`: unlimited.
    limit: Option<usize>,
    queue_limit: Option<usize>,
    in_service: usize,
    waiting: VecDeque<oneshot::Sender<Permit>>,
}

impl State {
    fn has_room(&self) -> bool {
        self.limit.is_none_or(|l| self.in_service < l)
    }

    /// Waiters whose request is still there.
    fn prune(&mut self) {
        self.waiting.retain(|w| !w.is_closed());
    }
}

/// One route's capacity gate.
#[derive(Debug)]
pub(crate) struct Gate {
    state: Mutex<State>,
}

/// The right to be in service; released when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    gate: Arc<Gate>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

/// What [`Gate::admit`] decided.
#[derive(Debug)]
pub(crate) enum Admission {
    /// In service at once.
    Now(Permit),
    /// Queued: the permit comes through the channel.
    Queued(oneshot::Receiver<Permit>),
    /// The queue is full.
    Rejected,
}

impl Gate {
    /// A gate letting `limit` requests in (`None`: all), queueing at most
    /// `queue_limit` (`None`: any number).
    pub(crate) fn new(limit: Option<usize>, queue_limit: Option<usize>) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                limit,
                queue_limit,
                in_service: 0,
                waiting: VecDeque::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a request in, queues it, or rejects it.
    pub(crate) fn admit(self: &Arc<Self>) -> Admission {
        let mut s = self.lock();
        s.prune();
        if s.waiting.is_empty() && s.has_room() {
            s.in_service += 1;
            return Admission::Now(Permit { gate: self.clone() });
        }
        if s.queue_limit.is_some_and(|q| s.waiting.len() >= q) {
            return Admission::Rejected;
        }
        let (tx, rx) = oneshot::channel();
        s.waiting.push_back(tx);
        Admission::Queued(rx)
    }

    /// Changes the limit; a higher one lets waiters in at once, a lower one
    /// lets requests in service finish.
    pub(crate) fn set_limit(self: &Arc<Self>, limit: Option<usize>) {
        self.lock().limit = limit;
        self.hand_over();
    }

    /// Requests in service.
    pub(crate) fn in_service(&self) -> usize {
        self.lock().in_service
    }

    /// Requests waiting.
    pub(crate) fn queued(&self) -> usize {
        let mut s = self.lock();
        s.prune();
        s.waiting.len()
    }

    fn release(self: &Arc<Self>) {
        self.lock().in_service -= 1;
        self.hand_over();
    }

    /// Gives free places to waiters, oldest first. Permits are sent outside
    /// the lock: one refused by a waiter that just left is dropped, which
    /// releases it and hands it on.
    fn hand_over(self: &Arc<Self>) {
        let mut grants = Vec::new();
        {
            let mut s = self.lock();
            s.prune();
            while s.has_room() {
                let Some(w) = s.waiting.pop_front() else {
                    break;
                };
                s.in_service += 1;
                grants.push(w);
            }
        }
        for w in grants {
            // A refused permit is dropped here: released again.
            let _ = w.send(Permit { gate: self.clone() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(a: Admission) -> Permit {
        match a {
            Admission::Now(p) => p,
            other => panic!("expected admission, got {other:?}"),
        }
    }

    fn queued(a: Admission) -> oneshot::Receiver<Permit> {
        match a {
            Admission::Queued(rx) => rx,
            other => panic!("expected a queue place, got {other:?}"),
        }
    }

    #[test]
    fn waiters_get_in_first_come_first_served() {
        let g = Gate::new(Some(1), None);
        let first = now(g.admit());
        let mut a = queued(g.admit());
        let mut b = queued(g.admit());
        assert_eq!((g.in_service(), g.queued()), (1, 2));
        drop(first);
        let pa = a.try_recv().expect("oldest waiter admitted");
        assert!(b.try_recv().is_err());
        drop(pa);
        assert!(b.try_recv().is_ok());
    }

    #[test]
    fn beyond_the_queue_limit_requests_are_rejected() {
        let g = Gate::new(Some(1), Some(1));
        let _p = now(g.admit());
        let _q = queued(g.admit());
        assert!(matches!(g.admit(), Admission::Rejected));
    }

    #[test]
    fn a_waiter_that_left_neither_counts_nor_keeps_a_permit() {
        let g = Gate::new(Some(1), Some(1));
        let p = now(g.admit());
        drop(queued(g.admit()));
        assert_eq!(g.queued(), 0);
        let mut next = queued(g.admit());
        drop(p);
        assert!(next.try_recv().is_ok());
        assert_eq!(g.in_service(), 0);
    }

    #[test]
    fn raising_the_limit_admits_waiters_and_lowering_it_waits_for_releases() {
        let g = Gate::new(Some(1), None);
        let p = now(g.admit());
        let mut w = queued(g.admit());
        g.set_limit(Some(2));
        let pw = w.try_recv().expect("admitted by the higher limit");
        g.set_limit(Some(1));
        let mut w2 = queued(g.admit());
        drop(p);
        assert!(w2.try_recv().is_err(), "still 1 in service at limit 1");
        drop(pw);
        assert!(w2.try_recv().is_ok());
    }

    #[test]
    fn an_unlimited_gate_admits_everyone() {
        let g = Gate::new(None, Some(0));
        let permits: Vec<Permit> = (0..100).map(|_| now(g.admit())).collect();
        assert_eq!(g.in_service(), 100);
        drop(permits);
        assert_eq!(g.in_service(), 0);
    }
}
