//! [`ServeConfig`] validated into a plan before any socket exists: URLs
//! parsed, statuses and capacities checked, bodies rendered once.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::AppError;
use crate::config::{Call, check_resolvable};
use crate::serve::config::{
    BehaviourOverride, CallMode, Capacity, OnError, RouteSpec, ServeConfig,
};

/// One validated route.
#[derive(Debug, Clone)]
pub(crate) struct RoutePlan {
    pub(crate) prefix: String,
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    pub(crate) latency: Duration,
    pub(crate) jitter: Duration,
    pub(crate) capacity: Option<Capacity>,
    /// (index into [`ServePlan::calls`], the call id records carry).
    pub(crate) calls: Vec<(usize, usize)>,
    pub(crate) mode: CallMode,
    /// `None`: propagate.
    pub(crate) on_error: Option<StatusCode>,
}

/// A validated [`ServeConfig`].
#[derive(Debug, Clone)]
pub(crate) struct ServePlan {
    pub(crate) ports: Vec<u16>,
    pub(crate) routes: Vec<RoutePlan>,
    /// Every route's downstream calls, flattened in route order.
    pub(crate) calls: Vec<Call>,
}

impl ServePlan {
    /// Checks ports, routes and call URLs.
    pub(crate) fn new(config: &ServeConfig) -> Result<ServePlan, AppError> {
        check_ports(&config.ports)?;
        let mut calls = Vec::new();
        let mut routes = Vec::with_capacity(config.routes.len());
        for spec in &config.routes {
            routes.push(route(spec, &mut calls)?);
        }
        check_resolvable(&calls, &config.dns_servers)?;
        Ok(ServePlan {
            ports: config.ports.clone(),
            routes,
            calls,
        })
    }

    /// The index of the first route whose prefix `path` starts with.
    pub(crate) fn route_for(&self, path: &str) -> Option<usize> {
        self.routes.iter().position(|r| path.starts_with(&r.prefix))
    }

    /// The index of the route whose prefix is exactly `prefix`.
    pub(crate) fn route_named(&self, prefix: &str) -> Result<usize, AppError> {
        self.routes
            .iter()
            .position(|r| r.prefix == prefix)
            .ok_or_else(|| AppError::UnknownRoute {
                prefix: prefix.to_string(),
            })
    }
}

/// At least one port, none twice (0, an ephemeral port, may repeat).
fn check_ports(ports: &[u16]) -> Result<(), AppError> {
    if ports.is_empty() {
        return Err(AppError::NoPorts);
    }
    let mut seen = BTreeSet::new();
    match ports.iter().find(|&&p| p != 0 && !seen.insert(p)) {
        Some(&port) => Err(AppError::DuplicatePort { port }),
        None => Ok(()),
    }
}

/// Validates one route, appending its calls to `calls`.
fn route(spec: &RouteSpec, calls: &mut Vec<Call>) -> Result<RoutePlan, AppError> {
    if !spec.prefix.starts_with('/') {
        return Err(AppError::InvalidRoutePrefix {
            prefix: spec.prefix.clone(),
        });
    }
    let status = status(&spec.prefix, spec.status)?;
    let on_error = match spec.on_error {
        OnError::Propagate => None,
        OnError::Status(s) => Some(self::status(&spec.prefix, s)?),
    };
    if let Some(c) = spec.capacity {
        check_capacity(&spec.prefix, c.limit)?;
    }
    let mut ids = Vec::with_capacity(spec.calls.len());
    for c in &spec.calls {
        calls.push(Call::new(&c.url, &c.method)?);
        ids.push((calls.len() - 1, c.call));
    }
    Ok(RoutePlan {
        prefix: spec.prefix.clone(),
        status,
        body: Bytes::from(filler(spec.body_bytes)),
        latency: spec.latency,
        jitter: spec.latency_jitter,
        capacity: spec.capacity,
        calls: ids,
        mode: spec.call_mode,
        on_error,
    })
}

/// Checks an override against the route it applies to (`route` names it in
/// errors: a prefix, or `*` for every route).
pub(crate) fn check_override(route: &str, o: &BehaviourOverride) -> Result<(), AppError> {
    if let Some(s) = o.status {
        status(route, s)?;
    }
    match o.capacity {
        Some(limit) => check_capacity(route, limit),
        None => Ok(()),
    }
}

