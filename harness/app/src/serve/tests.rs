//! Simulated-network tests of serving applications: app servers on plain
//! `net.stack(ip)`s, called by a raw HTTP/1.1 client or by each other.

mod calls;
mod lifecycle;
mod overrides;
mod race;
mod routes;
pub(crate) mod support;
