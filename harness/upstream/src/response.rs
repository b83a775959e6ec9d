//! Raw response bytes: status line, the three or four fixed headers, and a
//! deterministic body.
//!
//! Responses are written by hand rather than by an HTTP library so that a
//! scenario controls every byte (and a later misbehaviour can cut them short).

/// What the `connection` header of a response says, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionHeader {
    /// No header: HTTP/1.1 keep-alive by default.
    Omit,
    /// `connection: close`: the server closes after this response.
    Close,
    /// `connection: keep-alive`: an HTTP/1.0 client asked to keep it open.
    KeepAlive,
}

/// The response body of `len` bytes: `"ok"` repeated and cut to length, so the
/// default 2-byte body reads `ok`.
pub fn filler(len: usize) -> Vec<u8> {
    b"ok".iter().copied().cycle().take(len).collect()
}

/// The canonical reason phrase of `status`, or empty for codes without one
/// (the status line then ends `"599 \r\n"`, which RFC 9112 allows).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// The bytes of one response. `with_body` is false for a `HEAD` request: the
/// headers still announce the length the body would have had.
pub(crate) fn render(
    status: u16,
    body: &[u8],
    connection: ConnectionHeader,
    with_body: bool,
) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::with_capacity(96 + if with_body { body.len() } else { 0 });
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n",
        reason_phrase(status),
        body.len()
    );
    match connection {
        ConnectionHeader::Omit => {}
        ConnectionHeader::Close => out.extend_from_slice(b"connection: close\r\n"),
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"connection: keep-alive\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    if with_body {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_body_reads_ok_and_longer_bodies_repeat_it() {
        assert_eq!(filler(2), b"ok");
        assert_eq!(filler(5), b"okoko");
        assert!(filler(0).is_empty());
    }

    #[test]
    fn keep_alive_response_has_exact_bytes() {
        let r = render(200, b"ok", ConnectionHeader::Omit, true);
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
        );
    }

    #[test]
    fn closing_response_announces_connection_close() {
        let r = render(503, b"", ConnectionHeader::Close, true);
        assert_eq!(
            r,
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn head_response_announces_length_without_body() {
        let r = render(200, b"okok", ConnectionHeader::KeepAlive, false);
        assert!(r.ends_with(
            b"content-length: 4\r\ncontent-type: text/plain\r\nconnection: keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn unknown_status_has_empty_reason() {
        let r = render(599, b"", ConnectionHeader::Omit, true);
        assert!(r.starts_with(b"HTTP/1.1 599 \r\n"));
        let parsed = {
            let mut h = [httparse::EMPTY_HEADER; 4];
            let mut resp = httparse::Response::new(&mut h);
            resp.parse(&r).map(|s| (s.is_complete(), resp.code))
        };
        assert_eq!(parsed, Ok((true, Some(599))));
    }
}
