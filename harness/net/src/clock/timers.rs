//! [`Sleep`] and [`Timeout`]: tokio's, or the precise clock thread's in a
//! scaled real run ([`super::TimeScale::with_precise_timers`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::Instant;
use super::precise::Timer;

pin_project! {
    /// A future that completes at a scenario instant (tokio's `Sleep`).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Sleep {
        #[pin]
        inner: Inner,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner {
        Tokio { #[pin] sleep: tokio::time::Sleep },
        Precise { timer: Timer },
    }
}

impl Sleep {
    pub(super) fn until(deadline: Instant, precise: bool) -> Sleep {
        let wall = deadline.wall();
        let inner = if precise {
            Inner::Precise {
                timer: Timer::new(wall.into_std()),
            }
        } else {
            Inner::Tokio {
                sleep: tokio::time::sleep_until(wall),
            }
        };
        Sleep { inner }
    }

    /// Moves the deadline to scenario instant `deadline` (tokio's
    /// `Sleep::reset`).
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let wall = deadline.wall();
        match self.project().inner.project() {
            InnerProj::Tokio { sleep } => sleep.reset(wall),
            InnerProj::Precise { timer } => timer.reset(wall.into_std()),
        }
    }

    /// Whether the deadline has passed (tokio's `Sleep::is_elapsed` for
    /// tokio timers: whether it fired).
    pub fn is_elapsed(&self) -> bool {
        match &self.inner {
            Inner::Tokio { sleep } => sleep.is_elapsed(),
            Inner::Precise { timer } => {
                tokio::time::Instant::from_std(timer.deadline()) <= wall_now()
            }
        }
    }
}

#[allow(clippy::disallowed_methods)]
fn wall_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().inner.project() {
            InnerProj::Tokio { sleep } => sleep.poll(cx),
            InnerProj::Precise { timer } => timer.poll(cx),
        }
    }
}

/// A [`timeout`](super::timeout) ran out before its future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline has elapsed")]
pub struct Elapsed(());

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

pin_project! {
    /// A future bounded by a deadline (tokio's `Timeout`): the future's
    /// output, or [`Elapsed`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    pub(super) fn new(future: F, sleep: Sleep) -> Timeout<F> {
        Timeout { future, sleep }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let had_budget = tokio::task::coop::has_budget_remaining();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        // As tokio's `Timeout`: when the future used up the task's budget,
        // the delay is still polled, outside the budget, so a timeout fires
        // even around a future that keeps the task busy.
        let delay = if had_budget && !tokio::task::coop::has_budget_remaining() {
            let mut free = tokio::task::coop::unconstrained(this.sleep.as_mut());
            Pin::new(&mut free).poll(cx)
        } else {
            this.sleep.poll(cx)
        };
        match delay {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}
