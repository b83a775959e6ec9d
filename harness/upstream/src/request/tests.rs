use super::*;

fn parse(bytes: &[u8]) -> (RequestHead, usize) {
    read_request(bytes)
        .expect("valid request")
        .expect("complete request")
}

#[test]
fn simple_get_is_parsed_with_its_length() {
    let raw = b"GET /charge?id=1 HTTP/1.1\r\nHost: api\r\nX-Envoy-Attempt-Count: 2\r\n\r\n";
    let (head, used) = parse(raw);
    assert_eq!(used, raw.len());
    assert_eq!(head.method, "GET");
    assert_eq!(head.path, "/charge?id=1");
    assert_eq!(head.version, 1);
    assert_eq!(head.header("host"), Some(&b"api"[..]));
    assert_eq!(head.attempt_count(), Some(2));
    assert!(head.body.is_empty());
}

#[test]
fn incomplete_head_needs_more_bytes() {
    assert_eq!(read_request(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
    assert_eq!(read_request(b""), Ok(None));
}

#[test]
fn content_length_body_is_consumed() {
    let raw = b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET";
    let (head, used) = parse(raw);
    assert_eq!(head.body, b"hello");
    assert_eq!(&raw[used..], b"GET");
    assert_eq!(read_request(&raw[..raw.len() - 5]), Ok(None));
}

#[test]
fn chunked_body_is_decoded_and_trailers_skipped() {
    let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nRust\r\n3\r\n!!!\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    let (head, used) = parse(raw);
    assert_eq!(head.body, b"Rust!!!");
    assert_eq!(&raw[used..], b"NEXT");
}

#[test]
fn pipelined_requests_are_read_one_at_a_time() {
    let raw = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    let (first, used) = parse(raw);
    let (second, used2) = parse(&raw[used..]);
    assert_eq!((first.path.as_str(), second.path.as_str()), ("/a", "/b"));
    assert_eq!(used + used2, raw.len());
}

#[test]
fn http11_keeps_alive_unless_connection_close() {
    assert!(parse(b"GET / HTTP/1.1\r\n\r\n").0.keep_alive());
    assert!(
        !parse(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .0
            .keep_alive()
    );
    assert!(
        !parse(b"GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n")
            .0
            .keep_alive()
    );
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    assert!(!parse(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive());
    assert!(
        parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .0
            .keep_alive()
    );
}

#[test]
fn absolute_form_target_routes_by_its_path() {
    assert_eq!(
        parse(b"GET http://h:80/x?y HTTP/1.1\r\n\r\n")
            .0
            .route_path(),
        "/x?y"
    );
    assert_eq!(parse(b"GET http://h HTTP/1.1\r\n\r\n").0.route_path(), "/");
    assert_eq!(parse(b"GET /z HTTP/1.1\r\n\r\n").0.route_path(), "/z");
}

#[test]
fn garbage_is_a_malformed_head() {
    let err = read_request(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n").unwrap_err();
    assert!(matches!(err, UpstreamError::MalformedHead { .. }), "{err}");
}

#[test]
fn http2_preface_is_rejected() {
    let err = read_request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap_err();
    assert_eq!(
        err,
        UpstreamError::MalformedHead {
            cause: httparse::Error::Version
        }
    );
}

#[test]
fn content_length_with_transfer_encoding_is_rejected() {
    let raw = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(read_request(raw), Err(UpstreamError::ConflictingFraming));
}

#[test]
fn bad_or_differing_content_lengths_are_rejected() {
    for raw in [
        &b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ] {
        let err = read_request(raw).unwrap_err();
        assert!(
            matches!(err, UpstreamError::InvalidContentLength { .. }),
            "{err}"
        );
    }
}

#[test]
fn identical_repeated_content_lengths_are_accepted() {
    let (head, _) = parse(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(head.body, b"ab");
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_rejected() {
    let err = read_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap_err();
    assert!(
        matches!(err, UpstreamError::UnsupportedTransferEncoding { .. }),
        "{err}"
    );
}

#[test]
fn bad_chunk_framing_is_rejected() {
    let base = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for body in [
        &b"zz\r\n"[..],
        b"\r\n",
        b"2\r\nabXY",
        b"0\r\nbad trailer\r\n\r\n",
    ] {
        let mut raw = base.clone();
        raw.extend_from_slice(body);
        let err = read_request(&raw).unwrap_err();
        assert!(
            matches!(err, UpstreamError::BadChunk { .. }),
            "{body:?}: {err}"
        );
    }
}

#[test]
fn oversized_bodies_are_rejected() {
    let raw = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY_BYTES + 1
    );
    assert!(matches!(
        read_request(raw.as_bytes()),
        Err(UpstreamError::BodyTooLarge { .. })
    ));
    let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n";
    assert!(matches!(
        read_request(raw),
        Err(UpstreamError::BodyTooLarge { .. })
    ));
}

#[test]
fn endless_head_is_rejected_past_the_limit() {
    let mut raw = b"GET / HTTP/1.1\r\nX: ".to_vec();
    raw.resize(MAX_HEAD_BYTES + 10, b'a');
    assert_eq!(
        read_request(&raw),
        Err(UpstreamError::HeadTooLarge {
            limit: MAX_HEAD_BYTES
        })
    );
}

#[test]
fn too_many_headers_are_rejected() {
    let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=MAX_HEADERS {
        raw.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    assert_eq!(
        read_request(&raw),
        Err(UpstreamError::TooManyHeaders { limit: MAX_HEADERS })
    );
}

#[test]
fn missing_or_bad_attempt_count_reads_as_none() {
    assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n").0.attempt_count(), None);
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nx-envoy-attempt-count: x\r\n\r\n")
            .0
            .attempt_count(),
        None
    );
}
