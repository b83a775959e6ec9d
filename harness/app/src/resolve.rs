//! Name resolution as the application's client library does it.
//!
//! The client asks only when it dials: a pooled connection never re-resolves.
//! Behind a small object-safe trait so that the pool and dial logic can be
//! tested with a scripted name table, independently of the DNS crate; the
//! real implementation is [`meshsim_dns::Resolver`] with the profile's cache
//! policy.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use meshsim_core::SimRng;
use meshsim_core::outcome::DnsFailure;
use meshsim_dns::{Resolver, ResolverConfig};
use meshsim_net::Stack;

use crate::profile::ClientProfile;

/// One answer used by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The first address of the answer.
    pub(crate) addr: IpAddr,
    /// True when the client's own cache answered (no query was sent).
    pub(crate) from_cache: bool,
}

/// The future of one lookup.
pub(crate) type LookupFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Resolved, DnsFailure>> + Send + 'a>>;

/// Something that turns a host name into an address.
pub(crate) trait Resolve: Send + Sync {
    /// Looks `name` up.
    fn resolve<'a>(&'a self, name: &'a str) -> LookupFuture<'a>;
}

/// A name table that tests change while the load runs: every lookup reads
/// the current entry, as a client without a DNS cache would see it.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Scripted {
    names: Arc<std::sync::Mutex<std::collections::BTreeMap<String, IpAddr>>>,
}

#[cfg(test)]
impl Scripted {
    /// Points `name` at `addr` from now on.
    pub(crate) fn set(&self, name: &str, addr: IpAddr) {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), addr);
    }
}

#[cfg(test)]
impl Resolve for Scripted {
    fn resolve<'a>(&'a self, name: &'a str) -> LookupFuture<'a> {
        let found = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied();
        Box::pin(async move {
            found
                .map(|addr| Resolved {
                    addr,
                    from_cache: false,
                })
                .ok_or(DnsFailure::NxDomain)
        })
    }
}

/// The real client resolver: `meshsim_dns`'s stub resolver, asking the pod's
/// DNS servers, with the profile's cache policy and glibc's timeout (5 s) and
/// attempts (2).
struct DnsNames(Resolver);

impl Resolve for DnsNames {
    fn resolve<'a>(&'a self, name: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            let lookup = self.0.lookup_ip(name).await.map_err(|e| e.failure())?;
            let addr = lookup.addrs.first().copied().ok_or(DnsFailure::NoData)?;
            Ok(Resolved {
                addr,
                from_cache: lookup.from_cache,
            })
        })
    }
}

/// The client's resolver: asks `servers` with `profile`'s cache policy,
/// sending from `stack`.
pub(crate) fn dns_resolver(
    profile: &ClientProfile,
    servers: &[SocketAddr],
    stack: &Stack,
    rng: SimRng,
) -> Arc<dyn Resolve> {
    let resolver_config = ResolverConfig {
        servers: servers.to_vec(),
        cache: profile.dns_cache,
        ..ResolverConfig::default()
    };
    Arc::new(DnsNames(Resolver::new(stack.clone(), resolver_config, rng)))
}
