//! The stub resolver an application links: glibc-like retries over a server
//! list, and a client-side cache whose policy is the application's (a JVM
//! caching for 30 s, a Go program not caching at all, ...).
//!
//! Why the policy is explicit: the incidents this crate serves (an ALB
//! rotating its IPs, a firewall that learns addresses from DNS) turn on how
//! long a client keeps an answer after its TTL, so the cache is the variable
//! under test, not an implementation detail.

mod cache;
mod exchange;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use meshsim_core::SimRng;
use meshsim_net::Stack;
use meshsim_net::clock::Instant;

use crate::DnsError;
use crate::wire::{normalize, parse_name, query_bytes};
use cache::{Answer, Cache, Negative};
use exchange::{Ctx, Question, TryError};

/// How long the client keeps answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// No cache: every lookup goes to the network (glibc without nscd, Go's resolver).
    None,
    /// Positive answers kept until their TTL (the smallest TTL of the answer)
    /// runs out; a TTL of 0 is not cached. Negative answers (NXDOMAIN, NODATA)
    /// kept for the SOA minimum (RFC 2308), or `negative_ttl` if set, and not
    /// at all without either. Failures (timeout, SERVFAIL) are never cached.
    HonourTtl,
    /// JVM-like (`networkaddress.cache.ttl`): positive answers kept for this
    /// long whatever their TTL; negative answers for `negative_ttl`, or 10 s.
    FixedTtl(Duration),
    /// Positive answers never expire (a JVM with `networkaddress.cache.ttl=-1`);
    /// negative answers as for `FixedTtl`.
    Forever,
}

/// Settings of a [`Resolver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Servers asked in order (`nameserver` lines). Default: none.
    pub servers: Vec<SocketAddr>,
    /// Wait per try (`options timeout:`). Default 5 s, glibc's.
    pub timeout: Duration,
    /// Rounds over the server list (`options attempts:`); 0 counts as 1.
    /// Default 2, glibc's.
    pub attempts: u32,
    /// Cache policy. Default [`CachePolicy::None`].
    pub cache: CachePolicy,
    /// Overrides how long negative answers are cached (seconds-resolution
    /// durations are typical). Default `None`: the policy's own rule.
    pub negative_ttl: Option<Duration>,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            servers: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
            cache: CachePolicy::None,
            negative_ttl: None,
        }
    }
}

/// A successful lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The IPv4 addresses, in the server's order.
    pub addrs: Vec<IpAddr>,
    /// The smallest TTL of the answer (CNAMEs included); for a cache hit, what
    /// remains of the cache lifetime (of `FixedTtl`'s duration, under that
    /// policy; the original TTL under `Forever`). Zero for an IP literal.
    pub ttl: Duration,
    /// Whether the answer came from the cache.
    pub from_cache: bool,
}

/// A stub resolver. Cheap to clone; clones share the cache and the id stream.
#[derive(Debug, Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    stack: Stack,
    config: ResolverConfig,
    // Short critical sections only; never held across an await.
    rng: Mutex<SimRng>,
    cache: Mutex<Cache>,
}

impl Resolver {
    /// A resolver sending from `stack`, drawing query ids from `rng`.
    pub fn new(stack: Stack, config: ResolverConfig, rng: SimRng) -> Resolver {
        let inner = Inner {
            stack,
            config,
            rng: Mutex::new(rng),
            cache: Mutex::new(Cache::default()),
        };
        Resolver {
            inner: Arc::new(inner),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ResolverConfig {
        &self.inner.config
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        self.cache().clear();
    }

    /// How many names the cache holds (expired entries are swept when looked up).
    pub fn cache_len(&self) -> usize {
        self.cache().len()
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The IPv4 addresses of `name` (A records, following CNAMEs in the
    /// answer), from the cache when the policy allows. An IP literal is
    /// returned as is, without a query.
    ///
    /// # Errors
    /// [`DnsError::NxDomain`] / [`DnsError::NoData`] for negative answers (from
    /// the server or the cache); [`DnsError::Timeout`] when no server answered;
    /// [`DnsError::ServFail`], [`DnsError::Refused`], [`DnsError::Malformed`] for
    /// the last failing answer when no server gave a definitive one;
    /// [`DnsError::InvalidName`], [`DnsError::NoServers`], [`DnsError::Io`].
    pub async fn lookup_ip(&self, name: &str) -> Result<Lookup, DnsError> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(Lookup {
                addrs: vec![ip],
                ttl: Duration::ZERO,
                from_cache: false,
            });
        }
        let qname = parse_name(name)?;
        let key = normalize(name);
        if let Some(hit) = self.cache().get(&key, Instant::now()) {
            return into_result(name, hit.answer, true);
        }
        let answer = self.query(name, qname).await?;
        let config = &self.inner.config;
        self.cache().store(
            &key,
            &answer,
            config.cache,
            config.negative_ttl,
            Instant::now(),
        );
        into_result(name, answer, false)
    }

    /// Asks the servers, `attempts` rounds over the list, until one gives a
    /// definitive answer (addresses, NXDOMAIN or NODATA).
    async fn query(&self, name: &str, qname: Name) -> Result<Answer, DnsError> {
        let config = &self.inner.config;
        if config.servers.is_empty() {
            return Err(DnsError::NoServers {
                name: name.to_string(),
            });
        }
        let id = self.next_id();
        let q = Question {
            id,
            key: normalize(name),
            packet: query_bytes(id, qname, RecordType::A),
        };
        let io = |kind| DnsError::Io {
            name: name.to_string(),
            kind,
        };
        let socket = self
            .inner
            .stack
            .bind_udp(0)
            .await
            .map_err(|e| io(e.kind()))?;
        let ctx = Ctx {
            stack: &self.inner.stack,
            servers: &config.servers,
            timeout: config.timeout,
        };
        let mut last = TryError::Timeout;
        for _ in 0..config.attempts.max(1) {
            for &server in &config.servers {
                match exchange::udp_try(&socket, server, &q, &ctx).await {
                    Ok(answer) => return Ok(answer),
                    // An answer that says why beats silence in the final error.
                    Err(TryError::Timeout) => {}
                    Err(e) => last = e,
                }
            }
        }
        Err(self.failure(name, last))
    }

    fn next_id(&self) -> u16 {
        let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
        // Truncation keeps the low 16 bits: a uniform id.
        rng.next_u64() as u16
    }

    fn failure(&self, name: &str, e: TryError) -> DnsError {
        let name = name.to_string();
        let config = &self.inner.config;
        match e {
            TryError::Timeout => DnsError::Timeout {
                name,
                attempts: config.attempts.max(1),
                timeout: config.timeout,
                servers: config.servers.len(),
            },
            TryError::ServFail(server) => DnsError::ServFail { name, server },
            TryError::Refused(server) => DnsError::Refused { name, server },
            TryError::Malformed { server, detail } => DnsError::Malformed {
                name,
                server,
                detail,
            },
            TryError::Io(kind) => DnsError::Io { name, kind },
        }
    }
}

fn into_result(name: &str, answer: Answer, from_cache: bool) -> Result<Lookup, DnsError> {
    let name = name.to_string();
    match answer {
        Answer::Addrs { addrs, ttl } => Ok(Lookup {
            addrs,
            ttl,
            from_cache,
        }),
        Answer::Negative {
            kind: Negative::NxDomain,
            ..
        } => Err(DnsError::NxDomain { name }),
        Answer::Negative {
            kind: Negative::NoData,
            ..
        } => Err(DnsError::NoData { name }),
    }
}
