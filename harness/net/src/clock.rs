//! Time for every component, in *scenario* units, optionally scaled.
//!
//! Every timer and every timestamp of meshsim goes through this module (the
//! workspace's `clippy.toml` bans tokio's own `sleep`, `timeout`,
//! `Instant::now`... elsewhere). Its functions have tokio's names and
//! signatures. By default they are tokio's clock unchanged: in sim mode that
//! is the paused virtual clock, and a run is deterministic.
//!
//! A [`TimeScale`] (`meshsim run --real --time-scale F`) makes one scenario
//! second last `F` wall seconds on the threads where it is entered: a sleep
//! of `d` waits `d × F` of tokio's time and [`now`] advances `1 / F` times as
//! fast as tokio's clock. Every duration of a run (timeline, TTLs, timeouts,
//! idle timers, back-off, arrival gaps) is therefore scaled uniformly, and
//! every measurement (latency, event times) comes out in scenario units
//! without the code knowing. Only what times itself escapes the scale: the
//! kernel (TCP's own timers on loopback, which meshsim's real backend
//! emulates where a scenario depends on them) and hyper's own timer (the
//! app servers' header-read timeout that serves as their keep-alive idle
//! timeout, on tokio's clock); tokio's timer wheel rounds
//! wall deadlines up to the millisecond, so with `F = 0.02` a timer may fire
//! up to 50 scenario milliseconds late.
//!
//! ```
//! use std::time::Duration;
//! use meshsim_net::clock::{self, TimeScale};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
//! rt.block_on(async {
//!     let scale = TimeScale::start(0.5).unwrap();
//!     let _on = scale.enter();
//!     let t0 = clock::now();
//!     clock::sleep(Duration::from_secs(10)).await; // 5 s of tokio's clock
//!     assert_eq!(clock::now() - t0, Duration::from_secs(10));
//! });
//! ```
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

pub use tokio::time::{MissedTickBehavior, advance, pause, resume};

mod precise;
mod timers;

pub use timers::{Elapsed, Sleep, Timeout};

/// About thirty years: where a deadline too far to represent is put (tokio's
/// own "far future").
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The smallest and largest scale factors taken.
const FACTOR_RANGE: (f64, f64) = (1e-4, 1e4);

thread_local! {
    static SCALE: Cell<Option<Scale>> = const { Cell::new(None) };
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    /// Wall seconds per scenario second.
    factor: f64,
    /// The instant where scenario and wall time coincide.
    epoch: tokio::time::Instant,
    /// Sleeps and timeouts on the precise clock thread rather than tokio's
    /// millisecond wheel (wall-clock runs only).
    precise: bool,
}

fn scale() -> Option<Scale> {
    SCALE.with(Cell::get)
}

/// A scale factor that is not a positive finite number in range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "time scale {factor} is out of range: give a number from {} to {} (0.02 makes a scenario second last 20 ms)",
    FACTOR_RANGE.0,
    FACTOR_RANGE.1
)]
pub struct ScaleError {
    /// The factor given.
    pub factor: f64,
}

/// How many wall seconds one scenario second lasts, from an epoch.
///
/// Cheap to copy. [`TimeScale::enter`] applies it to the current thread
/// (enough for a current-thread runtime); a multi-thread runtime installs it
/// on each worker with [`TimeScale::install`] from `on_thread_start`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(Scale);

impl TimeScale {
    /// A scale of `factor` wall seconds per scenario second, with scenario
    /// and wall time coinciding now. Needs tokio's clock (call it inside a
    /// runtime, or at least where `tokio::time::Instant::now` works).
    ///
    /// # Errors
    /// [`ScaleError`] unless `factor` is finite and within 1e-4..=1e4.
    pub fn start(factor: f64) -> Result<TimeScale, ScaleError> {
        if !factor.is_finite() || factor < FACTOR_RANGE.0 || factor > FACTOR_RANGE.1 {
            return Err(ScaleError { factor });
        }
        Ok(TimeScale(Scale {
            factor,
            epoch: tokio::time::Instant::now(),
            precise: false,
        }))
    }

    /// The same scale with sleeps and timeouts served by a wall-clock
    /// thread to within tens of microseconds instead of tokio's whole
    /// milliseconds (a 1 ms step is 50 scenario ms at a scale of 0.02).
    /// For real runs only: those timers ignore a paused tokio clock.
    #[must_use]
    pub fn with_precise_timers(mut self) -> TimeScale {
        self.0.precise = true;
        self
    }

