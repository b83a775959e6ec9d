//! Istio's default JSON access log object (`EnvoyJSONLogFormatIstio`,
//! Istio >= 1.9): the TEXT line's fields under snake_case keys.
//!
//! Envoy's JSON formatter gives a value that is a single command operator its
//! type: numbers stay numbers, a missing value is `null` (`%RESPONSE_FLAGS%`
//! prints `-`, a value) **[X]**; keys come
//! out sorted, as Envoy renders the protobuf `Struct` Istio sends **[X]**.

use serde_json::{Map, Value};

use super::AccessLogEntry;

fn opt<T: ToString>(v: &Option<T>) -> Value {
    v.as_ref()
        .map_or(Value::Null, |v| Value::String(v.to_string()))
}

fn text(s: &str) -> Value {
    if s.is_empty() || s == "-" {
        Value::Null
    } else {
        Value::String(s.to_string())
    }
}

/// One JSON object and a newline.
pub fn format_istio_json(e: &AccessLogEntry) -> String {
    let flags = e.flags.to_string();
    let fields: [(&str, Value); 24] = [
        ("authority", opt(&e.authority)),
        ("bytes_received", e.bytes_received.into()),
        ("bytes_sent", e.bytes_sent.into()),
        (
            "connection_termination_details",
            opt(&e.connection_termination_details),
        ),
        ("downstream_local_address", opt(&e.downstream_local_address)),
        (
            "downstream_remote_address",
            opt(&e.downstream_remote_address),
        ),
        ("duration", e.duration_ms.into()),
        ("method", text(&e.method)),
        ("path", text(&e.path)),
        ("protocol", text(&e.protocol)),
        ("request_id", opt(&e.request_id)),
        ("requested_server_name", opt(&e.requested_server_name)),
        ("response_code", e.response_code.into()),
        ("response_code_details", opt(&e.details)),
        ("response_flags", Value::String(flags)),
        ("route_name", opt(&e.route_name)),
        ("start_time", text(&e.start_time)),
        ("upstream_cluster", opt(&e.upstream_cluster)),
        ("upstream_host", opt(&e.upstream_host)),
        ("upstream_local_address", opt(&e.upstream_local_address)),
        ("upstream_service_time", opt(&e.upstream_service_time_ms)),
        (
            "upstream_transport_failure_reason",
            opt(&e.upstream_transport_failure_reason),
        ),
        ("user_agent", opt(&e.user_agent)),
        ("x_forwarded_for", opt(&e.x_forwarded_for)),
    ];
    let map: Map<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut s = Value::Object(map).to_string();
    s.push('\n');
    s
}
