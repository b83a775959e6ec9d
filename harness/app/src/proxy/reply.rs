//! The proxy's own answers: `502 Bad Gateway` for a failure it met itself,
//! `400 Bad Request` for a request it cannot proxy. Both are `text/plain`
//! with one line naming the cause and carry `x-meshsim-proxy: error`, so a
//! user can tell them from the sidecar's local replies (`server: envoy`).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use meshsim_core::ErrorKind;
use meshsim_core::outcome::DnsFailure;

/// The header that marks the proxy's own answers.
pub(crate) const PROXY_ERROR_HEADER: &str = "x-meshsim-proxy";

/// A response body: relayed from upstream, or the proxy's own.
pub(crate) type Body = Either<Incoming, Full<Bytes>>;

/// Why the proxy could not get an answer from upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A host name, and the pod has no DNS server.
    NoDnsServer { host: String },
    /// The pod's DNS did not give an address.
    Dns { host: String, failure: DnsFailure },
    /// The dial through the captured stack failed.
    Connect {
        addr: SocketAddr,
        kind: ErrorKind,
        timeout: Duration,
    },
    /// The upstream connection failed before a complete response head.
    Upstream { addr: SocketAddr, kind: ErrorKind },
}

impl Failure {
    /// One line naming the cause.
    pub(crate) fn text(&self) -> String {
        match self {
            Failure::NoDnsServer { host } => {
                format!("cannot resolve {host}: the pod has no dns server")
            }
            Failure::Dns { host, failure } => {
                let label = ErrorKind::Dns(*failure).label();
                format!("cannot resolve {host}: {label}")
            }
            Failure::Connect {
                addr,
                kind: ErrorKind::ConnectTimeout,
                timeout,
            } => format!("connect to {addr} timed out after {timeout:?}"),
            Failure::Connect { addr, .. } => format!(
                "connect to {addr} failed: connection refused (is the sidecar listening on 15001?)"
            ),
            Failure::Upstream { addr, kind } => {
                format!("upstream connection to {addr} failed before a response: {kind}")
            }
        }
    }
}

/// A `text/plain` answer of the proxy itself.
fn own(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(format!(
        "meshsim proxy: {text}\n"
    )))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(PROXY_ERROR_HEADER, HeaderValue::from_static("error"));
    response
}

/// `502` naming `failure`.
pub(crate) fn bad_gateway(failure: &Failure) -> Response<Body> {
    own(StatusCode::BAD_GATEWAY, &failure.text())
}

/// `400` explaining what the proxy needs.
pub(crate) fn bad_request(why: &str) -> Response<Body> {
    own(StatusCode::BAD_REQUEST, why)
}

/// The empty `200` that opens a tunnel.
pub(crate) fn established() -> Response<Body> {
    Response::new(Either::Right(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connect_names_the_refusal_and_the_sidecar_port() {
        let f = Failure::Connect {
            addr: "10.0.0.9:80".parse().unwrap(),
            kind: ErrorKind::ConnectRefused,
            timeout: Duration::from_secs(30),
        };
        let text = f.text();
        assert!(text.contains("10.0.0.9:80"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("15001"), "{text}");
    }

    #[test]
    fn a_bad_gateway_is_marked_as_the_proxys_own_answer() {
        let f = Failure::Dns {
            host: "nope.example".into(),
            failure: DnsFailure::NxDomain,
        };
        let r = bad_gateway(&f);
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(r.headers()[PROXY_ERROR_HEADER], "error");
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain");
        assert_eq!(f.text(), "cannot resolve nope.example: dns_nxdomain");
    }
}
