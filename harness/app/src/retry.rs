//! App-side retry: what a client library's retry wrapper (Spring Retry,
//! resilience4j, a shell's `until curl ...; do sleep ..; done`) does when a
//! try fails before anything was sent.
//!
//! Only failures that prove the request never reached a server are retried
//! ([`RetryOn::ConnectFailure`]: the TCP connect was refused or timed out), so
//! retrying is always safe, even for non-idempotent methods. A try that wrote
//! its request and then failed (reset, 503, timeout) is final: the server may
//! have acted on it. This is what hides the sidecar-not-ready race (INC-07)
//! from an application that retries with back-off, at the price of latency.
//!
//! Back-off is exponential and has **no jitter**: wait `n` (0-based) is
//! `backoff * 2^n`, capped at `max_backoff`. Real libraries usually add
//! jitter; we leave it out so that a run needs no random draw here and the
//! times of every retry can be asserted exactly.

use std::time::Duration;

use meshsim_core::ErrorKind;

use crate::AppError;

/// Which failed tries the application retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryOn {
    /// A try whose TCP connect failed: `ConnectRefused` or `ConnectTimeout`.
    /// Nothing was sent, so a retry cannot repeat the request.
    ConnectFailure,
}

/// The application's own retry of failed tries (a [`crate::ClientProfile`]
/// field; `None` in every named profile).
///
/// One request still gives one record: its outcome is the last try's, its
/// latency runs from the scheduled start over every try and wait, and the
/// profile's `request_timeout` bounds the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppRetry {
    /// Retries after the first try (so at most `attempts + 1` tries).
    pub attempts: u32,
    /// The first wait, before the first retry; each later wait doubles.
    pub backoff: Duration,
    /// The cap on one wait. Must be at least `backoff`.
    pub max_backoff: Duration,
    /// Which failures are retried.
    pub on: RetryOn,
}

impl AppRetry {
    /// Checks that the back-off bounds are ordered.
    ///
    /// # Errors
    /// [`AppError::InvalidRetryBackoff`] when `max_backoff < backoff`.
    pub fn check(&self) -> Result<(), AppError> {
        if self.max_backoff < self.backoff {
            return Err(AppError::InvalidRetryBackoff {
                backoff: self.backoff,
                max_backoff: self.max_backoff,
            });
        }
        Ok(())
    }

    /// The wait before retry `retry` (0 for the first retry):
    /// `backoff * 2^retry`, capped at `max_backoff`, no jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// Whether `on` covers a try that failed with `kind`.
    pub fn retries(&self, kind: ErrorKind) -> bool {
        match self.on {
            RetryOn::ConnectFailure => {
                matches!(kind, ErrorKind::ConnectRefused | ErrorKind::ConnectTimeout)
            }
        }
    }

    /// After `done` retries, a try failed with `kind`: the wait before the
    /// next try, or `None` when the failure is final.
    pub(crate) fn decide(&self, done: u32, kind: ErrorKind) -> Option<Duration> {
        (done < self.attempts && self.retries(kind)).then(|| self.backoff(done))
    }
}

#[cfg(test)]
mod tests {
    use meshsim_core::ResponseFlags;

    use super::*;

    fn retry(attempts: u32, backoff_ms: u64, max_ms: u64) -> AppRetry {
        AppRetry {
            attempts,
            backoff: Duration::from_millis(backoff_ms),
            max_backoff: Duration::from_millis(max_ms),
            on: RetryOn::ConnectFailure,
        }
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let r = retry(10, 100, 1000);
        let waits: Vec<u64> = (0..6).map(|n| r.backoff(n).as_millis() as u64).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(r.backoff(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn only_connect_failures_are_retried_and_only_attempts_times() {
        let r = retry(2, 100, 1000);
        assert_eq!(
            r.decide(0, ErrorKind::ConnectRefused),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            r.decide(1, ErrorKind::ConnectTimeout),
            Some(Duration::from_millis(200))
        );
        assert_eq!(r.decide(2, ErrorKind::ConnectRefused), None);
        let http = ErrorKind::Http {
            status: 503,
            flags: ResponseFlags::NONE,
        };
        for kind in [ErrorKind::ConnectionReset, ErrorKind::RequestTimeout, http] {
            assert_eq!(r.decide(0, kind), None, "{kind:?}");
        }
    }

    #[test]
    fn a_cap_below_the_first_wait_is_an_error() {
        let err = retry(1, 500, 100).check().unwrap_err();
        assert!(matches!(err, AppError::InvalidRetryBackoff { .. }));
        assert!(err.to_string().contains("500ms"), "{err}");
        assert!(retry(1, 100, 100).check().is_ok());
    }

    proptest::proptest! {
        #[test]
        fn waits_stay_within_bounds_and_never_decrease(b in 0u64..10_000, extra in 0u64..100_000, n in 0u32..40) {
            let r = retry(u32::MAX, b, b + extra);
            let (w, next) = (r.backoff(n), r.backoff(n + 1));
            proptest::prop_assert!(w >= r.backoff.min(r.max_backoff) && w <= r.max_backoff);
            proptest::prop_assert!(next >= w);
        }
    }
}
