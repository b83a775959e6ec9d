//! Simulated-network tests of the whole application model: a tiny scripted
//! HTTP/1.1 server written on raw `NetStream`s, a scripted name table, and
//! [`crate::drive::run`] on a paused clock.

mod dns;
mod failures;
pub(crate) mod fixture;
mod lifecycle;
mod load;
mod pooling;
