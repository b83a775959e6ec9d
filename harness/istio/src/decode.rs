//! The node tree -> typed resources, with unknown keys rejected.
//!
//! Every mapping is opened with the keys Istio's schema allows at that place:
//! *modelled* keys are decoded, *skipped* keys (valid Istio fields meshsim does
//! not model) are accepted and recorded, anything else is an
//! [`Problem::UnknownKey`] naming the nearest valid key. Every decoded path's
//! position is recorded, so validation can point at a value later.
//!
//! - `envelope`: `apiVersion`, `kind`, `metadata`, dispatch per kind;
//! - `service_entry`, `virtual_service`, `destination_rule`: the specs.

pub(crate) mod destination_rule;
pub(crate) mod envelope;
pub(crate) mod mesh_config;
pub(crate) mod peer_authentication;
pub(crate) mod proxy_config;
pub(crate) mod service_entry;
pub(crate) mod virtual_service;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::duration;
use crate::error::{Fault, Pos, Problem};
use crate::suggest;
use crate::yaml::{Node, Value};

/// What decoding one document collects besides the value.
#[derive(Debug, Default)]
pub(crate) struct Cx {
    pub(crate) positions: BTreeMap<String, Pos>,
    pub(crate) ignored: Vec<String>,
}

/// A mapping being decoded.
pub(crate) struct Obj<'n> {
    pub(crate) path: String,
    pub(crate) pos: Pos,
    entries: &'n [(Node, Node)],
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Which keys a mapping accepts.
pub(crate) struct Keys<'a> {
    /// Decoded.
    pub(crate) known: &'a [&'a str],
    /// Valid in Istio, accepted, recorded in `ignored` (unless `silent`).
    pub(crate) skipped: &'a [&'a str],
    /// Valid in Istio, but meshsim cannot honour them: an error.
    pub(crate) unsupported: &'a [&'a str],
    /// Do not record skipped keys (metadata, status).
    pub(crate) silent: bool,
}

impl<'a> Keys<'a> {
    pub(crate) const fn only(known: &'a [&'a str]) -> Keys<'a> {
        Keys {
            known,
            skipped: &[],
            unsupported: &[],
            silent: false,
        }
    }
    pub(crate) const fn with_skipped(known: &'a [&'a str], skipped: &'a [&'a str]) -> Keys<'a> {
        Keys {
            known,
            skipped,
            unsupported: &[],
            silent: false,
        }
    }
}

impl<'n> Obj<'n> {
    /// Opens `node` as a mapping accepting `keys`.
    pub(crate) fn open(
        cx: &mut Cx,
        node: &'n Node,
        path: &str,
        keys: &Keys<'_>,
    ) -> Result<Obj<'n>, Fault> {
        let Value::Map(entries) = &node.value else {
            return Err(wrong(node, path, "a mapping"));
        };
        for (k, v) in entries {
            let key = k.key_text();
            let child = join(path, &key);
            if keys.known.contains(&key.as_str()) {
                // Collections and nulls point at their key (`retries:`), scalars at the value.
                let at_key = matches!(v.value, Value::Null | Value::Map(_) | Value::Seq(_));
                cx.positions
                    .insert(child, if at_key { k.pos } else { v.pos });
            } else if keys.skipped.contains(&key.as_str()) {
                if !keys.silent {
                    cx.ignored.push(child);
                }
            } else if keys.unsupported.contains(&key.as_str()) {
                return Err(Fault::new(
                    child,
                    k.pos,
                    Problem::Unsupported { feature: key },
                ));
            } else {
                return Err(unknown_key(&key, child, k.pos, keys));
            }
        }
        Ok(Obj {
            path: path.to_string(),
            pos: node.pos,
            entries,
        })
    }

    /// The value of `key` and its path; `None` when absent or null.
    pub(crate) fn get(&self, key: &str) -> Option<(&'n Node, String)> {
        self.entries
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .filter(|(_, v)| v.value != Value::Null)
            .map(|(_, v)| (v, join(&self.path, key)))
    }

    /// The value of `key`, or a [`Problem::MissingKey`] at the mapping.
    pub(crate) fn require(&self, key: &str) -> Result<(&'n Node, String), Fault> {
        self.get(key).ok_or_else(|| {
            Fault::new(
                self.path.clone(),
                self.pos,
                Problem::MissingKey {
                    key: key.to_string(),
                },
            )
        })
    }

    /// Whether the mapping has no keys at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decodes `key` with `f` when present.
    pub(crate) fn opt<T>(
        &self,
        key: &str,
        f: impl FnOnce(&'n Node, &str) -> Result<T, Fault>,
    ) -> Result<Option<T>, Fault> {
        self.get(key).map(|(n, p)| f(n, &p)).transpose()
    }
}

