//! Client profiles: how a real HTTP client library pools connections and
//! caches DNS answers.
//!
//! Each named profile copies the defaults of one runtime from the reference
//! table "A3. Client-side pools and DNS caching" (`incidents.md`); the source
//! line is quoted on each constructor. What matters for the incidents is
//! *when a client dials* (and therefore resolves): a pooled connection never
//! re-resolves, so it stays pinned to the IP it was dialled to.

use std::time::Duration;

use meshsim_dns::CachePolicy;

use crate::retry::AppRetry;

/// How the application's HTTP client behaves.
///
/// Fields can be changed after [`ClientProfile::named`] to model a mitigation
/// (`max_connection_age`, `dns_cache`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProfile {
    /// Profile name, as written in scenarios (`go`, `jvm`...).
    pub name: String,
    /// Whether connections are kept alive and pooled. `false`: every request
    /// carries `connection: close` and dials a new connection (resolving the
    /// name again, through `dns_cache`).
    pub keep_alive: bool,
    /// A pooled connection idle longer than this is closed instead of reused.
    /// `None`: idle connections are kept forever; such a client (urllib3) also
    /// does not notice that the server closed a pooled connection, see
    /// [`ClientProfile::notices_server_close`].
    pub idle_timeout: Option<Duration>,
    /// A connection older than this is not reused: it is closed when returned
    /// to the pool or found there. `None`: no age limit (every A3 default).
    pub max_connection_age: Option<Duration>,
    /// Idle connections kept per (host, port); a connection returned to a full
    /// pool is closed.
    pub max_idle_per_host: usize,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// Bound on the whole request (DNS + connect + response), measured from
    /// the request's start. `None`: no application timeout.
    pub request_timeout: Option<Duration>,
    /// How the client caches DNS answers (passed to the stub resolver).
    pub dns_cache: CachePolicy,
    /// Which connection is closed when a connection comes back to a full idle
    /// list.
    pub idle_overflow: IdleOverflow,
    /// Which idle connection a request takes.
    pub checkout_order: CheckoutOrder,
    /// The application's own retry of failed tries (Spring Retry,
    /// resilience4j), for the load's requests and a serving app's downstream
    /// calls alike. `None` (every named profile): each request is tried once.
    pub retry: Option<AppRetry>,
}

/// Which idle connection a request takes from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutOrder {
    /// The most recently returned (Go's idle slice, urllib3's `LifoQueue`,
    /// Apache HttpClient's free list).
    MostRecentlyReturned,
    /// The oldest connection first (OkHttp's `RealConnectionPool` walks its
    /// connections in creation order and takes the first idle one), so a
    /// long-lived connection keeps carrying traffic.
    OldestFirst,
}

/// What a client does with a connection returned to a full idle list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleOverflow {
    /// Close the returned connection (Go's `tryPutIdleConn` "too many idle
    /// per host", urllib3's "connection pool is full, discarding connection").
    CloseReturned,
    /// Keep the returned connection and close the one idle longest (OkHttp's
    /// `ConnectionPool` cleanup evicts the longest-idle connection beyond
    /// `maxIdleConnections`).
    EvictLongestIdle,
}

/// The profile names [`ClientProfile::named`] knows, in a stable order.
const NAMES: &[&str] = &["go", "jvm", "python-requests", "no-keepalive"];

impl ClientProfile {
    /// The profile called `name`, or `None` for an unknown name
    /// (see [`ClientProfile::names`]).
    pub fn named(name: &str) -> Option<ClientProfile> {
        match name {
            "go" => Some(Self::go()),
            "jvm" => Some(Self::jvm()),
            "python-requests" => Some(Self::python_requests()),
            "no-keepalive" => Some(Self::no_keepalive()),
            _ => None,
        }
    }

