//! Parity: every semantic of DESIGN.md §3 runs as one test body on both
//! backends (sim on a paused clock, real on loopback sockets).

use std::future::Future;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use meshsim_net::{Bind, Capture, InboundCapture, Keepalive, Net, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn run_sim<F, Fut>(f: F)
where
    F: FnOnce(Net) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async { f(Net::sim(SimConfig::default())).await });
}

fn run_real<F, Fut>(f: F)
where
    F: FnOnce(Net) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { f(Net::real()).await });
}

/// Runs one body on both backends.
macro_rules! parity {
    ($name:ident, |$net:ident| $body:block) => {
        mod $name {
            use super::*;
            #[test]
            fn sim() {
                run_sim(|$net: Net| async move $body);
            }
            #[test]
            fn real() {
                run_real(|$net: Net| async move $body);
            }
        }
    };
}

const T: Duration = Duration::from_secs(5);

parity!(connect_where_nothing_listens_is_refused_at_once, |net| {
    let server = net.stack(ip("10.0.0.2"));
    let _l = server.listen(80).await.unwrap(); // the host exists, port 81 has nobody
    let client = net.stack(ip("10.0.0.1"));
    let err = client.connect(addr("10.0.0.2:81"), T).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
});

parity!(
    connect_across_a_silent_drop_waits_for_the_connect_timeout,
    |net| {
        let server = net.stack(ip("10.0.0.2"));
        let _l = server.listen(80).await.unwrap();
        net.set_blackhole(ip("10.0.0.2"), true);
        let client = net.stack(ip("10.0.0.1"));
        let start = meshsim_net::clock::Instant::now();
        let timeout = Duration::from_millis(300);
        let err = client
            .connect(addr("10.0.0.2:80"), timeout)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(
            start.elapsed() >= timeout,
            "gave up after {:?}",
            start.elapsed()
        );
    }
);

parity!(
    abortive_close_makes_the_peer_read_fail_with_connection_reset,
    |net| {
        let server = net.stack(ip("10.0.0.2"));
        let l = server.listen(80).await.unwrap();
        let client = net.stack(ip("10.0.0.1"));
        let mut c = client.connect(addr("10.0.0.2:80"), T).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        s.reset();
        let mut buf = [0u8; 8];
        let err = c.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    }
);

parity!(
    orderly_close_reads_eof_and_half_close_keeps_the_other_direction,
    |net| {
        let server = net.stack(ip("10.0.0.2"));
        let l = server.listen(80).await.unwrap();
        let client = net.stack(ip("10.0.0.1"));
        let mut c = client.connect(addr("10.0.0.2:80"), T).await.unwrap();
        let (mut s, peer) = l.accept().await.unwrap();
        assert_eq!(peer.ip(), ip("10.0.0.1"));
        c.write_all(b"request").await.unwrap();
        c.shutdown().await.unwrap(); // half-close: FIN from the client
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"request");
        s.write_all(b"response").await.unwrap(); // the other direction still flows
        drop(s);
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"response");
    }
);

parity!(
    black_holed_flow_accepts_writes_but_delivers_nothing,
    |net| {
        let server = net.stack(ip("10.0.0.2"));
        let l = server.listen(80).await.unwrap();
        let client = net.stack(ip("10.0.0.1"));
        let mut c = client.connect(addr("10.0.0.2:80"), T).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        net.set_blackhole(ip("10.0.0.2"), true);
        c.write_all(b"lost?").await.unwrap();
        let mut buf = [0u8; 8];
        let waited =
            meshsim_net::clock::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
        assert!(waited.is_err(), "data crossed a black hole");
        let waited =
            meshsim_net::clock::timeout(Duration::from_millis(200), c.read(&mut buf)).await;
        assert!(
            waited.is_err(),
            "the client heard something across a black hole"
        );
    }
);

parity!(many_loopback_addresses_serve_at_once, |net| {
    let mut listeners = Vec::new();
    for i in 1..=8 {
        let s = net.stack(ip(&format!("10.0.1.{i}")));
        listeners.push(s.listen(8080).await.unwrap());
    }
    let client = net.stack(ip("10.0.0.1"));
    for (i, l) in listeners.iter().enumerate() {
        let dst = addr(&format!("10.0.1.{}:8080", i + 1));
        let mut c = client.connect(dst, T).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.write_all(&[i as u8]).await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(b[0], i as u8);
        assert_eq!(l.local_addr(), dst);
    }
});

