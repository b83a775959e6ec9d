//! User mitigations (`meshsim run --with FILE`): Istio YAML a user pastes,
//! layered over one of the scenario's own mitigations and run side by side
//! with them.
//!
//! Layering: a resource of the file with the same kind, namespace and name as
//! one of the base mitigation's replaces it (in place); the others are added
//! after the base's. An `IstioOperator`'s `meshConfig` replaces the base's.
//! The file is parsed and validated exactly like a scenario's
//! `mitigations[].istio` block, and its errors name the file, line, column
//! and key path.

use std::path::Path;

use meshsim_istio::model::ResourceMeta;
use meshsim_istio::{IstioError, Resources};

use super::{Mitigation, Scenario, locate};
use crate::error::EngineError;

impl Scenario {
    /// Reads `path` and adds it as a user mitigation
    /// ([`Scenario::add_user_mitigation`]).
    ///
    /// # Errors
    /// [`EngineError::Read`] when the file cannot be read, then those of
    /// [`Scenario::add_user_mitigation`].
    pub fn add_user_mitigation_file(
        &mut self,
        path: &Path,
        base: Option<&str>,
    ) -> Result<&Mitigation, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|source| EngineError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        self.add_user_mitigation(path, &text, base)
    }

    /// Adds the Istio YAML `text` (read from `path`, which names the
    /// mitigation and its errors) as one more mitigation, run after the
    /// scenario's own: `with:<file stem>`, with the resources of `base`
    /// (default: the first mitigation) and the file's layered over them, and
    /// `base`'s `app` overrides. No expectation applies to it.
    ///
    /// # Errors
    /// [`EngineError::UnknownMitigation`] when `base` is not a mitigation of
    /// the scenario; [`EngineError::InvalidOption`] when the name is taken;
    /// [`EngineError::Invalid`] (file, line, column, key path) when the YAML
    /// does not parse, has an unsupported kind, repeats a resource, holds no
    /// resource or fails Istio's validation.
    pub fn add_user_mitigation(
        &mut self,
        path: &Path,
        text: &str,
        base: Option<&str>,
    ) -> Result<&Mitigation, EngineError> {
        let name = user_mitigation_name(path);
        if self.mitigation(&name).is_some() {
            return Err(EngineError::InvalidOption {
                message: format!(
                    "--with {}: scenario {} already has a mitigation named {name:?} (rename the file)",
                    path.display(),
                    self.name
                ),
            });
        }
        let base = self.base_mitigation(base)?.clone();
        let pasted = parse(path, text)?;
        let (istio, changes) = layer(&base.istio, pasted);
        let unknown = meshsim_istio::unknown_subsets(&istio);
        for line in meshsim_istio::unmodelled_at(&istio, self.istio_version)
            .into_iter()
            .chain(unknown)
        {
            tracing::warn!(file = %path.display(), mitigation = %name, "{line}");
        }
        let file = path
            .file_name()
            .unwrap_or(path.as_os_str())
            .to_string_lossy();
        self.mitigations.push(Mitigation {
            name,
            description: Some(format!("{file} over {}: {}", base.name, changes.join(", "))),
            app: base.app,
            pod: base.pod,
            services: base.services,
            pod_templates: base.pod_templates,
            istio,
            user_file: Some(path.to_path_buf()),
        });
        Ok(&self.mitigations[self.mitigations.len() - 1])
    }

    /// The mitigation named `base`, or the first one.
    fn base_mitigation(&self, base: Option<&str>) -> Result<&Mitigation, EngineError> {
        let found = match base {
            Some(n) => self.mitigation(n),
            None => self.mitigations.first(),
        };
        found.ok_or_else(|| {
            let known: Vec<&str> = self.mitigations.iter().map(|m| m.name.as_str()).collect();
            EngineError::UnknownMitigation {
                scenario: self.name.clone(),
                name: base.unwrap_or_default().to_string(),
                known: known.join(", "),
            }
        })
    }
}

/// `with:<file stem>`.
fn user_mitigation_name(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or(path.as_os_str());
    format!("with:{}", stem.to_string_lossy())
}

