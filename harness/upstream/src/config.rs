//! What a fake upstream answers and how long it keeps connections.

use std::time::Duration;

use crate::error::UpstreamError;

/// Largest route body the server generates (16 MiB).
pub const MAX_ROUTE_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One fake upstream server ("external host": an ALB node, a partner API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Name in logs and reports (`alb-node-a`). Default `upstream`.
    pub name: String,
    /// Answers by path prefix; the first route whose prefix starts the request
    /// path wins; no match answers `404` with body `not found`. Default: one
    /// route `/` -> 200, 2-byte body `ok`, no latency.
    pub routes: Vec<RouteSpec>,
    /// The server closes (FIN) a connection on which no byte has arrived for
    /// this long since its last response (or since accept). `None`: never.
    /// Default 60 s, the AWS ALB idle timeout.
    pub keepalive_timeout: Option<Duration>,
    /// After this many responses on one connection the last one carries
    /// `connection: close` and the server closes. `None` (default): no limit.
    pub max_requests_per_connection: Option<u32>,
    /// Serve HTTP/2 instead of HTTP/1.1: h2c with prior knowledge, as Envoy
    /// speaks to a cluster with `http2_protocol_options` inside the mesh.
    /// `None` (default): HTTP/1.1. The routes, latencies and statuses are the
    /// same in both modes; `keepalive_timeout` and
    /// `max_requests_per_connection` apply to HTTP/1.1 only.
    pub http2: Option<Http2Mode>,
    /// Speak a server-first protocol instead of HTTP: on accept the server
    /// writes [`crate::MYSQL_GREETING`] (a MySQL protocol v10 handshake
    /// packet) before reading anything, then echoes what it receives, the
    /// way a MySQL, SMTP or PostgreSQL-style server makes the client wait for
    /// it (fact sheet §7.2). Routes, keep-alive and HTTP/2 knobs do not
    /// apply. Default false.
    pub server_first: bool,
}

/// The HTTP/2 mode of a fake upstream and its incident knobs.
///
/// Every knob defaults to off: a plain h2c server that never refuses a
/// stream and never sends GOAWAY on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Http2Mode {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` advertised to the client; streams
    /// over it are refused (RST_STREAM `REFUSED_STREAM`) by the codec.
    /// `None` (default): not advertised (unlimited).
    pub max_concurrent_streams: Option<u32>,
    /// Refuse every Nth stream the server receives (counted over the whole
    /// server, all connections) with RST_STREAM `REFUSED_STREAM`, before
    /// reading its request. `None` (default): never.
    pub refuse_every_nth: Option<u32>,
    /// Refuse a stream when this many streams of its connection are already
    /// being served (an overloaded server that advertises more than it
    /// takes). `None` (default): never.
    pub refuse_over_in_flight: Option<u32>,
    /// After this many streams on one connection the server starts a
    /// graceful GOAWAY (like a Go or gRPC server's max connection age): no
    /// new stream is taken, streams already taken finish, then the
    /// connection closes. A stream that still arrives after the GOAWAY is
    /// above the last stream id and is refused (`REFUSED_STREAM`). `None`
    /// (default): never.
    pub goaway_after_streams: Option<u32>,
    /// A connection this old gets the same graceful GOAWAY (gRPC's
    /// `MAX_CONNECTION_AGE`, without its ±10 % jitter: connections opened
    /// together go away together; `MAX_CONNECTION_AGE_GRACE` is left at
    /// its default, unlimited, so streams in flight always finish). `None`
    /// (default): never.
    pub max_connection_age: Option<Duration>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            name: "upstream".to_owned(),
            routes: vec![RouteSpec::default()],
            keepalive_timeout: Some(Duration::from_secs(60)),
            max_requests_per_connection: None,
            http2: None,
            server_first: false,
        }
    }
}

/// One answer of a fake upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Path prefix (starts with `/`), compared byte-wise with the request
    /// target including its query, like Envoy's route `prefix`. Default `/`.
    pub prefix: String,
    /// Response status (100-999). Default 200.
    pub status: u16,
    /// Body length in bytes, filled with `ok` repeated (see
    /// [`crate::filler`]). Default 2. At most [`MAX_ROUTE_BODY_BYTES`].
    pub body_bytes: usize,
    /// Time between receiving the whole request and writing the response
    /// (tokio time: virtual in sim). Default 0.
    pub latency: Duration,
}

impl Default for RouteSpec {
    fn default() -> Self {
        RouteSpec {
            prefix: "/".to_owned(),
            status: 200,
            body_bytes: 2,
            latency: Duration::ZERO,
        }
    }
}

