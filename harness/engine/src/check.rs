//! `meshsim check`: lint scenario files and plain Istio YAML before rollout,
//! in the style of `istioctl analyze` ([`meshsim_istio::lint()`]).
//!
//! - A scenario file (top-level `version:` or `world:`): every mitigation's
//!   `istio` block is linted with the [`LintContext`] the scenario's world and
//!   timeline imply (`context`); each finding names its mitigation, and its
//!   line and column are the scenario file's. What is about a mesh
//!   Service itself (its ports, its application) is reported once, for the
//!   world, at the service in `world.services`; and again for a mitigation
//!   that declares the service's ports anew (`mitigations[].services`), at
//!   that declaration.
//! - Any other file is Istio YAML (what `run --with` takes), linted with an
//!   empty context: only the rules that need no scenario fire.
//!
//! A file or block that does not parse is an error with file, line and
//! column (no finding from it); the other blocks and files are still linted.

mod context;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meshsim_istio::lint::LintContext;
pub use meshsim_istio::lint::{Finding, RULES, Rule, Severity};
use meshsim_istio::{IstioError, Resources};

use crate::error::EngineError;
use crate::scenario::lint_source::{self, BlockText, IstioBlock, ServiceLines, Split};

/// A finding, with the mitigation it comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckFinding {
    /// The scenario mitigation whose resources it is about (`None`: the
    /// world, or a plain Istio file).
    pub mitigation: Option<String>,
    /// The finding; `line` and `column` are the checked file's.
    #[serde(flatten)]
    pub finding: Finding,
}

/// Everything found in one file.
#[derive(Debug)]
pub struct FileCheck {
    /// The file.
    pub file: PathBuf,
    /// Whether it was read as a scenario (else as Istio YAML).
    pub scenario: bool,
    /// The findings, in file order per mitigation.
    pub findings: Vec<CheckFinding>,
    /// What could not be read or parsed (file, line, column in each).
    pub errors: Vec<EngineError>,
}

impl FileCheck {
    /// Whether a finding of warning or error severity was made.
    pub fn has_warnings(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.finding.severity <= meshsim_istio::Severity::Warning)
    }
}

/// Reads and checks `path` ([`check_text`]).
pub fn check_file(path: &Path) -> FileCheck {
    match std::fs::read_to_string(path) {
        Ok(text) => check_text(&text, path),
        Err(source) => FileCheck {
            file: path.to_path_buf(),
            scenario: false,
            findings: Vec::new(),
            errors: vec![EngineError::Read {
                file: path.to_path_buf(),
                source,
            }],
        },
    }
}