/// Parses and validates the file like a scenario's `istio` block.
fn parse(path: &Path, text: &str) -> Result<Resources, EngineError> {
    let res = meshsim_istio::parse_resources(text)
        .and_then(|r| meshsim_istio::validate(&r).map(|()| r))
        .map_err(|e| invalid(path, text, &e))?;
    if let Some((meta, kind)) = repeated(&res) {
        let (line, column) = meta
            .position("metadata.name")
            .or_else(|| meta.position(""))
            .unwrap_or((0, 0));
        return Err(EngineError::Invalid {
            file: path.to_path_buf(),
            line,
            column,
            path: format!("(document {}) metadata.name", meta.document),
            message: format!("{kind} {} appears twice in the file", label(meta)),
        });
    }
    let empty = res.service_entries.is_empty()
        && res.virtual_services.is_empty()
        && res.destination_rules.is_empty()
        && res.peer_authentications.is_empty()
        && res.mesh_config.is_none();
    if empty {
        return Err(EngineError::Invalid {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            path: String::new(),
            message: "no Istio resource in the file (expected ServiceEntry, VirtualService, DestinationRule, PeerAuthentication or IstioOperator documents)".into(),
        });
    }
    Ok(res)
}

/// An [`IstioError`] of the user's file as the engine reports it.
fn invalid(path: &Path, text: &str, e: &IstioError) -> EngineError {
    let resource = match (e.kind(), e.name()) {
        (Some(k), Some(n)) => format!(" {k} {n}"),
        (Some(k), None) => format!(" {k}"),
        _ => String::new(),
    };
    let key = if e.path().is_empty() && e.line() > 0 {
        locate::key_path(text, e.line(), e.column())
    } else {
        e.path().to_string()
    };
    let doc = format!("(document {}{resource})", e.document());
    EngineError::Invalid {
        file: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        path: if key.is_empty() {
            doc
        } else {
            format!("{key} {doc}")
        },
        message: e.problem().to_string(),
    }
}

/// The second resource of a kind, namespace and name already seen.
fn repeated(res: &Resources) -> Option<(&ResourceMeta, &'static str)> {
    fn twice<T>(list: &[T], meta: impl Fn(&T) -> &ResourceMeta) -> Option<&ResourceMeta> {
        list.iter()
            .enumerate()
            .find(|(i, r)| list[..*i].iter().any(|o| same(meta(o), meta(r))))
            .map(|(_, r)| meta(r))
    }
    twice(&res.service_entries, |r| &r.meta)
        .map(|m| (m, "ServiceEntry"))
        .or_else(|| twice(&res.virtual_services, |r| &r.meta).map(|m| (m, "VirtualService")))
        .or_else(|| twice(&res.destination_rules, |r| &r.meta).map(|m| (m, "DestinationRule")))
        .or_else(|| {
            twice(&res.peer_authentications, |r| &r.meta).map(|m| (m, "PeerAuthentication"))
        })
}

/// `base` with `over` layered on it, and what each resource of `over` did
/// (`DestinationRule partner-api (replaces)`), in kind order.
fn layer(base: &Resources, over: Resources) -> (Resources, Vec<String>) {
    let mut out = base.clone();
    let mut changes = Vec::new();
    for r in over.service_entries {
        changes.push(put(
            &mut out.service_entries,
            r,
            |r| &r.meta,
            "ServiceEntry",
        ));
    }
    for r in over.virtual_services {
        changes.push(put(
            &mut out.virtual_services,
            r,
            |r| &r.meta,
            "VirtualService",
        ));
    }
    for r in over.destination_rules {
        changes.push(put(
            &mut out.destination_rules,
            r,
            |r| &r.meta,
            "DestinationRule",
        ));
    }
    for r in over.peer_authentications {
        changes.push(put(
            &mut out.peer_authentications,
            r,
            |r| &r.meta,
            "PeerAuthentication",
        ));
    }
    if let Some(m) = over.mesh_config {
        let how = if out.mesh_config.is_some() {
            "replaces"
        } else {
            "adds"
        };
        changes.push(format!(
            "IstioOperator {} meshConfig ({how})",
            label(&m.meta)
        ));
        out.mesh_config = Some(m);
    }
    (out, changes)
}

/// Replaces the resource of `list` with `item`'s namespace and name, or
/// appends `item`; says which.
fn put<T>(list: &mut Vec<T>, item: T, meta: impl Fn(&T) -> &ResourceMeta, kind: &str) -> String {
    let what = format!("{kind} {}", label(meta(&item)));
    match list.iter().position(|o| same(meta(o), meta(&item))) {
        Some(i) => {
            list[i] = item;
            format!("{what} (replaces)")
        }
        None => {
            list.push(item);
            format!("{what} (adds)")
        }
    }
}

fn same(a: &ResourceMeta, b: &ResourceMeta) -> bool {
    a.name == b.name && a.namespace == b.namespace
}

/// `name`, or `namespace/name`.
fn label(meta: &ResourceMeta) -> String {
    match &meta.namespace {
        Some(ns) => format!("{ns}/{}", meta.name),
        None => meta.name.clone(),
    }
}
