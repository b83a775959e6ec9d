//! Simulated-network tests of serving applications.
