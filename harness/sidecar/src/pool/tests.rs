use meshsim_core::SimRng;
use meshsim_net::{Net, SimConfig};

use super::*;

const UP: ([u8; 4], u16) = ([52, 1, 1, 10], 80);

async fn pool_with_upstream() -> (Arc<Pool>, meshsim_net::NetListener) {
    let net = Net::sim(SimConfig::default());
    let listener = net.stack(UP.0.into()).listen(UP.1).await.unwrap();
    let env = Env::new(net.stack([10, 0, 0, 1].into()), SimRng::new(3));
    let settings = PoolSettings::default();
    let breaker = crate::circuit::CircuitBreaker::new(&settings);
    let pool = Pool::new(env, settings, Duration::from_secs(10), breaker);
    (pool, listener)
}

fn queued(take: Take) -> Queued {
    match take {
        Take::Queued(q) => q,
        Take::Idle(..) => panic!("the pool has no idle connection"),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cancelled_pending_request_leaves_the_queue_and_its_connection_still_connects_then_idles()
{
    let (pool, _listener) = pool_with_upstream().await;
    let q = queued(pool.take_or_queue(SocketAddr::from(UP)).unwrap());
    assert_eq!(pool.queue_len(), (1, 1));
    drop(q);
    assert_eq!(
        pool.queue_len(),
        (0, 1),
        "left the queue; CancelPolicy::Default keeps the connect"
    );
    meshsim_net::clock::sleep(Duration::from_millis(5)).await;
    assert_eq!((pool.queue_len(), pool.idle_len()), ((0, 0), 1));
    assert_eq!(pool.env.stats.snapshot().upstream_rq_cancelled, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_connection_granted_to_a_request_cancelled_before_taking_it_goes_back_to_the_pool() {
    let (pool, _listener) = pool_with_upstream().await;
    let q = queued(pool.take_or_queue(SocketAddr::from(UP)).unwrap());
    // The connect finishes and grants the connection while nobody polls `q`.
    meshsim_net::clock::sleep(Duration::from_millis(5)).await;
    assert_eq!((pool.queue_len(), pool.idle_len()), ((0, 0), 0));
    drop(q);
    assert_eq!(pool.idle_len(), 1, "not leaked");
    // The next request takes it: a fresh connection, so not reused.
    let lease = pool.checkout(SocketAddr::from(UP)).await.unwrap();
    assert!(!lease.reused());
    assert_eq!(pool.env.stats.snapshot().upstream_cx_total, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn pending_requests_open_one_connection_each_and_no_more() {
    let (pool, _listener) = pool_with_upstream().await;
    let a = queued(pool.take_or_queue(SocketAddr::from(UP)).unwrap());
    let b = queued(pool.take_or_queue(SocketAddr::from(UP)).unwrap());
    assert_eq!(pool.queue_len(), (2, 2));
    drop(a);
    // A third request is covered by the connection A no longer needs.
    let c = queued(pool.take_or_queue(SocketAddr::from(UP)).unwrap());
    assert_eq!(pool.queue_len(), (2, 2));
    let (b, c) = (b.wait().await.unwrap(), c.wait().await.unwrap());
    assert_eq!(
        (b.0.id, c.0.id),
        (1, 2),
        "FIFO: the first connection to the oldest"
    );
    assert_eq!(pool.env.stats.snapshot().upstream_cx_total, 2);
}
