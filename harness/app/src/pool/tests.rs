use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;

use super::*;

const SEC: Duration = Duration::from_secs(1);

/// A live HTTP/1.1 client connection over an in-memory pipe, "dialled" to
/// `10.0.0.<n>:80`; the server end and the connection task come back too.
async fn conn(n: u8) -> (PooledConn, DuplexStream, JoinHandle<()>) {
    let (client, server) = tokio::io::duplex(1024);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(client))
        .await
        .unwrap();
    let join = tokio::spawn(async move {
        let _ = connection.await;
    });
    let addr = SocketAddr::from(([10, 0, 0, n], 80));
    let pooled = PooledConn {
        sender,
        addr,
        opened_at: Instant::now(),
        task: join.abort_handle(),
    };
    (pooled, server, join)
}

fn key() -> PoolKey {
    ("api.example".to_string(), 80)
}

fn profile(name: &str) -> ClientProfile {
    ClientProfile::named(name).unwrap()
}

#[test]
fn a_connection_idle_longer_than_the_idle_timeout_is_not_reused() {
    let go = profile("go");
    let t0 = Instant::now();
    assert!(reusable(&go, t0 + 90 * SEC, t0, t0, false));
    assert!(!reusable(&go, t0 + 91 * SEC, t0, t0, false));
}

#[test]
fn a_connection_older_than_max_age_is_not_reused_even_when_busy() {
    let mut go = profile("go");
    go.max_connection_age = Some(60 * SEC);
    let t0 = Instant::now();
    assert!(reusable(&go, t0 + 59 * SEC, t0, t0 + 59 * SEC, false));
    assert!(!reusable(&go, t0 + 60 * SEC, t0, t0 + 60 * SEC, false));
}

#[test]
fn only_clients_that_watch_idle_connections_skip_server_closed_ones() {
    let t0 = Instant::now();
    assert!(!reusable(&profile("go"), t0, t0, t0, true));
    assert!(reusable(
        &profile("python-requests"),
        t0 + 3600 * SEC,
        t0,
        t0,
        true
    ));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn checkout_takes_the_most_recently_returned_connection() {
    let go = profile("go");
    let mut pool = Pool::default();
    let (a, _sa, _) = conn(1).await;
    let (b, _sb, _) = conn(2).await;
    assert!(pool.give_back(key(), a, &go, Instant::now()));
    assert!(pool.give_back(key(), b, &go, Instant::now()));
    let got = pool.checkout(&key(), &go, Instant::now()).unwrap();
    assert_eq!(got.addr.ip().to_string(), "10.0.0.2");
    assert_eq!(pool.idle_count(&key()), 1);
    assert!(
        pool.checkout(&("other".into(), 80), &go, Instant::now())
            .is_none()
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connection_returned_to_a_full_pool_is_closed() {
    let go = profile("go");
    let mut pool = Pool::default();
    let mut servers = Vec::new();
    let mut kept = Vec::new();
    for n in 1..=3 {
        let (c, s, join) = conn(n).await;
        servers.push((s, join));
        kept.push(pool.give_back(key(), c, &go, Instant::now()));
    }
    assert_eq!(kept, vec![true, true, false]);
    let (_, third) = servers.pop().unwrap();
    assert!(
        third.await.unwrap_err().is_cancelled(),
        "the extra connection's task is aborted"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connection_past_max_age_is_closed_when_returned() {
    let mut go = profile("go");
    go.max_connection_age = Some(60 * SEC);
    let mut pool = Pool::default();
    let (c, _s, _) = conn(1).await;
    meshsim_net::clock::advance(60 * SEC).await;
    assert!(!pool.give_back(key(), c, &go, Instant::now()));
    assert_eq!(pool.idle_count(&key()), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn checkout_skips_a_server_closed_connection_unless_the_profile_misses_it() {
    for (name, reused) in [("go", false), ("python-requests", true)] {
        let p = profile(name);
        let mut pool = Pool::default();
        let (c, server, join) = conn(1).await;
        assert!(pool.give_back(key(), c, &p, Instant::now()));
        drop(server);
        join.await.unwrap();
        let got = pool.checkout(&key(), &p, Instant::now());
        assert_eq!(got.is_some(), reused, "{name}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn okhttp_style_checkout_takes_the_oldest_connection_first() {
    // OkHttp walks its pool in creation order: a connection opened before a
    // DNS change keeps carrying traffic while it lives.
    let jvm = profile("jvm");
    let mut pool = Pool::default();
    let (old, _so, _) = conn(1).await;
    meshsim_net::clock::advance(SEC).await;
    let (young, _sy, _) = conn(2).await;
    assert!(pool.give_back(key(), young, &jvm, Instant::now()));
    assert!(pool.give_back(key(), old, &jvm, Instant::now()));
    let got = pool.checkout(&key(), &jvm, Instant::now()).unwrap();
    assert_eq!(got.addr.ip().to_string(), "10.0.0.1");
    let (young2, _s2, _) = conn(3).await;
    assert!(pool.give_back(key(), young2, &jvm, Instant::now()));
    assert!(pool.give_back(key(), got, &jvm, Instant::now()));
    let again = pool.checkout(&key(), &jvm, Instant::now()).unwrap();
    assert_eq!(
        again.addr.ip().to_string(),
        "10.0.0.1",
        "returned last, still first out"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn okhttp_style_overflow_evicts_the_longest_idle_connection() {
    let jvm = profile("jvm");
    let mut pool = Pool::default();
    let mut joins = Vec::new();
    for n in 1..=6 {
        let (c, s, join) = conn(n).await;
        joins.push((s, join));
        assert!(
            pool.give_back(key(), c, &jvm, Instant::now()),
            "returned {n} kept"
        );
        meshsim_net::clock::advance(SEC).await;
    }
    assert_eq!(pool.idle_count(&key()), 5);
    let (_, first) = joins.remove(0);
    assert!(
        first.await.unwrap_err().is_cancelled(),
        "the longest-idle one is closed"
    );
}
