use std::fmt;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// An application error wrapping a cause, to check that the walk goes down.
#[derive(Debug)]
struct Wrapper(io::Error);

impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wrapped")
    }
}

impl StdError for Wrapper {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

fn io(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, "x")
}

#[test]
fn connect_refused_and_timed_out_map_to_connect_kinds() {
    let refused = io(io::ErrorKind::ConnectionRefused);
    assert_eq!(
        classify(Stage::Connect, &refused),
        ErrorKind::ConnectRefused
    );
    let timed_out = io(io::ErrorKind::TimedOut);
    assert_eq!(
        classify(Stage::Connect, &timed_out),
        ErrorKind::ConnectTimeout
    );
}

#[test]
fn reset_on_an_established_connection_is_connection_reset() {
    for kind in [
        io::ErrorKind::ConnectionReset,
        io::ErrorKind::BrokenPipe,
        io::ErrorKind::TimedOut,
    ] {
        assert_eq!(
            classify(Stage::Exchange, &io(kind)),
            ErrorKind::ConnectionReset,
            "{kind:?}"
        );
    }
}

#[test]
fn eof_on_an_established_connection_is_connection_closed() {
    let eof = io(io::ErrorKind::UnexpectedEof);
    assert_eq!(classify(Stage::Exchange, &eof), ErrorKind::ConnectionClosed);
}

#[test]
fn causes_are_walked_down_to_the_io_error() {
    let wrapped = Wrapper(io(io::ErrorKind::ConnectionReset));
    assert_eq!(
        classify(Stage::Exchange, &wrapped),
        ErrorKind::ConnectionReset
    );
    let refused = Wrapper(io(io::ErrorKind::ConnectionRefused));
    assert_eq!(
        classify(Stage::Connect, &refused),
        ErrorKind::ConnectRefused
    );
}

/// Sends one GET over an in-memory pipe to a server that answers `reply`
/// and closes; returns hyper's error.
async fn hyper_error_for(reply: &'static [u8]) -> hyper::Error {
    let (client, mut server) = tokio::io::duplex(4096);
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        let _ = server.read(&mut buf).await;
        let _ = server.write_all(reply).await;
        let _ = server.shutdown().await;
    });
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(client))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("/")
        .header("host", "x")
        .body(Empty::new())
        .unwrap();
    match send.send_request(req).await {
        Err(e) => e,
        Ok(resp) => resp
            .into_body()
            .collect()
            .await
            .expect_err("body must fail"),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn close_before_any_response_byte_is_connection_closed() {
    let e = hyper_error_for(b"").await;
    assert!(e.is_incomplete_message());
    assert_eq!(classify(Stage::Exchange, &e), ErrorKind::ConnectionClosed);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn close_in_the_middle_of_the_body_is_connection_closed() {
    let e = hyper_error_for(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc").await;
    assert_eq!(classify(Stage::Exchange, &e), ErrorKind::ConnectionClosed);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn bytes_that_are_not_http_are_a_protocol_error() {
    let e = hyper_error_for(b"SSH-2.0-OpenSSH\r\n\r\n").await;
    assert_eq!(classify(Stage::Exchange, &e), ErrorKind::ProtocolError);
}