parity!(
    captured_connect_reaches_the_sidecar_with_the_original_destination,
    |net| {
        let pod = ip("10.0.0.1");
        let app = net.pod_stack(pod, Capture::default());
        // Sidecar not started: the redirect target has nobody, so connection refused.
        let err = app.connect(addr("52.1.1.10:80"), T).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let sidecar = net.stack(pod);
        let l = sidecar.listen_capture(15001).await.unwrap();
        let upstream = net.stack(ip("52.1.1.10"));
        let ul = upstream.listen(80).await.unwrap();
        let mut c = app.connect(addr("52.1.1.10:80"), T).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        assert_eq!(s.original_dst(), Some(addr("52.1.1.10:80")));
        c.write_all(b"GET").await.unwrap();
        let mut b = [0u8; 3];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"GET");
        // The sidecar's own traffic (uid 1337) is not captured.
        let mut direct = sidecar.connect(addr("52.1.1.10:80"), T).await.unwrap();
        let (mut us, _) = ul.accept().await.unwrap();
        direct.write_all(b"x").await.unwrap();
        us.read_exact(&mut b[..1]).await.unwrap();
        assert_eq!(us.original_dst(), None);
    }
);

// kube-proxy: an unredirected connect to a service VIP reaches one of its
// endpoints (in turn); a VIP without endpoints refuses; a captured connect
// reaches the sidecar with the VIP as its original destination (Istio's
// chain runs before kube-proxy's, fact sheet 6.1).
parity!(
    a_service_vip_reaches_its_endpoints_in_turn_and_refuses_without_any,
    |net| {
        let vip = addr("10.96.0.20:80");
        let (a, b) = (addr("10.1.0.1:8080"), addr("10.1.0.2:8080"));
        let la = net.stack(a.ip()).listen(a.port()).await.unwrap();
        let lb = net.stack(b.ip()).listen(b.port()).await.unwrap();
        net.set_service(vip, vec![a, b]);
        let client = net.stack(ip("10.0.0.9"));
        let _c1 = client.connect(vip, T).await.unwrap();
        let _c2 = client.connect(vip, T).await.unwrap();
        let (_s1, _) = la.accept().await.unwrap();
        let (_s2, _) = lb.accept().await.unwrap();
        let pod = ip("10.0.0.1");
        let sidecar = net.stack(pod).listen_capture(15001).await.unwrap();
        let app = net.pod_stack(pod, Capture::default());
        let _c3 = app.connect(vip, T).await.unwrap();
        let (s3, _) = sidecar.accept().await.unwrap();
        assert_eq!(s3.original_dst(), Some(vip));
        net.set_service(vip, vec![]);
        let err = client.connect(vip, T).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    }
);

// Fact sheet 6.1: `excludeOutboundIPRanges` / `excludeOutboundPorts` insert
// RETURN rules before the catch-all redirect: such connects go straight to
// their destination even while no sidecar listens.
parity!(excluded_ranges_and_ports_bypass_the_redirect, |net| {
    let pod = ip("10.0.0.1");
    let capture = Capture {
        exclude_ranges: vec!["10.20.0.0/16".parse().unwrap()],
        exclude_ports: vec![5432],
        ..Capture::default()
    };
    let app = net.pod_stack(pod, capture);
    let config = net.stack(ip("10.20.0.7"));
    let _cl = config.listen(8080).await.unwrap();
    let db = net.stack(ip("10.30.0.9"));
    let _dl = db.listen(5432).await.unwrap();
    app.connect(addr("10.20.0.7:8080"), T).await.unwrap();
    app.connect(addr("10.30.0.9:5432"), T).await.unwrap();
    // Outside the exclusions the redirect still applies: nobody on 15001.
    let _other = db.listen(80).await.unwrap();
    let err = app.connect(addr("10.30.0.9:80"), T).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
});

parity!(
    inbound_capture_sends_other_hosts_to_15006_and_lets_the_pod_reach_its_app,
    |net| {
        let pod = ip("10.0.1.1");
        let sidecar = net.stack(pod);
        let app = sidecar.listen(8080).await.unwrap();
        let inbound = sidecar.listen_capture(15006).await.unwrap();
        net.set_inbound_capture(pod, Some(InboundCapture::default()));
        // A peer's connect to the app's port lands on 15006 with the original destination.
        let peer = net.stack(ip("10.0.2.1"));
        let mut c = peer.connect(addr("10.0.1.1:8080"), T).await.unwrap();
        let (mut s, _) = inbound.accept().await.unwrap();
        assert_eq!(s.original_dst(), Some(addr("10.0.1.1:8080")));
        c.write_all(b"in").await.unwrap();
        let mut b = [0u8; 2];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"in");
        // The sidecar on the pod's own host reaches the app directly.
        let _direct = sidecar.connect(addr("10.0.1.1:8080"), T).await.unwrap();
        let (direct, _) = app.accept().await.unwrap();
        assert_eq!(direct.original_dst(), None);
        // Excluded ports (15021 readiness) are not redirected: nobody listens there.
        let err = peer.connect(addr("10.0.1.1:15021"), T).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // Without the rule, a peer reaches the app directly.
        net.set_inbound_capture(pod, None);
        let _plain = peer.connect(addr("10.0.1.1:8080"), T).await.unwrap();
        let (plain, _) = app.accept().await.unwrap();
        assert_eq!(plain.original_dst(), None);
    }
);

