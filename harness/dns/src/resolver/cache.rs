//! The stub resolver's cache: what each policy keeps, and for how long.
//!
//! Pure: every call takes `now`, so expiry is tested without a clock. An entry
//! stored at `t` with lifetime `d` is fresh while `now < t + d`; at exactly
//! `t + d` it has expired (the record's TTL has run out).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use meshsim_net::clock::Instant;

use super::CachePolicy;

/// Negative lifetime of `FixedTtl` and `Forever` when `negative_ttl` is unset:
/// the JVM's `networkaddress.cache.negative.ttl` default.
pub(crate) const JVM_NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// A negative answer's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Negative {
    NxDomain,
    NoData,
}

/// A definitive answer from a server: what the cache may keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Addresses, with the smallest TTL of the records that led to them.
    Addrs { addrs: Vec<IpAddr>, ttl: Duration },
    /// NXDOMAIN or NODATA, with the negative TTL of the authority SOA
    /// (min of its TTL and minimum, RFC 2308 §5) when there was one.
    Negative {
        kind: Negative,
        soa_ttl: Option<Duration>,
    },
}

/// How long an entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    For(Duration),
    Forever,
}

/// How long `policy` keeps `answer`; `None` means not at all.
pub(crate) fn lifetime(
    policy: CachePolicy,
    negative_ttl: Option<Duration>,
    answer: &Answer,
) -> Option<Lifetime> {
    let life = match (policy, answer) {
        (CachePolicy::None, _) => return None,
        (CachePolicy::HonourTtl, Answer::Addrs { ttl, .. }) => Lifetime::For(*ttl),
        (CachePolicy::HonourTtl, Answer::Negative { soa_ttl, .. }) => {
            Lifetime::For(negative_ttl.or(*soa_ttl)?)
        }
        (CachePolicy::FixedTtl(d), Answer::Addrs { .. }) => Lifetime::For(d),
        (CachePolicy::Forever, Answer::Addrs { .. }) => Lifetime::Forever,
        (CachePolicy::FixedTtl(_) | CachePolicy::Forever, Answer::Negative { .. }) => {
            Lifetime::For(negative_ttl.unwrap_or(JVM_NEGATIVE_TTL))
        }
    };
    match life {
        Lifetime::For(d) if d.is_zero() => None,
        l => Some(l),
    }
}

#[derive(Debug, Clone)]
struct Entry {
    answer: Answer,
    /// `None`: never expires.
    expires: Option<Instant>,
}

/// A cache hit: the stored answer, with TTLs rewritten to what remains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) answer: Answer,
}

/// Answers by normalized name.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: BTreeMap<String, Entry>,
}

impl Cache {
    /// The fresh entry for `key`, dropping it if it has expired.
    pub(crate) fn get(&mut self, key: &str, now: Instant) -> Option<Hit> {
        let entry = self.entries.get(key)?;
        let remaining = match entry.expires {
            Some(at) if now >= at => {
                self.entries.remove(key);
                return None;
            }
            Some(at) => Some(at - now),
            None => None,
        };
        let answer = match (&entry.answer, remaining) {
            (Answer::Addrs { addrs, .. }, Some(r)) => Answer::Addrs {
                addrs: addrs.clone(),
                ttl: r,
            },
            (Answer::Negative { kind, .. }, Some(r)) => Answer::Negative {
                kind: *kind,
                soa_ttl: Some(r),
            },
            (a, None) => a.clone(),
        };
        Some(Hit { answer })
    }

