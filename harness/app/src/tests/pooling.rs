//! Connection reuse, pinning to the dialled IP, and server-closed connections.

use meshsim_core::{ErrorKind, Outcome};

use super::fixture::*;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keep_alive_reuses_one_connection() {
    let net = sim();
    let seen = serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let (records, stats) = run_app(&net, App::new("go", "http://10.0.0.2/", "10/s")).await;
    assert_eq!(stats.connections_opened, 1);
    assert_eq!(seen.lock().unwrap().connections, 1);
    assert!(!records[0].reused_connection);
    assert!(records[1..].iter().all(|r| r.reused_connection));
    assert_eq!(
        records[5].upstream_host,
        Some("10.0.0.2:80".parse().unwrap())
    );
    assert_eq!(records[5].upstream_attempts, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_keepalive_dials_and_resolves_per_request_with_connection_close() {
    let net = sim();
    let seen = serve(&net, "10.0.0.2:80".parse().unwrap(), Script::default()).await;
    let app = App::new("no-keepalive", "http://api.example/", "10/s");
    app.names.set("api.example", ip("10.0.0.2"));
    let (records, stats) = run_app(&net, app).await;
    assert_eq!(stats.scheduled, 100);
    assert_eq!(stats.connections_opened, 100);
    assert_eq!(stats.dns_lookups, 100);
    assert_eq!(seen.lock().unwrap().connections, 100);
    assert!(
        records
            .iter()
            .all(|r| !r.reused_connection && r.outcome.is_ok())
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.heads
            .iter()
            .all(|h| h.contains("connection: close\r\n") && h.contains("host: api.example\r\n"))
    );
}

/// INC-02: the load balancer's name moves to a new IP; a pooled keep-alive
/// connection never re-resolves and keeps talking to the old IP.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_pooled_connection_stays_pinned_to_the_old_ip_after_dns_changes() {
    let net = sim();
    let old = serve(&net, "10.0.0.10:80".parse().unwrap(), Script::default()).await;
    let new = serve(&net, "10.0.0.11:80".parse().unwrap(), Script::default()).await;
    let app = App::new("go", "http://alb.example/", "10/s");
    let names = app.names.clone();
    names.set("alb.example", ip("10.0.0.10"));
    let flip = async {
        meshsim_net::clock::sleep(2 * SEC).await;
        names.set("alb.example", ip("10.0.0.11"));
    };
    let ((records, stats), ()) = tokio::join!(run_app(&net, app), flip);
    assert_eq!(
        stats.dns_lookups, 1,
        "a pooled connection never re-resolves"
    );
    assert_eq!(
        (
            old.lock().unwrap().heads.len(),
            new.lock().unwrap().heads.len()
        ),
        (100, 0)
    );
    let last = records.last().unwrap();
    assert_eq!(last.upstream_host, Some("10.0.0.10:80".parse().unwrap()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_keepalive_the_client_follows_dns_at_the_next_request() {
    let net = sim();
    let old = serve(&net, "10.0.0.10:80".parse().unwrap(), Script::default()).await;
    let new = serve(&net, "10.0.0.11:80".parse().unwrap(), Script::default()).await;
    let app = App::new("no-keepalive", "http://alb.example/", "10/s");
    let names = app.names.clone();
    names.set("alb.example", ip("10.0.0.10"));
    let flip = async {
        meshsim_net::clock::sleep(2 * SEC).await;
        names.set("alb.example", ip("10.0.0.11"));
    };
    tokio::join!(run_app(&net, app), flip);
    // Requests at 0.0 .. 1.9 s went to the old IP; the one at 2.0 s is
    // scheduled at the same instant as the flip and runs after it.
    assert_eq!(
        (
            old.lock().unwrap().heads.len(),
            new.lock().unwrap().heads.len()
        ),
        (20, 80)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn max_connection_age_makes_a_pooled_client_re_resolve() {
    let net = sim();
    let old = serve(&net, "10.0.0.10:80".parse().unwrap(), Script::default()).await;
    let new = serve(&net, "10.0.0.11:80".parse().unwrap(), Script::default()).await;
    let mut app = App::new("go", "http://alb.example/", "10/s");
    app.profile.max_connection_age = Some(3 * SEC);
    let names = app.names.clone();
    names.set("alb.example", ip("10.0.0.10"));
    let flip = async {
        meshsim_net::clock::sleep(2 * SEC).await;
        names.set("alb.example", ip("10.0.0.11"));
    };
    let ((records, stats), ()) = tokio::join!(run_app(&net, app), flip);
    assert!(records.iter().all(|r| r.outcome.is_ok()));
    let (o, n) = (
        old.lock().unwrap().heads.len(),
        new.lock().unwrap().heads.len(),
    );
    assert_eq!(o + n, 100);
    assert!((29..=32).contains(&o), "old served {o}");
    assert!(stats.dns_lookups >= 3, "{}", stats.dns_lookups);
}

/// A3, python-requests: "a connection the server closed stays in the pool,
/// and the next request hits `RemoteDisconnected`".
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn python_requests_reuses_a_connection_the_server_closed_and_gets_connection_closed() {
    let net = sim();
    let keepalive_5s = Script {
        idle_close: Some(5 * SEC),
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), keepalive_5s).await;
    let mut app = App::new("python-requests", "http://10.0.0.2/", "6/m");
    app.load_for = 30 * SEC;
    let (records, stats) = run_app(&net, app).await;
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
    let closed = Outcome::Error(ErrorKind::ConnectionClosed);
    let ok = Outcome::Ok { status: 200 };
    assert_eq!(outcomes, vec![ok, closed, ok]);
    assert!(records[1].reused_connection);
    assert_eq!(
        records[1].upstream_attempts, 0,
        "nothing reached the server"
    );
    assert_eq!(stats.connections_opened, 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn go_notices_the_server_closed_an_idle_connection_and_dials_again() {
    let net = sim();
    let keepalive_5s = Script {
        idle_close: Some(5 * SEC),
        ..Script::default()
    };
    serve(&net, "10.0.0.2:80".parse().unwrap(), keepalive_5s).await;
    let mut app = App::new("go", "http://10.0.0.2/", "6/m");
    app.load_for = 30 * SEC;
    let (records, stats) = run_app(&net, app).await;
    assert!(
        records
            .iter()
            .all(|r| r.outcome.is_ok() && !r.reused_connection)
    );
    assert_eq!(stats.connections_opened, 3);
}