/// A final status a server may answer: 200..=599.
fn status(route: &str, status: u16) -> Result<StatusCode, AppError> {
    let invalid = || AppError::InvalidStatus {
        route: route.to_string(),
        status,
    };
    if !(200..=599).contains(&status) {
        return Err(invalid());
    }
    StatusCode::from_u16(status).map_err(|_| invalid())
}

fn check_capacity(route: &str, limit: usize) -> Result<(), AppError> {
    if limit == 0 {
        return Err(AppError::ZeroCapacity {
            route: route.to_string(),
        });
    }
    Ok(())
}

/// `len` bytes of `okok...`.
pub(crate) fn filler(len: usize) -> Vec<u8> {
    b"ok".iter().copied().cycle().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::DownstreamCall;

    fn config(routes: Vec<RouteSpec>) -> ServeConfig {
        ServeConfig {
            ports: vec![8080],
            routes,
            ..ServeConfig::default()
        }
    }

    fn call(url: &str) -> DownstreamCall {
        DownstreamCall {
            url: url.into(),
            method: http::Method::GET,
            call: 7,
        }
    }

    #[test]
    fn a_server_needs_a_port_and_no_port_twice() {
        let mut c = config(vec![]);
        c.ports = vec![];
        assert_eq!(ServePlan::new(&c).unwrap_err(), AppError::NoPorts);
        c.ports = vec![80, 8080, 80];
        assert_eq!(
            ServePlan::new(&c).unwrap_err(),
            AppError::DuplicatePort { port: 80 }
        );
        c.ports = vec![0, 0];
        assert!(ServePlan::new(&c).is_ok());
    }

    #[test]
    fn bad_prefixes_statuses_and_capacities_are_errors_naming_the_route() {
        let bad = [
            RouteSpec {
                prefix: "api".into(),
                ..RouteSpec::default()
            },
            RouteSpec {
                status: 99,
                ..RouteSpec::default()
            },
            RouteSpec {
                status: 600,
                ..RouteSpec::default()
            },
            RouteSpec {
                on_error: OnError::Status(1000),
                ..RouteSpec::default()
            },
            RouteSpec {
                capacity: Some(Capacity {
                    limit: 0,
                    queue_limit: None,
                }),
                ..RouteSpec::default()
            },
        ];
        for route in bad {
            let err = ServePlan::new(&config(vec![route.clone()])).unwrap_err();
            assert!(err.to_string().contains(&route.prefix), "{err}");
        }
    }

    #[test]
    fn call_urls_are_parsed_and_names_need_dns_servers() {
        let route = |url: &str| RouteSpec {
            calls: vec![call(url)],
            ..RouteSpec::default()
        };
        let err = ServePlan::new(&config(vec![route("ftp://x/")])).unwrap_err();
        assert!(matches!(err, AppError::UnsupportedScheme { .. }), "{err}");
        let err = ServePlan::new(&config(vec![route("http://b.svc/")])).unwrap_err();
        assert!(matches!(err, AppError::NoDnsServers { .. }), "{err}");
        let plan = ServePlan::new(&config(vec![route("http://10.0.0.3:80/x")])).unwrap();
        assert_eq!(plan.routes[0].calls, vec![(0, 7)]);
        assert_eq!(plan.calls[0].authority, "10.0.0.3");
    }

    #[test]
    fn the_first_matching_prefix_wins() {
        let routes = ["/api/slow", "/api", "/"]
            .iter()
            .map(|p| RouteSpec {
                prefix: (*p).into(),
                ..RouteSpec::default()
            })
            .collect();
        let plan = ServePlan::new(&config(routes)).unwrap();
        assert_eq!(plan.route_for("/api/slow/1"), Some(0));
        assert_eq!(plan.route_for("/api/x"), Some(1));
        assert_eq!(plan.route_for("/health"), Some(2));
        assert!(plan.route_named("/nope").is_err());
    }

    #[test]
    fn overrides_are_checked_like_routes() {
        let zero = BehaviourOverride {
            capacity: Some(0),
            ..BehaviourOverride::default()
        };
        assert!(check_override("*", &zero).is_err());
        let teapot = BehaviourOverride {
            status: Some(418),
            ..BehaviourOverride::default()
        };
        assert!(check_override("*", &teapot).is_ok());
    }
}
