//! The HTTP connection manager's access log: one line per downstream
//! request, written when the response's last byte has gone (Envoy logs at
//! the end of the stream), or when the request is abandoned.
//!
//! [`PendingLine`] is started as soon as the request headers are in (the
//! start of `%START_TIME%` and `%DURATION%`); the router fills the response
//! facts; [`LoggedBody`] counts `%BYTES_SENT%` and writes the line when the
//! body ends or is dropped. A request dropped before any response (the
//! application went away) logs response code `0` with `DC` (fact sheet §5.3,
//! §5.4).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use meshsim_core::ResponseFlags;
use meshsim_net::clock::Instant;

use super::sink::LogWriter;
use super::{AccessLogEntry, AccessLogSample};
use crate::error::SidecarError;
use crate::router::ProxyBody;

/// What the router knows about a request's end, besides its status, flags
/// and details.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogFacts {
    /// `%ROUTE_NAME%`.
    pub(crate) route: Option<String>,
    /// `%UPSTREAM_CLUSTER_RAW%`.
    pub(crate) cluster: Option<String>,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%` of the last attempt.
    pub(crate) transport_failure: Option<String>,
    /// `%UPSTREAM_LOCAL_ADDRESS%` of the connection that answered.
    pub(crate) upstream_local: Option<SocketAddr>,
}

/// Where a line goes: the file log, the report's sample, or both.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sinks {
    /// The file log, when the mesh turns it on.
    pub(crate) writer: Option<Arc<LogWriter>>,
    /// The report's sample, when the sidecar keeps one.
    pub(crate) sample: Option<AccessLogSample>,
}

impl Sinks {
    /// `%START_TIME%` of an event at `at`: the file log's clock, else the
    /// sample's.
    pub(crate) fn start_time(&self, at: Instant) -> String {
        match (&self.writer, &self.sample) {
            (Some(w), _) => w.start_time(at),
            (None, Some(s)) => s.start_time(at),
            (None, None) => String::new(),
        }
    }
}

/// A request's line in the making; written once, at the latest when dropped.
pub(crate) struct PendingLine {
    sinks: Sinks,
    entry: AccessLogEntry,
    started: Instant,
    written: bool,
}

fn header(parts: &http::request::Parts, name: &str) -> Option<String> {
    let v = parts.headers.get(name)?.to_str().ok()?;
    Some(v.to_string())
}

impl PendingLine {
    /// Starts the line of a request whose headers arrived at `started` on a
    /// connection from `remote` to `local` (the original destination).
    pub(crate) fn start(
        sinks: Sinks,
        parts: &http::request::Parts,
        (local, remote): (SocketAddr, SocketAddr),
        started: Instant,
    ) -> PendingLine {
        let path = header(parts, "x-envoy-original-path")
            .or_else(|| parts.uri.path_and_query().map(|p| p.as_str().to_string()));
        let authority =
            header(parts, "host").or_else(|| parts.uri.authority().map(|a| a.to_string()));
        let entry = AccessLogEntry {
            start_time: sinks.start_time(started),
            method: parts.method.to_string(),
            path: path.unwrap_or_else(|| "-".to_string()),
            protocol: protocol(parts.version),
            flags: ResponseFlags::DC,
            details: Some("downstream_remote_disconnect".to_string()),
            x_forwarded_for: header(parts, "x-forwarded-for"),
            user_agent: header(parts, "user-agent"),
            request_id: header(parts, "x-request-id"),
            authority,
            downstream_local_address: Some(local),
            downstream_remote_address: Some(remote),
            ..AccessLogEntry::default()
        };
        PendingLine::with_entry(sinks, entry, started)
    }

    /// A line started at `started` with `entry`'s fields.
    pub(crate) fn with_entry(sinks: Sinks, entry: AccessLogEntry, started: Instant) -> PendingLine {
        PendingLine {
            sinks,
            entry,
            started,
            written: false,
        }
    }

    /// The fields, to fill in.
    pub(crate) fn entry_mut(&mut self) -> &mut AccessLogEntry {
        &mut self.entry
    }

    /// `%BYTES_RECEIVED%`: the request body's length.
    pub(crate) fn bytes_received(&mut self, n: u64) {
        self.entry.bytes_received = n;
    }

    /// The response's facts: status, flags, details, the last upstream host,
    /// `x-envoy-upstream-service-time`, and the router's [`LogFacts`].
    pub(crate) fn respond(
        &mut self,
        log: &meshsim_core::ProxyLogEntry,
        facts: LogFacts,
        service_time: Option<u64>,
    ) {
        let e = &mut self.entry;
        e.response_code = log.response_code;
        e.flags = log.flags;
        e.details = Some(log.details.clone());
        e.upstream_host = log.upstream_host;
        e.upstream_service_time_ms = service_time;
        // Envoy's `%ROUTE_NAME%` is absent (`-`) for a route without a name.
        e.route_name = facts.route.filter(|r| !r.is_empty());
        e.upstream_cluster = facts.cluster;
        e.upstream_transport_failure_reason = facts.transport_failure;
        e.upstream_local_address = facts.upstream_local;
    }

    fn write(&mut self) {
        if std::mem::replace(&mut self.written, true) {
            return;
        }
        let ms = self.started.elapsed().as_millis();
        self.entry.duration_ms = u64::try_from(ms).unwrap_or(u64::MAX);
        if let Some(w) = &self.sinks.writer {
            w.write(&self.entry);
        }
        if let Some(s) = &self.sinks.sample {
            s.offer(&self.entry);
        }
    }
}

impl Drop for PendingLine {
    fn drop(&mut self) {
        self.write();
    }
}

/// A response body that writes its request's line when it ends.
pub(crate) struct LoggedBody {
    inner: ProxyBody,
    line: Option<PendingLine>,
}

impl LoggedBody {
    /// Wraps `inner`; `line` is `None` when the access log is off.
    pub(crate) fn new(inner: ProxyBody, line: Option<PendingLine>) -> LoggedBody {
        LoggedBody { inner, line }
    }

    fn finish(&mut self) {
        if let Some(mut line) = self.line.take() {
            line.write();
        }
    }

    /// A body that failed after the response started: the route timeout
    /// (`UT`) or the upstream closing mid-body (`UC`, details
    /// `upstream_reset_after_response_started{connection_termination}`) **[X]**.
    fn failed(&mut self, err: &SidecarError) {
        if let Some(line) = self.line.as_mut() {
            let (flag, details) = match err {
                SidecarError::RouteTimeoutAfterHeaders { .. } => {
                    (ResponseFlags::UT, "response_timeout")
                }
                _ => (
                    ResponseFlags::UC,
                    "upstream_reset_after_response_started{connection_termination}",
                ),
            };
            line.entry.flags.insert(flag);
            line.entry.details = Some(details.to_string());
        }
        self.finish();
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = SidecarError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, SidecarError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(line), Some(data)) = (this.line.as_mut(), frame.data_ref()) {
                    line.entry.bytes_sent += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Poll::Ready(Some(Err(e))) => this.failed(e),
            Poll::Ready(None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Envoy's `%PROTOCOL%` (`Http::Utility::getProtocolString`): `HTTP/1.1`,
/// `HTTP/1.0`, and `HTTP/2` (not `HTTP/2.0`).
fn protocol(version: http::Version) -> String {
    match version {
        http::Version::HTTP_2 => "HTTP/2".to_string(),
        v => format!("{v:?}"),
    }
}
