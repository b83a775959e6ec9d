//! The access log: the [`ProxyLogEntry`] handed to the application model, and
//! Envoy's file access log in Istio's default formats (fact sheet §5.4).
//!
//! Off by default, as in Istio (mesh `accessLogFile` empty); with
//! `SidecarConfig::access_log` set, every HTTP request (outbound and
//! inbound) and every TCP-proxied connection writes one line into the
//! sidecar's [`AccessLog`] (`SidecarHandle::access_log`):
//! - [`format_istio_line`]: Istio's TEXT line; [`format_istio_json`]: its
//!   JSON object;
//! - `clock`: `%START_TIME%` from the virtual clock ([`format_start_time`]);
//! - `sink`: the bounded in-memory log and the sidecar's writer;
//! - `http`: the line of one HTTP request, written at the end of its stream;
//! - `tcp`: the line of one TCP proxy connection;
//! - `sample`: [`AccessLogSample`], the report's small sample of a hop's
//!   lines, kept even with the file log off.
//!
//! The flag separator (`,`) is the fact sheet's belief, still an open point
//! (§13 point 4).

mod clock;
pub(crate) mod http;
mod json;
mod sample;
mod sink;
pub(crate) mod tcp;

pub use clock::format_start_time;
pub use json::format_istio_json;
pub use sample::AccessLogSample;
pub use sink::AccessLog;
pub(crate) use sink::LogWriter;

use std::fmt::Write as _;
use std::net::SocketAddr;

use meshsim_core::{ProxyLogEntry, ResponseFlags};

/// The fields of Istio's default access log line (`EnvoyTextLogFormat`).
/// `None` prints `-`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessLogEntry {
    /// `%START_TIME%`, already rendered (e.g. `2026-01-01T00:00:05.000Z`).
    pub start_time: String,
    /// `%REQ(:METHOD)%`.
    pub method: String,
    /// `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%`.
    pub path: String,
    /// `%PROTOCOL%`, e.g. `HTTP/1.1`.
    pub protocol: String,
    /// `%RESPONSE_CODE%` (0: no response was started).
    pub response_code: u16,
    /// `%RESPONSE_FLAGS%`.
    pub flags: ResponseFlags,
    /// `%RESPONSE_CODE_DETAILS%`.
    pub details: Option<String>,
    /// `%CONNECTION_TERMINATION_DETAILS%`.
    pub connection_termination_details: Option<String>,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%`.
    pub upstream_transport_failure_reason: Option<String>,
    /// `%BYTES_RECEIVED%`.
    pub bytes_received: u64,
    /// `%BYTES_SENT%`.
    pub bytes_sent: u64,
    /// `%DURATION%` in ms.
    pub duration_ms: u64,
    /// `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%`.
    pub upstream_service_time_ms: Option<u64>,
    /// `%REQ(X-FORWARDED-FOR)%`.
    pub x_forwarded_for: Option<String>,
    /// `%REQ(USER-AGENT)%`.
    pub user_agent: Option<String>,
    /// `%REQ(X-REQUEST-ID)%`.
    pub request_id: Option<String>,
    /// `%REQ(:AUTHORITY)%`.
    pub authority: Option<String>,
    /// `%UPSTREAM_HOST%`.
    pub upstream_host: Option<SocketAddr>,
    /// `%UPSTREAM_CLUSTER_RAW%`.
    pub upstream_cluster: Option<String>,
    /// `%UPSTREAM_LOCAL_ADDRESS%`.
    pub upstream_local_address: Option<SocketAddr>,
    /// `%DOWNSTREAM_LOCAL_ADDRESS%`.
    pub downstream_local_address: Option<SocketAddr>,
    /// `%DOWNSTREAM_REMOTE_ADDRESS%`.
    pub downstream_remote_address: Option<SocketAddr>,
    /// `%REQUESTED_SERVER_NAME%`.
    pub requested_server_name: Option<String>,
    /// `%ROUTE_NAME%`.
    pub route_name: Option<String>,
}

fn dash<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

/// One line in Istio's default TEXT format, newline included.
pub fn format_istio_line(e: &AccessLogEntry) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "[{}] \"{} {} {}\" {} {} {} {} \"{}\" {} {} {} {} ",
        e.start_time,
        e.method,
        e.path,
        e.protocol,
        e.response_code,
        e.flags,
        dash(&e.details),
        dash(&e.connection_termination_details),
        dash(&e.upstream_transport_failure_reason),
        e.bytes_received,
        e.bytes_sent,
        e.duration_ms,
        dash(&e.upstream_service_time_ms),
    );
    let _ = writeln!(
        s,
        "\"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} {} {} {} {} {}",
        dash(&e.x_forwarded_for),
        dash(&e.user_agent),
        dash(&e.request_id),
        dash(&e.authority),
        dash(&e.upstream_host),
        dash(&e.upstream_cluster),
        dash(&e.upstream_local_address),
        dash(&e.downstream_local_address),
        dash(&e.downstream_remote_address),
        dash(&e.requested_server_name),
        dash(&e.route_name),
    );
    s
}

/// The proxy-log entry of one request.
pub(crate) fn proxy_log_entry(
    response_code: u16,
    flags: ResponseFlags,
    details: &str,
    attempts: u32,
    upstream_host: Option<SocketAddr>,
) -> ProxyLogEntry {
    ProxyLogEntry {
        response_code,
        flags,
        details: details.to_string(),
        attempts,
        upstream_host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_default_format_prints_fields_in_order_with_quotes_and_dashes() {
        let e = AccessLogEntry {
            start_time: "2026-01-01T00:00:05.000Z".into(),
            method: "GET".into(),
            path: "/charge".into(),
            protocol: "HTTP/1.1".into(),
            response_code: 503,
            flags: ResponseFlags::UC,
            details: Some("upstream_reset_before_response_started{connection_termination}".into()),
            bytes_sent: 95,
            duration_ms: 3,
            user_agent: Some("curl/8".into()),
            request_id: Some("42".into()),
            authority: Some("api.partner.example".into()),
            upstream_host: Some("52.1.1.10:443".parse().unwrap()),
            upstream_cluster: Some("PassthroughCluster".into()),
            downstream_local_address: Some("52.1.1.10:443".parse().unwrap()),
            downstream_remote_address: Some("10.0.0.1:32768".parse().unwrap()),
            route_name: Some("allow_any".into()),
            ..AccessLogEntry::default()
        };
        assert_eq!(
            format_istio_line(&e),
            "[2026-01-01T00:00:05.000Z] \"GET /charge HTTP/1.1\" 503 UC \
             upstream_reset_before_response_started{connection_termination} - \"-\" 0 95 3 - \"-\" \
             \"curl/8\" \"42\" \"api.partner.example\" \"52.1.1.10:443\" PassthroughCluster - \
             52.1.1.10:443 10.0.0.1:32768 - allow_any\n"
        );
    }
}
