//! Reading one HTTP/1.x request (head and body) from the start of a buffer.
//!
//! Pure and incremental: [`read_request`] looks at the bytes received so far
//! and either returns the first complete request with the number of bytes it
//! used, asks for more bytes, or rejects them. The connection keeps whatever
//! follows (pipelined requests) for the next call. Framing follows RFC 9112
//! the way Envoy's codec applies it: `transfer-encoding: chunked` or
//! `content-length`, never both, and no body otherwise.

use httparse::Status;

use crate::error::UpstreamError;

/// Largest request head accepted (Envoy's default `max_request_headers_kb`
/// is 60 KiB).
pub const MAX_HEAD_BYTES: usize = 60 * 1024;
/// Most header fields accepted (Envoy's default `max_headers_count`).
pub const MAX_HEADERS: usize = 100;
/// Largest request body buffered (Envoy's default connection buffer: 1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One parsed request: request line, header fields and the decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, as sent (`GET`).
    pub method: String,
    /// The request target as sent: path and query (`/charge?id=1`), or an
    /// absolute URI from a client talking to a proxy.
    pub path: String,
    /// Minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Header fields in arrival order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body after de-chunking (empty when the request had none).
    pub body: Vec<u8>,
}

impl RequestHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether the client wants the connection kept open after the response:
    /// HTTP/1.1 unless a `connection` header carries `close`; HTTP/1.0 only if
    /// it carries `keep-alive` (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.header_values("connection")
                .any(|v| list_tokens(v).any(|t| t.eq_ignore_ascii_case(token)))
        };
        if has("close") {
            return false;
        }
        self.version >= 1 || has("keep-alive")
    }

    /// The value of `x-envoy-attempt-count` (Envoy sets it to 1, 2, ... on each
    /// attempt when Istio turns `include_request_attempt_count` on); `None`
    /// when absent or not a number.
    pub fn attempt_count(&self) -> Option<u32> {
        let v = self.header("x-envoy-attempt-count")?;
        std::str::from_utf8(v).ok()?.trim().parse().ok()
    }

    /// The path part of the target, for route matching: an absolute URI
    /// (`http://host/a?b`) is reduced to `/a?b`.
    pub fn route_path(&self) -> &str {
        let p = self.path.as_str();
        let Some(rest) = p
            .strip_prefix("http://")
            .or_else(|| p.strip_prefix("https://"))
        else {
            return p;
        };
        rest.find('/').map_or("/", |i| &rest[i..])
    }
}

