//! The server loops over the simulated network: UDP and TCP on one port,
//! robustness, counters, shutdown.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use meshsim_dns::spawn;
use meshsim_net::{Net, SimConfig};

use super::{CLIENT_IP, SERVER_IP, example_zones, ip, parse, query, sim_server};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn server_answers_over_udp_and_tcp_on_the_same_port() {
    let (net, server) = sim_server(&example_zones()).await;
    let client = net.stack(ip(CLIENT_IP));
    let udp = client.bind_udp(0).await.unwrap();
    udp.send_to(&query(11, "api.example.com.", RecordType::A), server.addr())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = udp.recv_from(&mut buf).await.unwrap();
    assert_eq!(from, server.addr());
    assert_eq!(parse(&buf[..n]).answers.len(), 1);

    let mut tcp = client.connect(server.addr(), super::secs(1)).await.unwrap();
    let answer = tcp_exchange(&mut tcp, &query(12, "api.example.com.", RecordType::A)).await;
    assert_eq!(answer.metadata.id, 12);
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(server.stats().tcp_queries, 1);
}

async fn tcp_exchange(
    tcp: &mut meshsim_net::NetStream,
    packet: &[u8],
) -> hickory_proto::op::Message {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let len = u16::try_from(packet.len()).unwrap().to_be_bytes();
    tcp.write_all(&len).await.unwrap();
    tcp.write_all(packet).await.unwrap();
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut body).await.unwrap();
    parse(&body)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn one_tcp_connection_serves_several_queries_in_order() {
    let (net, server) = sim_server(&example_zones()).await;
    let mut tcp = net
        .stack(ip(CLIENT_IP))
        .connect(server.addr(), super::secs(1))
        .await
        .unwrap();
    for id in 1..=3u16 {
        let m = tcp_exchange(&mut tcp, &query(id, "api.example.com.", RecordType::A)).await;
        assert_eq!(m.metadata.id, id);
    }
    let m = tcp_exchange(&mut tcp, &query(4, "nope.example.com.", RecordType::A)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(server.stats().tcp_queries, 4);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn bad_packets_never_stop_the_server_loop() {
    let (net, server) = sim_server(&example_zones()).await;
    let udp = net.stack(ip(CLIENT_IP)).bind_udp(0).await.unwrap();
    for junk in [
        &b""[..],
        b"\x01",
        b"\x00\x01\x00\x00\x00\x05garbage",
        &[0xff; 300],
    ] {
        udp.send_to(junk, server.addr()).await.unwrap();
    }
    udp.send_to(&query(77, "api.example.com.", RecordType::A), server.addr())
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let answer = loop {
        let (n, _) = udp.recv_from(&mut buf).await.unwrap();
        let m = parse(&buf[..n]);
        if m.metadata.id == 77 {
            break m;
        }
    };
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    let stats = server.stats();
    assert_eq!(stats.queries, 5);
    assert!(stats.rcode("FORMERR") >= 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stats_count_queries_by_rcode_and_drops() {
    let zones = example_zones();
    zones.set_behaviour("dropped.example.com", meshsim_dns::Behaviour::Drop);
    let (net, server) = sim_server(&zones).await;
    let udp = net.stack(ip(CLIENT_IP)).bind_udp(0).await.unwrap();
    for (id, name) in [
        (1, "api.example.com."),
        (2, "nope.example.com."),
        (3, "other.org."),
        (4, "dropped.example.com."),
    ] {
        udp.send_to(&query(id, name, RecordType::A), server.addr())
            .await
            .unwrap();
    }
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        udp.recv_from(&mut buf).await.unwrap();
    }
    let stats = server.stats();
    assert_eq!(stats.queries, 4);
    assert_eq!(
        (
            stats.rcode("NOERROR"),
            stats.rcode("NXDOMAIN"),
            stats.rcode("REFUSED")
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.dropped, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_closes_both_sockets_so_the_port_can_be_bound_again() {
    let net = Net::sim(SimConfig::default());
    let stack = net.stack(ip(SERVER_IP));
    let first = spawn(example_zones(), &stack, 53).await.unwrap();
    assert!(
        spawn(example_zones(), &stack, 53).await.is_err(),
        "port taken while running"
    );
    let addr = first.addr();
    first.shutdown().await;
    let refused = net
        .stack(ip(CLIENT_IP))
        .connect(addr, super::secs(1))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let again = spawn(example_zones(), &stack, 53).await.unwrap();
    assert_eq!(again.addr(), addr);
    again.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn port_zero_gives_udp_and_tcp_the_same_ephemeral_port() {
    let net = Net::sim(SimConfig::default());
    let server = spawn(example_zones(), &net.stack(ip(SERVER_IP)), 0)
        .await
        .unwrap();
    assert_ne!(server.addr().port(), 0);
    let tcp = net
        .stack(ip(CLIENT_IP))
        .connect(server.addr(), super::secs(1))
        .await;
    assert!(tcp.is_ok());
}
