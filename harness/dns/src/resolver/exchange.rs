//! One try of a query against one server: send over UDP, wait for the
//! matching answer until the try's deadline, fall back to TCP on TC=1, and
//! read the answer into an [`Answer`] or a failure.
//!
//! Like glibc's `res_send`, one lookup uses one socket and one query id for all
//! its tries, and accepts an answer from any configured server: a late answer
//! to an earlier try still completes the lookup. Packets with another id, from
//! another address or for another question are ignored (spoofing defence),
//! not treated as failures.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use meshsim_net::clock::Instant;
use meshsim_net::{NetUdp, Stack};

use super::cache::{Answer, Negative};
use crate::wire::{read_frame, wire_key, write_frame};

/// Receive buffer of one try.
const RECV_BUFFER: usize = 4096;

/// Longest CNAME chain followed inside one answer.
const MAX_CHAIN: usize = 16;

/// The query of one lookup.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    pub(crate) id: u16,
    /// Normalized query name.
    pub(crate) key: String,
    pub(crate) packet: Vec<u8>,
}

/// Why one try did not give a definitive answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TryError {
    Timeout,
    ServFail(SocketAddr),
    Refused(SocketAddr),
    Malformed { server: SocketAddr, detail: String },
    Io(io::ErrorKind),
}

/// The settings a try needs.
pub(crate) struct Ctx<'a> {
    pub(crate) stack: &'a Stack,
    pub(crate) servers: &'a [SocketAddr],
    pub(crate) timeout: Duration,
}

enum Check {
    Ignore,
    Truncated,
    Bad(String),
    Response(Message),
}

/// One UDP try against `server` (and TCP if the answer is truncated).
pub(crate) async fn udp_try(
    socket: &NetUdp,
    server: SocketAddr,
    q: &Question,
    ctx: &Ctx<'_>,
) -> Result<Answer, TryError> {
    socket
        .send_to(&q.packet, server)
        .await
        .map_err(|e| TryError::Io(e.kind()))?;
    let deadline = Instant::now() + ctx.timeout;
    // We send no EDNS, so a compliant answer fits in 512 bytes; room to spare.
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let (n, from) =
            match meshsim_net::clock::timeout_at(deadline, socket.recv_from(&mut buf)).await {
                Err(_) => return Err(TryError::Timeout),
                Ok(Err(e)) => return Err(TryError::Io(e.kind())),
                Ok(Ok(got)) => got,
            };
        if !ctx.servers.contains(&from) {
            continue;
        }
        match check(&buf[..n], q) {
            Check::Ignore => continue,
            Check::Truncated => return tcp_try(from, q, ctx).await,
            Check::Bad(detail) => {
                return Err(TryError::Malformed {
                    server: from,
                    detail,
                });
            }
            Check::Response(msg) => return interpret(&msg, &q.key, from),
        }
    }
}

/// The same query over TCP, with a fresh `timeout` for connect and answer.
async fn tcp_try(server: SocketAddr, q: &Question, ctx: &Ctx<'_>) -> Result<Answer, TryError> {
    let exchange = async {
        let mut stream = ctx.stack.connect(server, ctx.timeout).await?;
        write_frame(&mut stream, &q.packet).await?;
        loop {
            let Some(frame) = read_frame(&mut stream).await? else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "dns tcp connection closed",
                ));
            };
            match check(&frame, q) {
                Check::Ignore => continue,
                // TC over TCP makes no sense; take what we got.
                Check::Truncated => return Ok(Message::from_vec(&frame).map_err(|e| e.to_string())),
                Check::Bad(detail) => return Ok(Err(detail)),
                Check::Response(msg) => return Ok(Ok(msg)),
            }
        }
    };
    match meshsim_net::clock::timeout(ctx.timeout, exchange).await {
        Err(_) => Err(TryError::Timeout),
        Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => Err(TryError::Timeout),
        Ok(Err(e)) => Err(TryError::Io(e.kind())),
        Ok(Ok(Err(detail))) => Err(TryError::Malformed { server, detail }),
        Ok(Ok(Ok(msg))) => interpret(&msg, &q.key, server),
    }
}

/// Whether `bytes` answers our question.
fn check(bytes: &[u8], q: &Question) -> Check {
    if bytes.len() < 12 || u16::from_be_bytes([bytes[0], bytes[1]]) != q.id || bytes[2] & 0x80 == 0
    {
        return Check::Ignore;
    }
    let msg = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(e) => return Check::Bad(e.to_string()),
    };
    if msg.metadata.message_type != MessageType::Response {
        return Check::Ignore;
    }
    let same_question = match msg.queries.as_slice() {
        [one] => {
            wire_key(one.name()).as_deref() == Some(q.key.as_str())
                && one.query_type() == RecordType::A
        }
        // A FORMERR-style answer without a question (glibc accepts it too).
        [] => msg.metadata.response_code != ResponseCode::NoError,
        _ => false,
    };
    if !same_question {
        Check::Ignore
    } else if msg.metadata.truncation {
        Check::Truncated
    } else {
        Check::Response(msg)
    }
}

/// Reads a matching response.
fn interpret(msg: &Message, key: &str, server: SocketAddr) -> Result<Answer, TryError> {
    match msg.metadata.response_code {
        ResponseCode::NoError => Ok(follow_chain(msg, key)),
        ResponseCode::NXDomain => Ok(Answer::Negative {
            kind: Negative::NxDomain,
            soa_ttl: soa_ttl(msg),
        }),
        ResponseCode::ServFail => Err(TryError::ServFail(server)),
        ResponseCode::Refused => Err(TryError::Refused(server)),
        other => Err(TryError::Malformed {
            server,
            detail: format!("response code {other}"),
        }),
    }
}

/// The A records of `key`, following CNAMEs inside the answer section; the TTL
/// is the smallest of every record used.
fn follow_chain(msg: &Message, key: &str) -> Answer {
    let mut cur = key.to_string();
    let mut ttl = u32::MAX;
    for _ in 0..=MAX_CHAIN {
        let owned: Vec<_> = msg
            .answers
            .iter()
            .filter(|r| wire_key(&r.name).as_deref() == Some(cur.as_str()))
            .collect();
        let mut addrs = Vec::new();
        for r in &owned {
            if let RData::A(a) = &r.data {
                addrs.push(IpAddr::V4(a.0));
                ttl = ttl.min(r.ttl);
            }
        }
        if !addrs.is_empty() {
            return Answer::Addrs {
                addrs,
                ttl: Duration::from_secs(u64::from(ttl)),
            };
        }
        let next = owned.iter().find_map(|r| match &r.data {
            RData::CNAME(c) => Some((wire_key(&c.0)?, r.ttl)),
            _ => None,
        });
        match next {
            Some((target, t)) => {
                ttl = ttl.min(t);
                cur = target;
            }
            None => break,
        }
    }
    Answer::Negative {
        kind: Negative::NoData,
        soa_ttl: soa_ttl(msg),
    }
}

/// RFC 2308 §5: a negative answer lives for min(SOA TTL, SOA minimum).
fn soa_ttl(msg: &Message) -> Option<Duration> {
    msg.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(Duration::from_secs(u64::from(r.ttl.min(soa.minimum)))),
        _ => None,
    })
}
