//! YAML text -> a tree of [`Node`]s that remember their position.
//!
//! serde-saphyr does the YAML work (multi-document streams, anchors, merge
//! keys, duplicate-key rejection, YAML 1.1 booleans like kubectl's parser) and
//! `Spanned` gives every node its line and column. Decoding then walks this
//! tree by hand, which is what lets every error name its exact key path and
//! suggest the nearest valid key.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::error::{Fault, Pos, Problem};

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) pos: Pos,
    pub(crate) value: Value,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// How the value reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match &self.value {
            Value::Null => "null".to_string(),
            Value::Bool(b) => format!("a boolean ({b})"),
            Value::Int(i) => format!("an integer ({i})"),
            Value::Float(f) => format!("a number ({f})"),
            Value::Str(s) => format!("a string ({s:?})"),
            Value::Seq(_) => "a sequence".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }

    /// A mapping key as text (non-string scalar keys are rendered).
    pub(crate) fn key_text(&self) -> String {
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Null => "null".to_string(),
            Value::Seq(_) | Value::Map(_) => "<complex key>".to_string(),
        }
    }
}

/// The raw tree serde-saphyr fills; converted to [`Node`] right after.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any yaml value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(i64::try_from(v).unwrap_or(i64::MAX)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(
            v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        ))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Int(i64::try_from(v).unwrap_or(i64::MAX)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = a.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

fn convert(raw: Spanned<Raw>) -> Node {
    let pos = Pos {
        line: usize::try_from(raw.referenced.line()).unwrap_or(usize::MAX),
        column: usize::try_from(raw.referenced.column()).unwrap_or(usize::MAX),
    };
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => Value::Float(f),
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(convert).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k), convert(v)))
                .collect(),
        ),
    };
    Node { pos, value }
}

/// Every non-empty document of a multi-document YAML stream, in order.
///
/// # Errors
/// A [`Fault`] with [`Problem::Syntax`] at the parser's position when the text
/// is not valid YAML (including duplicate keys).
pub(crate) fn load_documents(yaml: &str) -> Result<Vec<Node>, Fault> {
    let options = serde_saphyr::options! { with_snippet: false };
    match serde_saphyr::from_multiple_with_options::<Spanned<Raw>>(yaml, options) {
        Ok(docs) => Ok(docs.into_iter().map(convert).collect()),
        Err(e) => {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: usize::try_from(l.line()).unwrap_or(usize::MAX).max(1),
                    column: usize::try_from(l.column()).unwrap_or(usize::MAX).max(1),
                })
                .unwrap_or(Pos { line: 1, column: 1 });
            let message = strip_location(&e.to_string());
            Err(Fault::new("", pos, Problem::Syntax { message }))
        }
    }
}

/// serde-saphyr appends ` at line L, column C`; the error carries those itself.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// The 1-based index of the document that contains `line`, counting only
/// documents with content (as [`load_documents`] returns them).
pub(crate) fn document_at_line(yaml: &str, line: usize) -> usize {
    let mut index = 1;
    let mut has_content = false;
    for text in yaml.lines().take(line.saturating_sub(1)) {
        let trimmed = text.trim_end();
        let is_marker = trimmed == "---" || trimmed.starts_with("--- ");
        if is_marker {
            if has_content {
                index += 1;
            }
            has_content = trimmed.len() > 3 && !trimmed[3..].trim_start().starts_with('#');
        } else if is_content(trimmed) {
            has_content = true;
        }
    }
    index
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !(t.is_empty()
        || t.starts_with('#')
        || (t.starts_with('%') && line.starts_with('%'))
        || t == "...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_line_and_column_of_every_node() {
        let docs = load_documents("---\na: 1\n---\nb:\n  - x\n").unwrap();
        assert_eq!(docs.len(), 2);
        let Value::Map(entries) = &docs[1].value else {
            panic!("map")
        };
        let (key, value) = &entries[0];
        assert_eq!(key.pos, Pos { line: 4, column: 1 });
        let Value::Seq(items) = &value.value else {
            panic!("seq")
        };
        assert_eq!(items[0].pos, Pos { line: 5, column: 5 });
    }

    #[test]
    fn syntax_error_reports_its_position() {
        let e = load_documents("a: 1\n---\nb: [1, 2\n").unwrap_err();
        assert_eq!(e.pos.line, 3);
        assert!(matches!(e.problem, Problem::Syntax { .. }));
    }

    #[test]
    fn duplicate_keys_are_a_syntax_error() {
        let e = load_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
    }

    #[test]
    fn document_index_counts_separators_after_content() {
        let y = "---\na: 1\n---\n# c\nb: 2\n---\n---\nc: 3\n";
        assert_eq!(document_at_line(y, 2), 1);
        assert_eq!(document_at_line(y, 5), 2);
        assert_eq!(document_at_line(y, 8), 3);
    }
}
