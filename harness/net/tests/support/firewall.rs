//! Helpers shared by the DNS-firewall tests of both backends
//! (`dns_firewall.rs`, `dns_firewall_real.rs`), included with
//! `#[path = "support/firewall.rs"] mod support;`.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use meshsim_net::{Net, NetListener, NetStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The pod behind the firewall.
pub(crate) const CLIENT: &str = "10.0.0.1";
/// The DNS server (inside the cluster).
pub(crate) const DNS: &str = "10.0.0.53:53";
/// The partner API, outside.
pub(crate) const API: &str = "52.1.1.10:80";
/// Its name.
pub(crate) const NAME: &str = "api.partner.example";

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The bytes of a DNS answer for `NAME` with one A record.
pub(crate) fn answer(to: IpAddr, ttl: Duration) -> Vec<u8> {
    let IpAddr::V4(v4) = to else {
        panic!("v4 only")
    };
    let name = Name::from_ascii(NAME).unwrap();
    let mut msg = Message::response(7, OpCode::Query);
    msg.metadata.message_type = MessageType::Response;
    msg.add_query(Query::query(name.clone(), RecordType::A));
    let ttl = u32::try_from(ttl.as_secs()).unwrap();
    msg.add_answer(Record::from_rdata(name, ttl, RData::A(A(v4))));
    msg.to_vec().unwrap()
}

/// The API's listener.
pub(crate) async fn listen(net: &Net) -> NetListener {
    net.stack(addr(API).ip()).listen(80).await.unwrap()
}

/// One byte each way; the client's read result.
pub(crate) async fn exchange(c: &mut NetStream, s: &mut NetStream) -> std::io::Result<u8> {
    c.write_all(b"q").await?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await?;
    s.write_all(b"a").await?;
    c.read_exact(&mut b).await?;
    Ok(b[0])
}
