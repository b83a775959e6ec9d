//! What only a scenario knows about the world the resources will meet.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::kube::KubeService;
use crate::version::IstioVersion;

/// What the lint rules may know beyond the resources; [`Default`] knows
/// nothing, so only the context-free rules fire (plain Istio files).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LintContext {
    /// Facts per host name as applications call it (a DNS name, a
    /// Kubernetes Service FQDN, or an IP literal).
    pub hosts: BTreeMap<String, HostFacts>,
    /// The mesh's Kubernetes Services (port names and `appProtocol`).
    pub services: Vec<KubeService>,
    /// The applications behind the mesh's Services, by Service FQDN
    /// (default: none known).
    pub apps: BTreeMap<String, AppFacts>,
    /// The Istio version the sidecars run (`None`: unknown; the rules that
    /// depend on it stay silent).
    pub istio_version: Option<IstioVersion>,
}

/// What a scenario knows about the application behind one Service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppFacts {
    /// Whether its pods have a sidecar (inbound capture).
    pub sidecar: bool,
    /// The addresses each Deployment's application binds, by Deployment
    /// (version) name (empty name: the one Deployment of an unversioned
    /// service).
    pub listen: BTreeMap<String, AppListen>,
    /// Whether it serves HTTP/2 cleartext (h2c) besides HTTP/1.1 (default
    /// false: meshsim's serving applications speak HTTP/1.1 only).
    pub http2: bool,
    /// The pods' readiness probe as the pod spec writes it (before Istio's
    /// injector); `None`: no probe.
    pub readiness_probe: Option<crate::inject::PodProbeAction>,
    /// Whether Istio's injector rewrites the pods' probes
    /// (`sidecar.istio.io/rewriteAppHTTPProbers`; Istio's default is true,
    /// this field's default false).
    pub rewrite_probes: bool,
}

/// The addresses an application binds (`app.listen`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppListen {
    /// `0.0.0.0`: every address of the pod (the default).
    #[default]
    Any,
    /// The pod's address only.
    PodIp,
    /// `127.0.0.1` only.
    Localhost,
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
    /// The ports the scenario's applications call it on (from their URLs;
    /// default ports by scheme).
    pub ports: BTreeSet<u16>,
    /// The URL schemes they call it with, lower case (`http`, `https`,
    /// `mysql`...).
    pub schemes: BTreeSet<String>,
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
