//! MS0301: a PeerAuthentication makes a workload STRICT while callers
//! without a sidecar reach it (fact sheet §8; incidents.md INC-13): every
//! one of their connections is closed without a response.

use std::collections::BTreeMap;

use meshsim_sidecar::tls::MtlsMode;

use super::{Finding, LintContext};
use crate::model::{PeerAuthentication, Resources};
use crate::translate::mtls::{ROOT_NAMESPACE, peer_authn_for};

/// Every STRICT policy in force for a service of the scenario that has
/// callers without a sidecar, on a port those callers use.
pub(crate) fn strict_with_plaintext_callers(res: &Resources, ctx: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in &ctx.services {
        let Some(facts) = ctx.hosts.get(&svc.fqdn()) else {
            continue;
        };
        if facts.plaintext_callers.is_empty() {
            continue;
        }
        // The service's pods carry `app: <service>` (scenario convention).
        let labels = BTreeMap::from([("app".to_string(), svc.name.clone())]);
        let authn = peer_authn_for(res, &svc.namespace, &labels);
        let strict: Vec<u16> = (svc.ports.iter())
            .map(|p| p.target_port)
            .filter(|port| authn.mode_for(*port) == MtlsMode::Strict)
            .collect();
        if strict.is_empty() {
            continue;
        }
        let Some(pa) = deciding(res, &svc.namespace, &labels) else {
            continue;
        };
        let callers: Vec<&str> = facts.plaintext_callers.iter().map(String::as_str).collect();
        let message = format!(
            "{} is STRICT on port(s) {strict:?} while {} call(s) it without a sidecar: their plaintext finds no filter chain, every connection is reset (NR filter_chain_not_found)",
            svc.fqdn(),
            callers.join(", ")
        );
        out.push(Finding::at(
            "MS0301",
            "PeerAuthentication",
            &pa.meta,
            "spec.mtls.mode",
            message,
        ));
    }
    out
}

fn ns_of(pa: &PeerAuthentication) -> &str {
    pa.meta.namespace.as_deref().unwrap_or("default")
}

/// The policy whose mode decides (workload, else namespace, else mesh).
fn deciding<'r>(
    res: &'r Resources,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Option<&'r PeerAuthentication> {
    let selects = |pa: &PeerAuthentication| {
        (pa.selector.as_ref()).is_some_and(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
    };
    let workload = res
        .peer_authentications
        .iter()
        .find(|pa| ns_of(pa) == namespace && selects(pa));
    let level = |ns: &str| {
        res.peer_authentications
            .iter()
            .find(|pa| ns_of(pa) == ns && pa.selector.is_none() && pa.mode.is_some())
    };
    workload
        .filter(|pa| pa.mode.is_some() || !pa.port_level.is_empty())
        .or_else(|| level(namespace))
        .or_else(|| level(ROOT_NAMESPACE))
}
