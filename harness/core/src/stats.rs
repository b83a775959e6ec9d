//! Turning a stream of [`RequestRecord`]s into a [`MitigationResult`] without
//! keeping the records: a latency histogram, counters, fixed time buckets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::outcome::ErrorKind;
use crate::record::RequestRecord;
use crate::result::{
    CallResult, HostCount, KindCount, LatencySummary, MitigationResult, TimeBucket,
};

/// Accumulates the records of one mitigation run.
#[derive(Debug)]
pub struct Collector {
    bucket: Duration,
    requests: u64,
    errors: u64,
    attempts: u64,
    /// Latency in microseconds; 3 significant digits.
    latency_us: Histogram<u64>,
    by_kind: BTreeMap<ErrorKind, u64>,
    /// Per kind, the sample of the error scheduled first: `(scheduled,
    /// text)`; ties go to the smaller text, so completion order never
    /// decides.
    samples: BTreeMap<ErrorKind, (Duration, String)>,
    by_host: BTreeMap<SocketAddr, u64>,
    buckets: Vec<(u64, u64)>,
    first_error: Option<Duration>,
    last_error: Option<Duration>,
    /// Per-call breakdown, when asked for ([`Collector::with_calls`]).
    calls: Option<Calls>,
}

/// The per-call side of a [`Collector`].
#[derive(Debug)]
struct Calls {
    /// `(from, url, entry)` of every call, by call id.
    labels: Vec<(String, String, bool)>,
    by_call: BTreeMap<usize, Collector>,
}

impl Collector {
    /// A collector with time-series buckets of `bucket` width (at least 1 ms).
    pub fn new(bucket: Duration) -> Self {
        // 1 µs to one day at 3 significant figures: fixed memory, longer values saturate.
        let latency_us = Histogram::new_with_bounds(1, 86_400_000_000, 3)
            .expect("bounds and precision are valid constants");
        Collector {
            bucket: bucket.max(Duration::from_millis(1)),
            requests: 0,
            errors: 0,
            attempts: 0,
            latency_us,
            by_kind: BTreeMap::new(),
            samples: BTreeMap::new(),
            by_host: BTreeMap::new(),
            buckets: Vec::new(),
            first_error: None,
            last_error: None,
            calls: None,
        }
    }

    /// A collector that also breaks results down by call. `labels[i]` is
    /// `(from, url, entry)` of call `i`; only entry calls count in the
    /// mitigation's totals (the calls services make while serving are hops
    /// inside one entry request).
    pub fn with_calls(bucket: Duration, labels: Vec<(String, String, bool)>) -> Self {
        Collector {
            calls: Some(Calls {
                labels,
                by_call: BTreeMap::new(),
            }),
            ..Collector::new(bucket)
        }
    }

    /// Adds one request's record.
    pub fn record(&mut self, r: &RequestRecord) {
        if let Some(calls) = &mut self.calls {
            let entry = calls.labels.get(r.call).is_none_or(|l| l.2);
            let bucket = self.bucket;
            calls
                .by_call
                .entry(r.call)
                .or_insert_with(|| Collector::new(bucket))
                .add(r);
            if !entry {
                return;
            }
        }
        self.add(r);
    }