/// Comma-separated list elements of a header value, trimmed.
fn list_tokens(v: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(v)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// Reads the first complete request (head plus body) at the start of `buf`.
///
/// Returns `Ok(Some((request, used)))` where `used` counts every byte of the
/// request (the next pipelined request starts at `buf[used..]`), or `Ok(None)`
/// when `buf` holds only part of a request.
///
/// # Errors
/// Any [`UpstreamError`] request variant: a malformed head, a head over
/// [`MAX_HEAD_BYTES`], more than [`MAX_HEADERS`] fields, bad or conflicting
/// body framing, a bad chunk, or a body over [`MAX_BODY_BYTES`]. Never panics.
pub fn read_request(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, UpstreamError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let head_len = match req.parse(buf) {
        Ok(Status::Complete(n)) => n,
        Ok(Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(UpstreamError::HeadTooLarge {
                limit: MAX_HEAD_BYTES,
            });
        }
        Ok(Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(UpstreamError::TooManyHeaders { limit: MAX_HEADERS });
        }
        Err(cause) => return Err(UpstreamError::MalformedHead { cause }),
    };
    if head_len > MAX_HEAD_BYTES {
        return Err(UpstreamError::HeadTooLarge {
            limit: MAX_HEAD_BYTES,
        });
    }
    let mut head = RequestHead {
        method: req.method.unwrap_or_default().to_owned(),
        path: req.path.unwrap_or_default().to_owned(),
        version: req.version.unwrap_or(1),
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        body: Vec::new(),
    };
    let body = match framing(&head)? {
        None => return Ok(Some((head, head_len))),
        Some(Framing::Length(n)) => fixed_body(buf, head_len, n),
        Some(Framing::Chunked) => chunked_body(buf, head_len)?,
    };
    Ok(body.map(|(body, end)| {
        head.body = body;
        (head, end)
    }))
}

/// The body framing a request head announces.
fn framing(head: &RequestHead) -> Result<Option<Framing>, UpstreamError> {
    let te: Vec<&str> = head
        .header_values("transfer-encoding")
        .flat_map(list_tokens)
        .collect();
    let mut lengths = head.header_values("content-length").peekable();
    if !te.is_empty() {
        if lengths.peek().is_some() {
            return Err(UpstreamError::ConflictingFraming);
        }
        return match te.last() {
            Some(last) if last.eq_ignore_ascii_case("chunked") => Ok(Some(Framing::Chunked)),
            _ => Err(UpstreamError::UnsupportedTransferEncoding {
                value: te.join(", "),
            }),
        };
    }
    let mut length: Option<u64> = None;
    for raw in lengths {
        let bad = || UpstreamError::InvalidContentLength {
            value: String::from_utf8_lossy(raw).into_owned(),
        };
        let text = std::str::from_utf8(raw).map_err(|_| bad())?.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = text.parse().map_err(|_| bad())?;
        if length.is_some_and(|prev| prev != n) {
            return Err(bad());
        }
        length = Some(n);
    }
    match length {
        None | Some(0) => Ok(None),
        Some(n) if n > MAX_BODY_BYTES as u64 => Err(UpstreamError::BodyTooLarge {
            len: n,
            limit: MAX_BODY_BYTES,
        }),
        Some(n) => Ok(Some(Framing::Length(n as usize))),
    }
}

fn fixed_body(buf: &[u8], start: usize, len: usize) -> Option<(Vec<u8>, usize)> {
    let end = start + len;
    buf.get(start..end).map(|b| (b.to_vec(), end))
}

/// Decodes a chunked body starting at `start`; returns the payload and the
/// offset just after the trailer section.
fn chunked_body(buf: &[u8], start: usize) -> Result<Option<(Vec<u8>, usize)>, UpstreamError> {
    let mut pos = start;
    let mut body = Vec::new();
    loop {
        let rest = &buf[pos..];
        if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
            return Err(UpstreamError::BadChunk { offset: pos });
        }
        let (line, size) = match httparse::parse_chunk_size(rest) {
            Ok(Status::Complete(c)) => c,
            Ok(Status::Partial) => return partial_chunk(buf, start, body.len()),
            Err(_) => return Err(UpstreamError::BadChunk { offset: pos }),
        };
        let too_large = || UpstreamError::BodyTooLarge {
            len: body.len() as u64 + size,
            limit: MAX_BODY_BYTES,
        };
        if size > (MAX_BODY_BYTES - body.len()) as u64 {
            return Err(too_large());
        }
        let data = pos + line;
        if size == 0 {
            return trailers(buf, data).map(|end| end.map(|end| (body, end)));
        }
        let data_end = data + size as usize;
        let Some(chunk) = buf.get(data..data_end + 2) else {
            return Ok(None);
        };
        if &chunk[chunk.len() - 2..] != b"\r\n" {
            return Err(UpstreamError::BadChunk { offset: data_end });
        }
        body.extend_from_slice(&chunk[..chunk.len() - 2]);
        pos = data_end + 2;
    }
}

/// A chunk-size line is incomplete: wait, unless the body (with its framing)
/// has grown past any sane size (an endless chunk extension).
fn partial_chunk(
    buf: &[u8],
    start: usize,
    decoded: usize,
) -> Result<Option<(Vec<u8>, usize)>, UpstreamError> {
    if buf.len() - start > MAX_BODY_BYTES + MAX_HEAD_BYTES {
        return Err(UpstreamError::BodyTooLarge {
            len: decoded as u64,
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(None)
}

/// Skips the trailer section after the last chunk; returns where it ends.
fn trailers(buf: &[u8], pos: usize) -> Result<Option<usize>, UpstreamError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(&buf[pos..], &mut fields) {
        Ok(Status::Complete((n, _))) => Ok(Some(pos + n)),
        Ok(Status::Partial) if buf.len() - pos > MAX_HEAD_BYTES => {
            Err(UpstreamError::BadChunk { offset: pos })
        }
        Ok(Status::Partial) => Ok(None),
        Err(_) => Err(UpstreamError::BadChunk { offset: pos }),
    }
}

#[cfg(test)]
mod tests;
