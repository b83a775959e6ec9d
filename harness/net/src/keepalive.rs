//! TCP keepalive settings of one connection (`SO_KEEPALIVE` with
//! `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
//!
//! What the kernel does with them (Linux `tcp_keepalive_timer`), and what the
//! simulated backend reproduces:
//! - once nothing has been received on the connection for `time`, a probe is
//!   sent, then one every `interval` while none is answered;
//! - a probe that reaches a live peer is answered, and the answer restarts the
//!   idle clock (so probes to a live peer go every `time`);
//! - no probe is sent while our own data is unacknowledged: the retransmission
//!   timer (`tcp_retries2`) owns the connection then;
//! - after `probes` unanswered probes the connection is torn down locally: the
//!   owner's next read or write fails with `ETIMEDOUT`
//!   ([`std::io::ErrorKind::TimedOut`]) and the peer is not told;
//! - a probe that reaches a host with no socket for the connection (its
//!   process closed it, or its state was lost) is answered with a RST: the
//!   owner's next read fails with `ConnectionReset`.

use std::time::Duration;

/// Keepalive settings. Envoy and Istio give them in whole seconds; the real
/// backend gives the kernel `time` and `interval` rounded down to whole
/// seconds (at least 1 s) and runs its in-process emulation with them as
/// they are, as the simulated backend does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`). Linux default 7200 s.
    pub time: Duration,
    /// Time between unanswered probes (`TCP_KEEPINTVL`). Linux default 75 s.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    /// Linux default 9.
    pub probes: u32,
}

impl Keepalive {
    /// Linux's defaults (`tcp_keepalive_time` 7200 s, `tcp_keepalive_intvl`
    /// 75 s, `tcp_keepalive_probes` 9): what an Envoy `tcp_keepalive` with no
    /// field set leaves in place.
    pub const LINUX_DEFAULT: Keepalive = Keepalive {
        time: Duration::from_secs(7200),
        interval: Duration::from_secs(75),
        probes: 9,
    };

    /// How long after the last segment heard a connection whose peer no longer
    /// answers is torn down: `time + interval × probes`.
    pub fn give_up_after(&self) -> Duration {
        self.time + self.interval.saturating_mul(self.probes)
    }
}

impl Default for Keepalive {
    /// [`Keepalive::LINUX_DEFAULT`].
    fn default() -> Self {
        Keepalive::LINUX_DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn give_up_is_time_plus_interval_times_probes() {
        let k = Keepalive {
            time: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            probes: 3,
        };
        assert_eq!(k.give_up_after(), Duration::from_secs(16));
        assert_eq!(
            Keepalive::default().give_up_after(),
            Duration::from_secs(7200 + 75 * 9)
        );
    }
}