parity!(udp_datagrams_arrive_and_vanish_across_a_drop, |net| {
    let a = net.stack(ip("10.0.0.1")).bind_udp(0).await.unwrap();
    let b = net.stack(ip("10.0.0.53")).bind_udp(53).await.unwrap();
    a.send_to(b"q1", b.local_addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"q1");
    assert_eq!(from, a.local_addr());
    net.set_blackhole(ip("10.0.0.53"), true);
    a.send_to(b"q2", b.local_addr()).await.unwrap();
    let waited =
        meshsim_net::clock::timeout(Duration::from_millis(200), b.recv_from(&mut buf)).await;
    assert!(waited.is_err(), "a datagram crossed a black hole");
});

#[test]
fn real_mode_refuses_destinations_off_loopback() {
    run_real(|net| async move {
        let client = net.stack(ip("10.0.0.1"));
        let err = client
            .connect(addr("93.184.216.34:80"), T)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("93.184.216.34:80"), "{err}");
        let udp = client.bind_udp(0).await.unwrap();
        let err = udp.send_to(b"x", addr("8.8.8.8:53")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    });
}

#[test]
fn real_mode_listeners_bind_loopback_with_kernel_ports() {
    run_real(|net| async move {
        let l = net.stack(ip("52.1.1.10")).listen(443).await.unwrap();
        let real = net.real_addr(l.local_addr()).unwrap();
        assert!(real.ip().is_loopback());
        assert_ne!(real.port(), 443, "real mode binds port 0");
    });
}

parity!(keepalive_options_are_set_and_read_back, |net| {
    let server = net.stack(ip("10.0.0.2"));
    let l = server.listen(80).await.unwrap();
    let client = net.stack(ip("10.0.0.1"));
    let mut c = client.connect(addr("10.0.0.2:80"), T).await.unwrap();
    let _s = l.accept().await.unwrap();
    assert_eq!(c.keepalive().unwrap(), None, "keepalive is off by default");
    let k = Keepalive {
        time: Duration::from_secs(10),
        interval: Duration::from_secs(2),
        probes: 3,
    };
    c.set_keepalive(Some(k)).unwrap();
    assert_eq!(c.keepalive().unwrap(), Some(k));
    c.set_keepalive(None).unwrap();
    assert_eq!(c.keepalive().unwrap(), None);
});

parity!(
    keepalive_to_a_live_peer_keeps_an_idle_connection_open,
    |net| {
        let server = net.stack(ip("10.0.0.2"));
        let l = server.listen(80).await.unwrap();
        let client = net.stack(ip("10.0.0.1"));
        let mut c = client.connect(addr("10.0.0.2:80"), T).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        let k = Keepalive {
            time: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            probes: 1,
        };
        c.set_keepalive(Some(k)).unwrap();
        // Idle well past time + interval x probes: every probe is answered.
        let mut b = [0u8; 1];
        let idle = meshsim_net::clock::timeout(Duration::from_millis(2500), c.read(&mut b)).await;
        assert!(
            idle.is_err(),
            "an idle connection to a live peer ended: {idle:?}"
        );
        s.write_all(b"x").await.unwrap();
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"x");
    }
);

// Every pod has its own loopback: an app bound to `127.0.0.1` is reached
// from its own host at `127.0.0.1` and refused through the pod's address,
// from any host (fact sheet §6.1: app-to-localhost is never captured;
// incidents.md INC-15).
parity!(
    a_listener_bound_to_loopback_answers_only_its_own_host,
    |net| {
        let a = net.stack(ip("10.0.0.1"));
        let b = net.stack(ip("10.0.0.2"));
        let l = a.listen_bound(8080, Bind::Loopback).await.unwrap();
        assert_eq!(l.local_addr(), addr("127.0.0.1:8080"));
        let t = Duration::from_secs(1);
        let mut c = a.connect(addr("127.0.0.1:8080"), t).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        for (from, dst) in [
            (&a, "10.0.0.1:8080"),
            (&b, "10.0.0.1:8080"),
            (&b, "127.0.0.1:8080"),
        ] {
            let err = from.connect(addr(dst), t).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{dst}");
        }
    }
);

// A listener on every address (`0.0.0.0`, [`Stack::listen`]) answers its
// host's loopback too; one bound to the host's address only does not.
parity!(
    loopback_reaches_any_address_binds_but_not_host_only_ones,
    |net| {
        let a = net.stack(ip("10.0.0.1"));
        let b = net.stack(ip("10.0.0.2"));
        let t = Duration::from_secs(1);
        let _any = a.listen(8080).await.unwrap();
        a.connect(addr("127.0.0.1:8080"), t).await.unwrap();
        let _host = b.listen_bound(8080, Bind::Host).await.unwrap();
        let err = b.connect(addr("127.0.0.1:8080"), t).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        a.connect(addr("10.0.0.2:8080"), t).await.unwrap();
    }
);