    fn add(&mut self, r: &RequestRecord) {
        self.requests += 1;
        self.attempts += u64::from(r.upstream_attempts);
        let us = u64::try_from(r.latency().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(us);
        let idx = usize::try_from(r.scheduled.as_nanos() / self.bucket.as_nanos()).unwrap_or(0);
        if self.buckets.len() <= idx {
            self.buckets.resize(idx + 1, (0, 0));
        }
        self.buckets[idx].0 += 1;
        if let Some(kind) = r.outcome.error_kind() {
            self.errors += 1;
            self.buckets[idx].1 += 1;
            *self.by_kind.entry(kind).or_default() += 1;
            if let Some(text) = &r.sample {
                self.keep_sample(kind, r.scheduled, text);
            }
            let at = r.ended;
            self.first_error = Some(self.first_error.map_or(at, |f| f.min(at)));
            self.last_error = Some(self.last_error.map_or(at, |l| l.max(at)));
        } else if let Some(host) = r.upstream_host {
            *self.by_host.entry(host).or_default() += 1;
        }
    }

    /// Keeps `text` as `kind`'s sample if it was scheduled before the one
    /// kept (or at the same time with a smaller text).
    fn keep_sample(&mut self, kind: ErrorKind, scheduled: Duration, text: &str) {
        let better = self
            .samples
            .get(&kind)
            .is_none_or(|(at, kept)| (scheduled, text) < (*at, kept.as_str()));
        if better {
            self.samples.insert(kind, (scheduled, text.to_string()));
        }
    }

    /// Requests recorded so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Errors recorded so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The summary, with no expectation evaluated yet. `until` pads the time
    /// series with empty buckets up to the end of the load phase.
    pub fn finish(&self, name: &str, until: Duration) -> MitigationResult {
        let q = |p: f64| round3(self.latency_us.value_at_quantile(p) as f64 / 1000.0);
        let latency_ms = if self.requests == 0 {
            LatencySummary::default()
        } else {
            LatencySummary {
                p50: q(0.50),
                p90: q(0.90),
                p99: q(0.99),
                p999: q(0.999),
                max: round3(self.latency_us.max() as f64 / 1000.0),
            }
        };
        let mut errors_by_kind: Vec<KindCount> = self
            .by_kind
            .iter()
            .map(|(k, c)| KindCount {
                kind: k.label(),
                source: k.source(),
                count: *c,
                sample: self.samples.get(k).map(|(_, s)| s.clone()),
            })
            .collect();
        // Most frequent first; ties keep the kinds' own order (stable sort).
        errors_by_kind.sort_by_key(|k| std::cmp::Reverse(k.count));
        let n_buckets = usize::try_from(until.as_nanos().div_ceil(self.bucket.as_nanos()))
            .unwrap_or(0)
            .max(self.buckets.len());
        let timeseries = (0..n_buckets)
            .map(|i| {
                let (requests, errors) = self.buckets.get(i).copied().unwrap_or((0, 0));
                TimeBucket {
                    start_s: round3((self.bucket * i as u32).as_secs_f64()),
                    requests,
                    errors,
                }
            })
            .collect();
        MitigationResult {
            name: name.to_string(),
            requests: self.requests,
            errors: self.errors,
            error_rate: ratio(self.errors, self.requests),
            errors_by_kind,
            latency_ms,
            upstream_attempts: self.attempts,
            upstream_attempts_per_request: round3(ratio(self.attempts, self.requests)),
            first_error_s: self.first_error.map(|d| round3(d.as_secs_f64())),
            last_error_s: self.last_error.map(|d| round3(d.as_secs_f64())),
            timeseries,
            served_by: self
                .by_host
                .iter()
                .map(|(h, c)| HostCount {
                    host: h.to_string(),
                    count: *c,
                })
                .collect(),
            calls: self.call_results(until),
            access_log: Vec::new(),
            middleboxes: Vec::new(),
            pods: Vec::new(),
            probes: Vec::new(),
            expectations: Vec::new(),
        }
    }

    fn call_results(&self, until: Duration) -> Vec<CallResult> {
        let Some(calls) = &self.calls else {
            return Vec::new();
        };
        let empty = Collector::new(self.bucket);
        calls
            .labels
            .iter()
            .enumerate()
            .map(|(i, (from, url, entry))| {
                let m = calls.by_call.get(&i).unwrap_or(&empty).finish("", until);
                CallResult {
                    from: from.clone(),
                    url: url.clone(),
                    entry: *entry,
                    requests: m.requests,
                    errors: m.errors,
                    error_rate: m.error_rate,
                    errors_by_kind: m.errors_by_kind,
                    latency_ms: m.latency_ms,
                    upstream_attempts_per_request: m.upstream_attempts_per_request,
                }
            })
            .collect()
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        round6(a as f64 / b as f64)
    }
}

/// Rounds to 3 decimals so reports stay readable and stable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1_000_000.0).round() / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Outcome, ResponseFlags};

    fn rec(at_ms: u64, lat_ms: u64, outcome: Outcome, attempts: u32) -> RequestRecord {
        RequestRecord {
            call: 0,
            scheduled: Duration::from_millis(at_ms),
            started: Duration::from_millis(at_ms),
            ended: Duration::from_millis(at_ms + lat_ms),
            outcome,
            upstream_attempts: attempts,
            upstream_host: None,
            reused_connection: false,
            sample: None,
        }
    }

