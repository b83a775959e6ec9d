//! The control plane's timeline events: Istio resources pushed or deleted
//! (re-translated for every sidecar and applied after `push_delay`, EDS
//! included), and pods deleted (stopped at once, out of EDS after
//! `eds_delay`, replaced by the ReplicaSet after `pod_start`).

use std::sync::Arc;

use meshsim_app::StopMode;
use meshsim_istio::Resources;

use super::deploy::Slot;
use super::{Mesh, PodRun, assignments, pod_config, push, stop_pod_with};
use crate::scenario::{PodStop, ResourceRef};

impl Mesh {
    /// The current Istio resources.
    pub(super) fn current_resources(&self) -> Resources {
        self.resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `istio.push`: `pushed` replaces the resources of the same kind,
    /// namespace and name and adds the others; every sidecar gets its new
    /// configuration after the push delay, and the EDS assignments with it
    /// (new subset clusters need theirs, as Istio pushes EDS after CDS).
    pub(crate) fn istio_push(self: &Arc<Self>, pushed: Resources) {
        {
            let mut res = self.resources.lock().unwrap_or_else(|e| e.into_inner());
            merge(&mut res, pushed);
        }
        self.apply_later();
    }

    /// `istio.delete`: the resources leave, pushed after the push delay.
    pub(crate) fn istio_delete(self: &Arc<Self>, refs: &[ResourceRef]) {
        {
            let mut res = self.resources.lock().unwrap_or_else(|e| e.into_inner());
            for r in refs {
                remove(&mut res, r);
            }
        }
        self.apply_later();
    }

    fn apply_later(self: &Arc<Self>) {
        let me = self.clone();
        let delay = self.env.push_delay;
        self.spawn(async move {
            meshsim_net::clock::sleep(delay).await;
            me.apply_resources().await;
        });
    }

    /// Re-translates the current resources for every sidecar and applies
    /// them, then sends the EDS assignments.
    async fn apply_resources(&self) {
        let res = self.current_resources();
        let pods = self.pods.lock().await;
        let entry = super::sidecar_config(&res, &self.env.profile, self.env.dns, self.env.start);
        let entry_sidecars = self.entry_sidecars();
        for sidecar in &entry_sidecars {
            if let Err(e) = sidecar.apply(entry.clone()) {
                tracing::warn!(error = %e, "istio push refused by an entry sidecar");
            }
        }
        for (svc, list) in self.services.iter().zip(pods.iter()) {
            for pod in list {
                let Some(sidecar) = pod.sidecar.as_ref() else {
                    continue;
                };
                let config = pod_config(&self.env, &res, svc, &pod.labels);
                if let Err(e) = sidecar.apply(config) {
                    tracing::warn!(service = %svc.service.name, error = %e, "istio push refused");
                }
            }
        }
        let eds = assignments(&res, &self.services, &pods);
        let sidecars = pods.iter().flatten().filter_map(|p| p.sidecar.as_ref());
        for sidecar in sidecars.chain(entry_sidecars.iter().map(|s| &**s)) {
            push(sidecar, &eds);
        }
    }

    /// `pod.delete`: the pod stops as `how` says (a black-holed pod keeps
    /// running unreachable, like a lost node), leaves EDS after the EDS
    /// delay, and its ReplicaSet's replacement starts after `pod_start` (an
    /// endpoint then, or once its readiness probe passes).
    pub(crate) async fn delete_pod(self: &Arc<Self>, name: &str, how: PodStop) {
        let found = {
            let mut pods = self.pods.lock().await;
            (0..self.services.len()).find_map(|si| {
                let at = pods[si].iter().position(|p| p.name == name)?;
                Some((si, pods[si].remove(at)))
            })
        };
        let Some((si, pod)) = found else {
            tracing::warn!(pod = name, "pod.delete: no such pod is running");
            return;
        };
        let version = pod.version;
        match how {
            PodStop::Close => stop_pod_with(&self.env.net, pod, StopMode::Close).await,
            PodStop::Reset => stop_pod_with(&self.env.net, pod, StopMode::Reset).await,
            PodStop::Blackhole => {
                self.env.net.set_blackhole(pod.address, true);
                // A lost node's kubelet probes no more.
                let pod = PodRun {
                    prober: None,
                    ..pod
                };
                self.lost.lock().await.push((si, pod));
            }
        }
        self.push_later();
        let me = self.clone();
        let delay = self.env.pod_start;
        self.spawn(async move {
            meshsim_net::clock::sleep(delay).await;
            me.replace_pod(si, version).await;
        });
    }

    /// Starts the replacement pod of service `si`'s Deployment `version`
    /// at the next index no pod (running or lost) has, and pushes EDS after
    /// the EDS delay.
    async fn replace_pod(self: &Arc<Self>, si: usize, version: usize) {
        let (svc, dep) = (&self.services[si], &self.deployments[si][version]);
        let res = self.current_resources();
        {
            let mut pods = self.pods.lock().await;
            let lost = self.lost.lock().await;
            let lost = lost.iter().filter(|(s, _)| *s == si).map(|(_, p)| p);
            let slot = Slot::next(pods[si].iter().chain(lost), version, dep);
            match self.start_pod_in(si, &res, slot).await {
                Ok(p) => {
                    pods[si].push(p);
                    let eds = assignments(&res, &self.services, &pods);
                    if let Some(sidecar) = pods[si].last().and_then(|p| p.sidecar.as_ref()) {
                        push(sidecar, &eds);
                    }
                }
                Err(e) => {
                    tracing::warn!(service = %svc.service.name, error = %e, "replacement pod start failed")
                }
            }
        }
        self.push_later();
    }
}

fn same(
    meta: &meshsim_istio::model::ResourceMeta,
    kind: &str,
    r_kind: &str,
    name: &str,
    ns: Option<&str>,
) -> bool {
    kind == r_kind && meta.name == name && meta.namespace.as_deref() == ns
}

/// Adds `pushed` to `res`, replacing resources of the same kind and name.
fn merge(res: &mut Resources, pushed: Resources) {
    for se in pushed.service_entries {
        res.service_entries
            .retain(|o| !(o.meta.name == se.meta.name && o.meta.namespace == se.meta.namespace));
        res.service_entries.push(se);
    }
    for vs in pushed.virtual_services {
        res.virtual_services
            .retain(|o| !(o.meta.name == vs.meta.name && o.meta.namespace == vs.meta.namespace));
        res.virtual_services.push(vs);
    }
    for dr in pushed.destination_rules {
        res.destination_rules
            .retain(|o| !(o.meta.name == dr.meta.name && o.meta.namespace == dr.meta.namespace));
        res.destination_rules.push(dr);
    }
    for pa in pushed.peer_authentications {
        res.peer_authentications
            .retain(|o| !(o.meta.name == pa.meta.name && o.meta.namespace == pa.meta.namespace));
        res.peer_authentications.push(pa);
    }
}

/// Removes the resource `r` names.
fn remove(res: &mut Resources, r: &ResourceRef) {
    let ns = r.namespace.as_deref();
    let k = r.kind.as_str();
    res.service_entries
        .retain(|o| !same(&o.meta, "ServiceEntry", k, &r.name, ns));
    res.virtual_services
        .retain(|o| !same(&o.meta, "VirtualService", k, &r.name, ns));
    res.destination_rules
        .retain(|o| !same(&o.meta, "DestinationRule", k, &r.name, ns));
    res.peer_authentications
        .retain(|o| !same(&o.meta, "PeerAuthentication", k, &r.name, ns));
}
