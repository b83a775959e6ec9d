//! Counters of one fake upstream, shared by its accept loop and connections.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A snapshot of what one upstream has seen since it was spawned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub active_connections: u64,
    /// Complete requests received (including malformed ones answered `400`).
    pub requests: u64,
    /// Requests by the value of their `x-envoy-attempt-count` header. A
    /// request without the header (or with a value that is not a number)
    /// counts as attempt 1: it is the first and only try its client made.
    /// Malformed requests are not counted here.
    pub by_attempt_count: BTreeMap<u32, u64>,
    /// HTTP/2 streams refused with RST_STREAM `REFUSED_STREAM` by the
    /// server's own knobs (not counted in `requests`).
    pub streams_refused: u64,
    /// HTTP/2 GOAWAY shutdowns started (one per connection at most).
    pub goaways_sent: u64,
}

/// The live counters. Short critical sections only, never held across an
/// await.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatsCell {
    inner: Arc<Mutex<UpstreamStats>>,
}

impl StatsCell {
    fn lock(&self) -> MutexGuard<'_, UpstreamStats> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn snapshot(&self) -> UpstreamStats {
        self.lock().clone()
    }

    /// Counts an accepted connection; the guard marks it closed when dropped
    /// (also when its task panics).
    pub(crate) fn connection_opened(&self) -> ActiveGuard {
        let mut s = self.lock();
        s.connections += 1;
        s.active_connections += 1;
        ActiveGuard {
            stats: self.clone(),
        }
    }

    pub(crate) fn request(&self, attempt_count: Option<u32>) {
        let mut s = self.lock();
        s.requests += 1;
        *s.by_attempt_count
            .entry(attempt_count.unwrap_or(1))
            .or_default() += 1;
    }

    pub(crate) fn stream_refused(&self) {
        self.lock().streams_refused += 1;
    }

    pub(crate) fn goaway_sent(&self) {
        self.lock().goaways_sent += 1;
    }

    pub(crate) fn malformed_request(&self) {
        self.lock().requests += 1;
    }
}

/// Held by a connection task for as long as its connection is open.
#[derive(Debug)]
pub(crate) struct ActiveGuard {
    stats: StatsCell,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let mut s = self.stats.lock();
        s.active_connections = s.active_connections.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_attempt_count_counts_as_first_attempt() {
        let s = StatsCell::default();
        s.request(None);
        s.request(Some(1));
        s.request(Some(3));
        let snap = s.snapshot();
        assert_eq!(snap.requests, 3);
        assert_eq!(snap.by_attempt_count, BTreeMap::from([(1, 2), (3, 1)]));
    }

    #[test]
    fn active_connections_drop_with_their_guard() {
        let s = StatsCell::default();
        let g = s.connection_opened();
        let _h = s.connection_opened();
        drop(g);
        let snap = s.snapshot();
        assert_eq!((snap.connections, snap.active_connections), (2, 1));
    }
}
