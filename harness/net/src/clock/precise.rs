//! Sub-millisecond wall-clock timers for scaled real runs.
//!
//! tokio's timer wheel fires on whole milliseconds, rounding deadlines up:
//! with a time scale of 0.02 that is a 50 ms step in scenario time, more than
//! an upstream's answer or Envoy's 25 ms retry back-off. A scaled real run
//! therefore hands its timers to one process-wide thread that sleeps on a
//! condition variable until the earliest deadline (Linux's timer slack, about
//! 50 µs, is then the error) and wakes the task that waits.
//!
//! A timer is an `Arc<Entry>`; the thread's heap holds `Weak` references, so
//! a timer dropped or reset before its deadline costs nothing more than a
//! stale heap slot, dropped when its deadline passes.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant as WallInstant;

/// One timer as the service thread sees it.
#[derive(Debug, Default)]
struct Entry {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        // Every entry was counted live by `register`.
        service().live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Entry {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A heap slot: earliest deadline first, then first registered.
struct Slot {
    at: WallInstant,
    seq: u64,
    entry: Weak<Entry>,
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Slot {}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slot {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest must come first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Service {
    heap: Mutex<BinaryHeap<Slot>>,
    changed: Condvar,
    seq: AtomicU64,
    /// Timers registered and not yet dropped: slots beyond that are stale.
    live: AtomicU64,
}

/// Below this many slots, stale ones are left for their deadline to drop.
const PRUNE_FROM: usize = 4096;

fn service() -> &'static Service {
    static SERVICE: OnceLock<&'static Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let s: &'static Service = Box::leak(Box::new(Service {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
            seq: AtomicU64::new(0),
            live: AtomicU64::new(0),
        }));
        // One thread for the process: it holds no socket and no task, only
        // the heap, and sleeps while it is empty.
        let spawned = std::thread::Builder::new()
            .name("meshsim-clock".into())
            .spawn(move || s.run());
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the precise clock thread");
        }
        s
    })
}

impl Service {
    fn run(&self) {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = WallInstant::now();
            while heap.peek().is_some_and(|top| top.at <= now) {
                if let Some(entry) = heap.pop().and_then(|s| s.entry.upgrade()) {
                    entry.fire();
                }
            }
            heap = match heap.peek() {
                None => self.changed.wait(heap).unwrap_or_else(|e| e.into_inner()),
                Some(top) => {
                    let wait = top.at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(heap, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    fn register(&self, at: WallInstant, entry: &Arc<Entry>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        // A timer dropped or reset before its deadline leaves its slot; when
        // stale slots outnumber live ones, drop them (amortised O(1) per
        // registration, so memory follows the live timers, not the rate).
        let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        if heap.len() >= PRUNE_FROM && heap.len() as u64 > 2 * live {
            heap.retain(|s| s.entry.strong_count() > 0);
        }
        let earliest = heap.peek().is_none_or(|top| at < top.at);
        heap.push(Slot {
            at,
            seq,
            entry: Arc::downgrade(entry),
        });
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
    }
}

/// A one-shot wall-clock timer served by the clock thread.
#[derive(Debug)]
pub(super) struct Timer {
    at: WallInstant,
    /// Registered with the service at the first poll that has to wait.
    entry: Option<Arc<Entry>>,
}

impl Timer {
    pub(super) fn new(at: WallInstant) -> Timer {
        Timer { at, entry: None }
    }

    pub(super) fn deadline(&self) -> WallInstant {
        self.at
    }

    /// Moves the deadline; the old registration is abandoned, its waker
    /// carried to the new one (as tokio's `Sleep::reset`: the task waiting
    /// is woken at the new deadline even if it does not poll again first).
    pub(super) fn reset(&mut self, at: WallInstant) {
        self.at = at;
        let waker = self
            .entry
            .take()
            .and_then(|e| e.waker.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(w) = waker {
            let e = Arc::new(Entry::default());
            *e.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
            service().register(at, &e);
            self.entry = Some(e);
        }
    }

    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if WallInstant::now() >= self.at {
            return Poll::Ready(());
        }
        let entry = match &self.entry {
            Some(e) => e.clone(),
            None => {
                let e = Arc::new(Entry::default());
                service().register(self.at, &e);
                self.entry = Some(e.clone());
                e
            }
        };
        *entry.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        // Fired between the check and the waker's store: do not sleep on it.
        if entry.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    /// A waker that reports each wake on a channel.
    struct Tell(Mutex<mpsc::Sender<()>>);

    impl Wake for Tell {
        fn wake(self: Arc<Self>) {
            let _ = self.0.lock().unwrap().send(());
        }
    }

    #[test]
    fn a_timer_wakes_its_task_at_its_deadline_and_is_then_ready() {
        let (tx, rx) = mpsc::channel();
        let waker = Waker::from(Arc::new(Tell(Mutex::new(tx))));
        let mut cx = Context::from_waker(&waker);
        let mut t = Timer::new(WallInstant::now() + Duration::from_millis(2));
        assert!(t.poll(&mut cx).is_pending());
        rx.recv_timeout(Duration::from_secs(10)).expect("woken");
        assert!(t.poll(&mut cx).is_ready());
    }

    #[test]
    fn a_reset_timer_wakes_its_task_at_the_new_deadline_without_another_poll() {
        let (tx, rx) = mpsc::channel();
        let waker = Waker::from(Arc::new(Tell(Mutex::new(tx))));
        let mut cx = Context::from_waker(&waker);
        let mut t = Timer::new(WallInstant::now() + Duration::from_secs(3600));
        assert!(t.poll(&mut cx).is_pending());
        // tokio's `Sleep::reset` keeps the registered waker.
        t.reset(WallInstant::now() + Duration::from_millis(2));
        rx.recv_timeout(Duration::from_secs(10))
            .expect("woken at the new deadline");
        assert!(t.poll(&mut cx).is_ready());
    }

    #[test]
    fn timers_dropped_before_their_deadline_do_not_pile_up_in_the_heap() {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let far = WallInstant::now() + Duration::from_secs(3600);
        for _ in 0..3 * PRUNE_FROM {
            let mut t = Timer::new(far);
            assert!(t.poll(&mut cx).is_pending());
        }
        // Each registration pruned once stale slots outnumbered live ones:
        // the heap holds a bounded number of slots, not one per timer.
        let len = service().heap.lock().unwrap().len();
        assert!(
            len < 2 * PRUNE_FROM,
            "{len} slots for at most a few live timers"
        );
    }
}
