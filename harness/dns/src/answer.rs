//! The server's answer to one packet, as a pure function of the zone data.
//!
//! Order of checks, as an authoritative server does them: unreadable header or
//! a response instead of a query: drop; undecodable body: FORMERR (header
//! only, the id echoed); opcode other than QUERY: NOTIMP; not exactly one
//! question: FORMERR; scripted behaviour of the name; name outside every zone
//! (or class other than IN): REFUSED, since we never recurse; then the zone
//! answer with AA=1. RA is always 0. Over UDP an answer larger than the
//! client's limit (512 bytes, or its EDNS payload size) is sent with TC=1 and
//! no records, so the client retries over TCP.

use std::time::Duration;

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::Behaviour;
use crate::wire::{UDP_LIMIT, parse_name, wire_key};
use crate::zone::{QType, Resolution, Rr, RrData, SoaInfo, ZoneSet};

/// The EDNS payload size we advertise (the DNS flag day 2020 value).
const OUR_EDNS_PAYLOAD: u16 = 1232;
/// The largest UDP answer we ever send, whatever the client advertises.
const MAX_UDP_PAYLOAD: usize = 4096;

/// How the packet arrived (it decides the size limit of the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// What the server does with one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Served {
    /// No answer at all.
    Drop,
    /// Send `bytes` after `delay`.
    Reply {
        bytes: Vec<u8>,
        rcode: ResponseCode,
        delay: Duration,
        truncated: bool,
    },
}

/// The server's answer to one UDP packet, or `None` when it sends nothing
/// (unreadable header, a response packet, or the `Drop` behaviour).
///
/// Pure: a `Delay` behaviour changes when the answer is sent, not what it
/// says, so it is ignored here. Never panics, whatever the bytes.
///
/// ```
/// use std::time::Duration;
/// use meshsim_dns::{ZoneSet, encode_query, handle_query};
///
/// let zones = ZoneSet::new();
/// zones.add_zone("example.com", Duration::from_secs(30));
/// zones.set_a("api.example.com", vec!["10.0.0.5".parse().unwrap()], Duration::from_secs(60));
/// let answer = handle_query(&zones, &encode_query(7, "api.example.com").unwrap()).unwrap();
/// assert_eq!(&answer[..2], &7u16.to_be_bytes()); // the id is echoed
/// assert_eq!(answer[3] & 0x0f, 0); // NOERROR
/// assert_eq!(handle_query(&zones, b"\x00"), None); // no header: dropped
/// ```
pub fn handle_query(zones: &ZoneSet, packet: &[u8]) -> Option<Vec<u8>> {
    match serve(zones, packet, Transport::Udp) {
        Served::Drop => None,
        Served::Reply { bytes, .. } => Some(bytes),
    }
}

/// The full decision for one packet: answer, timing and size handling.
pub(crate) fn serve(zones: &ZoneSet, packet: &[u8], transport: Transport) -> Served {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return Served::Drop;
    }
    let Ok(msg) = Message::from_vec(packet) else {
        return header_only(packet, ResponseCode::FormErr);
    };
    if msg.metadata.op_code != OpCode::Query {
        return finish(
            &msg,
            reply_to(&msg, ResponseCode::NotImp),
            transport,
            Duration::ZERO,
        );
    }
    let [q] = msg.queries.as_slice() else {
        return finish(
            &msg,
            reply_to(&msg, ResponseCode::FormErr),
            transport,
            Duration::ZERO,
        );
    };
    let key = wire_key(q.name());
    let behaviour = key
        .as_deref()
        .map_or(Behaviour::Answer, |k| zones.with(|z| z.behaviour_for(k)));
    let delay = match behaviour {
        Behaviour::Drop => return Served::Drop,
        Behaviour::ServFail => {
            return finish(
                &msg,
                reply_to(&msg, ResponseCode::ServFail),
                transport,
                Duration::ZERO,
            );
        }
        Behaviour::Refused => {
            return finish(
                &msg,
                reply_to(&msg, ResponseCode::Refused),
                transport,
                Duration::ZERO,
            );
        }
        Behaviour::Delay(d) => d,
        Behaviour::Answer => Duration::ZERO,
    };
    let resolution = match key {
        Some(k) if q.query_class() == DNSClass::IN => {
            zones.with(|z| z.resolve(&k, qtype(q.query_type())))
        }
        _ => Resolution::NotOurs,
    };
    let response =
        answer(&msg, q, resolution).unwrap_or_else(|| reply_to(&msg, ResponseCode::ServFail));
    finish(&msg, response, transport, delay)
}