    /// Keeps `answer` for `key` as `policy` says, replacing what was there.
    pub(crate) fn store(
        &mut self,
        key: &str,
        answer: &Answer,
        policy: CachePolicy,
        negative_ttl: Option<Duration>,
        now: Instant,
    ) {
        let Some(life) = lifetime(policy, negative_ttl, answer) else {
            return;
        };
        let expires = match life {
            Lifetime::For(d) => Some(now + d),
            Lifetime::Forever => None,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                answer: answer.clone(),
                expires,
            },
        );
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of entries, fresh or not yet swept.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(ttl: u64) -> Answer {
        Answer::Addrs {
            addrs: vec!["10.0.0.1".parse().unwrap()],
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn honour_ttl_keeps_an_answer_until_its_ttl_runs_out() {
        let mut c = Cache::default();
        let t0 = Instant::now();
        c.store("a", &addrs(60), CachePolicy::HonourTtl, None, t0);
        let hit = c.get("a", t0 + Duration::from_secs(59)).unwrap();
        assert_eq!(hit.answer, addrs(1));
        assert!(c.get("a", t0 + Duration::from_secs(60)).is_none());
    }

    #[test]
    fn zero_ttl_answers_are_never_cached_under_honour_ttl() {
        assert_eq!(lifetime(CachePolicy::HonourTtl, None, &addrs(0)), None);
    }

    #[test]
    fn negative_answers_use_the_soa_minimum_unless_overridden() {
        let neg = Answer::Negative {
            kind: Negative::NxDomain,
            soa_ttl: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            lifetime(CachePolicy::HonourTtl, None, &neg),
            Some(Lifetime::For(Duration::from_secs(30)))
        );
        let five = Some(Duration::from_secs(5));
        assert_eq!(
            lifetime(CachePolicy::HonourTtl, five, &neg),
            Some(Lifetime::For(Duration::from_secs(5)))
        );
        let no_soa = Answer::Negative {
            kind: Negative::NoData,
            soa_ttl: None,
        };
        assert_eq!(lifetime(CachePolicy::HonourTtl, None, &no_soa), None);
    }

    #[test]
    fn fixed_ttl_ignores_the_record_ttl_and_caches_negatives_for_ten_seconds() {
        let d = Duration::from_secs(30);
        assert_eq!(
            lifetime(CachePolicy::FixedTtl(d), None, &addrs(1)),
            Some(Lifetime::For(d))
        );
        let neg = Answer::Negative {
            kind: Negative::NxDomain,
            soa_ttl: Some(Duration::from_secs(300)),
        };
        assert_eq!(
            lifetime(CachePolicy::FixedTtl(d), None, &neg),
            Some(Lifetime::For(JVM_NEGATIVE_TTL))
        );
    }

    #[test]
    fn forever_never_expires_a_positive_answer() {
        let mut c = Cache::default();
        let t0 = Instant::now();
        c.store("a", &addrs(1), CachePolicy::Forever, None, t0);
        assert_eq!(
            c.get("a", t0 + Duration::from_secs(1_000_000))
                .unwrap()
                .answer,
            addrs(1)
        );
        assert_eq!(c.len(), 1);
        c.clear();
        assert_eq!(c.len(), 0);
    }

    proptest::proptest! {
        #[test]
        fn cache_expiry_respects_ttl_boundaries(ttl_ms in 1u64..10_000_000, elapsed_ms in 0u64..20_000_000, fixed in proptest::bool::ANY) {
            let ttl = Duration::from_millis(ttl_ms);
            let elapsed = Duration::from_millis(elapsed_ms);
            let (policy, record_ttl) = if fixed { (CachePolicy::FixedTtl(ttl), 1) } else { (CachePolicy::HonourTtl, 0) };
            let answer = Answer::Addrs { addrs: vec!["10.0.0.1".parse().unwrap()], ttl: if fixed { Duration::from_secs(record_ttl) } else { ttl } };
            let mut c = Cache::default();
            let t0 = Instant::now();
            c.store("a", &answer, policy, None, t0);
            let hit = c.get("a", t0 + elapsed);
            proptest::prop_assert_eq!(hit.is_some(), elapsed < ttl);
            if let Some(Hit { answer: Answer::Addrs { ttl: remaining, .. } }) = hit {
                proptest::prop_assert_eq!(remaining, ttl - elapsed);
            }
        }
    }
}