    /// Wall seconds per scenario second.
    pub fn factor(&self) -> f64 {
        self.0.factor
    }

    /// Applies the scale to the current thread until the guard drops (the
    /// thread's previous scale, if any, comes back).
    #[must_use = "the scale ends when the guard drops"]
    pub fn enter(&self) -> ScaleGuard {
        let previous = SCALE.with(|s| s.replace(Some(self.0)));
        ScaleGuard { previous }
    }

    /// Applies the scale to the current thread for the rest of its life
    /// (a runtime worker's `on_thread_start`).
    pub fn install(&self) {
        SCALE.with(|s| s.set(Some(self.0)));
    }
}

/// Restores the thread's previous scale when dropped.
#[derive(Debug)]
pub struct ScaleGuard {
    previous: Option<Scale>,
}

impl Drop for ScaleGuard {
    fn drop(&mut self) {
        SCALE.with(|s| s.set(self.previous));
    }
}

/// The scale factor in force on this thread (1 when none).
pub fn factor() -> f64 {
    scale().map_or(1.0, |s| s.factor)
}

/// `d` of scenario time as wall (tokio) time: what to hand to something that
/// times itself, such as the kernel.
pub fn to_wall(d: Duration) -> Duration {
    match scale() {
        None => d,
        Some(s) => scaled(d, s.factor, true),
    }
}

/// `d × by` in whole nanoseconds, rounded up (`up`) or down: the two
/// conversions between scenario and wall time round so that a timer set for
/// scenario instant `x` never reads `now() < x` when it fires.
fn scaled(d: Duration, by: f64, up: bool) -> Duration {
    let exact = d.as_nanos() as f64 * by;
    let nanos = if up { exact.ceil() } else { exact.floor() };
    if nanos >= u64::MAX as f64 {
        FAR
    } else {
        Duration::from_nanos(nanos as u64)
    }
}

/// A point in scenario time. Like tokio's `Instant` (and equal to it when
/// no scale is in force), but scaled around the [`TimeScale`]'s epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(tokio::time::Instant);

impl std::fmt::Debug for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Instant {
    /// Now, in scenario time ([`now`]).
    pub fn now() -> Instant {
        now()
    }

    /// Scenario time since `self` (zero if `self` is later).
    pub fn elapsed(&self) -> Duration {
        now().saturating_duration_since(*self)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// `self - earlier`, or zero if `earlier` is later (as tokio's).
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// `self - earlier`, `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// `self + d`, `None` on overflow.
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }

    /// `self - d`, `None` on overflow.
    pub fn checked_sub(&self, d: Duration) -> Option<Instant> {
        self.0.checked_sub(d).map(Instant)
    }

    /// The tokio instant at which this scenario instant comes, for tokio
    /// APIs that take a deadline (`Sleep::reset`).
    pub fn wall(self) -> tokio::time::Instant {
        let Some(s) = scale() else { return self.0 };
        // Rounded later in both branches: a timer never fires early.
        if self.0 >= s.epoch {
            let d = scaled(self.0 - s.epoch, s.factor, true);
            s.epoch.checked_add(d).unwrap_or(s.epoch + FAR)
        } else {
            let d = scaled(s.epoch - self.0, s.factor, false);
            s.epoch.checked_sub(d).unwrap_or(self.0)
        }
    }

    /// The scenario instant of tokio instant `wall`.
    fn from_wall(wall: tokio::time::Instant) -> Instant {
        let Some(s) = scale() else {
            return Instant(wall);
        };
        // Rounded later in both branches, as `wall`.
        let per = 1.0 / s.factor;
        if wall >= s.epoch {
            let d = scaled(wall - s.epoch, per, true);
            Instant(s.epoch.checked_add(d).unwrap_or(s.epoch + FAR))
        } else {
            let d = scaled(s.epoch - wall, per, false);
            Instant(s.epoch.checked_sub(d).unwrap_or(wall))
        }
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0 + d)
    }
}

impl std::ops::AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 += d;
    }
}

impl std::ops::Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0 - d)
    }
}

impl std::ops::SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        self.0 -= d;
    }
}

impl std::ops::Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, other: Instant) -> Duration {
        self.0.saturating_duration_since(other.0)
    }
}

/// Now, in scenario time.
pub fn now() -> Instant {
    Instant::from_wall(tokio::time::Instant::now())
}

/// Waits `d` of scenario time.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(after(d))
}

