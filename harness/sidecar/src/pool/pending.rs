//! Pending requests: the FIFO queue of requests waiting for a connection.
//!
//! As Envoy's `pending_streams_`: a request that finds no ready connection
//! queues here; whichever connection becomes ready next (a new one finishing
//! its connect, or a busy one whose response completed) goes to the oldest
//! pending request. A connect failure purges the whole queue with that
//! failure (`purgePendingStreams`).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Conn, Pool, local_failure};
use crate::attempt::AttemptFailure;
use crate::circuit::Permit;

/// What a pending request is given: a connection with its `max_requests`
/// slot, or the failure that took it out of the queue (a connect failure
/// purging the queue, or `overflow`).
pub(super) type Grant = Result<(Conn, Permit), AttemptFailure>;

/// One request waiting in the pool's queue.
pub(super) struct Waiter {
    /// Identifies the request for cancellation.
    pub(super) id: u64,
    /// Where its grant goes.
    pub(super) tx: oneshot::Sender<Grant>,
    /// Its `max_pending_requests` slot, freed when it leaves the queue.
    pub(super) _pending: Permit,
}

/// The waiting side of a [`Waiter`]. Dropped before its grant arrived (the
/// route timeout cancelled the request), it leaves the queue, and a
/// connection granted in the meantime goes to the next pending request.
/// Connections being opened keep connecting (Envoy's router cancels with
/// `CancelPolicy::Default`).
pub(super) struct Queued {
    pub(super) pool: Arc<Pool>,
    pub(super) id: u64,
    pub(super) rx: oneshot::Receiver<Grant>,
    pub(super) done: bool,
}

impl Queued {
    /// Waits for a connection or the connect failure that purged the queue.
    pub(super) async fn wait(mut self) -> Grant {
        let grant = (&mut self.rx).await;
        self.done = true;
        // A dropped sender means the pool's tasks were aborted (shutdown).
        grant.unwrap_or_else(|_| Err(local_failure()))
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.done || self.pool.cancel_pending(self.id) {
            return;
        }
        // Granted but never taken: pass the connection on.
        if let Ok(Ok((conn, permit))) = self.rx.try_recv() {
            drop(permit);
            self.pool.offer(conn);
        }
    }
}
