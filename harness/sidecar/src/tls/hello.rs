//! Envoy's `tls_inspector` as far as Istio's filter chains need it: is the
//! client's first flight a TLS ClientHello, and which ALPN values does it
//! offer.

/// What the bytes read so far show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hello {
    /// Still a plausible start of a ClientHello: read more.
    Partial,
    /// Not TLS (transport protocol `raw_buffer`).
    NotTls,
    /// A ClientHello, with the ALPN values it offers (in its order).
    Tls {
        /// The offered application protocols.
        alpn: Vec<Vec<u8>>,
    },
}

/// Content type of a handshake record, and the ClientHello message type.
const HANDSHAKE: u8 = 0x16;
const CLIENT_HELLO: u8 = 0x01;
/// The ALPN extension (RFC 7301).
const EXT_ALPN: u16 = 16;
/// The largest record the inspector waits for (one TLS record).
const MAX_RECORD: usize = 5 + (1 << 14);

/// Classifies `buf`, the client's first bytes. A ClientHello must fit in
/// its first record (Envoy's inspector reads at most 64 KiB; meshsim's
/// clients send one record).
pub(crate) fn inspect(buf: &[u8]) -> Hello {
    match buf {
        [] => return Hello::Partial,
        [first, ..] if *first != HANDSHAKE => return Hello::NotTls,
        [_, major, ..] if *major != 0x03 => return Hello::NotTls,
        _ => {}
    }
    if buf.len() < 5 {
        return Hello::Partial;
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if len + 5 > MAX_RECORD {
        return Hello::NotTls;
    }
    if buf.len() < 5 + len {
        return Hello::Partial;
    }
    match client_hello_alpn(&buf[5..5 + len]) {
        Some(alpn) => Hello::Tls { alpn },
        None => Hello::NotTls,
    }
}

/// A cursor over a handshake message.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then(|| {
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            head
        })
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    /// A vector with a length prefix of `width` bytes.
    fn vec(&mut self, width: usize) -> Option<&'a [u8]> {
        let n = if width == 1 { self.u8()? } else { self.u16()? };
        self.take(n)
    }
}

/// The ALPN list of a ClientHello message (empty when not offered); `None`
/// when `msg` is not a well-formed ClientHello.
fn client_hello_alpn(msg: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut r = Reader(msg);
    if r.u8()? != usize::from(CLIENT_HELLO) {
        return None;
    }
    let body_len = r.take(3)?;
    let body_len =
        usize::from(body_len[0]) << 16 | usize::from(body_len[1]) << 8 | usize::from(body_len[2]);
    let mut r = Reader(r.take(body_len)?);
    r.take(2 + 32)?; // legacy_version, random
    r.vec(1)?; // legacy_session_id
    r.vec(2)?; // cipher_suites
    r.vec(1)?; // legacy_compression_methods
    let mut alpn = Vec::new();
    let Some(mut exts) = r.vec(2).map(Reader) else {
        return Some(alpn);
    };
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec(2)?;
        if kind == usize::from(EXT_ALPN) {
            let mut list = Reader(data);
            let mut names = Reader(list.vec(2)?);
            while !names.0.is_empty() {
                alpn.push(names.vec(1)?.to_vec());
            }
        }
    }
    Some(alpn)
}

/// Whether an offered ALPN list matches Istio's mTLS chains (`istio`,
/// `istio-peer-exchange`, `istio-http/1.0`, `istio-http/1.1`, `istio-h2`).
pub(crate) fn offers_istio(alpn: &[Vec<u8>]) -> bool {
    const ISTIO: &[&[u8]] = &[
        b"istio",
        b"istio-peer-exchange",
        b"istio-http/1.0",
        b"istio-http/1.1",
        b"istio-h2",
    ];
    alpn.iter().any(|a| ISTIO.contains(&a.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_http_is_not_tls_from_its_first_byte() {
        assert_eq!(inspect(b"G"), Hello::NotTls);
        assert_eq!(inspect(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
    }

    #[test]
    fn a_record_header_alone_is_partial() {
        assert_eq!(inspect(&[0x16]), Hello::Partial);
        assert_eq!(inspect(&[0x16, 0x03, 0x01, 0x00]), Hello::Partial);
        assert_eq!(
            inspect(&[0x16, 0x03, 0x01, 0x00, 0x10, 0x01]),
            Hello::Partial
        );
    }

    #[test]
    fn a_handshake_byte_followed_by_something_else_is_not_tls() {
        assert_eq!(inspect(&[0x16, 0x48]), Hello::NotTls);
    }

    #[test]
    fn a_garbled_client_hello_is_not_tls() {
        assert_eq!(
            inspect(&[0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00]),
            Hello::NotTls
        );
    }

    #[test]
    fn offers_istio_recognises_only_istio_values() {
        assert!(offers_istio(&[
            b"istio-http/1.1".to_vec(),
            b"http/1.1".to_vec()
        ]));
        assert!(!offers_istio(&[b"h2".to_vec(), b"http/1.1".to_vec()]));
        assert!(!offers_istio(&[]));
    }
}
