//! Settings of a real (loopback) network.

use std::time::Duration;

use crate::RETRANSMISSION_GIVE_UP;

/// Settings of a real network ([`crate::Net::real_with`]). Every field has a
/// default; [`crate::Net::real`] takes them all.
///
/// The kernel's own timers run on loopback as usual. What is set here are
/// the timers the backend emulates in the process, for the faults it puts
/// around the kernel sockets (black holes, middleboxes), which the kernel
/// cannot see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealConfig {
    /// How long data written into an in-process black hole is
    /// "retransmitted", counted from the first write the hole swallowed,
    /// before the writer's stream fails with `TimedOut`. Default
    /// [`RETRANSMISSION_GIVE_UP`] (Linux `tcp_retries2` = 15: 924.6 s), as
    /// [`crate::SimConfig::retransmission_give_up`].
    pub retransmission_give_up: Duration,
}

impl Default for RealConfig {
    fn default() -> Self {
        RealConfig {
            retransmission_give_up: RETRANSMISSION_GIVE_UP,
        }
    }
}
