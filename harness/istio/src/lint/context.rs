//! What only a scenario knows about the world the resources will meet.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::kube::KubeService;

/// What the lint rules may know beyond the resources; [`Default`] knows
/// nothing, so only the context-free rules fire (plain Istio files).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LintContext {
    /// Facts per host name as applications call it (a DNS name, a
    /// Kubernetes Service FQDN, or an IP literal).
    pub hosts: BTreeMap<String, HostFacts>,
    /// The mesh's Kubernetes Services (port names and `appProtocol`).
    pub services: Vec<KubeService>,
}

/// What a scenario knows about one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    /// Some caller has a sidecar (so its traffic meets Istio's config).
    pub via_sidecar: bool,
    /// The host's DNS answers change on the timeline (`dns.set`), and why.
    pub dns_changes: Option<String>,
    /// How it can black-hole an established connection (`host.stop`
    /// blackhole, a dropping idle timer, a black-holing firewall).
    pub blackhole: Option<String>,
    /// The server's keep-alive (idle) timeout, the shortest over its
    /// addresses.
    pub keepalive_timeout: Option<Duration>,
    /// A middlebox on the callers' path that forgets idle flows.
    pub idle_limit: Option<IdleLimit>,
    /// HTTP methods the scenario's applications send to it (upper case).
    pub methods: BTreeSet<String>,
    /// Callers without a sidecar (pod or service names): they send
    /// plaintext, which a STRICT workload refuses.
    pub plaintext_callers: BTreeSet<String>,
}

/// A middlebox idle timer on the path to a host.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleLimit {
    /// The box's name in the scenario.
    pub middlebox: String,
    /// How long a flow may stay idle before the box forgets it.
    pub idle: Duration,
}

impl LintContext {
    /// The facts of every host `pattern` (an Istio host, maybe `*.`
    /// wildcard) covers, by host name.
    pub(crate) fn matching<'a>(
        &'a self,
        pattern: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a HostFacts)> + 'a {
        self.hosts
            .iter()
            .filter(move |(h, _)| crate::validate::names::hosts_match(pattern, h))
            .map(|(h, f)| (h.as_str(), f))
    }
}
