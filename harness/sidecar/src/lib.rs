//! The Envoy-like sidecar forwarder (being built).
pub mod config;
