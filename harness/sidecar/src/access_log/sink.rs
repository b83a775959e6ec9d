//! Where lines go: a bounded, shared, in-memory log ([`AccessLog`]), and the
//! sidecar's writer that stamps and encodes entries into it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use meshsim_net::clock::Instant;

use super::{AccessLogEntry, clock, format_istio_line, json};
use crate::config::{AccessLogConfig, AccessLogEncoding};

/// A sidecar's access log: the lines it wrote, oldest first, at most
/// `max_lines` of them (older lines are dropped and counted). Cheap to clone;
/// every clone is the same log.
#[derive(Debug, Clone)]
pub struct AccessLog {
    inner: Arc<Mutex<Lines>>,
}

#[derive(Debug)]
struct Lines {
    lines: VecDeque<String>,
    max: usize,
    dropped: u64,
}

impl AccessLog {
    /// An empty log keeping at most `max_lines` lines.
    pub fn new(max_lines: usize) -> AccessLog {
        AccessLog {
            inner: Arc::new(Mutex::new(Lines {
                lines: VecDeque::new(),
                max: max_lines,
                dropped: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lines kept, oldest first, each ending in a newline.
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.iter().cloned().collect()
    }

    /// How many lines were dropped to stay within the bound.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Appends `line`, dropping the oldest one at the bound.
    pub(crate) fn push(&self, line: String) {
        let mut l = self.lock();
        if l.max == 0 {
            l.dropped += 1;
            return;
        }
        if l.lines.len() == l.max {
            l.lines.pop_front();
            l.dropped += 1;
        }
        l.lines.push_back(line);
    }
}

/// The sidecar's side: the log, its encoding and its clock.
#[derive(Debug)]
pub(crate) struct LogWriter {
    pub(crate) log: AccessLog,
    encoding: AccessLogEncoding,
    origin: Instant,
    epoch: std::time::Duration,
}

impl LogWriter {
    /// A writer for `config`; the clock's origin defaults to now.
    pub(crate) fn new(config: &AccessLogConfig) -> Arc<LogWriter> {
        Arc::new(LogWriter {
            log: AccessLog::new(config.max_lines),
            encoding: config.encoding,
            origin: config.origin.unwrap_or_else(Instant::now),
            epoch: config.epoch,
        })
    }

    /// `%START_TIME%` of an event at `at`.
    pub(crate) fn start_time(&self, at: Instant) -> String {
        clock::format_start_time(self.epoch + at.saturating_duration_since(self.origin))
    }

    /// Encodes and appends one entry.
    pub(crate) fn write(&self, entry: &AccessLogEntry) {
        let line = match self.encoding {
            AccessLogEncoding::Text => format_istio_line(entry),
            AccessLogEncoding::Json => json::format_istio_json(entry),
        };
        self.log.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_the_newest_lines_and_counts_the_dropped_ones() {
        let log = AccessLog::new(2);
        for l in ["a\n", "b\n", "c\n"] {
            log.push(l.to_string());
        }
        assert_eq!(log.lines(), vec!["b\n", "c\n"]);
        assert_eq!(log.dropped(), 1);
    }
}
