//! The TCP proxy's access log line: one per downstream connection, written
//! when the connection ends. The HTTP fields print `-` (`"- - -"`, response
//! code `0`); the line carries the bytes each way, the duration, the
//! upstream host and cluster, and the flags: `UF,URX` for a failed connect
//! (the TCP proxy's single connect attempt is its retry limit), `UH` for
//! `BlackHoleCluster` (a cluster with no host) **[X from S E14 and Istio's
//! BlackHoleCluster being an empty STATIC cluster]**.

use std::net::SocketAddr;

use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;

use super::AccessLogEntry;
use super::http::{PendingLine, Sinks};

/// Starts the line of a connection from `remote` to `local` (its original
/// destination), through `cluster`.
pub(crate) fn start(
    sinks: Sinks,
    local: SocketAddr,
    remote: SocketAddr,
    cluster: &str,
) -> PendingLine {
    let started = Instant::now();
    let entry = AccessLogEntry {
        start_time: sinks.start_time(started),
        method: "-".to_string(),
        path: "-".to_string(),
        protocol: "-".to_string(),
        upstream_cluster: Some(cluster.to_string()),
        downstream_local_address: Some(local),
        downstream_remote_address: Some(remote),
        ..AccessLogEntry::default()
    };
    PendingLine::with_entry(sinks, entry, started)
}

/// A connect to `host` failed with `transport_failure` (`UF,URX`).
pub(crate) fn connect_failed(
    line: &mut PendingLine,
    host: SocketAddr,
    transport_failure: Option<String>,
) {
    let e = line.entry_mut();
    e.upstream_host = Some(host);
    e.flags = ResponseFlags::UF | ResponseFlags::URX;
    e.upstream_transport_failure_reason = transport_failure;
}

/// No host to connect to (`BlackHoleCluster`): `UH`.
pub(crate) fn no_host(line: &mut PendingLine) {
    line.entry_mut().flags = ResponseFlags::UH;
}

/// No filter chain matched the connection (plaintext to a STRICT port):
/// `NR`, details `filter_chain_not_found`, no upstream cluster.
pub(crate) fn no_filter_chain(line: &mut PendingLine) {
    let e = line.entry_mut();
    e.flags = ResponseFlags::NR;
    e.details = Some("filter_chain_not_found".to_string());
    e.upstream_cluster = None;
}

/// Connected to `host` from `local`.
pub(crate) fn connected(line: &mut PendingLine, host: SocketAddr, local: SocketAddr) {
    let e = line.entry_mut();
    e.upstream_host = Some(host);
    e.upstream_local_address = Some(local);
}

/// Bytes from the downstream (`%BYTES_RECEIVED%`) and to it (`%BYTES_SENT%`).
pub(crate) fn bytes(line: &mut PendingLine, received: u64, sent: u64) {
    let e = line.entry_mut();
    e.bytes_received = received;
    e.bytes_sent = sent;
}

/// Flags the proxy ended the connection with (`DT`, `UH`...), added.
pub(crate) fn flags(line: &mut PendingLine, flags: ResponseFlags) {
    let e = line.entry_mut();
    e.flags = e.flags | flags;
}
