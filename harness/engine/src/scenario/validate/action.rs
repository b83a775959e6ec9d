//! One timeline action given on its own (`meshsim ctl apply`, the control
//! endpoint of `meshsim up`), validated exactly as a timeline entry of the
//! scenario file: the same serde structure with unknown keys rejected, the
//! same cross-checks against the scenario's world.
//!
//! The text is an entry of `timeline:` without its `at`, for example
//! `host.stop: { name: alb-node-a, how: reset }`. It is parsed as the entry
//! `at: 0s` plus the text, so every rule of the file applies unchanged;
//! error lines are those of the text as given.

use std::path::Path;

use super::super::file::EventFile;
use super::super::{Action, Scenario, locate, yaml_error};
use super::{Ctx, Targets, timeline};
use crate::error::EngineError;

/// Where errors about an action given on its own point.
const SOURCE: &str = "action";

impl Scenario {
    /// Parses and validates one timeline action in the scenario file's
    /// syntax (an entry of `timeline:` without `at`), against this
    /// scenario's world. `dns.set` with several names gives one action per
    /// name, as in the file.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] naming the key path (`host.stop.how`) and
    /// the line and column in `text`, as the scenario loader reports a bad
    /// timeline entry.
    pub fn parse_action(&self, text: &str) -> Result<Vec<Action>, EngineError> {
        if text.trim().is_empty() {
            return Err(invalid(
                0,
                0,
                "",
                "the action is empty; give one timeline entry without `at`, e.g. `host.stop: { name: alb-node-a, how: reset }`",
            ));
        }
        if text.lines().any(|l| l.trim_start().starts_with("at:")) {
            return Err(invalid(
                0,
                0,
                "at",
                "an action given by hand takes effect at once: leave `at` out",
            ));
        }
        // A flow mapping (`{ host.stop: {...} }`) becomes a block entry.
        let trimmed = text.trim();
        let body = match trimmed.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(inner) => inner.trim().to_string(),
            None => text.to_string(),
        };
        let wrapped = format!("at: 0s\n{body}");
        let entry: EventFile =
            serde_saphyr::from_str(&wrapped).map_err(|e| parse_error(&wrapped, &e))?;
        let cx = Ctx {
            text: &wrapped,
            path: Path::new(SOURCE),
        };
        let targets = Targets {
            dns: &self.dns,
            external: &self.external,
            services: &self.services,
            pods: &self.pods,
        };
        let events = timeline(&cx, std::slice::from_ref(&entry), self.duration, &targets)
            .map_err(unwrap_line)?;
        Ok(events.into_iter().map(|e| e.action).collect())
    }
}

/// serde-saphyr's error at its place in the text as given.
fn parse_error(wrapped: &str, e: &serde_saphyr::Error) -> EngineError {
    let (line, column, message) = yaml_error(e);
    let path = locate::key_path(wrapped, line, column);
    let (line, column) = if line > 1 { (line - 1, column) } else { (0, 0) };
    invalid(line, column, &path, &message)
}

/// A validation error of the wrapped text, with the line of the text as
/// given (the `timeline[0]` prefix the wrapper adds dropped).
fn unwrap_line(e: EngineError) -> EngineError {
    match e {
        EngineError::Invalid {
            line,
            column,
            path,
            message,
            ..
        } => {
            let path = path
                .strip_prefix("timeline[0]")
                .map(|p| p.trim_start_matches('.').to_string())
                .unwrap_or(path);
            let (line, column) = if line > 1 { (line - 1, column) } else { (0, 0) };
            invalid(line, column, &path, &message)
        }
        other => other,
    }
}

fn invalid(line: usize, column: usize, path: &str, message: &str) -> EngineError {
    EngineError::Invalid {
        file: Path::new(SOURCE).to_path_buf(),
        line,
        column,
        path: path.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use meshsim_upstream::StopMode;

    use crate::scenario::{Action, Scenario};

    fn scenario() -> Scenario {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/alb-ip-rotation.yaml");
        Scenario::load(&path).unwrap()
    }

    #[test]
    fn a_host_stop_entry_parses_as_in_the_timeline() {
        let actions = scenario()
            .parse_action("host.stop: { name: alb-node-a, how: reset }")
            .unwrap();
        let expected = Action::HostStop {
            name: "alb-node-a".into(),
            how: StopMode::Reset,
        };
        assert_eq!(actions, vec![expected]);
    }

    #[test]
    fn a_flow_mapping_entry_parses_too() {
        let actions = scenario()
            .parse_action("{ dns.set: { api.partner.example: { a: [52.1.1.10], ttl: 5s } } }")
            .unwrap();
        assert!(
            matches!(&actions[..], [Action::DnsSet { name, a, ttl: Some(_) }]
            if name == "api.partner.example" && a.len() == 1)
        );
    }

    #[test]
    fn an_unknown_key_is_rejected_naming_its_path_and_the_nearest_key() {
        let err = scenario()
            .parse_action("host.stop: { name: alb-node-a, hwo: reset }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("host.stop.hwo"), "{err}");
        assert!(err.contains("did you mean `how`"), "{err}");
        assert!(err.starts_with("action:1:"), "{err}");
    }

    #[test]
    fn an_unknown_host_is_rejected_as_the_loader_rejects_it() {
        let err = scenario()
            .parse_action("host.stop: { name: alb-node-z }")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no external host named \"alb-node-z\""),
            "{err}"
        );
    }

    #[test]
    fn an_action_with_at_is_rejected() {
        let err = scenario()
            .parse_action("at: 5m\nhost.start: { name: alb-node-a }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("leave `at` out"), "{err}");
    }
}
