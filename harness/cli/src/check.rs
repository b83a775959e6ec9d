//! `meshsim check FILE...`: the findings of every file, like `istioctl
//! analyze` prints them, or as JSON.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use meshsim_engine::check::Severity;
use meshsim_engine::{CheckFinding, FileCheck, check_file};

/// How `check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CheckFormat {
    /// One line per finding, grouped per file, then a summary line.
    Text,
    /// `{"files": [{"file", "scenario", "findings", "errors"}], "summary"}`.
    Json,
}

/// Checks every file; `Ok(true)` when a finding of warning or error
/// severity was made. A file that cannot be read or parsed is reported and
/// the others are still checked; then the whole is an error (exit 2).
pub(crate) fn run(files: &[PathBuf], format: CheckFormat) -> Result<bool> {
    let checks: Vec<FileCheck> = files.iter().map(|f| check_file(f)).collect();
    let mut stdout = std::io::stdout().lock();
    match format {
        CheckFormat::Text => write_text(&mut stdout, &checks)?,
        CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &json(&checks))?;
            writeln!(stdout)?;
        }
    }
    let broken = checks.iter().filter(|c| !c.errors.is_empty()).count();
    if broken > 0 {
        anyhow::bail!("{broken} of {} files could not be checked", checks.len());
    }
    Ok(checks.iter().any(FileCheck::has_warnings))
}

fn write_text(out: &mut impl Write, checks: &[FileCheck]) -> Result<()> {
    for c in checks {
        let kind = if c.scenario { "scenario" } else { "istio" };
        writeln!(out, "{} ({kind}):", c.file.display())?;
        if c.findings.is_empty() && c.errors.is_empty() {
            writeln!(out, "  no findings")?;
        }
        for f in &c.findings {
            writeln!(out, "  {}", line(c, f))?;
        }
        for e in &c.errors {
            writeln!(out, "  Error [input] {e}")?;
        }
    }
    writeln!(out, "{}", summary(checks))?;
    Ok(())
}

/// `Warning [MS0104] (VirtualService default/x) FILE:L:C mitigation m: message. Fix: ... (see DEMO)`.
fn line(c: &FileCheck, f: &CheckFinding) -> String {
    let x = &f.finding;
    let at = match (x.line, x.column) {
        (Some(l), Some(col)) => format!("{}:{l}:{col}", c.file.display()),
        (Some(l), None) => format!("{}:{l}", c.file.display()),
        _ => c.file.display().to_string(),
    };
    let mitigation = f
        .mitigation
        .as_ref()
        .map_or(String::new(), |m| format!(" mitigation {m}:"));
    let demo = x.demo.map_or(String::new(), |d| format!(" (see {d})"));
    format!(
        "{} [{}] ({}) {at}{mitigation} {}. Fix: {}{demo}",
        x.severity, x.code, x.resource, x.message, x.fix
    )
}

fn count(checks: &[FileCheck], severity: Severity) -> usize {
    checks
        .iter()
        .flat_map(|c| &c.findings)
        .filter(|f| f.finding.severity == severity)
        .count()
}

fn summary(checks: &[FileCheck]) -> String {
    let broken = checks.iter().filter(|c| !c.errors.is_empty()).count();
    let files = match checks.len() {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    };
    format!(
        "{files} checked: {} errors, {} warnings, {} infos; {broken} could not be read or parsed",
        count(checks, Severity::Error),
        count(checks, Severity::Warning),
        count(checks, Severity::Info),
    )
}

fn json(checks: &[FileCheck]) -> serde_json::Value {
    let files: Vec<serde_json::Value> = checks
        .iter()
        .map(|c| {
            let errors: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
            serde_json::json!({
                "file": c.file.display().to_string(),
                "scenario": c.scenario,
                "findings": c.findings,
                "errors": errors,
            })
        })
        .collect();
    serde_json::json!({
        "files": files,
        "summary": {
            "errors": count(checks, Severity::Error),
            "warnings": count(checks, Severity::Warning),
            "infos": count(checks, Severity::Info),
            "unparsed_files": checks.iter().filter(|c| !c.errors.is_empty()).count(),
        },
    })
}
