//! The little HTTP/1.1 pilot-agent speaks, written by hand: its status
//! server's requests and `pilot-agent wait`'s GET.

use meshsim_net::NetStream;
use tokio::io::AsyncReadExt;

/// The most a request or response head may take.
const MAX_HEAD: usize = 16 * 1024;

/// A message head read off a stream, and the bytes read after it.
#[derive(Debug)]
pub(crate) struct Head {
    /// The first line (request or status line), without CRLF.
    pub(crate) start: String,
    /// Header lines as (lower-case name, value).
    pub(crate) headers: Vec<(String, String)>,
    /// Bytes after the head (the body's start).
    pub(crate) rest: Vec<u8>,
}

impl Head {
    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `content-length`, when present and valid.
    pub(crate) fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.trim().parse().ok()
    }
}

/// How reading a head ended without one.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The peer closed (or the head passed [`MAX_HEAD`]) first.
    Eof,
    /// A socket error.
    Io(std::io::Error),
}

/// Reads up to the blank line ending a head.
pub(crate) async fn read_head(stream: &mut NetStream) -> Result<Head, HeadError> {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = find_blank_line(&buf) {
            let text = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = text.split("\r\n");
            let start = lines.next().unwrap_or_default().to_string();
            let headers = lines.filter_map(split_header).collect();
            let rest = buf[end + 4..].to_vec();
            return Ok(Head {
                start,
                headers,
                rest,
            });
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::Eof);
        }
        let mut chunk = [0u8; 2048];
        match stream.read(&mut chunk).await {
            Ok(0) => return Err(HeadError::Eof),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

/// Reads the rest of a body of `len` bytes whose start is `rest`.
pub(crate) async fn read_body(
    stream: &mut NetStream,
    mut rest: Vec<u8>,
    len: usize,
) -> Result<Vec<u8>, HeadError> {
    while rest.len() < len {
        let mut chunk = [0u8; 2048];
        match stream.read(&mut chunk).await {
            Ok(0) => return Err(HeadError::Eof),
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
    rest.truncate(len);
    Ok(rest)
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn split_header(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_line_splits_at_its_first_colon_with_a_lower_case_name() {
        assert_eq!(
            split_header("Host: 10.0.0.1:15021"),
            Some(("host".to_string(), "10.0.0.1:15021".to_string()))
        );
        assert_eq!(split_header("no colon"), None);
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n\r\nbody"), Some(14));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n"), None);
    }
}
