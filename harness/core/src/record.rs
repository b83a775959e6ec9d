//! One record per application request, and the sidecar's access log that
//! explains local replies.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::outcome::{Outcome, ResponseFlags};

/// Everything measured about one application request. Times are offsets from
/// the start of the run (virtual time in sim mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Index of the call (in the scenario's `calls` list) that made it.
    pub call: usize,
    /// When the open-loop schedule wanted the request to start.
    pub scheduled: Duration,
    /// When the application actually started it.
    pub started: Duration,
    /// When the outcome was known.
    pub ended: Duration,
    /// What the application saw.
    pub outcome: Outcome,
    /// Attempts sent upstream for it: the sidecar's attempt count, or 1 when the
    /// application talked to the upstream directly and got its request out, 0
    /// when nothing was sent.
    pub upstream_attempts: u32,
    /// The upstream address that answered (or the last one tried).
    pub upstream_host: Option<SocketAddr>,
    /// True when the application sent it on a pooled (reused) connection.
    pub reused_connection: bool,
    /// What the application saw when the request failed, for the report's
    /// sample of each error kind ([`crate::KindCount::sample`]): the
    /// response body's first [`crate::KindCount::SAMPLE_BYTES`] bytes (lossy
    /// UTF-8) of an error response, or the transport error's text. `None`
    /// for a success, or when nothing was seen.
    pub sample: Option<String>,
}

impl RequestRecord {
    /// A body cut to [`crate::KindCount::SAMPLE_BYTES`] bytes, as lossy
    /// UTF-8 (a character cut in two becomes `\u{FFFD}`).
    pub fn body_sample(body: &[u8]) -> String {
        let cut = &body[..body.len().min(crate::KindCount::SAMPLE_BYTES)];
        String::from_utf8_lossy(cut).into_owned()
    }

    /// Latency measured from the scheduled start (no coordinated omission).
    pub fn latency(&self) -> Duration {
        self.ended.saturating_sub(self.scheduled)
    }
}

/// What a sidecar knows about one request it answered: the fields of Envoy's
/// access log that the application cannot see in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLogEntry {
    /// `%RESPONSE_CODE%`.
    pub response_code: u16,
    /// `%RESPONSE_FLAGS%`.
    pub flags: ResponseFlags,
    /// `%RESPONSE_CODE_DETAILS%`, e.g. `via_upstream` or
    /// `upstream_reset_before_response_started{connection_termination}`.
    pub details: String,
    /// Attempts sent upstream (1 + retries), 0 when no attempt was made.
    pub attempts: u32,
    /// `%UPSTREAM_HOST%` of the last attempt.
    pub upstream_host: Option<SocketAddr>,
}

/// The most entries a [`ProxyLog`] keeps before dropping the oldest ones
/// (entries of requests whose client already gave up are never taken).
const PROXY_LOG_CAPACITY: usize = 65_536;

/// A shared, bounded map from `x-request-id` to the sidecar's log entry.
///
/// The sidecar puts an entry in before it writes the response; the application
/// takes it out when the response arrives. Memory stays bounded by the number of
/// requests in flight.
#[derive(Debug, Clone, Default)]
pub struct ProxyLog {
    // A short std critical section, never held across an await.
    entries: Arc<Mutex<BTreeMap<u64, ProxyLogEntry>>>,
}

impl ProxyLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the entry of request `id`.
    pub fn record(&self, id: u64, entry: ProxyLogEntry) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(id, entry);
        while map.len() > PROXY_LOG_CAPACITY {
            map.pop_first();
        }
    }

    /// Removes and returns the entry of request `id`.
    pub fn take(&self, id: u64) -> Option<ProxyLogEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
    }

    /// Entries not yet taken.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when every entry was taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_log_hands_each_entry_out_once() {
        let log = ProxyLog::new();
        let e = ProxyLogEntry {
            response_code: 503,
            flags: ResponseFlags::UC,
            details: "x".into(),
            attempts: 1,
            upstream_host: None,
        };
        log.record(7, e.clone());
        assert_eq!(log.take(7), Some(e));
        assert_eq!(log.take(7), None);
    }

    #[test]
    fn proxy_log_stays_bounded() {
        let log = ProxyLog::new();
        for id in 0..(PROXY_LOG_CAPACITY as u64 + 10) {
            log.record(
                id,
                ProxyLogEntry {
                    response_code: 200,
                    flags: ResponseFlags::NONE,
                    details: String::new(),
                    attempts: 1,
                    upstream_host: None,
                },
            );
        }
        assert_eq!(log.len(), PROXY_LOG_CAPACITY);
        assert!(log.take(0).is_none());
    }
}
