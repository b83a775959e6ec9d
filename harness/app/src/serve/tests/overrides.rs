//! Behaviour changes at run time: the engine's "change a pod's app behaviour
//! for a window".

use std::time::Duration;

use super::support::*;
use crate::AppError;
use crate::serve::{BehaviourOverride, Capacity, RouteSpec};

fn failing(status: u16) -> BehaviourOverride {
    BehaviourOverride {
        status: Some(status),
        ..BehaviourOverride::default()
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_status_override_answers_every_request_until_it_is_cleared() {
    let net = sim();
    let routes = vec![route("/a", 200, SEC), route("/b", 200, SEC)];
    let app = start(&net, "10.0.0.2", config(routes)).await;
    app.handle.set_override(None, failing(503)).unwrap();
    for path in ["/a", "/b"] {
        let (reply, took) = get(&net, addr("10.0.0.2:80"), path).await;
        assert_eq!(reply.status, 503, "{path}");
        assert!(about(took, SEC), "the latency still applies: {took:?}");
    }
    app.handle.clear_override(None).unwrap();
    assert_eq!(get(&net, addr("10.0.0.2:80"), "/a").await.0.status, 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_route_override_wins_over_the_every_route_one_field_by_field() {
    let net = sim();
    let routes = vec![route("/a", 200, SEC), route("/b", 200, SEC)];
    let app = start(&net, "10.0.0.2", config(routes)).await;
    let slow = BehaviourOverride {
        latency: Some(3 * SEC),
        ..BehaviourOverride::default()
    };
    app.handle.set_override(None, slow).unwrap();
    app.handle.set_override(Some("/a"), failing(500)).unwrap();
    let (reply, took) = get(&net, addr("10.0.0.2:80"), "/a").await;
    assert_eq!(reply.status, 500);
    assert!(about(took, 3 * SEC), "{took:?}");
    let (reply, took) = get(&net, addr("10.0.0.2:80"), "/b").await;
    assert_eq!(reply.status, 200);
    assert!(about(took, 3 * SEC), "{took:?}");
    app.handle.clear_override(Some("/a")).unwrap();
    assert_eq!(get(&net, addr("10.0.0.2:80"), "/a").await.0.status, 200);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_capacity_override_lets_queued_requests_in_at_once() {
    let net = sim();
    let capped = RouteSpec {
        capacity: Some(Capacity {
            limit: 1,
            queue_limit: None,
        }),
        ..route("/", 200, 10 * SEC)
    };
    let app = start(&net, "10.0.0.2", config(vec![capped])).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let net = net.clone();
        clients.push(tokio::spawn(async move {
            get(&net, addr("10.0.0.2:80"), "/").await.1
        }));
    }
    meshsim_net::clock::sleep(SEC).await;
    assert_eq!(app.handle.stats().queued, 2);
    let wider = BehaviourOverride {
        capacity: Some(3),
        ..BehaviourOverride::default()
    };
    app.handle.set_override(Some("/"), wider).unwrap();
    assert_eq!(app.handle.stats().in_flight, 3);
    let mut took = Vec::new();
    for c in clients {
        took.push(c.await.unwrap());
    }
    assert!(
        about(took[0], 10 * SEC) && about(took[2], 11 * SEC),
        "{took:?}"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn overrides_of_unknown_routes_or_with_bad_values_are_errors() {
    let net = sim();
    let app = start(
        &net,
        "10.0.0.2",
        config(vec![route("/a", 200, Duration::ZERO)]),
    )
    .await;
    assert_eq!(
        app.handle.set_override(Some("/x"), failing(503)),
        Err(AppError::UnknownRoute {
            prefix: "/x".into()
        })
    );
    assert!(matches!(
        app.handle.set_override(None, failing(42)),
        Err(AppError::InvalidStatus { status: 42, .. })
    ));
    let zero = BehaviourOverride {
        capacity: Some(0),
        ..BehaviourOverride::default()
    };
    assert!(matches!(
        app.handle.set_override(Some("/a"), zero),
        Err(AppError::ZeroCapacity { .. })
    ));
    assert!(app.handle.clear_override(Some("/x")).is_err());
}
