use tokio::io::AsyncReadExt;

use super::*;

/// Fact sheet §7.2: an HTTP/1.x request line takes the HTTP chain, as soon
/// as its line is complete; a partial one waits for more.
#[test]
fn an_http1_request_line_is_http_once_its_line_is_complete() {
    assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Some(Detected::Http1));
    assert_eq!(
        classify(b"POST /a?b=c HTTP/1.0\r\nhost: x\r\n"),
        Some(Detected::Http1)
    );
    for partial in [
        &b"G"[..],
        b"GET",
        b"GET ",
        b"GET /x",
        b"GET / HTTP/1.",
        b"GET / HTTP/1.1\r",
    ] {
        assert_eq!(
            classify(partial),
            None,
            "{:?}",
            String::from_utf8_lossy(partial)
        );
    }
    assert_eq!(classify(b""), None);
}

/// Fact sheet §7.2: the h2c preface is HTTP (`h2c`); a prefix of it waits.
#[test]
fn the_h2c_preface_is_http2_and_its_prefix_waits() {
    assert_eq!(classify(H2_PREFACE), Some(Detected::H2c));
    assert_eq!(classify(b"PRI * HTTP/2.0\r\n"), None);
}

/// Fact sheet §7.2: anything else takes the TCP chain at its first
/// impossible byte.
#[test]
fn other_bytes_are_tcp_at_the_first_byte_that_cannot_be_http() {
    let not_http: [&[u8]; 7] = [
        b"hello",
        b"\x16\x03\x01\x02\x00",
        b"get / HTTP/1.1\r\n",
        b" GET",
        b"GET  /",
        b"GET / HTTP/2.0\r\n",
        b"GET / FTP",
    ];
    for bytes in not_http {
        assert_eq!(classify(bytes), Some(Detected::Tcp), "{bytes:?}");
    }
    let long = vec![b'A'; MAX_INSPECT];
    assert_eq!(classify(&long), Some(Detected::Tcp));
}

#[tokio::test(flavor = "current_thread")]
async fn rewind_reads_the_prefix_then_the_stream() {
    let inner: &[u8] = b" world";
    let mut r = Rewind::new(b"hello".to_vec(), inner);
    let mut out = String::new();
    r.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "hello world");
}
