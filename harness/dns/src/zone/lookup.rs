//! Answering one question from the zone data: CNAME chasing, NXDOMAIN versus
//! NODATA, and the SOA that goes into the authority section of negative answers.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::{Node, ZoneData};

/// Longest CNAME chain the server follows before it stops (BIND uses 16 too).
const MAX_CHAIN: usize = 16;

/// The record types the server knows; anything else gets NODATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QType {
    A,
    Aaaa,
    Cname,
    Soa,
    Any,
    Other,
}

/// One record to put in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rr {
    pub(crate) name: String,
    pub(crate) ttl: u32,
    pub(crate) data: RrData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RrData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Soa(SoaInfo),
}

/// What the SOA record of a zone says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoaInfo {
    pub(crate) apex: String,
    pub(crate) negative_ttl: u32,
    pub(crate) serial: u32,
}

/// The server's view of one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The name is in none of our zones (we are not recursive).
    NotOurs,
    /// An authoritative answer.
    Answer {
        /// True when the last name of the chain does not exist.
        nxdomain: bool,
        /// The answer section (CNAME chain, then the records asked for).
        answers: Vec<Rr>,
        /// The zone SOA for the authority section of a negative answer.
        soa: Option<SoaInfo>,
    },
}

pub(crate) fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// Whether `key` is `apex` or below it.
fn within(key: &str, apex: &str) -> bool {
    apex.is_empty()
        || key == apex
        || (key.len() > apex.len()
            && key.ends_with(apex)
            && key.as_bytes()[key.len() - apex.len() - 1] == b'.')
}

impl ZoneData {
    /// The most specific zone holding `key`.
    fn zone_of(&self, key: &str) -> Option<&str> {
        self.zones
            .keys()
            .filter(|apex| within(key, apex))
            .max_by_key(|apex| apex.len())
            .map(String::as_str)
    }

    fn soa(&self, apex: &str) -> SoaInfo {
        let negative = self.zones.get(apex).copied().unwrap_or_default();
        SoaInfo {
            apex: apex.to_string(),
            negative_ttl: secs(negative),
            serial: self.serial,
        }
    }

    /// Whether `key` exists: it has records, is an apex, or is an empty
    /// non-terminal with names below it (RFC 8020: then it is NODATA, not NXDOMAIN).
    fn exists(&self, key: &str) -> bool {
        self.nodes.contains_key(key)
            || self.zones.contains_key(key)
            || self
                .nodes
                .keys()
                .any(|n| n.len() > key.len() && within(n, key))
    }

    /// Answers the question (`key`, `qtype`).
    pub(crate) fn resolve(&self, key: &str, qtype: QType) -> Resolution {
        let Some(mut apex) = self.zone_of(key) else {
            return Resolution::NotOurs;
        };
        let mut answers = Vec::new();
        let mut seen = BTreeSet::new();
        let mut cur = key.to_string();
        loop {
            seen.insert(cur.clone());
            let node = self.nodes.get(&cur);
            let own = self.records_at(&cur, apex, node, qtype);
            if !own.is_empty() {
                answers.extend(own);
                return Resolution::Answer {
                    nxdomain: false,
                    answers,
                    soa: None,
                };
            }
            if let Some((target, ttl)) = node.and_then(|n| n.cname.as_ref()) {
                answers.push(Rr {
                    name: cur.clone(),
                    ttl: secs(*ttl),
                    data: RrData::Cname(target.clone()),
                });
                // Chase only inside our zones, never around a loop.
                match self.zone_of(target) {
                    Some(z) if !seen.contains(target) && answers.len() < MAX_CHAIN => {
                        apex = z;
                        cur = target.clone();
                        continue;
                    }
                    _ => {
                        return Resolution::Answer {
                            nxdomain: false,
                            answers,
                            soa: None,
                        };
                    }
                }
            }
            let nxdomain = !self.exists(&cur);
            return Resolution::Answer {
                nxdomain,
                answers,
                soa: Some(self.soa(apex)),
            };
        }
    }

    /// The records of `cur` that answer `qtype` directly.
    fn records_at(&self, cur: &str, apex: &str, node: Option<&Node>, qtype: QType) -> Vec<Rr> {
        let mut out = Vec::new();
        let rr = |data| Rr {
            name: cur.to_string(),
            ttl: 0,
            data,
        };
        if cur == apex && matches!(qtype, QType::Soa | QType::Any) {
            let soa = self.soa(apex);
            out.push(Rr {
                ttl: soa.negative_ttl,
                ..rr(RrData::Soa(soa))
            });
        }
        let Some(node) = node else { return out };
        let ttl = secs(node.addr_ttl);
        if matches!(qtype, QType::A | QType::Any) {
            out.extend(node.v4.iter().map(|a| Rr {
                ttl,
                ..rr(RrData::A(*a))
            }));
        }
        if matches!(qtype, QType::Aaaa | QType::Any) {
            out.extend(node.v6.iter().map(|a| Rr {
                ttl,
                ..rr(RrData::Aaaa(*a))
            }));
        }
        if let (Some((target, t)), QType::Cname | QType::Any) = (&node.cname, qtype) {
            out.push(Rr {
                ttl: secs(*t),
                ..rr(RrData::Cname(target.clone()))
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_matches_whole_labels_only() {
        assert!(within("a.example.com", "example.com"));
        assert!(within("example.com", "example.com"));
        assert!(!within("badexample.com", "example.com"));
        assert!(within("anything", ""));
    }
}
