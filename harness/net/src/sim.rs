//! The simulated backend: in-memory TCP and UDP on tokio's clock.
//!
//! Under a paused current-thread runtime the clock only moves when every task
//! is idle, straight to the next timer, so an hour of incident takes as long as
//! the work in it. Nothing here reads a wall clock or draws unseeded randomness:
//! per-packet jitter comes from the world's [`meshsim_core::SimRng`].
//!
//! Kernel behaviours reproduced (Linux defaults where a number is needed):
//! - connect to an address where nothing listens: refused after one round trip;
//! - connect across a silent drop: nothing until the caller's timeout, or the
//!   SYN give-up (`tcp_syn_retries` 6: 127 s);
//! - close with unread received data, or `reset()`: RST, the peer's next read
//!   or write fails with `ConnectionReset`;
//! - close otherwise: FIN, the peer reads EOF after the data; half-close works;
//! - write to a peer that has closed: accepted, then the peer's RST;
//! - established flow black-holed: writes succeed, nothing arrives; unacked data
//!   makes the writer fail with `TimedOut` after the retransmission give-up
//!   (`tcp_retries2` 15: about 924.6 s);
//! - TCP keepalive ([`crate::Keepalive`]), only on streams that switch it on:
//!   probes after `time` idle, every `interval`; answered by a live peer, lost
//!   in a drop, answered with a RST by a host whose socket is gone; after
//!   `probes` lost ones the end is torn down (`TimedOut`, the peer not told);
//! - a connection the kernel gave up (either timer) sends nothing on close;
//!   the peer's next segment is answered with a RST;
//! - idle-timer middleboxes ([`crate::middlebox`]): a flow idle past the
//!   box's timer is forgotten; its next packet is answered with a RST or
//!   black-holes the flow;
//! - per-link latency: base + per-host extra + seeded jitter, order preserved;
//!   none within one host (a pod's app and sidecar share a network namespace).
//!
//! Resolution: tokio's timers tick in whole milliseconds, so a sub-millisecond
//! latency is delivered at the next millisecond boundary; virtual-time
//! assertions should use whole-millisecond latencies.

pub(crate) mod idle;
mod pipe;
mod world;

pub use pipe::SimStream;
pub(crate) use world::World;
pub use world::{SimConfig, SimListener, SimUdp};
