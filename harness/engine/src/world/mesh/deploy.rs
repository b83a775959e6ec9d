//! A service's Deployments (one per version, or the one of an unversioned
//! service): where a new pod goes, `service.scale` of one Deployment, and
//! `app.set` on a service's or one version's pods.

use std::sync::Arc;
use std::time::Duration;

use meshsim_app::BehaviourOverride;

use super::{Mesh, PodRun, assignments, push, start_pod, stop_pod};
use crate::scenario::ServiceVersion;

/// Where a pod sits: its service-wide index (its address), its version and
/// its number within the version (its name).
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) index: u32,
    pub(super) version: usize,
    pub(super) ordinal: u32,
}

impl Slot {
    /// A slot; an unversioned service's pods are named by their index.
    pub(super) fn new(index: u32, version: usize, ordinal: u32, dep: &ServiceVersion) -> Slot {
        let ordinal = if dep.name.is_empty() { index } else { ordinal };
        Slot {
            index,
            version,
            ordinal,
        }
    }

    /// The next free slot of `version` given every pod of the service that
    /// still holds an address (running or lost): the next index after the
    /// highest, so addresses never repeat, and the next ordinal after the
    /// version's highest.
    pub(super) fn next<'a>(
        pods: impl Iterator<Item = &'a PodRun> + Clone,
        version: usize,
        dep: &ServiceVersion,
    ) -> Slot {
        let index = pods.clone().map(|p| p.index + 1).max().unwrap_or(0);
        let ordinal = pods
            .filter(|p| p.version == version)
            .map(|p| p.ordinal + 1)
            .max()
            .unwrap_or(0);
        Slot::new(index, version, ordinal, dep)
    }
}

impl Mesh {
    /// Service `name`'s index and the index of its Deployment `version`
    /// (`None`: the unversioned service's only one).
    fn find(&self, name: &str, version: Option<&str>) -> Option<(usize, usize)> {
        let si = self.services.iter().position(|s| s.service.name == name)?;
        let vi = match version {
            Some(v) => self.deployments[si].iter().position(|d| d.name == v)?,
            None => 0,
        };
        Some((si, vi))
    }

    /// `service.scale` of one Deployment (the service's only one when
    /// `version` is `None`): new pods serve at once and reach the endpoints
    /// after the EDS delay (with a readiness probe: after their first
    /// passing probe and the EDS delay); removed pods (the version's highest-numbered)
    /// stop at once (connections closed) and leave the endpoints only after
    /// the delay, so callers meanwhile hit them. Other versions are untouched.
    pub(crate) async fn scale(self: &Arc<Self>, name: &str, version: Option<&str>, replicas: u32) {
        let Some((si, vi)) = self.find(name, version) else {
            return;
        };
        let dep = &self.deployments[si][vi];
        let mut gone = Vec::new();
        {
            let mut pods = self.pods.lock().await;
            let count = |list: &[PodRun]| list.iter().filter(|p| p.version == vi).count();
            while count(&pods[si]) > replicas as usize {
                let last = pods[si]
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.version == vi)
                    .max_by_key(|(_, p)| p.ordinal)
                    .map(|(at, _)| at);
                gone.extend(last.map(|at| pods[si].remove(at)));
            }
            let resources = self.current_resources();
            let mut started = Vec::new();
            while count(&pods[si]) < replicas as usize {
                let slot = {
                    let lost = self.lost.lock().await;
                    let lost = lost.iter().filter(|(s, _)| *s == si).map(|(_, p)| p);
                    Slot::next(pods[si].iter().chain(lost), vi, dep)
                };
                match self.start_pod_in(si, &resources, slot).await {
                    Ok(p) => {
                        started.push(p.index);
                        pods[si].push(p);
                    }
                    Err(e) => {
                        tracing::warn!(service = name, error = %e, "pod start failed");
                        break;
                    }
                }
            }
            // A new pod's sidecar gets the whole EDS state when it connects.
            let assignments = assignments(&resources, &self.services, &pods);
            for pod in pods[si].iter().filter(|p| started.contains(&p.index)) {
                if let Some(sidecar) = &pod.sidecar {
                    push(sidecar, &assignments);
                }
            }
        }
        for pod in gone {
            stop_pod(&self.env.net, pod).await;
        }
        self.push_later();
    }

    /// Starts a pod of service `si` in `slot` (a scale-up or a
    /// replacement), behaving as the `app.set` in force on its Deployment
    /// says, like the pods already running.
    pub(super) async fn start_pod_in(
        &self,
        si: usize,
        resources: &meshsim_istio::Resources,
        slot: Slot,
    ) -> std::io::Result<PodRun> {
        let (svc, dep) = (&self.services[si], &self.deployments[si][slot.version]);
        let pod = start_pod(&self.env, resources, svc, dep, slot, false).await?;
        let in_force = self.lock_overrides().get(&(si, slot.version)).copied();
        if let Some((_, o)) = in_force {
            let _ = pod.server.set_override(None, o);
        }
        Ok(pod)
    }

    fn lock_overrides(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::BTreeMap<(usize, usize), (u64, BehaviourOverride)>,
    > {
        self.overrides.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `app.set`: every pod of the service (of one version, when `version`
    /// is given) changes behaviour, for `window` or until the end of the run;
    /// pods started meanwhile get it too. A window's end undoes only its own
    /// change: a later `app.set` on the same pods stays.
    pub(crate) async fn app_set(
        self: &Arc<Self>,
        service: &str,
        version: Option<&str>,
        o: BehaviourOverride,
        window: Option<Duration>,
    ) {
        let Some((si, vi)) = self.find(service, version) else {
            return;
        };
        let versions: Vec<usize> = match version {
            Some(_) => vec![vi],
            None => (0..self.deployments[si].len()).collect(),
        };
        let id = self
            .next_override
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut overrides = self.lock_overrides();
            for v in &versions {
                overrides.insert((si, *v), (id, o));
            }
        }
        for pod in self.pods.lock().await[si].iter() {
            if versions.contains(&pod.version) {
                let _ = pod.server.set_override(None, o);
            }
        }
        if let Some(w) = window {
            let me = self.clone();
            self.spawn(async move {
                meshsim_net::clock::sleep(w).await;
                me.end_app_set(si, &versions, id).await;
            });
        }
    }

    /// The end of `app.set` number `id`'s window on service `si`'s
    /// `versions`: their pods go back to their routes' behaviour, unless a
    /// later `app.set` took over that Deployment.
    async fn end_app_set(&self, si: usize, versions: &[usize], id: u64) {
        let mine: Vec<usize> = {
            let mut overrides = self.lock_overrides();
            let mine: Vec<usize> = versions
                .iter()
                .copied()
                .filter(|v| overrides.get(&(si, *v)).is_some_and(|(i, _)| *i == id))
                .collect();
            for v in &mine {
                overrides.remove(&(si, *v));
            }
            mine
        };
        for pod in self.pods.lock().await[si].iter() {
            if mine.contains(&pod.version) {
                let _ = pod.server.clear_override(None);
            }
        }
    }
}