/// Waits until scenario instant `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::until(deadline, scale().is_some_and(|s| s.precise))
}

/// Bounds `future` by `d` of scenario time.
pub fn timeout<F: Future>(d: Duration, future: F) -> Timeout<F> {
    timeout_at(after(d), future)
}

/// `d` from now, or about thirty years for a duration too long to add.
fn after(d: Duration) -> Instant {
    let now = now();
    now.checked_add(d).unwrap_or(now + FAR)
}

/// Bounds `future` by scenario instant `deadline`.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout::new(future, sleep_until(deadline))
}

/// A ticker every `period` of scenario time, the first tick at once.
pub fn interval(period: Duration) -> Interval {
    Interval(tokio::time::interval(to_wall(period)))
}

/// A ticker every `period` of scenario time, the first tick at `start`.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval(tokio::time::interval_at(start.wall(), to_wall(period)))
}

/// tokio's `Interval` in scenario time.
#[derive(Debug)]
pub struct Interval(tokio::time::Interval);

impl Interval {
    /// Waits for the next tick; returns its scheduled scenario instant.
    pub async fn tick(&mut self) -> Instant {
        Instant::from_wall(self.0.tick().await)
    }

    /// What happens to ticks missed while the owner was busy.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.0.set_missed_tick_behavior(behavior);
    }

    /// Restarts the ticker: the next tick one period from now.
    pub fn reset(&mut self) {
        self.0.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn without_a_scale_the_clock_is_tokios() {
        let t0 = now();
        sleep(Duration::from_secs(3)).await;
        assert_eq!(now() - t0, Duration::from_secs(3));
        assert_eq!(
            t0.wall() + Duration::from_secs(3),
            tokio::time::Instant::now()
        );
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_scaled_sleep_waits_the_scaled_wall_time_and_now_reads_scenario_time() {
        let scale = TimeScale::start(0.02).unwrap();
        let _on = scale.enter();
        let (t0, w0) = (now(), tokio::time::Instant::now());
        sleep(Duration::from_secs(60)).await;
        assert_eq!(
            tokio::time::Instant::now() - w0,
            Duration::from_millis(1200)
        );
        assert_eq!(now() - t0, Duration::from_secs(60));
        let deadline = now() + Duration::from_secs(10);
        sleep_until(deadline).await;
        assert_eq!(now(), deadline);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_scaled_timeout_fires_after_the_scaled_wall_time() {
        let _on = TimeScale::start(0.1).unwrap().enter();
        let w0 = tokio::time::Instant::now();
        let r = timeout(Duration::from_secs(5), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert_eq!(tokio::time::Instant::now() - w0, Duration::from_millis(500));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_scaled_interval_ticks_every_scaled_period_in_scenario_instants() {
        let _on = TimeScale::start(0.5).unwrap().enter();
        let t0 = now();
        let mut ticker = interval_at(t0 + Duration::from_secs(2), Duration::from_secs(4));
        assert_eq!(ticker.tick().await - t0, Duration::from_secs(2));
        assert_eq!(ticker.tick().await - t0, Duration::from_secs(6));
        assert_eq!(now() - t0, Duration::from_secs(6));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_guard_restores_the_previous_scale() {
        {
            let _on = TimeScale::start(0.25).unwrap().enter();
            assert!((factor() - 0.25).abs() < f64::EPSILON);
            assert_eq!(to_wall(Duration::from_secs(4)), Duration::from_secs(1));
        }
        assert!((factor() - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn a_scale_out_of_range_is_refused_with_the_range() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            let e = TimeScale::start(bad).unwrap_err();
            assert!(e.to_string().contains("out of range"), "{e}");
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_scaled_timer_never_wakes_before_its_scenario_deadline() {
        for factor in [0.02, 0.3, 0.7, 3.0] {
            let _on = TimeScale::start(factor).unwrap().enter();
            for ns in [1u64, 7, 999, 1_000_001, 123_456_789_013] {
                let deadline = now() + Duration::from_nanos(ns);
                sleep_until(deadline).await;
                assert!(
                    now() >= deadline,
                    "{factor} {ns}: {:?} < {deadline:?}",
                    now()
                );
            }
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_far_deadline_does_not_overflow() {
        let _on = TimeScale::start(100.0).unwrap().enter();
        let far = now() + Duration::from_secs(86_400 * 365 * 100);
        assert!(far.wall() > tokio::time::Instant::now());
        let r = timeout_at(far, async {}).await;
        assert!(r.is_ok());
    }
}
