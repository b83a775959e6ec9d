//! Where a call goes: `http://host[:port]/path` split into its parts.

use std::net::IpAddr;

use http::Uri;

use crate::AppError;

/// The parsed destination of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name (lowercase) or IP literal, without brackets.
    pub host: String,
    /// TCP port; 80 when the URL has none.
    pub port: u16,
    /// Path and query sent on the request line (`/` when the URL has none).
    pub path: String,
}

impl Target {
    /// The host as an IP address when the URL holds a literal IP (no DNS
    /// lookup is made for it).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The `host` header value: the host, with the port unless it is 80, and
    /// IPv6 literals in brackets.
    pub fn authority(&self) -> String {
        let host = match self.ip() {
            Some(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// What a call speaks on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallKind {
    /// An HTTP/1.1 request (`http://`).
    #[default]
    Http,
    /// A server-first protocol (`mysql://host[:port]`, default port 3306):
    /// a new connection whose server speaks first; the call succeeds once
    /// the server's greeting (one MySQL packet: 3-byte length, sequence id,
    /// payload) has arrived, and then closes the connection. Its success has
    /// status 0 (no HTTP).
    ServerFirst,
}

/// Parses a call's URL: `http://host[:port]/path`, or
/// `mysql://host[:port]` for a server-first exchange.
///
/// # Errors
/// As [`parse_url`], which `mysql://` also passes.
pub fn parse_call_url(url: &str) -> Result<(Target, CallKind), AppError> {
    let Some(rest) = strip_scheme(url, "mysql://") else {
        return parse_url(url).map(|t| (t, CallKind::Http));
    };
    let mut t = parse_url(&format!("http://{rest}"))?;
    if !rest.contains(':') || rest.ends_with(']') {
        t.port = 3306;
    }
    Ok((t, CallKind::ServerFirst))
}

/// `url` after `scheme`, compared case-insensitively.
fn strip_scheme<'a>(url: &'a str, scheme: &str) -> Option<&'a str> {
    let head = url.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &url[scheme.len()..])
}

/// Parses `http://host[:port]/path`.
///
/// # Errors
/// [`AppError::UnsupportedScheme`] for anything but `http` (`https` is not
/// modelled yet), [`AppError::InvalidUrl`] when the text is not an absolute
/// URL with a host, carries user info, or has port 0.
pub fn parse_url(url: &str) -> Result<Target, AppError> {
    let invalid = |reason: &str| AppError::InvalidUrl {
        url: url.to_string(),
        reason: reason.into(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| invalid("missing scheme, expected http://"))?;
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(AppError::UnsupportedScheme {
            url: url.to_string(),
            scheme: scheme.into(),
        });
    }
    let authority = uri.authority().ok_or_else(|| invalid("missing host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("user info is not supported"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    // `port_u16` is `None` both without a port and for an unparsable one.
    let text = authority.as_str();
    let has_port = text.rfind(':').is_some_and(|i| !text[i..].contains(']'));
    let port = match authority.port_u16() {
        Some(0) => return Err(invalid("port 0")),
        Some(p) => p,
        None if has_port => return Err(invalid("port is not a number in 1..=65535")),
        None => 80,
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target {
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mysql_url_is_a_server_first_call_on_3306_by_default() {
        let (t, kind) = parse_call_url("mysql://db.corp.example").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, kind),
            ("db.corp.example", 3306, CallKind::ServerFirst)
        );
        let (t, _) = parse_call_url("MySQL://10.0.0.5:3307").unwrap();
        assert_eq!(t.port, 3307);
        let (_, kind) = parse_call_url("http://api.example/").unwrap();
        assert_eq!(kind, CallKind::Http);
        assert!(parse_call_url("redis://x").is_err());
    }

    #[test]
    fn url_without_port_defaults_to_80_and_root_path() {
        let t = parse_url("http://api.partner.example").unwrap();
        assert_eq!(
            t,
            Target {
                host: "api.partner.example".into(),
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(t.authority(), "api.partner.example");
        assert_eq!(t.ip(), None);
    }

    #[test]
    fn url_keeps_port_path_and_query() {
        let t = parse_url("http://API.partner.example:443/charge?x=1").unwrap();
        assert_eq!(t.host, "api.partner.example");
        assert_eq!(t.port, 443);
        assert_eq!(t.path, "/charge?x=1");
        assert_eq!(t.authority(), "api.partner.example:443");
    }

    #[test]
    fn literal_ip_urls_expose_the_ip() {
        let t = parse_url("http://10.0.0.2:8080/x").unwrap();
        assert_eq!(t.ip(), Some("10.0.0.2".parse().unwrap()));
        let t6 = parse_url("http://[fd00::1]:8080/").unwrap();
        assert_eq!(t6.host, "fd00::1");
        assert_eq!(t6.authority(), "[fd00::1]:8080");
    }

    #[test]
    fn https_is_rejected_for_now() {
        let err = parse_url("https://example.com/").unwrap_err();
        assert!(matches!(err, AppError::UnsupportedScheme { ref scheme, .. } if scheme == "https"));
    }

    #[test]
    fn malformed_urls_are_errors_not_panics() {
        for bad in [
            "",
            "example.com/x",
            "http://",
            "http://u:p@h/",
            "http://h:0/",
            "http://h:99999/",
            "/x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_url_never_panics(s in ".{0,40}") {
            let _ = parse_url(&s);
        }

        #[test]
        fn parsed_urls_keep_host_and_port(host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}", port in 1u16..) {
            let t = parse_url(&format!("http://{host}:{port}/p")).unwrap();
            proptest::prop_assert_eq!((t.host.as_str(), t.port, t.path.as_str()), (host.as_str(), port, "/p"));
        }
    }
}
