//! Envoy's `HeaderMatcher`, one type for both places Envoy uses it: route
//! matching on request headers (`route::route_matches`, pseudo-headers
//! included) and `retriable_headers` on response headers (`retry`).
//!
//! Several values of one header are joined with `,` before matching, as
//! Envoy's `HeaderUtility::getAllOfHeaderAsString` does. Without
//! `treat_missing_header_as_empty`, an absent header fails every matcher
//! except an inverted presence match.

use std::borrow::Cow;
use std::fmt;

use http::HeaderMap;
use regex::Regex;

use crate::error::SidecarError;

/// An RE2-syntax regular expression that must match its whole input, like
/// Envoy's `safe_regex` (the `regex` crate follows RE2's syntax and its
/// linear-time guarantee).
#[derive(Clone)]
pub struct SafeRegex {
    pattern: String,
    compiled: Regex,
}

impl SafeRegex {
    /// Compiles `pattern`, anchored at both ends.
    ///
    /// # Errors
    /// [`SidecarError::InvalidRegex`] when `pattern` is not a valid regex.
    pub fn new(pattern: &str) -> Result<SafeRegex, SidecarError> {
        let compiled = Regex::new(&format!("^(?:{pattern})$")).map_err(|source| {
            SidecarError::InvalidRegex {
                pattern: pattern.to_string(),
                source,
            }
        })?;
        Ok(SafeRegex {
            pattern: pattern.to_string(),
            compiled,
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the whole of `text` matches.
    pub fn full_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }
}

impl PartialEq for SafeRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl fmt::Debug for SafeRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SafeRegex").field(&self.pattern).finish()
    }
}

/// How one header is matched.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderMatch {
    /// `present_match: true`: the header exists, whatever its value.
    Present,
    /// `string_match.exact`.
    Exact(String),
    /// `string_match.prefix`.
    Prefix(String),
    /// `string_match.safe_regex` (whole value).
    Regex(SafeRegex),
}

/// Envoy's `HeaderMatcher`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderMatcher {
    /// Header name, lowercase; `:authority`, `:method`, `:path`, `:scheme`
    /// name the pseudo-headers.
    pub name: String,
    /// The condition.
    pub matches: HeaderMatch,
    /// `invert_match`.
    pub invert: bool,
    /// `treat_missing_header_as_empty`: an absent header is matched as `""`.
    pub treat_missing_as_empty: bool,
}

impl HeaderMatcher {
    /// A matcher that only asks for the header to be present (what a name in
    /// `x-envoy-retriable-header-names` becomes).
    pub fn present(name: &str) -> HeaderMatcher {
        HeaderMatcher {
            name: name.to_ascii_lowercase(),
            matches: HeaderMatch::Present,
            invert: false,
            treat_missing_as_empty: false,
        }
    }

    /// Whether the matcher accepts a header whose (joined) value is `value`,
    /// `None` when the request or response does not carry it.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let value = match value {
            Some(v) => v,
            None if self.treat_missing_as_empty => "",
            None => return self.invert && self.matches == HeaderMatch::Present,
        };
        let matched = match &self.matches {
            HeaderMatch::Present => true,
            HeaderMatch::Exact(s) => value == s.as_str(),
            HeaderMatch::Prefix(s) => value.starts_with(s.as_str()),
            HeaderMatch::Regex(re) => re.full_match(value),
        };
        matched != self.invert
    }

    /// Whether `headers` (real headers only, e.g. a response's) satisfy the
    /// matcher. A name that is not a valid header name is never present.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        self.matches_value(joined_value(headers, &self.name).as_deref())
    }
}

/// All values of header `name` joined with `,`; `None` when absent.
pub(crate) fn joined_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    let mut values = headers.get_all(name).iter().peekable();
    let first = values.next()?;
    if values.peek().is_none() {
        return Some(String::from_utf8_lossy(first.as_bytes()));
    }
    let mut joined = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for v in values {
        joined.push(',');
        joined.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(Cow::Owned(joined))
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

    fn m(name: &str, matches: HeaderMatch) -> HeaderMatcher {
        HeaderMatcher {
            name: name.into(),
            matches,
            invert: false,
            treat_missing_as_empty: false,
        }
    }

    #[test]
    fn exact_prefix_regex_and_present_matchers_follow_envoys_header_matcher() {
        let h = headers(&[("x-upstream-busy", "yes-now")]);
        let name = "x-upstream-busy";
        assert!(m(name, HeaderMatch::Exact("yes-now".into())).matches(&h));
        assert!(!m(name, HeaderMatch::Exact("yes".into())).matches(&h));
        assert!(m(name, HeaderMatch::Prefix("yes".into())).matches(&h));
        assert!(!m(name, HeaderMatch::Prefix("no".into())).matches(&h));
        let re = SafeRegex::new("yes-[a-z]+").unwrap();
        assert!(m(name, HeaderMatch::Regex(re)).matches(&h));
        assert!(m(name, HeaderMatch::Present).matches(&h));
        assert!(!HeaderMatcher::present("x-other").matches(&h));
    }

    #[test]
    fn repeated_headers_are_joined_with_commas_before_matching() {
        let h = headers(&[("x-a", "1"), ("x-a", "2")]);
        assert!(m("x-a", HeaderMatch::Exact("1,2".into())).matches(&h));
    }

    #[test]
    fn an_absent_header_only_satisfies_an_inverted_presence_match_or_a_missing_as_empty_one() {
        let h = headers(&[]);
        let mut inverted = HeaderMatcher::present("x-a");
        inverted.invert = true;
        assert!(inverted.matches(&h));
        let mut exact = m("x-a", HeaderMatch::Exact("v".into()));
        exact.invert = true;
        assert!(!exact.matches(&h));
        exact.treat_missing_as_empty = true;
        assert!(exact.matches(&h));
    }

    #[test]
    fn an_invalid_header_name_matches_nothing_instead_of_panicking() {
        let h = headers(&[("x-a", "1")]);
        assert!(!HeaderMatcher::present("bad name\n").matches(&h));
    }
}
