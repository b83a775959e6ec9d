//! The service registry pilot would build from ServiceEntries: one entry per
//! host and port, the first ServiceEntry (in document order, Istio's
//! "oldest wins") taking a duplicated host and port.

use std::collections::BTreeSet;

use crate::model::{ServiceEntry, ServicePort};
use crate::validate::names;

/// One host x port of a ServiceEntry.
pub(crate) struct Entry<'r> {
    pub(crate) host: &'r str,
    pub(crate) number: u16,
    pub(crate) port: &'r ServicePort,
    pub(crate) se: &'r ServiceEntry,
}

impl Entry<'_> {
    /// Envoy's cluster name, `outbound|<port>||<host>`.
    pub(crate) fn cluster_name(&self) -> String {
        cluster_name(self.number, None, self.host)
    }
}

/// `outbound|<port>|<subset>|<host>`.
pub(crate) fn cluster_name(port: u16, subset: Option<&str>, host: &str) -> String {
    format!("outbound|{port}|{}|{host}", subset.unwrap_or(""))
}

/// Every ServiceEntry host and port.
pub(crate) struct Registry<'r> {
    entries: Vec<Entry<'r>>,
}

impl<'r> Registry<'r> {
    /// Kubernetes Services (`kube`, as Istio's service model) first, then
    /// ServiceEntries.
    pub(crate) fn build(
        res: &'r crate::model::Resources,
        kube: &'r [ServiceEntry],
    ) -> Registry<'r> {
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        for se in kube.iter().chain(&res.service_entries) {
            for host in &se.hosts {
                for port in &se.ports {
                    let Ok(number) = u16::try_from(port.number) else {
                        continue;
                    };
                    if number != 0 && seen.insert((host.as_str(), number)) {
                        entries.push(Entry {
                            host,
                            number,
                            port,
                            se,
                        });
                    }
                }
            }
        }
        Registry { entries }
    }

    pub(crate) fn entries(&self) -> &[Entry<'r>] {
        &self.entries
    }

    /// Entries whose host is matched by `pattern` (exact, or a `*.` wildcard).
    pub(crate) fn matching<'a>(
        &'a self,
        pattern: &'a str,
    ) -> impl Iterator<Item = &'a Entry<'r>> + 'a {
        self.entries.iter().filter(move |e| {
            e.host == pattern || (pattern.starts_with('*') && names::hosts_match(pattern, e.host))
        })
    }

    /// The ports of `host`.
    pub(crate) fn ports_of(&self, host: &str) -> Vec<u16> {
        self.entries
            .iter()
            .filter(|e| e.host == host)
            .map(|e| e.number)
            .collect()
    }
}
