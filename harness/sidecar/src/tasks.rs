//! Every task the sidecar spawns, so that shutdown can end them all.
//!
//! Tasks are aborted rather than asked to finish: aborting drops each future,
//! which drops its sockets (FIN, or RST when data was left unread), so when
//! [`Tasks::shutdown`] returns no task and no socket of the sidecar is left.

use std::future::Future;
use std::sync::Mutex;

use tokio::task::{AbortHandle, JoinSet};

/// The sidecar's task set. After shutdown it refuses new tasks.
#[derive(Debug)]
pub(crate) struct Tasks {
    set: Mutex<Option<JoinSet<()>>>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            set: Mutex::new(Some(JoinSet::new())),
        }
    }
}

impl Tasks {
    /// Spawns `fut` unless the sidecar is shutting down (then `fut` is dropped).
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = guard.as_mut() {
            // Reap finished tasks so a long run keeps a flat memory.
            while set.try_join_next().is_some() {}
            set.spawn(fut);
        }
    }

    /// [`Tasks::spawn`], returning a handle that ends the task alone (a
    /// cluster's DNS loop when a push removes the cluster). `None` when the
    /// sidecar is shutting down.
    pub(crate) fn spawn_abortable<F>(&self, fut: F) -> Option<AbortHandle>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
        let set = guard.as_mut()?;
        while set.try_join_next().is_some() {}
        Some(set.spawn(fut))
    }

    /// Aborts every task and waits until all of them are gone.
    pub(crate) async fn shutdown(&self) {
        let set = self.set.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut set) = set {
            set.shutdown().await;
        }
    }

    /// Takes the task set out (the sidecar's exit ends it elsewhere); new
    /// tasks are refused from now on.
    pub(crate) fn take(&self) -> Option<JoinSet<()>> {
        self.set.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Aborts every task without waiting (for a handle dropped without
    /// `shutdown`).
    pub(crate) fn abort_all(&self) {
        let set = self.set.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(set); // dropping a JoinSet aborts its tasks
    }

    /// Tasks still running (finished ones are reaped first).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let mut guard = self.set.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_mut().map_or(0, |set| {
            while set.try_join_next().is_some() {}
            set.len()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn shutdown_ends_every_task_and_refuses_new_ones() {
        let tasks = Tasks::default();
        tasks.spawn(async { meshsim_net::clock::sleep(Duration::from_secs(3600)).await });
        tasks.spawn(async {});
        tokio::task::yield_now().await;
        assert_eq!(tasks.len(), 1);
        tasks.shutdown().await;
        tasks.spawn(async {});
        assert_eq!(tasks.len(), 0);
    }
}
