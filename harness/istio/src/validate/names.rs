//! Istio's name and number checks (`pkg/config/validation/agent`), with
//! Istio's messages.

use std::net::IpAddr;

/// Kubernetes `IsDNS1123Label`: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && alnum(&b[0])
        && alnum(&b[b.len() - 1])
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// Istio's `IsWildcardDNS1123Label`: `*`, or a label optionally prefixed by `*` or `*-`.
fn is_wildcard_dns1123_label(s: &str) -> bool {
    if s.len() > 63 {
        return false;
    }
    s == "*"
        || is_dns1123_label(s)
        || s.strip_prefix("*-").is_some_and(is_dns1123_label)
        || s.strip_prefix('*').is_some_and(is_dns1123_label)
}

fn preconditions(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err(format!("domain name {name:?} too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".to_string());
    }
    Ok(())
}

/// Istio's `ValidateDNS1123Labels`.
fn dns1123_labels(domain: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts[parts.len() - 1];
    if !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "domain name {domain:?} invalid (top level domain {tld:?} cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !is_dns1123_label(label) {
            return Err(format!(
                "domain name {domain:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
}

/// Istio's `ValidateFQDN`.
pub(crate) fn fqdn(name: &str) -> Result<(), String> {
    preconditions(name)?;
    dns1123_labels(name)
}

/// Istio's `ValidateWildcardDomain`: a FQDN whose first label may be a wildcard.
pub(crate) fn wildcard_domain(domain: &str) -> Result<(), String> {
    preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (domain, None),
    };
    if !is_wildcard_dns1123_label(first) {
        return Err(format!(
            "domain name {domain:?} invalid (label {first:?} invalid)"
        ));
    }
    rest.map_or(Ok(()), dns1123_labels)
}

/// Whether `s` is an IPv4 or IPv6 address.
pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Istio's `ValidateIPSubnet`: an IP, or a CIDR block.
pub(crate) fn ip_subnet(s: &str) -> Result<(), String> {
    match s.split_once('/') {
        Some((ip, bits)) => {
            let max = match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => 32,
                Ok(IpAddr::V6(_)) => 128,
                Err(_) => return Err(format!("{s} is not a valid CIDR block")),
            };
            match bits.parse::<u8>() {
                Ok(b) if b <= max && !bits.starts_with('+') => Ok(()),
                _ => Err(format!("{s} is not a valid CIDR block")),
            }
        }
        None if is_ip(s) => Ok(()),
        None => Err(format!("{s} is not a valid IP")),
    }
}

/// Istio's `ValidatePort`.
pub(crate) fn port(number: u32) -> Result<(), String> {
    if (1..=65535).contains(&number) {
        Ok(())
    } else {
        Err(format!(
            "port number {number} must be in the range 1..65535"
        ))
    }
}

/// Istio's `ValidatePortName`.
pub(crate) fn port_name(name: &str) -> Result<(), String> {
    if is_dns1123_label(name) {
        Ok(())
    } else {
        Err(format!("invalid port name: {name}"))
    }
}

/// Istio's `ValidatePercent`.
pub(crate) fn percent(value: i32) -> Result<(), String> {
    if (0..=100).contains(&value) {
        Ok(())
    } else {
        Err(format!("percentage {value} is not in range 0..100"))
    }
}

/// Whether host pattern `a` matches host `b` (either may be a `*.` wildcard),
/// like Istio's `host.Name.Matches`.
pub(crate) fn hosts_match(a: &str, b: &str) -> bool {
    if a == b || a == "*" || b == "*" {
        return true;
    }
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => sa.ends_with(sb) || sb.ends_with(sa),
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_domains_follow_istio() {
        assert!(wildcard_domain("api.partner.example").is_ok());
        assert!(wildcard_domain("*.partner.example").is_ok());
        assert!(wildcard_domain("reviews").is_ok());
        assert!(wildcard_domain("").is_err());
        assert!(wildcard_domain("api.*.example").is_err());
        assert!(wildcard_domain("Upper.example").is_err());
        assert!(wildcard_domain("1.2.3.4").is_err(), "all-numeric tld");
    }

    #[test]
    fn fqdn_rejects_wildcards() {
        assert!(fqdn("a.example.").is_ok());
        assert!(fqdn("*.example").is_err());
    }

    #[test]
    fn subnets_accept_ips_and_cidrs() {
        assert!(ip_subnet("10.0.0.1").is_ok());
        assert!(ip_subnet("10.0.0.0/8").is_ok());
        assert!(ip_subnet("2001:db8::/32").is_ok());
        assert!(ip_subnet("10.0.0.0/33").is_err());
        assert!(ip_subnet("nope").is_err());
    }

    #[test]
    fn wildcard_hosts_match_their_subdomains() {
        assert!(hosts_match("*.example.com", "api.example.com"));
        assert!(hosts_match("*.example.com", "*.b.example.com"));
        assert!(!hosts_match("*.example.com", "example.org"));
        assert!(!hosts_match("a.example.com", "b.example.com"));
    }
}
