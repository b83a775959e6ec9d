//! The client of `meshsim up`'s control endpoint (`meshsim ctl`, tests):
//! blocking, one request per connection, loopback only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::EngineError;

/// How long a connect to the control endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an answer may take (an action such as `pod.delete` waits for
/// the world to carry it out).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// The endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlReply {
    /// The HTTP status: 200 done, 400 refused (the body says why).
    pub status: u16,
    /// The body: JSON on success, a one-line message otherwise.
    pub body: String,
}

/// The control endpoint's address from `127.0.0.1:PORT` (an `http://`
/// prefix and a trailing `/` are accepted).
///
/// # Errors
/// [`EngineError::InvalidOption`] for text that is not an address, or an
/// address outside 127.0.0.0/8 (the endpoint is on loopback only).
pub fn parse_addr(text: &str) -> Result<SocketAddr, EngineError> {
    let t = text.trim();
    let t = t.strip_prefix("http://").unwrap_or(t).trim_end_matches('/');
    let addr: SocketAddr = t.parse().map_err(|_| EngineError::InvalidOption {
        message: format!("control address {text:?} is not IP:PORT (as `meshsim up` prints it, e.g. 127.0.0.1:40123)"),
    })?;
    if !addr.ip().is_loopback() {
        return Err(EngineError::InvalidOption {
            message: format!(
                "control address {addr} is not on loopback: meshsim up serves it on 127.0.0.1 only"
            ),
        });
    }
    Ok(addr)
}

/// Sends `method path` with `body` to the control endpoint at `addr`.
///
/// # Errors
/// [`EngineError::InvalidOption`] for an address outside 127.0.0.0/8,
/// [`EngineError::ControlUnreachable`] when nothing answers there or the
/// answer is not HTTP.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Result<ControlReply, EngineError> {
    parse_addr(&addr.to_string())?;
    let unreachable = |source: std::io::Error| EngineError::ControlUnreachable { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(unreachable)?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/yaml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(unreachable)?;
    stream.write_all(body.as_bytes()).map_err(unreachable)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(unreachable)?;
    parse_reply(&raw).ok_or_else(|| {
        unreachable(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the answer is not HTTP/1.1 (is this the address meshsim up printed?)",
        ))
    })
}

/// Status and body of a whole HTTP/1.1 answer read to its close.
fn parse_reply(raw: &[u8]) -> Option<ControlReply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head
        .lines()
        .next()?
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    Some(ControlReply {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_address_outside_loopback_is_refused() {
        let err = parse_addr("10.0.0.1:80").unwrap_err().to_string();
        assert!(err.contains("not on loopback"), "{err}");
        assert_eq!(
            parse_addr("http://127.0.0.1:4000/").unwrap(),
            "127.0.0.1:4000".parse().unwrap()
        );
    }

    #[test]
    fn an_answer_splits_into_status_and_body() {
        let r = parse_reply(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad").unwrap();
        assert_eq!((r.status, r.body.as_str()), (400, "bad"));
        assert_eq!(parse_reply(b"SSH-2.0"), None);
    }
}
