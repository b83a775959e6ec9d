//! The JSON report: exactly [`RunResult`] serialized.
//!
//! The layout is published as `reports/schema/run-result.schema.json` and a
//! test validates a rendered result against it, so the type and the schema
//! cannot drift apart. A `RunResult` holds no wall-clock value, so in sim mode
//! the same seed gives the same bytes.

use meshsim_core::RunResult;

/// Renders the result as pretty-printed JSON with a trailing newline.
///
/// Keys appear in the order of the struct's fields. A non-finite number (NaN)
/// is written as `null`, as `serde_json` does, which the schema rejects.
///
/// # Panics
///
/// Never in practice: every field of a `RunResult` serializes (no map with
/// non-string keys, no fallible `Serialize` impl).
pub fn json(result: &RunResult) -> String {
    let mut out = serde_json::to_string_pretty(result)
        .expect("a RunResult always serializes: plain structs, strings and numbers");
    out.push('\n');
    out
}
