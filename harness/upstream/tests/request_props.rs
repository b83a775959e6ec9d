//! Properties of the pure request reader: no panic on any bytes, and a
//! well-formed request reads the same however it is split across reads.

use meshsim_upstream::{RequestHead, read_request};
use proptest::prelude::*;

/// A well-formed request and the body it carries.
#[derive(Debug, Clone)]
struct Wire {
    bytes: Vec<u8>,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Framing {
    None,
    Length,
    Chunked(Vec<usize>),
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::None),
        Just(Framing::Length),
        prop::collection::vec(1usize..40, 0..5).prop_map(Framing::Chunked),
    ]
}

fn wire() -> impl Strategy<Value = Wire> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
        "/[a-zA-Z0-9/._-]{0,24}(\\?[a-z0-9=&]{0,12})?",
        prop::bool::ANY,
        prop::collection::vec(("x-[a-z]{1,10}", "[!-~]([ -~]{0,20}[!-~])?"), 0..6),
        prop::collection::vec(any::<u8>(), 0..120),
        framing(),
    )
        .prop_map(|(method, path, http10, headers, payload, framing)| {
            build(method, &path, http10, &headers, payload, framing)
        })
}

fn build(
    method: &str,
    path: &str,
    http10: bool,
    headers: &[(String, String)],
    payload: Vec<u8>,
    framing: Framing,
) -> Wire {
    let version = if http10 { "1.0" } else { "1.1" };
    let mut bytes = format!("{method} {path} HTTP/{version}\r\nhost: upstream\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let body = match framing {
        Framing::None => Vec::new(),
        Framing::Length => {
            bytes
                .extend_from_slice(format!("content-length: {}\r\n\r\n", payload.len()).as_bytes());
            bytes.extend_from_slice(&payload);
            return Wire {
                bytes,
                body: payload,
            };
        }
        Framing::Chunked(sizes) => {
            bytes.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            let mut body = Vec::new();
            let source = if payload.is_empty() {
                vec![b'x']
            } else {
                payload
            };
            for (i, size) in sizes.into_iter().enumerate() {
                let chunk: Vec<u8> = source.iter().copied().cycle().skip(i).take(size).collect();
                bytes.extend_from_slice(format!("{size:x}\r\n").as_bytes());
                bytes.extend_from_slice(&chunk);
                bytes.extend_from_slice(b"\r\n");
                body.extend_from_slice(&chunk);
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
            return Wire { bytes, body };
        }
    };
    bytes.extend_from_slice(b"\r\n");
    Wire { bytes, body }
}

fn whole(wire: &Wire) -> (RequestHead, usize) {
    read_request(&wire.bytes)
        .expect("well-formed")
        .expect("complete")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn read_request_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_request(&bytes);
    }

    #[test]
    fn read_request_never_panics_on_a_corrupted_request(
        wire in wire(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = wire.bytes;
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(Some((_, used))) = read_request(&bytes) {
            prop_assert!(used <= bytes.len());
        }
    }

    #[test]
    fn well_formed_request_is_read_whole_with_its_body(wire in wire()) {
        let (head, used) = whole(&wire);
        prop_assert_eq!(used, wire.bytes.len());
        prop_assert_eq!(&head.body, &wire.body);
    }

    #[test]
    fn well_formed_request_split_at_any_point_parses_the_same_as_whole(
        wire in wire(),
        at in any::<prop::sample::Index>(),
    ) {
        let expected = whole(&wire);
        let split = at.index(wire.bytes.len());
        // First read: only a prefix has arrived, so more bytes are needed.
        prop_assert_eq!(read_request(&wire.bytes[..split]), Ok(None));
        // Second read: the rest, followed by the next pipelined request.
        let mut buf = wire.bytes[..split].to_vec();
        buf.extend_from_slice(&wire.bytes[split..]);
        buf.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
        prop_assert_eq!(read_request(&buf), Ok(Some(expected)));
    }

    #[test]
    fn every_prefix_of_a_well_formed_request_needs_more_bytes(wire in wire()) {
        for end in 0..wire.bytes.len() {
            prop_assert_eq!(read_request(&wire.bytes[..end]), Ok(None), "prefix of {} bytes", end);
        }
    }
}
