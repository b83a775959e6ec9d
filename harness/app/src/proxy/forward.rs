//! One absolute-form request: `target -> rewrite -> checkout or open -> send
//! -> relay`. The request goes out in origin form with `Host` set to the
//! URI's authority (RFC 9112 §3.2.2: a proxy ignores the received `Host`),
//! minus the hop-by-hop headers (RFC 9110 §7.6.1); the answer comes back with
//! its status, end-to-end headers and body bytes as the sidecar sent them.

use http::header::{CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::Either;
use hyper::body::Incoming;

use crate::classify::{Stage, classify};
use crate::pool::PoolKey;
use crate::proxy::reply::{Body, Failure, bad_gateway, bad_request};
use crate::proxy::upstream::{Upstream, Upstreams, open};
use crate::proxy::{Proxy, bump};
use crate::request::says_close;

/// Headers that belong to one connection, not to the message (RFC 9110
/// §7.6.1, plus the proxy's own `Proxy-*` fields and the framing, which
/// hyper writes again for each connection).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
];

/// Where an absolute-form request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The URI's host (a name or an IP literal) and port (default 80).
    pub(crate) key: PoolKey,
    /// The authority as written, without user info: the `Host` sent.
    pub(crate) authority: String,
    /// Origin form: path and query, `/` when empty.
    pub(crate) path: String,
}

/// What a request in absolute form asks for; the text of the `400` otherwise.
pub(crate) fn target(uri: &Uri) -> Result<Target, &'static str> {
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(
            "not a proxy request: use this address as an HTTP proxy, with an absolute URI \
             (GET http://host[:port]/path HTTP/1.1), e.g. curl -x",
        );
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err("only http:// URIs are proxied; use CONNECT host:port for https");
    }
    let written = authority.as_str();
    let without_user = written.rsplit('@').next().unwrap_or(written);
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") => "/".to_string(),
        Some(p) => p.to_string(),
    };
    Ok(Target {
        key: (
            authority.host().to_string(),
            authority.port_u16().unwrap_or(80),
        ),
        authority: without_user.to_string(),
        path,
    })
}

/// Removes the hop-by-hop headers, those `Connection` lists first.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Proxies one request that is not a `CONNECT`.
pub(crate) async fn forward(
    proxy: &Proxy,
    upstreams: &Upstreams,
    req: Request<Incoming>,
) -> Response<Body> {
    let target = match target(req.uri()) {
        Ok(t) => t,
        Err(why) => {
            bump(&proxy.counters.bad_request);
            return bad_request(why);
        }
    };
    let req = origin_form(req, &target, proxy.profile.keep_alive);
    match send(proxy, upstreams, &target.key, req).await {
        Ok(response) => {
            bump(&proxy.counters.forwarded);
            relay(response)
        }
        Err(failure) => {
            bump(&proxy.counters.bad_gateway);
            bad_gateway(&failure)
        }
    }
}

/// The request as the application would have sent it to `target`.
fn origin_form(req: Request<Incoming>, target: &Target, keep_alive: bool) -> Request<Incoming> {
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // Both parse: they were parsed out of the request's own URI.
    if let Ok(path) = target.path.parse() {
        parts.uri = path;
    }
    if let Ok(host) = HeaderValue::from_str(&target.authority) {
        parts.headers.insert(HOST, host);
    }
    if !keep_alive {
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    parts.version = Version::HTTP_11;
    Request::from_parts(parts, body)
}

/// Sends `req` on the client connection's upstream connection to `key` (or
/// a new one) and returns the response head; the connection is kept for the
/// next request unless either side says it closes. A kept connection found
/// closed before the request was written is replaced by a new one, as Go's
/// transport retries a request when "nothing was written".
async fn send(
    proxy: &Proxy,
    upstreams: &Upstreams,
    key: &PoolKey,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, Failure> {
    let req = match upstreams.checkout(key, &proxy.profile) {
        Some(up) => match exchange(up, req).await {
            Ok(done) => return Ok(keep(proxy, upstreams, key, done)),
            Err(Attempt::Unsent(req, _)) => *req,
            Err(Attempt::Failed(failure)) => return Err(failure),
        },
        None => req,
    };
    match exchange(open(proxy, key).await?, req).await {
        Ok(done) => Ok(keep(proxy, upstreams, key, done)),
        Err(Attempt::Unsent(_, failure) | Attempt::Failed(failure)) => Err(failure),
    }
}

/// Why one exchange on one upstream connection failed.
enum Attempt {
    /// Before the request was written: it can go on another connection.
    Unsent(Box<Request<Incoming>>, Failure),
    /// After: the request (and its body) is gone.
    Failed(Failure),
}

/// `req` on `up`, up to the response head.
async fn exchange(
    mut up: Upstream,
    req: Request<Incoming>,
) -> Result<(Upstream, Response<Incoming>), Attempt> {
    let addr = up.addr;
    let fail = |e: &hyper::Error| Failure::Upstream {
        addr,
        kind: classify(Stage::Exchange, e),
    };
    if let Err(e) = up.sender.ready().await {
        return Err(Attempt::Unsent(Box::new(req), fail(&e)));
    }
    match up.sender.try_send_request(req).await {
        Ok(response) => Ok((up, response)),
        Err(mut e) => {
            let failure = fail(e.error());
            match e.take_message() {
                Some(req) => Err(Attempt::Unsent(Box::new(req), failure)),
                None => Err(Attempt::Failed(failure)),
            }
        }
    }
}

/// Keeps the connection for the next request, unless either side closes it.
fn keep(
    proxy: &Proxy,
    upstreams: &Upstreams,
    key: &PoolKey,
    (up, response): (Upstream, Response<Incoming>),
) -> Response<Incoming> {
    if proxy.profile.keep_alive && !says_close(response.headers()) {
        upstreams.give_back(key.clone(), up);
    }
    response
}

/// The sidecar's answer, for the client: the same status, end-to-end headers
/// and body.
fn relay(response: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, Either::Left(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absolute_uri_gives_host_port_authority_and_origin_form() {
        let t = target(
            &"http://api.partner.example:8080/charge?x=1"
                .parse()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(t.key, ("api.partner.example".to_string(), 8080));
        assert_eq!(t.authority, "api.partner.example:8080");
        assert_eq!(t.path, "/charge?x=1");
        let t = target(&"http://user:pw@10.0.0.9".parse().unwrap()).unwrap();
        assert_eq!(t.key, ("10.0.0.9".to_string(), 80));
        assert_eq!(t.authority, "10.0.0.9");
        assert_eq!(t.path, "/");
    }

    #[test]
    fn origin_form_and_https_uris_are_refused() {
        assert!(target(&"/charge".parse().unwrap()).is_err());
        let https = target(&"https://api.partner.example/".parse().unwrap());
        assert!(https.unwrap_err().contains("CONNECT"));
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_lists_are_removed() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic eA=="),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-request-id", "7"),
            ("content-length", "3"),
        ] {
            h.append(k, v.parse().unwrap());
        }
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-request-id"]);
    }
}
