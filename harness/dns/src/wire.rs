//! Wire-format helpers shared by the server and the resolver: name keys, query
//! encoding, response-code names and TCP framing (RFC 1035 §4.2.2).

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::DnsError;

/// The classic UDP payload limit without EDNS (RFC 1035 §2.3.4).
pub(crate) const UDP_LIMIT: usize = 512;

/// The comparison key of a name written by people: ASCII-lowercased, without
/// the trailing dot (`API.Example.` and `api.example` are the same key).
pub(crate) fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The comparison key of a name read off the wire, or `None` when a label
/// holds bytes that no zone name can (a dot, a space, a control or non-ASCII
/// byte): such a name can match nothing we serve.
pub(crate) fn wire_key(name: &Name) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        for &b in label {
            if !(b.is_ascii_graphic() && b != b'.') {
                return None;
            }
            out.push(char::from(b.to_ascii_lowercase()));
        }
    }
    Some(out)
}

/// Checks that `name` is a valid host name for the wire and returns it fully
/// qualified.
///
/// # Errors
/// [`DnsError::InvalidName`] for an empty name, an empty label (`a..b`), a
/// label over 63 bytes, a name over 253 characters or a character other than
/// letters, digits, `-`, `_` and `*`.
pub fn validate_name(name: &str) -> Result<(), DnsError> {
    parse_name(name).map(|_| ())
}

pub(crate) fn parse_name(name: &str) -> Result<Name, DnsError> {
    let bad = |detail: &str| DnsError::InvalidName {
        name: name.to_string(),
        detail: detail.to_string(),
    };
    let key = normalize(name);
    if key.is_empty() {
        return Err(bad("empty name"));
    }
    if key.len() > 253 {
        return Err(bad("longer than 253 characters"));
    }
    for label in key.split('.') {
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if label.len() > 63 {
            return Err(bad("label longer than 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*'))
        {
            return Err(bad("only letters, digits, '-', '_' and '*' are allowed"));
        }
    }
    Name::from_ascii(format!("{key}.")).map_err(|e| bad(&e.to_string()))
}

/// Encodes a standard recursive-desired query for the A records of `name`
/// with the given id: what a stub resolver sends.
///
/// # Errors
/// [`DnsError::InvalidName`] when `name` is not a valid host name.
pub fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let qname = parse_name(name)?;
    Ok(query_bytes(id, qname, RecordType::A))
}

pub(crate) fn query_bytes(id: u16, qname: Name, qtype: RecordType) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname, qtype));
    // A validated name and one question always encode.
    msg.to_vec().unwrap_or_default()
}

/// The conventional upper-case name of a response code, as `dig` prints it.
pub(crate) fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// Reads one length-prefixed DNS message; `Ok(None)` on a clean EOF before
/// the length.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Writes one length-prefixed DNS message in a single write.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &[u8],
) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "dns message over 65535 bytes",
        )
    })?;
    let mut buf = Vec::with_capacity(msg.len() + 2);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(msg);
    w.write_all(&buf).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_case_insensitively_without_the_trailing_dot() {
        assert_eq!(normalize("API.Example.COM."), "api.example.com");
        let wire = Name::from_ascii("Api.EXAMPLE.com.").unwrap();
        assert_eq!(wire_key(&wire).as_deref(), Some("api.example.com"));
    }

    #[test]
    fn invalid_names_are_rejected_with_the_reason() {
        assert!(validate_name("a..b").is_err());
        assert!(validate_name(&"x".repeat(64)).is_err());
        assert!(validate_name("has space.example").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("ok-name_1.example.").is_ok());
    }

    #[test]
    fn response_codes_print_like_dig() {
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::NoError), "NOERROR");
    }
}
