//! `meshsim-floorproxy`: the least a proxy written on the sidecar's own stack
//! (Rust, tokio, hyper, httparse) costs on this machine, for
//! `benches/real_compare.sh` to put beside the sidecar and HAProxy.
//!
//! It is a yardstick, not a proxy anyone should use: no routing, retries,
//! timeouts, counters or logs, and the `codec` kind forwards only what the
//! bench sends (bodies framed by `content-length`). Two kinds, each on a
//! current-thread tokio runtime (one event loop, as the sidecar with
//! `--threads 1` and HAProxy with `nbthread 1`):
//! - `hyper`: hyper's HTTP/1.1 server and client, a stack of idle upstream
//!   connections, the response body read whole before it is forwarded;
//! - `codec`: one task per downstream connection parses the request with
//!   `httparse`, writes it on an idle upstream connection and copies the
//!   response back, with no HTTP library in between.
//!
//! What the sidecar costs beyond `hyper` is meshsim's own; what `hyper`
//! costs beyond `codec` is what an HTTP library's generality costs here.
//!
//! It prints one JSON line with its address (`{"listen":"127.0.0.1:PORT"}`)
//! and serves until stdin closes, or SIGINT/SIGTERM. It listens on
//! 127.0.0.1 port 0 and refuses an upstream outside 127.0.0.0/8.
//!
//! Run: `cargo run --release -p meshsim-benches --bin meshsim-floorproxy -- --kind codec --upstream 127.0.0.1:8080`

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "meshsim-floorproxy", version, about)]
struct Args {
    /// Which floor: hyper's server and client, or no HTTP library.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Where every request goes (a loopback `host:port`).
    #[arg(long)]
    upstream: SocketAddr,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Hyper,
    Codec,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshsim-floorproxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> anyhow::Result<()> {
    if !args.upstream.ip().is_loopback() {
        anyhow::bail!(
            "--upstream {}: only loopback addresses (127.0.0.0/8) are allowed",
            args.upstream
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::json!({ "listen": addr.to_string() }))
            .and_then(|()| out.flush())
            .context("writing the address")?;
        drop(out);
        tokio::select! {
            r = accept_loop(listener, args.kind, args.upstream) => r,
            r = wait_for_stop() => r,
        }
    })
}

async fn accept_loop(
    listener: TcpListener,
    kind: Kind,
    upstream: SocketAddr,
) -> anyhow::Result<()> {
    let hyper_pool = HyperPool::default();
    let codec_pool = CodecPool::default();
    loop {
        let (stream, _) = listener.accept().await.context("accepting")?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        match kind {
            Kind::Hyper => {
                tokio::task::spawn_local(serve_hyper(stream, hyper_pool.clone(), upstream));
            }
            Kind::Codec => {
                let pool = codec_pool.clone();
                tokio::task::spawn_local(async move {
                    // An error ends the downstream connection; nothing else to do.
                    let _ = serve_codec(stream, pool, upstream).await;
                });
            }
        }
    }
}

/// Returns when stdin closes (or fails), or on SIGINT or SIGTERM.
async fn wait_for_stop() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    let stdin_closed = async { while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {} };
    tokio::select! {
        biased;
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = stdin_closed => {}
    }
    Ok(())
}

// === hyper ===

/// Idle upstream connections, most recently used last.
type HyperPool = Rc<RefCell<Vec<SendRequest<Incoming>>>>;