impl UpstreamConfig {
    /// Checks the configuration before any socket exists.
    ///
    /// # Errors
    /// [`UpstreamError::InvalidStatus`], [`UpstreamError::InvalidPrefix`],
    /// [`UpstreamError::RouteBodyTooLarge`], [`UpstreamError::ZeroKeepaliveTimeout`]
    /// or [`UpstreamError::ZeroMaxRequests`].
    pub fn validate(&self) -> Result<(), UpstreamError> {
        for r in &self.routes {
            if !(100..=999).contains(&r.status) {
                return Err(UpstreamError::InvalidStatus {
                    prefix: r.prefix.clone(),
                    status: r.status,
                });
            }
            if !r.prefix.starts_with('/') {
                return Err(UpstreamError::InvalidPrefix {
                    prefix: r.prefix.clone(),
                });
            }
            if r.body_bytes > MAX_ROUTE_BODY_BYTES {
                return Err(UpstreamError::RouteBodyTooLarge {
                    prefix: r.prefix.clone(),
                    bytes: r.body_bytes,
                    limit: MAX_ROUTE_BODY_BYTES,
                });
            }
        }
        if self.keepalive_timeout.is_some_and(|d| d.is_zero()) {
            return Err(UpstreamError::ZeroKeepaliveTimeout);
        }
        if self.max_requests_per_connection == Some(0) {
            return Err(UpstreamError::ZeroMaxRequests);
        }
        if let Some(h2) = &self.http2 {
            h2.validate()?;
        }
        Ok(())
    }

    /// The route answering `path`: the first whose prefix starts it.
    pub fn route_for(&self, path: &str) -> Option<&RouteSpec> {
        self.route_index(path).map(|i| &self.routes[i])
    }

    /// The index in [`UpstreamConfig::routes`] of the route answering `path`.
    pub fn route_index(&self, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .position(|r| path.starts_with(r.prefix.as_str()))
    }
}

impl Http2Mode {
    /// Checks the knobs: every count, and `max_connection_age`, when set, is
    /// more than 0.
    ///
    /// # Errors
    /// [`UpstreamError::ZeroHttp2Knob`] naming the knob set to 0.
    pub fn validate(&self) -> Result<(), UpstreamError> {
        let knobs = [
            ("max_concurrent_streams", self.max_concurrent_streams),
            ("refuse_every_nth", self.refuse_every_nth),
            ("refuse_over_in_flight", self.refuse_over_in_flight),
            ("goaway_after_streams", self.goaway_after_streams),
        ];
        let zero_age = self.max_connection_age.is_some_and(|a| a.is_zero());
        match knobs.iter().find(|(_, v)| *v == Some(0)) {
            Some((knob, _)) => Err(UpstreamError::ZeroHttp2Knob { knob }),
            None if zero_age => Err(UpstreamError::ZeroHttp2Knob {
                knob: "max_connection_age",
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, status: u16) -> RouteSpec {
        RouteSpec {
            prefix: prefix.to_owned(),
            status,
            ..RouteSpec::default()
        }
    }

    #[test]
    fn default_config_is_one_ok_route_with_alb_keepalive() {
        let c = UpstreamConfig::default();
        assert_eq!(c.routes, vec![route("/", 200)]);
        assert_eq!(c.routes[0].body_bytes, 2);
        assert_eq!(c.keepalive_timeout, Some(Duration::from_secs(60)));
        assert_eq!(c.max_requests_per_connection, None);
        assert_eq!(c.http2, None, "HTTP/1.1 unless asked");
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn first_matching_prefix_wins() {
        let c = UpstreamConfig {
            routes: vec![route("/a", 503), route("/", 200), route("/ab", 201)],
            ..Default::default()
        };
        assert_eq!(c.route_for("/abc").map(|r| r.status), Some(503));
        assert_eq!(c.route_for("/b").map(|r| r.status), Some(200));
    }

    #[test]
    fn no_matching_prefix_finds_no_route() {
        let c = UpstreamConfig {
            routes: vec![route("/api", 200)],
            ..Default::default()
        };
        assert_eq!(c.route_for("/other"), None);
    }

    #[test]
    fn invalid_configs_are_errors() {
        let bad = [
            UpstreamConfig {
                routes: vec![route("/", 42)],
                ..Default::default()
            },
            UpstreamConfig {
                routes: vec![route("x", 200)],
                ..Default::default()
            },
            UpstreamConfig {
                routes: vec![RouteSpec {
                    body_bytes: MAX_ROUTE_BODY_BYTES + 1,
                    ..RouteSpec::default()
                }],
                ..Default::default()
            },
            UpstreamConfig {
                keepalive_timeout: Some(Duration::ZERO),
                ..Default::default()
            },
            UpstreamConfig {
                max_requests_per_connection: Some(0),
                ..Default::default()
            },
            UpstreamConfig {
                http2: Some(Http2Mode {
                    goaway_after_streams: Some(0),
                    ..Http2Mode::default()
                }),
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
