//! A report-only sample of the access log: for each hop, the few lines that
//! explain its errors, kept whether or not the mesh turns the file access
//! log on.
//!
//! Why always, not only with `accessLogFile` set: Istio's default is off
//! (fact sheet §5.4), so most scenarios would show nothing, yet the flags
//! and `%RESPONSE_CODE_DETAILS%` of a line are what an SRE compares with
//! production. The sample is the report's, not the sidecar's: it never
//! changes what the sidecar does or what its file log holds.
//!
//! What it keeps, in the order lines are written: the first line of each
//! distinct (response code, flags, details) among failures, and the first
//! success, at most [`HopAccessLog::MAX_LINES`] lines (one slot is kept for
//! the success). With the file log on, a sampled line is the very line the
//! log got (re-encoded as TEXT if the log is JSON); with it off, the router
//! builds a line only for a request whose key the sample still wants.
//!
//! Cost per request once the success slot is taken: one atomic load for a
//! success; for a failure, a short lock and a scan of at most seven keys
//! until the failure slots are full, then one atomic load.
//!
//! Left out with the file log off: requests abandoned by the application
//! before their response (`0 DC`), whose line cannot be built once the
//! request is gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshsim_core::{AccessLogLine, HopAccessLog, ResponseFlags};
use meshsim_net::clock::Instant;

use super::{AccessLogEntry, clock, format_istio_line};

/// Failure slots: every slot but the success's.
const FAILURE_SLOTS: usize = HopAccessLog::MAX_LINES - 1;

/// One hop's sample. Cheap to clone; every clone is the same sample, so the
/// sidecars of a service's pods can share one
/// (`SidecarHandle::sample_access_log`).
#[derive(Debug, Clone)]
pub struct AccessLogSample {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `%START_TIME%` of lines built for the sample alone: `epoch` plus the
    /// virtual time since `origin`.
    origin: Instant,
    epoch: Duration,
    success_taken: AtomicBool,
    failures_full: AtomicBool,
    lines: Mutex<Vec<AccessLogLine>>,
}

/// Whether a line is a failure: a flag, a 4xx/5xx, or an HTTP request
/// without response (code 0; a TCP proxy line always has code 0).
fn is_failure(code: u16, flags: ResponseFlags, http: bool) -> bool {
    !flags.is_empty() || code >= 400 || (code == 0 && http)
}

impl AccessLogSample {
    /// An empty sample whose own lines are timed from `origin` (give it the
    /// run's start, as the file log's `AccessLogConfig::origin`), printed as
    /// `1970-01-01T00:00:00.000Z` plus the elapsed time (the file log's
    /// default epoch).
    pub fn new(origin: Instant) -> AccessLogSample {
        AccessLogSample::with_epoch(origin, Duration::ZERO)
    }

    /// An empty sample printing `origin` as `epoch` since the Unix epoch.
    pub fn with_epoch(origin: Instant, epoch: Duration) -> AccessLogSample {
        AccessLogSample {
            inner: Arc::new(Inner {
                origin,
                epoch,
                success_taken: AtomicBool::new(false),
                failures_full: AtomicBool::new(false),
                lines: Mutex::new(Vec::new()),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AccessLogLine>> {
        self.inner.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sampled lines, oldest first.
    pub fn lines(&self) -> Vec<AccessLogLine> {
        self.lock().clone()
    }

    /// `%START_TIME%` of an event at `at`, on the sample's clock.
    pub(crate) fn start_time(&self, at: Instant) -> String {
        let since = at.saturating_duration_since(self.inner.origin);
        clock::format_start_time(self.inner.epoch + since)
    }

    /// Whether an HTTP line ending with this response would be kept: the
    /// cheap check made before building a line the file log does not need.
    pub(crate) fn wants(&self, code: u16, flags: ResponseFlags, details: &str) -> bool {
        if !is_failure(code, flags, true) {
            return !self.inner.success_taken.load(Ordering::Relaxed);
        }
        if self.inner.failures_full.load(Ordering::Relaxed) {
            return false;
        }
        !self
            .lock()
            .iter()
            .any(|l| l.failure && same_key(l, code, flags, Some(details)))
    }

    /// Whether a line of any kind could still be kept (TCP proxy lines,
    /// whose outcome is known only at their end).
    pub(crate) fn open(&self) -> bool {
        !self.inner.success_taken.load(Ordering::Relaxed)
            || !self.inner.failures_full.load(Ordering::Relaxed)
    }

    /// Keeps `entry`'s TEXT line if its key has no line yet.
    pub(crate) fn offer(&self, entry: &AccessLogEntry) {
        let http = entry.protocol != "-";
        let failure = is_failure(entry.response_code, entry.flags, http);
        let (slot_taken, _) = self.slot(failure);
        if slot_taken.load(Ordering::Relaxed) {
            return;
        }
        let details = entry.details.as_deref();
        let mut lines = self.lock();
        let (code, flags) = (entry.response_code, entry.flags);
        let dup = lines
            .iter()
            .any(|l| l.failure == failure && (!failure || same_key(l, code, flags, details)));
        if dup {
            return;
        }
        let mut line = format_istio_line(entry);
        line.truncate(line.trim_end_matches('\n').len());
        lines.push(AccessLogLine {
            response_code: code,
            flags,
            details: entry.details.clone(),
            failure,
            line,
        });
        let (slot_taken, slots) = self.slot(failure);
        if lines.iter().filter(|l| l.failure == failure).count() >= slots {
            slot_taken.store(true, Ordering::Relaxed);
        }
    }

    /// The flag that says a kind's slots are used, and how many it has.
    fn slot(&self, failure: bool) -> (&AtomicBool, usize) {
        if failure {
            (&self.inner.failures_full, FAILURE_SLOTS)
        } else {
            (&self.inner.success_taken, 1)
        }
    }
}

fn same_key(l: &AccessLogLine, code: u16, flags: ResponseFlags, details: Option<&str>) -> bool {
    l.response_code == code && l.flags == flags && l.details.as_deref() == details
}

#[cfg(test)]
mod tests;