async fn serve_hyper(stream: TcpStream, pool: HyperPool, upstream: SocketAddr) {
    let svc = hyper::service::service_fn(move |req| forward_hyper(req, pool.clone(), upstream));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

async fn forward_hyper(
    req: hyper::Request<Incoming>,
    pool: HyperPool,
    upstream: SocketAddr,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let idle = pool.borrow_mut().pop();
    let sender = match idle {
        Some(s) if !s.is_closed() => Ok(s),
        _ => connect_hyper(upstream).await,
    };
    let Ok(mut sender) = sender else {
        return Ok(status_only(503));
    };
    let response = match sender.send_request(req).await {
        Ok(r) => r,
        Err(_) => return Ok(status_only(502)),
    };
    let (parts, body) = response.into_parts();
    match body.collect().await {
        Ok(body) => {
            pool.borrow_mut().push(sender);
            Ok(hyper::Response::from_parts(
                parts,
                Full::new(body.to_bytes()),
            ))
        }
        Err(_) => Ok(status_only(502)),
    }
}

async fn connect_hyper(upstream: SocketAddr) -> anyhow::Result<SendRequest<Incoming>> {
    let stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::task::spawn_local(conn);
    Ok(sender)
}

fn status_only(status: u16) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    resp
}

// === codec ===

/// An upstream connection with what was read from it and not yet used.
struct Upstream {
    stream: TcpStream,
    buf: BytesMut,
}

/// Idle upstream connections, most recently used last.
type CodecPool = Rc<RefCell<Vec<Upstream>>>;

/// At most this many header lines in a request or response head.
const MAX_HEADERS: usize = 64;
/// At most this many bytes of head.
const MAX_HEAD: usize = 64 * 1024;

/// What the `codec` kind answers when the upstream exchange fails (then it
/// closes the downstream connection).
const BAD_GATEWAY: &[u8] =
    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// What a parsed head says about what follows it.
struct Framing {
    /// Bytes of head.
    head: usize,
    /// Bytes of body (`content-length`).
    body: usize,
    /// `connection: close` was asked.
    close: bool,
}

/// Hop-by-hop headers a proxy does not forward (RFC 9110 section 7.6.1).
fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Copies the end-to-end headers but `content-length` (the caller writes
/// it) to `out` and reads the framing; an error for a body not framed by
/// `content-length`.
fn copy_headers(
    headers: &[httparse::Header<'_>],
    out: &mut BytesMut,
) -> std::io::Result<(usize, bool)> {
    let mut body = 0;
    let mut close = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            body = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| std::io::Error::other("bad content-length"))?;
            continue;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(std::io::Error::other(
                "only content-length bodies are forwarded",
            ));
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= h.value.eq_ignore_ascii_case(b"close");
        }
        if !hop_by_hop(h.name) {
            out.put_slice(h.name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(h.value);
            out.put_slice(b"\r\n");
        }
    }
    Ok((body, close))
}

/// Parses the request head at the start of `buf` into `out` (request line
/// and end-to-end headers); `None` until the head is complete.
fn request_head(buf: &[u8], out: &mut BytesMut) -> std::io::Result<Option<Framing>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head) = req.parse(buf).map_err(std::io::Error::other)? else {
        return Ok(None);
    };
    out.clear();
    out.put_slice(req.method.unwrap_or("GET").as_bytes());
    out.put_u8(b' ');
    out.put_slice(req.path.unwrap_or("/").as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    let (body, close) = copy_headers(req.headers, out)?;
    if body > 0 {
        out.put_slice(format!("content-length: {body}\r\n").as_bytes());
    }
    out.put_slice(b"\r\n");
    Ok(Some(Framing { head, body, close }))
}

/// As [`request_head`] for a response; `head_request` (a HEAD) has no body.
fn response_head(
    buf: &[u8],
    out: &mut BytesMut,
    head_request: bool,
) -> std::io::Result<Option<Framing>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = resp.parse(buf).map_err(std::io::Error::other)? else {
        return Ok(None);
    };
    let code = resp.code.unwrap_or(502);
    out.put_slice(format!("HTTP/1.1 {code} {}\r\n", resp.reason.unwrap_or("")).as_bytes());
    let (length, close) = copy_headers(resp.headers, out)?;
    let bodiless = head_request || code == 204 || code == 304 || (100..200).contains(&code);
    let body = if bodiless { 0 } else { length };
    if !bodiless || head_request {
        out.put_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    out.put_slice(b"\r\n");
    Ok(Some(Framing { head, body, close }))
}

