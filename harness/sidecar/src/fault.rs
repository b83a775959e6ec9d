//! Envoy's HTTP fault filter (`envoy.filters.http.fault`) with the per-route
//! configuration Istio writes for a VirtualService `fault`.
//!
//! The filter runs before the router. In Envoy's order
//! (`FaultFilter::decodeHeaders`): if a delay is configured its percentage is
//! drawn; a delay of more than 0 ms holds the request (flag `DI`); then, after
//! the delay or at once, the abort percentage is drawn and an abort answers
//! locally with the configured status, body `fault filter abort`, details
//! `fault_filter_abort` and flag `FI` (`FaultFilter::abortWithHTTPStatus`).
//! A request that is not aborted continues to the router, which only then
//! starts the route timeout: an injected delay does not count against it.
//! An aborted request never reaches the router, so it is never retried.
//!
//! Percentages are Envoy `FractionalPercent`s per million, as Istio writes them
//! (`percentage.value * 10000` over `MILLION`); a draw is enabled when
//! `random % 1_000_000 < numerator` (Envoy's `featureEnabled`).

use std::time::Duration;

use meshsim_core::ResponseFlags;

use crate::local_reply::LocalReply;
use crate::runtime::Env;

/// A fraction of requests, in millionths (Envoy `FractionalPercent` with
/// denominator `MILLION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FractionalPercent {
    /// Millionths; 1 000 000 (or more) means every request.
    pub per_million: u32,
}

impl FractionalPercent {
    /// Every request.
    pub const ALWAYS: FractionalPercent = FractionalPercent {
        per_million: 1_000_000,
    };

    /// Istio's translation of a `Percent` (`value` in 0..=100, fractions
    /// allowed): `value * 10000` millionths, truncated.
    pub fn from_percent(value: f64) -> FractionalPercent {
        FractionalPercent {
            // Saturating float-to-int cast, like Go's uint32 conversion of an in-range value.
            per_million: (value * 10_000.0) as u32,
        }
    }

    /// Whether a request with random value `random` is selected.
    pub fn enabled(self, random: u64) -> bool {
        random % 1_000_000 < u64::from(self.per_million)
    }
}

/// `HTTPFault.delay` with a fixed delay.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultDelay {
    /// `fixed_delay`.
    pub fixed_delay: Duration,
    /// `percentage` (unset in Istio: 0, no request is delayed).
    pub percentage: FractionalPercent,
}

/// `HTTPFault.abort` with an HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultAbort {
    /// `http_status` (Envoy accepts 200..=599).
    pub http_status: u16,
    /// `percentage` (unset in Istio: 0, no request is aborted).
    pub percentage: FractionalPercent,
}

/// The fault filter's per-route configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultInjection {
    /// Delay, if any.
    pub delay: Option<FaultDelay>,
    /// Abort, if any.
    pub abort: Option<FaultAbort>,
}

/// What the fault filter did to one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Injected {
    /// `DI` when a delay was injected.
    pub(crate) flags: ResponseFlags,
    /// The local reply when the request was aborted.
    pub(crate) abort: Option<LocalReply>,
}

impl LocalReply {
    /// The fault filter's abort: `status`, body `fault filter abort`, flag `FI`.
    pub fn fault_abort(status: u16) -> LocalReply {
        LocalReply {
            status,
            body: "fault filter abort".to_string(),
            flags: ResponseFlags::FI,
            details: "fault_filter_abort".to_string(),
        }
    }
}

/// The delay to inject for random value `random`, if any (Envoy delays only
/// for more than 0 ms).
pub fn delay_for(fault: &FaultInjection, random: u64) -> Option<Duration> {
    let d = fault.delay.as_ref()?;
    (d.percentage.enabled(random) && d.fixed_delay >= Duration::from_millis(1))
        .then_some(d.fixed_delay)
}

/// The abort status for random value `random`, if any.
pub fn abort_for(fault: &FaultInjection, random: u64) -> Option<u16> {
    let a = fault.abort.as_ref()?;
    a.percentage.enabled(random).then_some(a.http_status)
}

/// Runs the fault filter: draws, waits out a delay, draws the abort.
pub(crate) async fn inject(env: &Env, fault: &FaultInjection) -> Injected {
    let mut flags = ResponseFlags::NONE;
    if fault.delay.is_some() {
        let delay = env.draw(|rng| delay_for(fault, rng.next_u64()));
        if let Some(delay) = delay {
            flags.insert(ResponseFlags::DI);
            meshsim_net::clock::sleep(delay).await;
        }
    }
    let abort = match fault.abort {
        Some(_) => env.draw(|rng| abort_for(fault, rng.next_u64())),
        None => None,
    };
    let abort = abort.map(|status| {
        let mut reply = LocalReply::fault_abort(status);
        reply.flags.insert(flags);
        reply
    });
    Injected { flags, abort }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(delay_pct: f64, abort_pct: f64) -> FaultInjection {
        FaultInjection {
            delay: Some(FaultDelay {
                fixed_delay: Duration::from_secs(2),
                percentage: FractionalPercent::from_percent(delay_pct),
            }),
            abort: Some(FaultAbort {
                http_status: 503,
                percentage: FractionalPercent::from_percent(abort_pct),
            }),
        }
    }

    #[test]
    fn istio_percent_becomes_millionths_truncated() {
        assert_eq!(
            FractionalPercent::from_percent(100.0).per_million,
            1_000_000
        );
        assert_eq!(FractionalPercent::from_percent(0.1).per_million, 1_000);
        assert_eq!(FractionalPercent::from_percent(0.0).per_million, 0);
    }

    #[test]
    fn a_percentage_selects_random_values_below_its_share_of_a_million() {
        let half = FractionalPercent::from_percent(50.0);
        assert!(half.enabled(499_999));
        assert!(!half.enabled(500_000));
        assert!(half.enabled(1_000_000), "modulo a million");
        assert!(!FractionalPercent::default().enabled(0));
        assert!(FractionalPercent::ALWAYS.enabled(999_999));
    }

    #[test]
    fn zero_percent_never_injects_and_one_hundred_always_does() {
        for r in [0, 1, 999_999, u64::MAX] {
            assert_eq!(delay_for(&fault(0.0, 0.0), r), None);
            assert_eq!(abort_for(&fault(0.0, 0.0), r), None);
            assert_eq!(
                delay_for(&fault(100.0, 100.0), r),
                Some(Duration::from_secs(2))
            );
            assert_eq!(abort_for(&fault(100.0, 100.0), r), Some(503));
        }
    }

    #[test]
    fn a_zero_delay_is_not_injected() {
        let mut f = fault(100.0, 0.0);
        f.delay.as_mut().unwrap().fixed_delay = Duration::from_micros(500);
        assert_eq!(delay_for(&f, 0), None);
    }

    /// Fact sheet §5.1/§5.3: the fault filter's abort is a local reply with
    /// body `fault filter abort`, details `fault_filter_abort`, flag `FI`
    /// (Envoy `source/extensions/filters/http/fault/fault_filter.cc`).
    #[test]
    fn the_abort_reply_is_envoys_fault_filter_abort_with_fi() {
        let r = LocalReply::fault_abort(418);
        assert_eq!(r.status, 418);
        assert_eq!(r.body, "fault filter abort");
        assert_eq!(r.details, "fault_filter_abort");
        assert_eq!(r.flags, ResponseFlags::FI);
        let resp = r.to_response("envoy");
        assert_eq!(resp.headers()["content-type"], "text/plain");
        assert_eq!(resp.headers()["content-length"], "18");
        assert_eq!(resp.headers()["server"], "envoy");
    }
}