fn qtype(t: RecordType) -> QType {
    match t {
        RecordType::A => QType::A,
        RecordType::AAAA => QType::Aaaa,
        RecordType::CNAME => QType::Cname,
        RecordType::SOA => QType::Soa,
        RecordType::ANY => QType::Any,
        _ => QType::Other,
    }
}

/// A response skeleton: id, opcode, RD and the question echoed, EDNS mirrored.
fn reply_to(req: &Message, rcode: ResponseCode) -> Message {
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.response_code = rcode;
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_EDNS_PAYLOAD);
        resp.set_edns(edns);
    }
    resp
}

/// The authoritative answer; `None` if a stored name cannot be encoded.
fn answer(req: &Message, q: &Query, resolution: Resolution) -> Option<Message> {
    let Resolution::Answer {
        nxdomain,
        answers,
        soa,
    } = resolution
    else {
        return Some(reply_to(req, ResponseCode::Refused));
    };
    let rcode = if nxdomain {
        ResponseCode::NXDomain
    } else {
        ResponseCode::NoError
    };
    let mut resp = reply_to(req, rcode);
    resp.metadata.authoritative = true;
    let qkey = wire_key(q.name());
    for rr in answers {
        // The first owner keeps the client's spelling (0x20 case randomisation).
        let owner = if qkey.as_deref() == Some(rr.name.as_str()) {
            q.name().clone()
        } else {
            fqdn(&rr.name)?
        };
        resp.add_answer(Record::from_rdata(owner, rr.ttl, rdata(&rr)?));
    }
    if let Some(soa) = soa {
        resp.add_authority(Record::from_rdata(
            fqdn(&soa.apex)?,
            soa.negative_ttl,
            soa_rdata(&soa)?,
        ));
    }
    Some(resp)
}

fn fqdn(key: &str) -> Option<Name> {
    if key.is_empty() {
        return Some(Name::root());
    }
    parse_name(key).ok()
}

fn rdata(rr: &Rr) -> Option<RData> {
    Some(match &rr.data {
        RrData::A(a) => RData::A(A(*a)),
        RrData::Aaaa(a) => RData::AAAA(AAAA(*a)),
        RrData::Cname(target) => RData::CNAME(CNAME(fqdn(target)?)),
        RrData::Soa(soa) => soa_rdata(soa)?,
    })
}

fn soa_rdata(soa: &SoaInfo) -> Option<RData> {
    let apex = fqdn(&soa.apex)?;
    let under =
        |label: &str| fqdn(&format!("{label}.{}", soa.apex)).unwrap_or_else(|| apex.clone());
    let (refresh, retry, expire) = (3600, 600, 86_400);
    let data = SOA::new(
        under("ns"),
        under("hostmaster"),
        soa.serial,
        refresh,
        retry,
        expire,
        soa.negative_ttl,
    );
    Some(RData::SOA(data))
}

/// Encodes `resp`, truncating it for UDP when it does not fit.
fn finish(req: &Message, resp: Message, transport: Transport, delay: Duration) -> Served {
    let rcode = resp.metadata.response_code;
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => req.edns.as_ref().map_or(UDP_LIMIT, |e| {
            usize::from(e.max_payload()).clamp(UDP_LIMIT, MAX_UDP_PAYLOAD)
        }),
    };
    let Ok(bytes) = resp.to_vec() else {
        return encode_or_drop(reply_to(req, ResponseCode::ServFail), delay);
    };
    if bytes.len() <= limit {
        return Served::Reply {
            bytes,
            rcode,
            delay,
            truncated: false,
        };
    }
    let mut short = reply_to(req, rcode);
    short.metadata = resp.metadata;
    short.metadata.truncation = true;
    match short.to_vec() {
        Ok(bytes) => Served::Reply {
            bytes,
            rcode,
            delay,
            truncated: true,
        },
        Err(_) => Served::Drop,
    }
}

fn encode_or_drop(resp: Message, delay: Duration) -> Served {
    let rcode = resp.metadata.response_code;
    match resp.to_vec() {
        Ok(bytes) => Served::Reply {
            bytes,
            rcode,
            delay,
            truncated: false,
        },
        Err(_) => Served::Drop,
    }
}

/// A 12-byte answer for a packet whose header is readable but whose body is
/// not: id, opcode and RD echoed, QR=1, no sections.
fn header_only(packet: &[u8], rcode: ResponseCode) -> Served {
    let mut bytes = vec![0u8; 12];
    bytes[..2].copy_from_slice(&packet[..2]);
    bytes[2] = 0x80 | (packet[2] & 0x79);
    bytes[3] = rcode.low() & 0x0f;
    Served::Reply {
        bytes,
        rcode,
        delay: Duration::ZERO,
        truncated: false,
    }
}
