//! The opt-in HTTP/2 mode (h2c with prior knowledge) and its incident knobs,
//! driven by an `h2` client on the simulated network with a paused clock.

use std::time::Duration;

use bytes::Bytes;
use h2::Reason;
use meshsim_net::{Net, SimConfig};
use meshsim_upstream::{Http2Mode, RouteSpec, StopMode, UpstreamConfig, UpstreamHandle, spawn};

type Sender = h2::client::SendRequest<Bytes>;

async fn server(net: &Net, mode: Http2Mode) -> UpstreamHandle {
    let config = UpstreamConfig {
        routes: vec![
            RouteSpec {
                prefix: "/slow".into(),
                latency: Duration::from_millis(100),
                ..RouteSpec::default()
            },
            RouteSpec::default(),
        ],
        http2: Some(mode),
        ..UpstreamConfig::default()
    };
    spawn(config, net.stack("10.0.9.1".parse().unwrap()), 80)
        .await
        .unwrap()
}

async fn client(net: &Net, up: &UpstreamHandle) -> Sender {
    let stack = net.stack("10.0.0.1".parse().unwrap());
    let io = stack
        .connect(up.addr(), Duration::from_secs(1))
        .await
        .unwrap();
    let (sender, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// Status and body of `GET path`, or the stream's error.
async fn get(sender: &mut Sender, path: &str) -> Result<(u16, Bytes), h2::Error> {
    let req = http::Request::get(format!("http://api{path}"))
        .body(())
        .unwrap();
    let (resp, _) = sender.send_request(req, true)?;
    let resp = resp.await?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        out.extend_from_slice(&chunk?);
    }
    Ok((status, Bytes::from(out)))
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn http2_mode_serves_the_same_routes_as_http1() {
    let net = Net::sim(SimConfig::default());
    let up = server(&net, Http2Mode::default()).await;
    let mut c = client(&net, &up).await;
    assert_eq!(get(&mut c, "/").await.unwrap(), (200, Bytes::from("ok")));
    let start = meshsim_net::clock::Instant::now();
    assert_eq!(get(&mut c, "/slow").await.unwrap().0, 200);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!((up.stats().connections, up.stats().requests), (1, 2));
    up.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_refusal_window_answers_rst_stream_refused_stream() {
    let net = Net::sim(SimConfig::default());
    let up = server(&net, Http2Mode::default()).await;
    let mut c = client(&net, &up).await;
    up.set_refuse_streams(true);
    let e = get(&mut c, "/").await.unwrap_err();
    assert_eq!(e.reason(), Some(Reason::REFUSED_STREAM));
    assert!(e.is_remote() && e.is_reset());
    up.set_refuse_streams(false);
    assert_eq!(get(&mut c, "/").await.unwrap().0, 200);
    assert_eq!(up.stats().streams_refused, 1);
    up.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn stop_close_in_http2_mode_is_a_graceful_goaway_that_lets_in_flight_streams_finish() {
    let net = Net::sim(SimConfig::default());
    let up = server(&net, Http2Mode::default()).await;
    let mut c = client(&net, &up).await;
    let (resp, ()) = tokio::join!(get(&mut c, "/slow"), async {
        meshsim_net::clock::sleep(Duration::from_millis(10)).await;
        up.stop(StopMode::Close).await;
    });
    assert_eq!(resp.unwrap().0, 200, "the in-flight stream finished");
    assert_eq!(up.stats().goaways_sent, 1);
    assert_eq!(up.stats().active_connections, 0);
    up.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_zero_http2_knob_is_a_config_error() {
    let net = Net::sim(SimConfig::default());
    let config = UpstreamConfig {
        http2: Some(Http2Mode {
            refuse_every_nth: Some(0),
            ..Http2Mode::default()
        }),
        ..UpstreamConfig::default()
    };
    let e = spawn(config, net.stack("10.0.9.1".parse().unwrap()), 80)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("http2.refuse_every_nth"), "{e}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn set_http2_changes_the_knobs_for_new_streams_on_open_connections() {
    let net = Net::sim(SimConfig::default());
    let up = server(&net, Http2Mode::default()).await;
    let mut c = client(&net, &up).await;
    assert_eq!(get(&mut c, "/").await.unwrap().0, 200);
    let refuse_all = Http2Mode {
        refuse_every_nth: Some(1),
        ..Http2Mode::default()
    };
    up.set_http2(refuse_all.clone()).unwrap();
    assert_eq!(up.http2_mode(), refuse_all);
    let e = get(&mut c, "/").await.unwrap_err();
    assert_eq!(e.reason(), Some(Reason::REFUSED_STREAM));
    up.set_http2(Http2Mode::default()).unwrap();
    assert_eq!(get(&mut c, "/").await.unwrap().0, 200);
    assert_eq!(up.stats().connections, 1, "the same connection throughout");
    assert_eq!(up.stats().streams_refused, 1);
    let zero = Http2Mode {
        max_connection_age: Some(Duration::ZERO),
        ..Http2Mode::default()
    };
    assert!(up.set_http2(zero).is_err(), "a zero knob is refused");
    assert_eq!(up.http2_mode(), Http2Mode::default());
    up.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn go_away_drains_every_open_connection_and_new_connections_are_still_served() {
    let net = Net::sim(SimConfig::default());
    let up = server(&net, Http2Mode::default()).await;
    let mut c = client(&net, &up).await;
    let (resp, ()) = tokio::join!(get(&mut c, "/slow"), async {
        meshsim_net::clock::sleep(Duration::from_millis(10)).await;
        up.go_away();
    });
    assert_eq!(resp.unwrap().0, 200, "the in-flight stream finished");
    assert_eq!(up.stats().goaways_sent, 1);
    meshsim_net::clock::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        up.stats().active_connections,
        0,
        "the drained connection closed"
    );
    let mut fresh = client(&net, &up).await;
    assert_eq!(get(&mut fresh, "/").await.unwrap().0, 200);
    assert_eq!(up.stats().connections, 2);
    assert_eq!(
        up.stats().goaways_sent,
        1,
        "the new connection is not drained"
    );
    up.shutdown().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_connection_age_sends_goaway_when_the_connection_is_that_old() {
    let net = Net::sim(SimConfig::default());
    let mode = Http2Mode {
        max_connection_age: Some(Duration::from_secs(1)),
        ..Http2Mode::default()
    };
    let up = server(&net, mode).await;
    let start = meshsim_net::clock::Instant::now();
    let mut c = client(&net, &up).await;
    assert_eq!(get(&mut c, "/").await.unwrap().0, 200);
    meshsim_net::clock::sleep_until(start + Duration::from_millis(900)).await;
    assert_eq!(up.stats().goaways_sent, 0, "younger than its max age");
    meshsim_net::clock::sleep_until(start + Duration::from_millis(1100)).await;
    assert_eq!(up.stats().goaways_sent, 1);
    assert_eq!(up.stats().active_connections, 0, "no stream open: closed");
    // A later connection's age counts from its own accept.
    let mut later = client(&net, &up).await;
    assert_eq!(get(&mut later, "/").await.unwrap().0, 200);
    meshsim_net::clock::sleep_until(start + Duration::from_millis(2000)).await;
    assert_eq!(up.stats().goaways_sent, 1);
    meshsim_net::clock::sleep_until(start + Duration::from_millis(2200)).await;
    assert_eq!(up.stats().goaways_sent, 2);
    up.shutdown().await;
}
