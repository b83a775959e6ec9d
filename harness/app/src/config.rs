//! What the application does ([`AppConfig`]) and what a run lends it
//! ([`AppDeps`]), validated into a plan before any request is scheduled.

use std::net::SocketAddr;
use std::time::Duration;

use meshsim_core::{ProxyLog, Rate, SimRng};
use meshsim_net::clock::Instant;

use crate::AppError;
use crate::pool::PoolKey;
use crate::profile::ClientProfile;
use crate::schedule::Arrival;
use crate::target::{CallKind, Target, parse_call_url};

/// One kind of request the application makes, at a steady rate.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSpec {
    /// `http://host[:port]/path`; a literal IP skips DNS.
    pub url: String,
    /// The request method (the request has no body).
    pub method: http::Method,
    /// Requests per second.
    pub rate: Rate,
    /// How the gaps between requests are drawn.
    pub arrival: Arrival,
    /// At most this many requests of the call (a Job's batch). `None`
    /// (default): unbounded, the call runs for the whole load. When every call
    /// has a count, the load ends after the last one is scheduled, see
    /// [`crate::drive_lifecycle`].
    pub count: Option<u64>,
}

/// The application container: its client library and its calls.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Pool, timeouts and DNS caching of the client library.
    pub profile: ClientProfile,
    /// The calls; their index is [`meshsim_core::RequestRecord::call`].
    pub calls: Vec<CallSpec>,
    /// The resolvers of the pod's `resolv.conf`, asked in order. May be empty
    /// when every call uses a literal IP.
    pub dns_servers: Vec<SocketAddr>,
}

/// What one run lends the application.
#[derive(Debug, Clone)]
pub struct AppDeps {
    /// The application's random stream (Poisson gaps, resolver ids).
    pub rng: SimRng,
    /// The log the pod's sidecar fills, read by `x-request-id`; must belong to
    /// this application alone, as request ids restart at 1 in every run.
    pub proxy_log: ProxyLog,
    /// Time zero of the run: schedules and record times are offsets from it.
    pub start: Instant,
    /// How long requests are scheduled, from `start`.
    pub load_for: Duration,
    /// How long in-flight requests may still finish after `load_for`.
    pub drain_for: Duration,
}

/// One validated call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) target: Target,
    /// The `host` header value.
    pub(crate) authority: String,
    pub(crate) key: PoolKey,
    pub(crate) method: http::Method,
    /// HTTP, or a server-first exchange.
    pub(crate) kind: CallKind,
}

/// The validated calls of an [`AppConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) calls: Vec<Call>,
    /// (rate, arrival) of every call, in call order.
    rates: Vec<(Rate, Arrival)>,
    /// The count of every call, in call order.
    counts: Vec<Option<u64>>,
}

impl Plan {
    /// Parses every URL and checks that names can be resolved.
    pub(crate) fn new(config: &AppConfig) -> Result<Plan, AppError> {
        let calls = config
            .calls
            .iter()
            .map(|c| Call::new(&c.url, &c.method))
            .collect::<Result<Vec<_>, _>>()?;
        check_resolvable(&calls, &config.dns_servers)?;
        if let Some(retry) = &config.profile.retry {
            retry.check()?;
        }
        let rates = config.calls.iter().map(|c| (c.rate, c.arrival)).collect();
        let counts = config.calls.iter().map(|c| c.count).collect();
        Ok(Plan {
            calls,
            rates,
            counts,
        })
    }

    /// The count of every call, in order.
    pub(crate) fn counts(&self) -> &[Option<u64>] {
        &self.counts
    }

    /// (rate, arrival) of every call, in order.
    pub(crate) fn rates(&self) -> Vec<(Rate, Arrival)> {
        self.rates.clone()
    }
}

/// [`AppError::NoDnsServers`] when a call names a host and there is no DNS
/// server to ask.
pub(crate) fn check_resolvable(calls: &[Call], dns_servers: &[SocketAddr]) -> Result<(), AppError> {
    let named = calls.iter().find(|c| c.target.ip().is_none());
    match named {
        Some(c) if dns_servers.is_empty() => Err(AppError::NoDnsServers {
            host: c.target.host.clone(),
        }),
        _ => Ok(()),
    }
}

impl Call {
    /// A request of `method` to `url`.
    pub(crate) fn new(url: &str, method: &http::Method) -> Result<Call, AppError> {
        let (target, kind) = parse_call_url(url)?;
        Ok(Call {
            authority: target.authority(),
            key: (target.host.clone(), target.port),
            target,
            method: method.clone(),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(urls: &[&str], dns: bool) -> AppConfig {
        AppConfig {
            profile: ClientProfile::named("go").unwrap(),
            calls: urls
                .iter()
                .map(|u| CallSpec {
                    url: (*u).to_string(),
                    method: http::Method::GET,
                    rate: "1/s".parse().unwrap(),
                    arrival: Arrival::Constant,
                    count: None,
                })
                .collect(),
            dns_servers: if dns {
                vec!["10.0.0.53:53".parse().unwrap()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn a_host_name_without_dns_servers_is_rejected() {
        let err =
            Plan::new(&config(&["http://10.0.0.2/", "http://api.example/"], false)).unwrap_err();
        assert!(matches!(err, AppError::NoDnsServers { ref host } if host == "api.example"));
        assert!(Plan::new(&config(&["http://api.example/"], true)).is_ok());
    }

    #[test]
    fn literal_ips_need_no_dns_servers() {
        let plan = Plan::new(&config(&["http://10.0.0.2:8080/x"], false)).unwrap();
        assert_eq!(plan.calls[0].key, ("10.0.0.2".to_string(), 8080));
        assert_eq!(plan.calls[0].authority, "10.0.0.2:8080");
    }

    #[test]
    fn a_bad_url_is_an_error_naming_it() {
        let err = Plan::new(&config(&["ftp://x/"], true)).unwrap_err();
        assert!(err.to_string().contains("ftp://x/"), "{err}");
    }
}
