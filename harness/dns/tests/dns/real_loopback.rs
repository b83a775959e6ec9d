//! Real sockets: the server answers a kernel UDP client on loopback.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use meshsim_core::SimRng;
use meshsim_dns::{CachePolicy, Resolver, ResolverConfig, encode_query, spawn};
use meshsim_net::Net;

use super::{example_zones, ip};

#[tokio::test]
async fn the_server_answers_over_real_loopback_udp() {
    let net = Net::real();
    let server = spawn(example_zones(), &net.stack(ip("127.0.0.1")), 0)
        .await
        .unwrap();
    // Both scenario and real address are 127.0.0.1:port, so a plain kernel
    // socket (what `dig` uses) reaches it.
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(
            &encode_query(4242, "api.example.com").unwrap(),
            server.addr(),
        )
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = meshsim_net::clock::timeout(Duration::from_secs(10), client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.metadata.id, 4242);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);

    let config = ResolverConfig {
        servers: vec![server.addr()],
        cache: CachePolicy::None,
        ..Default::default()
    };
    let r = Resolver::new(net.stack(ip("127.0.0.1")), config, SimRng::new(1));
    assert_eq!(
        r.lookup_ip("api.example.com").await.unwrap().addrs,
        vec![ip("10.0.0.5")]
    );
    server.shutdown().await;
}