/// Checks `text`, read from `path` (used in messages): as a scenario when
/// it has a top-level `version:` or `world:` key, else as Istio YAML.
pub fn check_text(text: &str, path: &Path) -> FileCheck {
    let mut out = FileCheck {
        file: path.to_path_buf(),
        scenario: is_scenario(text),
        findings: Vec::new(),
        errors: Vec::new(),
    };
    if out.scenario {
        check_scenario(text, path, &mut out);
    } else {
        let block = BlockText {
            text: text.to_string(),
            first_line: 1,
            indent: 0,
        };
        match lint_block(&block, &LintContext::default(), path, "") {
            Ok(findings) => out
                .findings
                .extend(findings.into_iter().map(|finding| CheckFinding {
                    mitigation: None,
                    finding,
                })),
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// A scenario has `version:` or `world:` at the top level.
fn is_scenario(text: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with("version:") || l.starts_with("world:"))
}

fn check_scenario(text: &str, path: &Path, out: &mut FileCheck) {
    let Split {
        scenario,
        blocks,
        world_services,
    } = match lint_source::split(text, path) {
        Ok(s) => s,
        Err(e) => return out.errors.push(e),
    };
    let ctx = context::build(&scenario);
    out.findings.extend(
        meshsim_istio::lint(&Resources::default(), &ctx)
            .into_iter()
            .filter_map(|f| at_service(f, &world_services))
            .map(|finding| CheckFinding {
                mitigation: None,
                finding,
            }),
    );
    for (i, m) in blocks.iter().enumerate() {
        let declared = scenario.mitigations.iter().find(|d| d.name == m.mitigation);
        let ctx = declared.map_or_else(|| ctx.clone(), |d| context::for_mitigation(&ctx, d));
        match mitigation(m, i, &ctx, path) {
            Ok(findings) => out.findings.extend(findings),
            Err(e) => out.errors.push(e),
        }
    }
}

/// The service a finding is about when it is about a mesh Service itself
/// (no resource of a block: `Service <ns>/<name>`).
fn service_of(f: &Finding) -> Option<&str> {
    let name = f.resource.strip_prefix("Service ")?.split('/').nth(1)?;
    (f.document == 0).then_some(name)
}

/// A Service finding positioned where `services` writes the service (its
/// port's name for `spec.ports[j]`, else its name); `None` when the service
/// is not there, or the finding is not about a Service.
fn at_service(mut f: Finding, services: &BTreeMap<String, ServiceLines>) -> Option<Finding> {
    let lines = services.get(service_of(&f)?)?;
    let port = (f.path.strip_prefix("spec.ports["))
        .and_then(|p| p.strip_suffix(']'))
        .and_then(|j| j.parse::<usize>().ok());
    let ((line, column), path) = match port.and_then(|j| Some((j, *lines.ports.get(j)?))) {
        Some((j, pos)) => (pos, format!("{}.ports[{j}]", lines.key)),
        None => (lines.name, lines.key.clone()),
    };
    f.line = Some(line);
    f.column = Some(column);
    f.path = path;
    Some(f)
}

/// The findings of one mitigation: its block's, and those about hosts no
/// resource covers (positioned at the mitigation's name). Findings about a
/// Service itself are the world's, unless the mitigation declares the
/// service's ports anew.
fn mitigation(
    m: &IstioBlock,
    index: usize,
    ctx: &LintContext,
    path: &Path,
) -> Result<Vec<CheckFinding>, EngineError> {
    let key = format!("mitigations[{index}].istio");
    let findings = match &m.block {
        Some(block) => lint_block(block, ctx, path, &key)?,
        None => meshsim_istio::lint(&Resources::default(), ctx),
    };
    let mut out: Vec<CheckFinding> = findings
        .into_iter()
        .filter_map(|f| match service_of(&f) {
            Some(_) => at_service(f, &m.services),
            None => Some(positioned(f, m, index, &key)),
        })
        .map(|finding| CheckFinding {
            mitigation: Some(m.mitigation.clone()),
            finding,
        })
        .collect();
    out.sort_by_key(|f| (f.finding.line, f.finding.column));
    Ok(out)
}

/// A block's finding with the file's key path, or, without a position, at
/// the mitigation's name.
fn positioned(mut f: Finding, m: &IstioBlock, index: usize, key: &str) -> Finding {
    if f.line.is_none() {
        f.line = Some(m.name_line);
        f.column = Some(m.name_column);
        f.path = format!("mitigations[{index}]");
    } else {
        f.path = format!("{key}: {}", f.path);
    }
    f
}

/// Parses and lints one block; positions become the file's.
fn lint_block(
    block: &BlockText,
    ctx: &LintContext,
    path: &Path,
    key: &str,
) -> Result<Vec<Finding>, EngineError> {
    let res = meshsim_istio::parse_resources(&block.text)
        .map_err(|e| parse_error(&e, block, path, key))?;
    let mut findings = meshsim_istio::lint(&res, ctx);
    for f in &mut findings {
        if let Some(line) = f.line.as_mut() {
            *line += block.first_line - 1;
        }
        if let Some(column) = f.column.as_mut() {
            *column += block.indent;
        }
    }
    Ok(findings)
}

fn parse_error(e: &IstioError, block: &BlockText, path: &Path, key: &str) -> EngineError {
    let resource = match (e.kind(), e.name()) {
        (Some(k), Some(n)) => format!(" {k} {n}"),
        (Some(k), None) => format!(" {k}"),
        _ => String::new(),
    };
    let at = if key.is_empty() {
        String::new()
    } else {
        format!("{key} ")
    };
    // A YAML syntax error has no key path of its own: the key it is under.
    let inner = if e.path().is_empty() && e.line() > 0 {
        crate::scenario::locate::key_path(&block.text, e.line(), e.column())
    } else {
        e.path().to_string()
    };
    let doc = format!("{at}(document {}{resource})", e.document());
    EngineError::Invalid {
        file: path.to_path_buf(),
        line: if e.line() > 0 {
            e.line() + block.first_line - 1
        } else {
            block.first_line
        },
        column: e.column() + block.indent,
        path: if inner.is_empty() {
            doc
        } else {
            format!("{doc} {inner}")
        },
        message: e.problem().to_string(),
    }
}
