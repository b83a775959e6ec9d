//! What `meshsim check` needs from a scenario file: the world and timeline
//! (validated as usual) and every mitigation's `istio` block as written,
//! with where it sits in the file, *not* validated, so that lint can report
//! every problem of a block rather than stop at the first.

use std::collections::BTreeMap;
use std::path::Path;

use serde_saphyr::Spanned;

use super::file::{ScenarioFile, ServicePortFile};
use super::{Scenario, validate};
use crate::error::EngineError;

/// A mitigation's Istio block and where it sits in the scenario file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IstioBlock {
    /// The mitigation's name.
    pub(crate) mitigation: String,
    /// Line of the mitigation's `name` (1-based).
    pub(crate) name_line: usize,
    /// Column of the mitigation's `name` (1-based).
    pub(crate) name_column: usize,
    /// The block's text and its origin, if it has one.
    pub(crate) block: Option<BlockText>,
    /// Where the mitigation's `services` re-declare ports, by service name.
    pub(crate) services: BTreeMap<String, ServiceLines>,
}

/// Where a service's ports are written in the scenario file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceLines {
    /// Key path of the entry, e.g. `world.services[0]` or
    /// `mitigations[1].services[0]`.
    pub(crate) key: String,
    /// Line and column of its `name`.
    pub(crate) name: (usize, usize),
    /// Line and column of each port's `name`, in order.
    pub(crate) ports: Vec<(usize, usize)>,
}

/// What [`split`] gives: the scenario, its mitigations' blocks and where
/// the world's services are written.
pub(crate) struct Split {
    /// The scenario without its mitigations' Istio resources.
    pub(crate) scenario: Scenario,
    /// Every mitigation's block, in file order.
    pub(crate) blocks: Vec<IstioBlock>,
    /// Where `world.services` are written, by service name.
    pub(crate) world_services: BTreeMap<String, ServiceLines>,
}

fn at<T>(s: &Spanned<T>) -> (usize, usize) {
    (s.referenced.line() as usize, s.referenced.column() as usize)
}

fn lines(key: String, name: &Spanned<String>, ports: &[ServicePortFile]) -> ServiceLines {
    ServiceLines {
        key,
        name: at(name),
        ports: ports.iter().map(|p| at(&p.name)).collect(),
    }
}

/// An `istio: |` block's text and how its positions map onto the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockText {
    /// The YAML.
    pub(crate) text: String,
    /// File line of the block's first line (1-based).
    pub(crate) first_line: usize,
    /// Indentation of its lines in the file.
    pub(crate) indent: usize,
}

/// The scenario without its mitigations' Istio resources, and those
/// resources' blocks.
///
/// # Errors
/// Those of [`Scenario::parse`] for anything but the mitigations' `istio`
/// blocks.
pub(crate) fn split(text: &str, path: &Path) -> Result<Split, EngineError> {
    let mut file: ScenarioFile = match serde_saphyr::from_str(text) {
        Ok(f) => f,
        // The same error, with its location and suggestion, as `run` gives.
        Err(e) => {
            return Err(Scenario::parse(text, path).err().unwrap_or_else(|| {
                EngineError::Invalid {
                    file: path.to_path_buf(),
                    line: 0,
                    column: 0,
                    path: String::new(),
                    message: e.to_string(),
                }
            }));
        }
    };
    let blocks = (file.mitigations.iter().enumerate())
        .map(|(i, m)| IstioBlock {
            mitigation: m.name.value.clone(),
            name_line: m.name.referenced.line() as usize,
            name_column: m.name.referenced.column() as usize,
            block: m.istio.as_ref().map(|b| block_text(text, b)),
            // Only the services whose ports the mitigation declares anew.
            services: (m.services.iter().enumerate())
                .filter_map(|(k, s)| {
                    let ports = &s.ports.as_ref()?.value;
                    let key = format!("mitigations[{i}].services[{k}]");
                    Some((s.name.value.clone(), lines(key, &s.name, ports)))
                })
                .collect(),
        })
        .collect();
    let world_services = (file.world.services.iter().enumerate())
        .map(|(k, s)| {
            let key = format!("world.services[{k}]");
            (s.name.value.clone(), lines(key, &s.name, &s.ports))
        })
        .collect();
    for m in &mut file.mitigations {
        m.istio = None;
    }
    let scenario = validate::scenario(file, text, path)?;
    Ok(Split {
        scenario,
        blocks,
        world_services,
    })
}

/// Where a block scalar's lines start: serde-saphyr points a block scalar
/// at its first content line, a plain scalar at the `istio:` line itself.
fn block_text(text: &str, block: &serde_saphyr::Spanned<String>) -> BlockText {
    let at = block.referenced.line() as usize;
    let on_key_line = text
        .lines()
        .nth(at.saturating_sub(1))
        .is_some_and(|l| l.contains("istio:"));
    let first_line = if on_key_line { at + 1 } else { at };
    let indent = text
        .lines()
        .nth(first_line.saturating_sub(1))
        .map_or(0, |l| l.len() - l.trim_start().len());
    BlockText {
        text: block.value.clone(),
        first_line,
        indent,
    }
}
