//! The published JSON Schema of a run (`reports/schema/run-result.schema.json`)
//! and a checker for it.
//!
//! The checker is a small recursive validator for the keywords the schema
//! uses (`$ref`, `type`, `enum`, `minimum`, `maximum`, `properties`,
//! `required`, `additionalProperties: false`, `items`). Any other keyword is
//! reported as a violation, so the schema cannot grow a rule that checks
//! silently skip. Tests validate rendered runs with it (the fixed sample in
//! this crate, every run of the catalogue sweep in the engine's), so the Rust
//! type and the published schema cannot drift apart; `meshsim report` and
//! `meshsim diff` need no more than serde's own check.
//!
//! A general validator (the `jsonschema` crate) would bring a regex engine,
//! an HTTP client for remote `$ref`s and a few dozen crates for nine
//! keywords.

use serde_json::{Map, Value};

/// The schema's text, as published.
pub const SCHEMA: &str = include_str!("../../../reports/schema/run-result.schema.json");

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description", "$defs"];

/// The published schema, parsed.
///
/// # Panics
///
/// Never once the crate's tests pass: the schema is checked in as JSON.
pub fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("reports/schema/run-result.schema.json is JSON")
}

/// Every violation of the published schema by `value` (a rendered run, parsed
/// back), as `path: problem`, e.g. `$.mitigations[1].error_rate: 1.5 breaks
/// maximum 1`. Empty when it conforms.
pub fn violations(value: &Value) -> Vec<String> {
    let root = schema();
    let mut out = Vec::new();
    check(&root, &root, value, "$", &mut out);
    out
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let Some(rules) = schema.as_object() else {
        out.push(format!("{at}: the schema here is not an object"));
        return;
    };
    for (keyword, rule) in rules {
        match keyword.as_str() {
            "$ref" => match rule.as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
                Some(name) => check(root, &root["$defs"][name], value, at, out),
                None => out.push(format!("{at}: only local $ref to #/$defs/ are checked")),
            },
            "type" => check_type(rule, value, at, out),
            "enum" => {
                if !rule
                    .as_array()
                    .is_some_and(|allowed| allowed.contains(value))
                {
                    out.push(format!("{at}: {value} not in {rule}"));
                }
            }
            "minimum" | "maximum" => check_bound(keyword, rule, value, at, out),
            "properties" | "required" | "additionalProperties" => {
                check_object(keyword, rule, rules, root, value, at, out);
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    check(root, rule, item, &format!("{at}[{i}]"), out);
                }
            }
            k if ANNOTATIONS.contains(&k) => {}
            k => out.push(format!("{at}: the checker does not know the keyword {k:?}")),
        }
    }
}

fn check_type(rule: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let allowed: Vec<&str> = match rule {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let ok = allowed.iter().any(|t| match *t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_u64() || value.is_i64(),
        _ => false,
    });
    if !ok {
        out.push(format!("{at}: {value} is not {rule}"));
    }
}

fn check_bound(keyword: &str, rule: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let (Some(x), Some(bound)) = (value.as_f64(), rule.as_f64()) else {
        return;
    };
    if (keyword == "minimum" && x < bound) || (keyword == "maximum" && x > bound) {
        out.push(format!("{at}: {x} breaks {keyword} {bound}"));
    }
}

fn check_object(
    keyword: &str,
    rule: &Value,
    rules: &Map<String, Value>,
    root: &Value,
    value: &Value,
    at: &str,
    out: &mut Vec<String>,
) {
    let Some(object) = value.as_object() else {
        return;
    };
    match keyword {
        "required" => {
            for key in rule
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(key) {
                    out.push(format!("{at}: missing key {key:?}"));
                }
            }
        }
        "additionalProperties" => {
            if rule != &Value::Bool(false) {
                out.push(format!("{at}: only additionalProperties: false is checked"));
                return;
            }
            for key in object.keys() {
                if rules["properties"].get(key).is_none() {
                    out.push(format!("{at}: extra key {key:?}"));
                }
            }
        }
        _ => {
            for (key, sub) in rule.as_object().into_iter().flatten() {
                if let Some(v) = object.get(key) {
                    check(root, sub, v, &format!("{at}.{key}"), out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn against(schema: &Value, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        check(schema, schema, value, "$", &mut out);
        out
    }

    #[test]
    fn a_keyword_the_checker_does_not_know_is_a_violation_not_skipped() {
        let schema = json!({ "type": "string", "pattern": "^a" });
        assert_eq!(
            against(&schema, &json!("b")),
            ["$: the checker does not know the keyword \"pattern\""]
        );
    }

    #[test]
    fn a_remote_ref_or_open_additional_properties_is_a_violation() {
        let schema = json!({
            "type": "object",
            "properties": { "a": { "$ref": "https://example.invalid/x" } },
            "additionalProperties": true
        });
        assert_eq!(
            against(&schema, &json!({ "a": 1 })),
            [
                "$.a: only local $ref to #/$defs/ are checked",
                "$: only additionalProperties: false is checked"
            ]
        );
    }
}
