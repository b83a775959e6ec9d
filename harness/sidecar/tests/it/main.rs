//! Component tests of the sidecar on the simulated network, with a paused
//! clock: every fidelity test names the Envoy/Istio fact it checks.

mod access_log;
mod access_log_sample;
mod admin;
mod agent_wait;
mod app_probe;
mod boot;
mod circuit;
mod dns;
mod h2_port;
mod http;
mod http2;
mod inbound;
mod keepalive;
mod lb;
mod mtls;
mod pending;
mod pool;
mod push;
mod retries;
mod retry_on;
mod routing;
mod shutdown;
mod sniffing;
mod support;
mod tcp;
mod tcp_timers;
mod timeout_bound;
