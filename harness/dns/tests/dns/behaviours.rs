//! Scripted failures: one block per behaviour.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use meshsim_core::outcome::DnsFailure;
use meshsim_dns::{Behaviour, CachePolicy, handle_query};
use meshsim_net::clock::Instant;

use super::{example_zones, parse, query, resolver, secs, sim_server};

fn rcode(zones: &meshsim_dns::ZoneSet, name: &str) -> Option<ResponseCode> {
    handle_query(zones, &query(1, name, RecordType::A)).map(|b| parse(&b).metadata.response_code)
}

#[test]
fn drop_behaviour_sends_no_answer() {
    let zones = example_zones();
    zones.set_behaviour("api.example.com", Behaviour::Drop);
    assert_eq!(rcode(&zones, "api.example.com."), None);
}

#[test]
fn servfail_behaviour_answers_servfail() {
    let zones = example_zones();
    zones.set_behaviour("api.example.com", Behaviour::ServFail);
    assert_eq!(
        rcode(&zones, "api.example.com."),
        Some(ResponseCode::ServFail)
    );
}

#[test]
fn refused_behaviour_answers_refused() {
    let zones = example_zones();
    zones.set_behaviour("api.example.com", Behaviour::Refused);
    assert_eq!(
        rcode(&zones, "api.example.com."),
        Some(ResponseCode::Refused)
    );
}

#[test]
fn delay_behaviour_does_not_change_the_answer_itself() {
    let zones = example_zones();
    zones.set_behaviour("api.example.com", Behaviour::Delay(secs(3)));
    assert_eq!(
        rcode(&zones, "api.example.com."),
        Some(ResponseCode::NoError)
    );
}

#[test]
fn a_behaviour_covers_names_below_and_the_closest_setting_wins() {
    let zones = example_zones();
    zones.set_behaviour("example.com", Behaviour::ServFail);
    zones.set_behaviour("api.example.com", Behaviour::Answer);
    assert_eq!(
        rcode(&zones, "deep.other.example.com."),
        Some(ResponseCode::ServFail)
    );
    assert_eq!(
        rcode(&zones, "api.example.com."),
        Some(ResponseCode::NoError)
    );
    assert_eq!(
        rcode(&zones, "x.api.example.com."),
        Some(ResponseCode::NXDomain)
    );
}

#[test]
fn clearing_a_behaviour_restores_normal_answers() {
    let zones = example_zones();
    zones.set_behaviour("API.example.com.", Behaviour::Drop);
    zones.clear_behaviour("api.example.com");
    assert_eq!(
        rcode(&zones, "api.example.com."),
        Some(ResponseCode::NoError)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn delay_behaviour_answers_after_the_delay() {
    let zones = example_zones();
    zones.set_behaviour("api.example.com", Behaviour::Delay(secs(2)));
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    let start = Instant::now();
    r.lookup_ip("api.example.com").await.unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= secs(2) && elapsed < secs(2) + std::time::Duration::from_millis(5),
        "{elapsed:?}"
    );
    assert_eq!(server.stats().delayed, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_delayed_answer_does_not_hold_up_other_queries() {
    let zones = example_zones();
    zones.set_a("fast.example.com", vec![super::ip("10.0.0.8")], secs(60));
    zones.set_behaviour("api.example.com", Behaviour::Delay(secs(3)));
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::None);
    let slow = tokio::spawn({
        let r = r.clone();
        async move { r.lookup_ip("api.example.com").await }
    });
    tokio::task::yield_now().await;
    let start = Instant::now();
    r.lookup_ip("fast.example.com").await.unwrap();
    assert!(start.elapsed() < secs(1));
    assert!(slow.await.unwrap().is_ok());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn drop_behaviour_makes_the_client_time_out_after_attempts_times_timeout() {
    let zones = example_zones();
    zones.set_behaviour("api.example.com", Behaviour::Drop);
    let (net, server) = sim_server(&zones).await;
    let r = resolver(&net, vec![server.addr()], CachePolicy::HonourTtl);
    let start = Instant::now();
    let err = r.lookup_ip("api.example.com").await.unwrap_err();
    assert_eq!(err.failure(), DnsFailure::Timeout);
    assert_eq!(start.elapsed(), secs(10), "glibc: 2 attempts of 5 s");
    let stats = server.stats();
    assert_eq!((stats.queries, stats.dropped), (2, 2));
    assert_eq!(r.cache_len(), 0, "failures are not cached");
}
