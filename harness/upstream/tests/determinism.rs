//! The same seed gives the same run: every byte and every virtual instant a
//! client observes is identical across two runs of one script.

#[path = "support/client.rs"]
mod client;

use std::time::Duration;

use client::{CLIENT_IP, Client, SERVER_IP, ip};
use meshsim_net::clock::Instant;
use meshsim_net::{Net, SimConfig};
use meshsim_upstream::{RouteSpec, StopMode, UpstreamConfig, spawn};

/// What one client saw: (virtual nanoseconds since start, connection, event).
type Transcript = Vec<(u128, usize, String)>;

async fn client_script(
    id: usize,
    net: Net,
    addr: std::net::SocketAddr,
    start: Instant,
) -> Transcript {
    let stack = net.stack(ip(CLIENT_IP));
    let mut seen = Vec::new();
    let mut conn: Option<Client> = None;
    for i in 0..12u64 {
        meshsim_net::clock::sleep(Duration::from_millis(150 + 7 * id as u64)).await;
        let event = match conn.as_mut() {
            None => match Client::connect(&stack, addr).await {
                Ok(c) => {
                    conn = Some(c);
                    "connected".to_owned()
                }
                Err(e) => format!("connect {:?}", e.kind()),
            },
            Some(c) => match c.get(if i % 2 == 0 { "/slow" } else { "/" }).await {
                Ok(r) => format!("{} {:?}", r.status, r.header("connection")),
                Err(e) => {
                    conn = None;
                    format!("{:?}", e.kind())
                }
            },
        };
        seen.push((start.elapsed().as_nanos(), id, event));
    }
    seen
}

fn run_once(seed: u64) -> (Transcript, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let config = SimConfig {
            seed,
            jitter: Duration::from_micros(900),
            ..SimConfig::default()
        };
        let net = Net::sim(config);
        let routes = vec![
            RouteSpec {
                prefix: "/slow".to_owned(),
                latency: Duration::from_millis(40),
                ..RouteSpec::default()
            },
            RouteSpec::default(),
        ];
        let upstream = UpstreamConfig {
            routes,
            max_requests_per_connection: Some(3),
            ..UpstreamConfig::default()
        };
        let server = spawn(upstream, net.stack(ip(SERVER_IP)), 443)
            .await
            .unwrap();
        let start = Instant::now();
        let clients: Vec<_> = (0..3)
            .map(|id| tokio::spawn(client_script(id, net.clone(), server.addr(), start)))
            .collect();
        meshsim_net::clock::sleep(Duration::from_millis(620)).await;
        server.stop(StopMode::Reset).await;
        meshsim_net::clock::sleep(Duration::from_millis(500)).await;
        server.start().await.unwrap();
        let mut transcript = Vec::new();
        for c in clients {
            transcript.extend(c.await.unwrap());
        }
        let stats = format!("{:?}", server.stats());
        server.shutdown().await;
        (transcript, stats)
    })
}

#[test]
fn same_seed_gives_identical_transcripts_and_stats() {
    let first = run_once(7);
    let second = run_once(7);
    assert_eq!(first, second);
    assert!(
        first
            .0
            .iter()
            .any(|(_, _, e)| e.contains("ConnectionReset")),
        "the reset was observed: {:?}",
        first.0
    );
    assert!(
        first
            .0
            .iter()
            .any(|(_, _, e)| e == "connect ConnectionRefused"),
        "connects were refused while stopped"
    );
    assert!(
        first.0.iter().any(|(_, _, e)| e.starts_with("200")),
        "requests were answered"
    );
}
