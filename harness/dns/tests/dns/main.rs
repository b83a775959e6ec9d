//! Integration tests of meshsim-dns, one module per concern.

mod behaviours;
mod determinism;
mod property;
mod real_loopback;
mod resolver_cache;
mod resolver_tries;
mod server_answers;
mod server_loop;

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use meshsim_core::SimRng;
use meshsim_dns::{CachePolicy, DnsHandle, Resolver, ResolverConfig, ZoneSet, spawn};
use meshsim_net::{Net, SimConfig};

pub(crate) const SERVER_IP: &str = "10.0.0.53";
pub(crate) const CLIENT_IP: &str = "10.0.0.1";

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `example.com` (negative TTL 30 s) with `api.example.com` A 10.0.0.5, TTL 60 s.
pub(crate) fn example_zones() -> ZoneSet {
    let zones = ZoneSet::new();
    zones.add_zone("example.com", secs(30));
    zones.set_a("api.example.com", vec![ip("10.0.0.5")], secs(60));
    zones
}

pub(crate) fn query(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    msg.to_vec().unwrap()
}

pub(crate) fn parse(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).unwrap()
}

/// A simulated network with the server on 10.0.0.53:53.
pub(crate) async fn sim_server(zones: &ZoneSet) -> (Net, DnsHandle) {
    let net = Net::sim(SimConfig::default());
    let handle = spawn(zones.clone(), &net.stack(ip(SERVER_IP)), 53)
        .await
        .unwrap();
    (net, handle)
}

pub(crate) fn resolver(
    net: &Net,
    servers: Vec<std::net::SocketAddr>,
    cache: CachePolicy,
) -> Resolver {
    let config = ResolverConfig {
        servers,
        cache,
        ..ResolverConfig::default()
    };
    Resolver::new(net.stack(ip(CLIENT_IP)), config, SimRng::new(1))
}