    #[test]
    fn counts_errors_by_kind_most_frequent_first() {
        let mut c = Collector::new(Duration::from_secs(1));
        let uc = Outcome::from_status(503, ResponseFlags::UC);
        let uf = Outcome::from_status(503, ResponseFlags::UF);
        c.record(&rec(0, 5, Outcome::Ok { status: 200 }, 1));
        c.record(&rec(10, 5, uc, 1));
        c.record(&rec(20, 5, uf, 3));
        c.record(&rec(1500, 5, uf, 3));
        let m = c.finish("none", Duration::from_secs(3));
        assert_eq!(m.requests, 4);
        assert_eq!(m.errors, 3);
        assert_eq!(m.error_rate, 0.75);
        assert_eq!(m.errors_by_kind[0].kind, "503 UF");
        assert_eq!(m.errors_by_kind[0].count, 2);
        assert_eq!(m.upstream_attempts_per_request, 2.0);
        assert_eq!(m.timeseries.len(), 3);
        assert_eq!((m.timeseries[0].requests, m.timeseries[0].errors), (3, 2));
        assert_eq!((m.timeseries[1].requests, m.timeseries[1].errors), (1, 1));
        assert_eq!(m.first_error_s, Some(0.015));
        assert_eq!(m.last_error_s, Some(1.505));
    }

    #[test]
    fn each_kind_keeps_the_sample_of_its_earliest_scheduled_error_whatever_the_completion_order() {
        let uc = Outcome::from_status(503, ResponseFlags::UC);
        let with = |at_ms, text: &str| {
            let mut r = rec(at_ms, 5, uc, 1);
            r.sample = Some(text.to_string());
            r
        };
        let mut c = Collector::new(Duration::from_secs(1));
        // Completed in this order; the one scheduled first wins.
        c.record(&with(30, "third"));
        c.record(&with(10, "first"));
        c.record(&with(20, "second"));
        c.record(&rec(5, 1, uc, 1)); // no text: kept nothing, counted
        let m = c.finish("x", Duration::from_secs(1));
        assert_eq!(m.errors_by_kind[0].count, 4);
        assert_eq!(m.errors_by_kind[0].sample.as_deref(), Some("first"));
        let mut ties = Collector::new(Duration::from_secs(1));
        ties.record(&with(10, "b"));
        ties.record(&with(10, "a"));
        let m = ties.finish("x", Duration::from_secs(1));
        assert_eq!(m.errors_by_kind[0].sample.as_deref(), Some("a"));
    }

    #[test]
    fn body_sample_keeps_the_first_200_bytes_as_lossy_utf8() {
        let body = "é".repeat(150); // 300 bytes; byte 200 splits nothing
        assert_eq!(RequestRecord::body_sample(body.as_bytes()).len(), 200);
        let odd = format!("x{}", "é".repeat(150)); // byte 200 cuts an é in two
        let s = RequestRecord::body_sample(odd.as_bytes());
        assert!(s.ends_with('\u{FFFD}'), "{s}");
        assert_eq!(RequestRecord::body_sample(b"short"), "short");
    }

    #[test]
    fn latency_is_measured_from_the_scheduled_start() {
        let mut c = Collector::new(Duration::from_secs(1));
        let mut r = rec(0, 100, Outcome::Ok { status: 200 }, 1);
        r.started = Duration::from_millis(90); // started late: still 100 ms
        c.record(&r);
        let m = c.finish("x", Duration::from_secs(1));
        assert!((m.latency_ms.p50 - 100.0).abs() < 0.2, "{:?}", m.latency_ms);
    }

    #[test]
    fn hop_calls_are_broken_down_but_only_entry_calls_count_in_the_totals() {
        let labels = vec![
            ("client".to_string(), "http://a/".to_string(), true),
            ("a".to_string(), "http://b/".to_string(), false),
            ("b".to_string(), "http://c/".to_string(), false),
        ];
        let mut c = Collector::with_calls(Duration::from_secs(1), labels);
        let uc = Outcome::from_status(503, ResponseFlags::UC);
        c.record(&rec(0, 5, Outcome::Ok { status: 200 }, 1));
        let mut hop = rec(1, 3, uc, 3);
        hop.call = 1;
        c.record(&hop);
        c.record(&hop);
        let m = c.finish("none", Duration::from_secs(1));
        assert_eq!(
            (m.requests, m.errors),
            (1, 0),
            "hops stay out of the totals"
        );
        assert_eq!(m.calls.len(), 3);
        assert_eq!((m.calls[0].requests, m.calls[0].errors), (1, 0));
        assert_eq!((m.calls[1].from.as_str(), m.calls[1].entry), ("a", false));
        assert_eq!((m.calls[1].requests, m.calls[1].errors), (2, 2));
        assert_eq!(m.calls[1].errors_by_kind[0].kind, "503 UC");
        assert_eq!(m.calls[1].upstream_attempts_per_request, 3.0);
        assert_eq!(
            m.calls[2].requests, 0,
            "a call that never ran is listed with zeros"
        );
    }
}