/// Reads from `stream` into `buf` until `parse` has a complete head and
/// its body is in `buf` too; `None` at a clean end before any byte.
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    mut parse: impl FnMut(&[u8]) -> std::io::Result<Option<Framing>>,
) -> std::io::Result<Option<Framing>> {
    let framing = loop {
        if let Some(f) = parse(buf)? {
            break f;
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("head too large"));
        }
        if stream.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
    };
    while buf.len() < framing.head + framing.body {
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Some(framing))
}

async fn serve_codec(
    mut down: TcpStream,
    pool: CodecPool,
    upstream: SocketAddr,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(8192);
    let mut out = BytesMut::with_capacity(8192);
    loop {
        let Some(req) = read_message(&mut down, &mut buf, |b| request_head(b, &mut out)).await?
        else {
            return Ok(());
        };
        let head_request = buf.starts_with(b"HEAD ");
        let _ = buf.split_to(req.head);
        out.put_slice(&buf.split_to(req.body));
        let (reply, failed) = match exchange(&pool, upstream, &out, head_request).await {
            Ok(reply) => (reply, false),
            Err(_) => (Bytes::from_static(BAD_GATEWAY), true),
        };
        down.write_all(&reply).await?;
        if req.close || failed {
            return down.shutdown().await;
        }
    }
}

/// Sends `request` on an idle connection (or a new one) and reads the whole
/// response, to forward; the connection goes back to the pool unless it is
/// closing. An error drops the connection.
async fn exchange(
    pool: &CodecPool,
    upstream: SocketAddr,
    request: &[u8],
    head_request: bool,
) -> std::io::Result<Bytes> {
    let idle = pool.borrow_mut().pop();
    let mut up = match idle {
        Some(up) => up,
        None => {
            let stream = TcpStream::connect(upstream).await?;
            stream.set_nodelay(true)?;
            Upstream {
                stream,
                buf: BytesMut::with_capacity(8192),
            }
        }
    };
    up.stream.write_all(request).await?;
    let mut reply = BytesMut::with_capacity(256);
    let resp = read_message(&mut up.stream, &mut up.buf, |b| {
        response_head(b, &mut reply, head_request)
    })
    .await?
    .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let _ = up.buf.split_to(resp.head);
    reply.put_slice(&up.buf.split_to(resp.body));
    if !resp.close {
        pool.borrow_mut().push(up);
    }
    Ok(reply.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_drops_hop_by_hop_headers_and_keeps_its_framing() {
        let raw = b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\nKeep-Alive: 5\r\n\r\nabc";
        let mut out = BytesMut::new();
        let f = request_head(raw, &mut out).unwrap().unwrap();
        assert_eq!((f.head, f.body, f.close), (raw.len() - 3, 3, true));
        assert_eq!(
            &out[..],
            b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\n".as_slice()
        );
    }

    #[test]
    fn an_incomplete_head_asks_for_more_and_a_chunked_body_is_refused() {
        let mut out = BytesMut::new();
        assert!(
            request_head(b"GET / HTTP/1.1\r\nHost: x\r\n", &mut out)
                .unwrap()
                .is_none()
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(response_head(chunked, &mut out, false).is_err());
    }

    #[test]
    fn responses_to_head_and_204_carry_no_body() {
        let mut out = BytesMut::new();
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 64\r\n\r\n";
        let f = response_head(raw, &mut out, true).unwrap().unwrap();
        assert_eq!((f.head, f.body), (raw.len(), 0));
        // A HEAD's content-length describes the GET's body: it stays.
        assert_eq!(
            &out[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 64\r\n\r\n".as_slice()
        );
        out.clear();
        let f = response_head(b"HTTP/1.1 204 No Content\r\n\r\n", &mut out, false)
            .unwrap()
            .unwrap();
        assert_eq!(f.body, 0);
        assert_eq!(&out[..], b"HTTP/1.1 204 No Content\r\n\r\n".as_slice());
    }
}