fn unknown_key(key: &str, path: String, pos: Pos, keys: &Keys<'_>) -> Fault {
    let all = keys
        .known
        .iter()
        .chain(keys.skipped)
        .chain(keys.unsupported)
        .copied();
    let suggestion = suggest::nearest(key, all.clone());
    let valid = all.map(str::to_string).collect();
    Fault::new(
        path,
        pos,
        Problem::UnknownKey {
            key: key.to_string(),
            suggestion,
            valid,
        },
    )
}

/// A [`Problem::WrongType`] for `node`.
pub(crate) fn wrong(node: &Node, path: &str, expected: &'static str) -> Fault {
    Fault::new(
        path,
        node.pos,
        Problem::WrongType {
            expected,
            found: node.describe(),
        },
    )
}

/// A string value.
pub(crate) fn string(node: &Node, path: &str) -> Result<String, Fault> {
    match &node.value {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(wrong(node, path, "a string")),
    }
}

/// An integer value within `min..=max`.
pub(crate) fn int(node: &Node, path: &str, min: i64, max: i64) -> Result<i64, Fault> {
    match node.value {
        Value::Int(i) if (min..=max).contains(&i) => Ok(i),
        Value::Int(i) => Err(Fault::new(
            path,
            node.pos,
            Problem::OutOfRange { value: i, min, max },
        )),
        _ => Err(wrong(node, path, "an integer")),
    }
}

/// An `int32` proto field.
pub(crate) fn i32_(node: &Node, path: &str) -> Result<i32, Fault> {
    int(node, path, i64::from(i32::MIN), i64::from(i32::MAX)).map(|i| i as i32)
}

/// A `uint32` proto field.
pub(crate) fn u32_(node: &Node, path: &str) -> Result<u32, Fault> {
    int(node, path, 0, i64::from(u32::MAX)).map(|i| i as u32)
}

/// A number (`google.protobuf.DoubleValue`): an integer or a float.
pub(crate) fn number(node: &Node, path: &str) -> Result<f64, Fault> {
    match node.value {
        Value::Int(i) => Ok(i as f64),
        Value::Float(f) => Ok(f),
        _ => Err(wrong(node, path, "a number")),
    }
}

/// A boolean value.
pub(crate) fn boolean(node: &Node, path: &str) -> Result<bool, Fault> {
    match node.value {
        Value::Bool(b) => Ok(b),
        _ => Err(wrong(node, path, "a boolean")),
    }
}

/// A duration string in Go syntax; negative durations are rejected.
pub(crate) fn duration(node: &Node, path: &str) -> Result<Duration, Fault> {
    let Value::Str(text) = &node.value else {
        return Err(wrong(node, path, "a duration string like `2s` or `500ms`"));
    };
    let invalid = |reason| {
        Fault::new(
            path,
            node.pos,
            Problem::InvalidDuration {
                text: text.clone(),
                reason,
            },
        )
    };
    match duration::parse_go(text) {
        Ok((true, d)) if !d.is_zero() => Err(invalid("negative durations are not allowed")),
        Ok((_, d)) => Ok(d),
        Err(reason) => Err(invalid(reason)),
    }
}

/// A sequence: its items with their paths (positions recorded).
pub(crate) fn seq<'n>(
    cx: &mut Cx,
    node: &'n Node,
    path: &str,
) -> Result<Vec<(&'n Node, String)>, Fault> {
    let Value::Seq(items) = &node.value else {
        return Err(wrong(node, path, "a sequence"));
    };
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = format!("{path}[{i}]");
            cx.positions.insert(p.clone(), n.pos);
            (n, p)
        })
        .collect())
}

/// A sequence of strings.
pub(crate) fn strings(cx: &mut Cx, node: &Node, path: &str) -> Result<Vec<String>, Fault> {
    seq(cx, node, path)?
        .into_iter()
        .map(|(n, p)| string(n, &p))
        .collect()
}

/// A mapping of string keys to values decoded by `f`.
pub(crate) fn map_of<T>(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    f: impl Fn(&Node, &str) -> Result<T, Fault>,
) -> Result<BTreeMap<String, T>, Fault> {
    let Value::Map(entries) = &node.value else {
        return Err(wrong(node, path, "a mapping"));
    };
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let p = join(path, &k.key_text());
        cx.positions.insert(p.clone(), v.pos);
        out.insert(k.key_text(), f(v, &p)?);
    }
    Ok(out)
}

/// An enum written as its Istio name.
pub(crate) fn enumeration<T: Copy>(
    node: &Node,
    path: &str,
    values: &[(T, &str)],
) -> Result<T, Fault> {
    let text = string(node, path)?;
    values
        .iter()
        .find(|(_, s)| *s == text)
        .map(|(v, _)| *v)
        .ok_or_else(|| {
            Fault::new(
                path,
                node.pos,
                Problem::UnknownEnumValue {
                    value: text,
                    valid: values.iter().map(|(_, s)| s.to_string()).collect(),
                },
            )
        })
}
