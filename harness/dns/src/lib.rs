//! The scenario's DNS: an authoritative server with scripted failures, and the
//! stub resolver an application uses, with the client-side cache policies that
//! decide how long a stale address lives.
//!
//! Both run over the Net seam ([`meshsim_net::Stack`]), so the same code serves
//! a simulated network on virtual time and real loopback sockets (where `dig`
//! can query the server). The wire format is `hickory-proto`'s; the server and
//! the resolver are our own, small enough to script and to read.
//!
//! Module map:
//! - [`zone`]: [`ZoneSet`], the shared, changeable zone data, and the
//!   [`Behaviour`] a name can be scripted with (drop, SERVFAIL, REFUSED, delay);
//! - [`answer`]: [`handle_query`], the server's answer to one packet as a pure
//!   function (CNAME chasing, NXDOMAIN versus NODATA with the SOA, REFUSED
//!   outside our zones, FORMERR, truncation);
//! - [`server`]: [`spawn`] runs it on UDP and TCP; [`DnsHandle`] and [`DnsStats`];
//! - [`resolver`]: [`Resolver`] with [`ResolverConfig`] and [`CachePolicy`];
//! - [`wire`]: names, query encoding, TCP framing;
//! - [`error`]: [`DnsError`], which maps onto core's `DnsFailure`.
//!
//! ```
//! use std::time::Duration;
//! use meshsim_core::SimRng;
//! use meshsim_dns::{CachePolicy, Resolver, ResolverConfig, ZoneSet, spawn};
//! use meshsim_net::{Net, SimConfig};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
//! rt.block_on(async {
//!     let net = Net::sim(SimConfig::default());
//!     let zones = ZoneSet::new();
//!     zones.add_zone("partner.example", Duration::from_secs(30));
//!     zones.set_a("api.partner.example", vec!["52.1.1.10".parse().unwrap()], Duration::from_secs(60));
//!     let server = spawn(zones.clone(), &net.stack("10.0.0.53".parse().unwrap()), 53).await.unwrap();
//!
//!     let config = ResolverConfig { servers: vec![server.addr()], cache: CachePolicy::HonourTtl, ..Default::default() };
//!     let resolver = Resolver::new(net.stack("10.0.0.1".parse().unwrap()), config, SimRng::new(7));
//!     let first = resolver.lookup_ip("api.partner.example").await.unwrap();
//!     assert_eq!(first.addrs, vec!["52.1.1.10".parse::<std::net::IpAddr>().unwrap()]);
//!     assert_eq!(first.ttl, Duration::from_secs(60));
//!     // The ALB rotates its IPs; a TTL-honouring client sees it only after the TTL.
//!     zones.set_a("api.partner.example", vec!["52.1.1.11".parse().unwrap()], Duration::from_secs(60));
//!     assert!(resolver.lookup_ip("api.partner.example").await.unwrap().from_cache);
//!     meshsim_net::clock::sleep(Duration::from_secs(61)).await;
//!     let fresh = resolver.lookup_ip("api.partner.example").await.unwrap();
//!     assert_eq!(fresh.addrs, vec!["52.1.1.11".parse::<std::net::IpAddr>().unwrap()]);
//!     assert_eq!(server.stats().queries, 2);
//!     server.shutdown().await;
//! });
//! ```

pub mod answer;
pub mod error;
pub mod resolver;
pub mod server;
pub mod wire;
pub mod zone;

pub use answer::handle_query;
pub use error::DnsError;
pub use resolver::{CachePolicy, Lookup, Resolver, ResolverConfig};
pub use server::{DnsHandle, DnsStats, spawn};
pub use wire::{encode_query, validate_name};
pub use zone::{Behaviour, ZoneSet};
