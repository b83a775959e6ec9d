//! What one pod's application shares between its client side ([`crate::drive()`])
//! and its server side ([`crate::serve()`]): the `x-request-id` numbering and
//! the place records go.
//!
//! The pod's sidecar keeps one [`meshsim_core::ProxyLog`] keyed by
//! `x-request-id`, so ids must be unique per pod whoever makes the request:
//! the load loop and every serving route draw from one [`RequestIds`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meshsim_core::{Collector, RequestRecord};

use crate::drive::Sink;

/// A pod's `x-request-id` source: 1, 2, 3... in the order requests start.
///
/// Cheap to clone; every clone draws from the same counter. In a
/// current-thread runtime the order of draws, and so every id, is the same
/// for the same seed.
#[derive(Debug, Clone, Default)]
pub struct RequestIds {
    last: Arc<AtomicU64>,
}

impl RequestIds {
    /// A source whose first id is 1.
    pub fn new() -> RequestIds {
        RequestIds::default()
    }

    /// The next id.
    pub fn issue(&self) -> u64 {
        self.last.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How many ids were issued.
    pub fn issued(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

/// Where an application's [`RequestRecord`]s go: one per request it made.
///
/// Cheap to clone; every clone feeds the same place.
#[derive(Clone)]
pub struct RecordSink(pub(crate) Sink);

impl fmt::Debug for RecordSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordSink")
    }
}

impl RecordSink {
    /// A sink that calls `f` with every record.
    pub fn new(f: impl Fn(RequestRecord) + Send + Sync + 'static) -> RecordSink {
        RecordSink(Arc::new(f))
    }

    /// A sink that feeds a run's [`Collector`] (what [`crate::drive()`] uses).
    pub fn collector(collector: Arc<Mutex<Collector>>) -> RecordSink {
        RecordSink::new(move |r| {
            collector
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(&r);
        })
    }

    /// A sink that keeps every record in arrival order, and the list it fills.
    pub fn list() -> (RecordSink, Arc<Mutex<Vec<RequestRecord>>>) {
        let list = Arc::new(Mutex::new(Vec::new()));
        let fill = list.clone();
        let sink = RecordSink::new(move |r| fill.lock().unwrap_or_else(|e| e.into_inner()).push(r));
        (sink, list)
    }

    /// Hands `record` over.
    pub fn record(&self, record: RequestRecord) {
        (self.0)(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_of_a_request_id_source_draws_from_one_counter() {
        let a = RequestIds::new();
        let b = a.clone();
        assert_eq!((a.issue(), b.issue(), a.issue()), (1, 2, 3));
        assert_eq!(b.issued(), 3);
    }
}
