//! One application request, from its scheduled start to its record:
//! `checkout_or_dial -> send -> read body -> give back -> record`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http::header::{CONNECTION, HOST, HeaderMap};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use meshsim_core::{ErrorKind, Outcome, RequestRecord, ResponseFlags};
use meshsim_net::clock::Instant;

use crate::classify::{Stage, classify};
use crate::config::Call;
use crate::drive::Shared;
use crate::pool::PooledConn;
use crate::target::CallKind;
use crate::tasks::stopped;
use tokio::io::AsyncReadExt;

/// What is known about the request's trip, whatever its outcome.
#[derive(Debug, Default)]
struct Trip {
    /// The address dialled (or the pooled connection's).
    addr: Option<SocketAddr>,
    reused: bool,
    /// The request was handed to a ready connection.
    sent: bool,
    /// What the application saw when the try failed: an error response's
    /// body (its first bytes) or the transport error's text.
    seen: Option<String>,
}

/// Notes what a transport failure said (the error and its causes, as text)
/// and classifies it.
fn saw(trip: &mut Trip, stage: Stage, err: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    trip.seen = Some(text);
    classify(stage, err)
}

/// Runs request `id` of call `call`, scheduled at offset `scheduled`, and
/// hands its record to the sink. Ends early with `RequestTimeout` when the
/// run's drain is over.
pub(crate) async fn run_request(shared: Arc<Shared>, call: usize, id: u64, scheduled: Duration) {
    let record = call_once(&shared, call, id, scheduled).await;
    (shared.sink)(record);
}

/// Runs request `id` of `shared.calls[call]` and returns its record (with
/// `call` as its call index), without handing it to the sink.
pub(crate) async fn call_once(
    shared: &Shared,
    call: usize,
    id: u64,
    scheduled: Duration,
) -> RequestRecord {
    let started_at = Instant::now();
    let mut trip = Trip::default();
    let mut stop = shared.stop.clone();
    let deadline = shared.profile.request_timeout.map(|t| started_at + t);
    let (result, finished) = {
        let tries = tries(shared, &shared.calls[call], id, &mut trip);
        tokio::select! {
            biased;
            () = stopped(&mut stop) => (Err(ErrorKind::RequestTimeout), false),
            r = within(deadline, tries) => (r, true),
        }
    };
    if finished {
        shared.counters.completed.fetch_add(1, Ordering::Relaxed);
    }
    let record = RequestRecord {
        call,
        scheduled,
        started: started_at - shared.start,
        ended: Instant::now() - shared.start,
        outcome: Outcome::Error(ErrorKind::RequestTimeout),
        upstream_attempts: 0,
        upstream_host: None,
        reused_connection: trip.reused,
        sample: None,
    };
    explain(shared, id, record, &trip, result)
}

/// Fills the outcome, attempts and host from the response (or failure) and the
/// sidecar's log entry, when a sidecar answered.
fn explain(
    shared: &Shared,
    id: u64,
    mut record: RequestRecord,
    trip: &Trip,
    result: Result<u16, ErrorKind>,
) -> RequestRecord {
    let entry = shared.proxy_log.take(id);
    let flags = entry.as_ref().map_or(ResponseFlags::NONE, |e| e.flags);
    record.outcome = match result {
        Ok(status) => Outcome::from_status(status, flags),
        Err(kind) => Outcome::Error(kind),
    };
    record.upstream_attempts = entry.as_ref().map_or(u32::from(trip.sent), |e| e.attempts);
    record.upstream_host = match &entry {
        Some(e) => e.upstream_host,
        None => trip.addr,
    };
    if !record.outcome.is_ok() {
        record.sample = trip.seen.clone();
    }
    record
}

/// Runs `fut` until `deadline`, if any; past it, `RequestTimeout`.
async fn within<F>(deadline: Option<Instant>, fut: F) -> Result<u16, ErrorKind>
where
    F: Future<Output = Result<u16, ErrorKind>>,
{
    match deadline {
        None => fut.await,
        Some(at) => meshsim_net::clock::timeout_at(at, fut)
            .await
            .unwrap_or(Err(ErrorKind::RequestTimeout)),
    }
}

