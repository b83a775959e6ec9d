//! Tests of the pod's forward proxy: a fake sidecar on the pod's 15001 that
//! checks the original destination, the scenario DNS server, and a raw
//! HTTP/1.1 client on another host; on the simulated network, and once on
//! real loopback sockets.

mod errors;
mod forward;
mod real;
mod support;
mod tunnel;
