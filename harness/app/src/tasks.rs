//! Task bookkeeping: every task the application spawns is counted, so that
//! [`crate::drive`] returns only when all of them are gone, and one stop
//! signal ends them.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::AbortHandle;

/// Counts live tasks spawned through it.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    live: Arc<watch::Sender<usize>>,
}

/// Decrements the count when the task's future is dropped: on completion and
/// on abort alike.
struct Guard(Tracker);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.live.send_modify(|n| *n -= 1);
    }
}

impl Tracker {
    /// A tracker with no task.
    pub(crate) fn new() -> Tracker {
        Tracker {
            live: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Spawns `fut` as a counted task.
    pub(crate) fn spawn<F>(&self, fut: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.live.send_modify(|n| *n += 1);
        let guard = Guard(self.clone());
        tokio::spawn(async move {
            let _guard = guard;
            fut.await;
        })
        .abort_handle()
    }

    /// Tasks still alive.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        *self.live.borrow()
    }

    /// Waits until no task is alive.
    pub(crate) async fn idle(&self) {
        let mut rx = self.live.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Resolves once the stop signal is raised (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn idle_waits_for_finished_and_aborted_tasks_alike() {
        let t = Tracker::new();
        t.spawn(meshsim_net::clock::sleep(Duration::from_secs(1)));
        let forever = t.spawn(std::future::pending());
        assert_eq!(t.live(), 2);
        forever.abort();
        let start = meshsim_net::clock::Instant::now();
        t.idle().await;
        assert_eq!(t.live(), 0);
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn stopped_resolves_when_the_signal_is_raised() {
        let (tx, mut rx) = watch::channel(false);
        let waiter = tokio::spawn(async move { stopped(&mut rx).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        tx.send_replace(true);
        waiter.await.unwrap();
    }
}