/// The request's tries: one, or more when the profile's [`AppRetry`] retries
/// the failure, with its back-off between them. `trip` describes the last try.
///
/// [`AppRetry`]: crate::AppRetry
async fn tries(shared: &Shared, call: &Call, id: u64, trip: &mut Trip) -> Result<u16, ErrorKind> {
    let mut done = 0u32;
    loop {
        *trip = Trip::default();
        let kind = match exchange(shared, call, id, trip).await {
            Err(kind) => kind,
            ok => return ok,
        };
        let wait = shared.profile.retry.and_then(|r| r.decide(done, kind));
        let Some(wait) = wait else {
            return Err(kind);
        };
        // A deadline reached in the back-off is the app's own timeout: the
        // failed try's text is not its sample.
        trip.seen = None;
        meshsim_net::clock::sleep(wait).await;
        done += 1;
        shared.counters.app_retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// The request on the wire: returns the status once the whole body is read.
/// A connection that failed is dropped (closed), never given back.
async fn exchange(
    shared: &Shared,
    call: &Call,
    id: u64,
    trip: &mut Trip,
) -> Result<u16, ErrorKind> {
    if call.kind == CallKind::ServerFirst {
        return greeting(shared, call, trip).await;
    }
    let mut conn = checkout_or_dial(shared, call, trip).await?;
    let exchange = Stage::Exchange;
    conn.sender
        .ready()
        .await
        .map_err(|e| saw(trip, exchange, &e))?;
    let request = build_request(call, id, shared.profile.keep_alive)?;
    trip.sent = true;
    let response = conn
        .sender
        .send_request(request)
        .await
        .map_err(|e| saw(trip, exchange, &e))?;
    let status = response.status().as_u16();
    let server_closes = says_close(response.headers());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| saw(trip, exchange, &e))?
        .to_bytes();
    if status >= 400 {
        trip.seen = Some(RequestRecord::body_sample(&body));
    }
    if shared.profile.keep_alive && !server_closes {
        let now = Instant::now();
        let mut pool = shared.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.give_back(call.key.clone(), conn, &shared.profile, now);
    }
    Ok(status)
}

/// A pooled connection for the call's (host, port), or a new one.
async fn checkout_or_dial(
    shared: &Shared,
    call: &Call,
    trip: &mut Trip,
) -> Result<PooledConn, ErrorKind> {
    if shared.profile.keep_alive {
        let now = Instant::now();
        let pooled = shared
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .checkout(&call.key, &shared.profile, now);
        if let Some(conn) = pooled {
            trip.addr = Some(conn.addr);
            trip.reused = true;
            return Ok(conn);
        }
    }
    dial(shared, call, trip).await
}

/// A server-first exchange: a new connection, then the server's greeting (one
/// MySQL packet: a 3-byte little-endian length and a sequence id, then the
/// payload); the connection is closed after it. Success is status 0.
async fn greeting(shared: &Shared, call: &Call, trip: &mut Trip) -> Result<u16, ErrorKind> {
    let (mut stream, _) = connect(shared, call, trip).await?;
    trip.sent = true;
    let mut header = [0u8; 4];
    let exchange = Stage::Exchange;
    stream
        .read_exact(&mut header)
        .await
        .map_err(|e| saw(trip, exchange, &e))?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|e| saw(trip, exchange, &e))?;
    Ok(0)
}

/// Resolves the host (unless it is a literal IP) and opens a connection to the
/// first address, with the profile's connect timeout; returns it and the
/// address dialled.
async fn connect(
    shared: &Shared,
    call: &Call,
    trip: &mut Trip,
) -> Result<(meshsim_net::NetStream, SocketAddr), ErrorKind> {
    let ip = match call.target.ip() {
        Some(ip) => ip,
        None => shared.lookup(&call.target.host).await?,
    };
    let addr = SocketAddr::new(ip, call.target.port);
    trip.addr = Some(addr);
    let stream = shared
        .stack
        .connect(addr, shared.profile.connect_timeout)
        .await
        .map_err(|e| saw(trip, Stage::Connect, &e))?;
    shared
        .counters
        .connections_opened
        .fetch_add(1, Ordering::Relaxed);
    Ok((stream, addr))
}

/// A new HTTP/1.1 connection to the call's host.
async fn dial(shared: &Shared, call: &Call, trip: &mut Trip) -> Result<PooledConn, ErrorKind> {
    let (stream, addr) = connect(shared, call, trip).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| saw(trip, Stage::Exchange, &e))?;
    let mut stop = shared.stop.clone();
    let task = shared.conn_tasks.spawn(async move {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => {}
            _ = connection => {}
        }
    });
    Ok(PooledConn {
        sender,
        addr,
        opened_at: Instant::now(),
        task,
    })
}

/// The request: `host`, `x-request-id` and, without keep-alive,
/// `connection: close`.
fn build_request(
    call: &Call,
    id: u64,
    keep_alive: bool,
) -> Result<Request<Empty<Bytes>>, ErrorKind> {
    let mut builder = Request::builder()
        .method(call.method.clone())
        .uri(call.target.path.as_str())
        .header(HOST, call.authority.as_str())
        .header("x-request-id", id);
    if !keep_alive {
        builder = builder.header(CONNECTION, "close");
    }
    builder
        .body(Empty::new())
        .map_err(|_| ErrorKind::ProtocolError)
}

/// Whether the server said it closes the connection after this response.
pub(crate) fn says_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_close_is_found_among_other_tokens() {
        let mut h = HeaderMap::new();
        assert!(!says_close(&h));
        h.insert(CONNECTION, "keep-alive, Close".parse().unwrap());
        assert!(says_close(&h));
    }
}