    /// Every name [`ClientProfile::named`] accepts.
    pub fn names() -> &'static [&'static str] {
        NAMES
    }

    /// Whether the client notices, before reusing an idle connection, that the
    /// server closed it.
    ///
    /// Go's transport has a read loop per connection that removes a closed
    /// one from the pool; OkHttp checks health before reuse. urllib3 as
    /// described in A3 does neither: "a connection the server closed stays in
    /// the pool, and the next request hits `RemoteDisconnected`". We tie this
    /// to `idle_timeout`: a client that has no idle timeout does not watch its
    /// idle connections at all.
    pub fn notices_server_close(&self) -> bool {
        self.idle_timeout.is_some()
    }

    /// Go `net/http.DefaultTransport`. A3: "`IdleConnTimeout` 90 s;
    /// `MaxIdleConns` 100; `MaxIdleConnsPerHost` 2; dial timeout 30 s [...]
    /// no in-process DNS cache: every *new dial* resolves; a pooled connection
    /// never re-resolves". `http.DefaultClient` has no overall timeout.
    pub(crate) fn go() -> ClientProfile {
        ClientProfile {
            name: "go".into(),
            keep_alive: true,
            idle_timeout: Some(Duration::from_secs(90)),
            max_connection_age: None,
            max_idle_per_host: 2,
            connect_timeout: Duration::from_secs(30),
            request_timeout: None,
            dns_cache: CachePolicy::None,
            idle_overflow: IdleOverflow::CloseReturned,
            checkout_order: CheckoutOrder::MostRecentlyReturned,
            retry: None,
        }
    }

    /// A JVM client modelled on OkHttp: its pool takes the oldest idle
    /// connection first and evicts the longest-idle one beyond 5. A3: OkHttp "max 5 idle
    /// connections, evicted after 5 min idle"; JVM `InetAddress` cache
    /// "positive TTL [...] otherwise ~30 s". OkHttp's connect timeout is 10 s
    /// and its call timeout is off by default.
    fn jvm() -> ClientProfile {
        ClientProfile {
            name: "jvm".into(),
            keep_alive: true,
            idle_timeout: Some(Duration::from_secs(300)),
            max_connection_age: None,
            max_idle_per_host: 5,
            connect_timeout: Duration::from_secs(10),
            request_timeout: None,
            dns_cache: CachePolicy::FixedTtl(Duration::from_secs(30)),
            idle_overflow: IdleOverflow::EvictLongestIdle,
            checkout_order: CheckoutOrder::OldestFirst,
            retry: None,
        }
    }

    /// Python `requests` / urllib3. A3: "**no client-side idle timeout**: a
    /// connection the server closed stays in the pool, and the next request
    /// hits `RemoteDisconnected`"; DNS: "no cache". `requests` has no default
    /// timeout, so a connect is bounded by the kernel's SYN retries (Linux
    /// `tcp_syn_retries` 6: 127 s); urllib3 keeps 10 connections per host.
    fn python_requests() -> ClientProfile {
        ClientProfile {
            name: "python-requests".into(),
            keep_alive: true,
            idle_timeout: None,
            max_connection_age: None,
            max_idle_per_host: 10,
            connect_timeout: Duration::from_secs(127),
            request_timeout: None,
            dns_cache: CachePolicy::None,
            idle_overflow: IdleOverflow::CloseReturned,
            checkout_order: CheckoutOrder::MostRecentlyReturned,
            retry: None,
        }
    }

    /// A client without keep-alive (Go with `DisableKeepAlives`, curl in a
    /// loop): `connection: close` on every request, so every request dials and
    /// resolves (A3 Go row: "every *new dial* resolves"), dial timeout 30 s.
    fn no_keepalive() -> ClientProfile {
        ClientProfile {
            name: "no-keepalive".into(),
            keep_alive: false,
            idle_timeout: None,
            max_connection_age: None,
            max_idle_per_host: 0,
            connect_timeout: Duration::from_secs(30),
            request_timeout: None,
            dns_cache: CachePolicy::None,
            idle_overflow: IdleOverflow::CloseReturned,
            checkout_order: CheckoutOrder::MostRecentlyReturned,
            retry: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_has_a_profile_of_that_name() {
        for name in ClientProfile::names() {
            let p = ClientProfile::named(name).expect("listed profile exists");
            assert_eq!(p.name, *name);
            assert_eq!(p.retry, None, "{name}: libraries do not retry by default");
        }
        assert!(ClientProfile::named("perl").is_none());
    }

    #[test]
    fn go_profile_matches_default_transport() {
        let p = ClientProfile::named("go").unwrap();
        assert!(p.keep_alive);
        assert_eq!(p.idle_timeout, Some(Duration::from_secs(90)));
        assert_eq!(p.max_idle_per_host, 2);
        assert_eq!(p.connect_timeout, Duration::from_secs(30));
        assert_eq!(p.dns_cache, CachePolicy::None);
        assert!(p.notices_server_close());
    }

    #[test]
    fn jvm_profile_caches_dns_for_30_seconds() {
        let p = ClientProfile::named("jvm").unwrap();
        assert_eq!(p.dns_cache, CachePolicy::FixedTtl(Duration::from_secs(30)));
        assert_eq!(p.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(p.connect_timeout, Duration::from_secs(10));
    }

    #[test]
    fn python_requests_profile_has_no_idle_timeout_and_misses_server_close() {
        let p = ClientProfile::named("python-requests").unwrap();
        assert!(p.keep_alive);
        assert_eq!(p.idle_timeout, None);
        assert!(!p.notices_server_close());
    }

    #[test]
    fn no_keepalive_profile_never_pools() {
        let p = ClientProfile::named("no-keepalive").unwrap();
        assert!(!p.keep_alive);
        assert_eq!(p.dns_cache, CachePolicy::None);
    }
}
