//! Envoy's route `HeaderMatcher`, cut down to what `retriable_headers` needs:
//! a header name and an exact, prefix or presence match.

use http::HeaderMap;

/// One `HeaderMatcher`: `name` plus how its value must look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatcher {
    /// Header name; matched case-insensitively, as HTTP header names are.
    pub name: String,
    /// The value rule.
    pub value: HeaderMatch,
}

/// The value rule of a [`HeaderMatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderMatch {
    /// `exact_match` / `string_match.exact`: the value equals this.
    Exact(String),
    /// `prefix_match` / `string_match.prefix`: the value starts with this.
    Prefix(String),
    /// `present_match: true`: the header is there, whatever its value.
    Present,
}

impl HeaderMatcher {
    /// A matcher that only asks for the header to be present (what a name in
    /// `x-envoy-retriable-header-names` becomes).
    pub fn present(name: &str) -> HeaderMatcher {
        HeaderMatcher {
            name: name.to_string(),
            value: HeaderMatch::Present,
        }
    }

    /// Whether `headers` satisfy the matcher. Several values of one header
    /// are joined with `,` first, as Envoy's `HeaderUtility` does.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let mut values = headers
            .get_all(self.name.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .peekable();
        if values.peek().is_none() {
            return false;
        }
        let joined = values.collect::<Vec<_>>().join(",");
        match &self.value {
            HeaderMatch::Exact(want) => joined == *want,
            HeaderMatch::Prefix(prefix) => joined.starts_with(prefix.as_str()),
            HeaderMatch::Present => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn exact_prefix_and_present_matchers_follow_envoys_header_matcher() {
        let h = headers(&[("x-upstream-busy", "yes-now")]);
        let m = |value| HeaderMatcher {
            name: "X-Upstream-Busy".into(),
            value,
        };
        assert!(m(HeaderMatch::Exact("yes-now".into())).matches(&h));
        assert!(!m(HeaderMatch::Exact("yes".into())).matches(&h));
        assert!(m(HeaderMatch::Prefix("yes".into())).matches(&h));
        assert!(!m(HeaderMatch::Prefix("no".into())).matches(&h));
        assert!(m(HeaderMatch::Present).matches(&h));
        assert!(!HeaderMatcher::present("x-other").matches(&h));
    }

    #[test]
    fn repeated_headers_are_joined_with_commas_before_matching() {
        let h = headers(&[("x-a", "1"), ("x-a", "2")]);
        let exact = HeaderMatcher {
            name: "x-a".into(),
            value: HeaderMatch::Exact("1,2".into()),
        };
        assert!(exact.matches(&h));
    }

    #[test]
    fn an_invalid_header_name_matches_nothing_instead_of_panicking() {
        let h = headers(&[("x-a", "1")]);
        assert!(!HeaderMatcher::present("bad name\n").matches(&h));
    }
}
