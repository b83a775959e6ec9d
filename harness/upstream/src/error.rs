//! [`UpstreamError`], the crate's one error type: bad request bytes and bad
//! server configuration.

/// Why request bytes or an upstream configuration were rejected.
///
/// Request variants make the server answer `400` and close the connection;
/// configuration variants make [`crate::spawn`] fail with
/// `std::io::ErrorKind::InvalidInput`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The request line or a header is not valid HTTP/1.x.
    #[error("malformed request head: {cause}")]
    MalformedHead {
        /// What httparse objected to.
        cause: httparse::Error,
    },
    /// The head did not end within the size limit.
    #[error("request head exceeds {limit} bytes")]
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// More header fields than the server accepts.
    #[error("request has more than {limit} header fields")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A `content-length` value that is not a decimal number, or several
    /// different ones.
    #[error("invalid content-length {value:?}")]
    InvalidContentLength {
        /// The offending value (lossy UTF-8).
        value: String,
    },
    /// Both `content-length` and `transfer-encoding` were sent (a request
    /// smuggling vector; Envoy rejects it by default too).
    #[error("request has both content-length and transfer-encoding")]
    ConflictingFraming,
    /// A `transfer-encoding` whose last coding is not `chunked`.
    #[error("unsupported transfer-encoding {value:?}")]
    UnsupportedTransferEncoding {
        /// The offending value (lossy UTF-8).
        value: String,
    },
    /// A chunk-size line, chunk terminator or trailer that does not parse.
    #[error("malformed chunked body at byte {offset}")]
    BadChunk {
        /// Offset in the buffer where the bad chunk framing starts.
        offset: usize,
    },
    /// The body is larger than the server buffers.
    #[error("request body of at least {len} bytes exceeds the {limit}-byte limit")]
    BodyTooLarge {
        /// The announced (or so far received) body length.
        len: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A route status outside `100..=999`.
    #[error("route {prefix:?} has invalid status {status}")]
    InvalidStatus {
        /// The route's prefix.
        prefix: String,
        /// The status.
        status: u16,
    },
    /// A route prefix that does not start with `/`.
    #[error("route prefix {prefix:?} does not start with '/'")]
    InvalidPrefix {
        /// The prefix.
        prefix: String,
    },
    /// A route body larger than the server will generate.
    #[error("route {prefix:?} body of {bytes} bytes exceeds the {limit}-byte limit")]
    RouteBodyTooLarge {
        /// The route's prefix.
        prefix: String,
        /// The configured body size.
        bytes: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// `keepalive_timeout` of zero (use `None` for "never").
    #[error("keepalive_timeout must be greater than zero (use none for never)")]
    ZeroKeepaliveTimeout,
    /// A stop mode other than `close`, `reset` or `blackhole`.
    #[error("unknown stop mode {value:?} (expected close, reset or blackhole)")]
    UnknownStopMode {
        /// The word given.
        value: String,
    },
    /// `max_requests_per_connection` of zero.
    #[error("max_requests_per_connection must be at least 1")]
    ZeroMaxRequests,
    /// An HTTP/2 knob (`http2.<knob>`) set to zero.
    #[error("http2.{knob} must be at least 1")]
    ZeroHttp2Knob {
        /// The knob's name.
        knob: &'static str,
    },
}

/// The error of [`crate::read_request`]: the crate's error type under the
/// name the request reader's callers use.
pub type RequestError = UpstreamError;

impl From<UpstreamError> for std::io::Error {
    fn from(e: UpstreamError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}
