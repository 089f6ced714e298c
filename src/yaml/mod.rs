//! The compose tree and its YAML text. Parsing keeps what Compose reads: each scalar's
//! text, style and tag (`0022` stays `0022`, which Compose reads as 18; `"yes"` stays
//! quoted), with anchors expanded, `<<` merge keys applied and key order kept, bounded
//! against alias bombs and deep nesting. Emitting writes every scalar netfence did not
//! make as it was read, and quotes the ones it makes only where needed.
//!
//! - [`parse`]: libyaml's events (the grammar go-yaml, Compose's parser, is ported from)
//!   built into a [`Value`] (`parse.rs`, `libyaml.rs`).
//! - [`to_string`]: the emitter (`emit.rs`).
//! - [`Value`], [`Mapping`], [`Scalar`]: the tree, with an API shaped like
//!   serde_yaml_ng's; what a scalar means follows go-yaml v3 (`resolve.rs`).
//!
//! Coming from `serde_yaml_ng::Value`: `Mapping`, `Sequence`, `Tagged`, `get`, `as_str`,
//! `as_mapping(_mut)`, `Index` and the `Mapping` methods are the same. The four scalar
//! variants are one, [`Value::Scalar`], asked what it means:
//!
//! | serde_yaml_ng | here |
//! |---|---|
//! | `Value::String(s)` (match) | `v.as_str()` / `Value::Scalar(_) if v.is_string()` |
//! | `Value::String(s)` (build) | `Value::from(s)` / [`key`] |
//! | `Value::Null` | `v.is_null()` / `Value::null()` |
//! | `Value::Bool(b)`, `Value::Number(n)` | `as_bool`, `as_u64`, `is_number`, [`scalar_string`] / `Value::from(b)`, `Value::from(n)` |
//! | `serde_yaml_ng::from_str`, `to_string` | [`from_str`], [`to_string`] |
//! | `to_value` / `from_value` | build with `Mapping` and `Value::from` (see `unfence::Record`) |

mod emit;
pub(crate) mod libyaml;
pub mod mapping;
mod parse;
pub mod resolve;
mod ser;
mod value;

#[cfg(test)]
mod roundtrip;

pub use mapping::Mapping;
pub use parse::{MergeError, MAX_DEPTH};
pub use resolve::Resolved;
pub use value::{CoreTag, Index, Scalar, Sequence, Style, Tag, TaggedValue, Value};

use crate::error::{Error, Result, Source};

/// Larger inputs are refused before parsing: no compose file comes close, and the
/// bound keeps memory proportional to what a user could mean.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

pub fn parse(source: &Source, text: &str) -> Result<Value> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Error::Yaml {
            source_name: source.clone(),
            line: None,
            column: None,
            message: format!(
                "input is {} bytes, more than the {} netfence reads",
                text.len(),
                MAX_INPUT_BYTES
            ),
        });
    }
    parse::parse(text).map_err(|e| Error::Yaml {
        source_name: source.clone(),
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

/// [`parse`] of text that has no file name (tests, documents built in code).
pub fn from_str(text: &str) -> Result<Value> {
    parse(&Source::Stdin, text)
}

/// The YAML text of a tree.
pub fn to_string(v: &Value) -> String {
    emit::to_string(v)
}

/// [`to_string`] into a writer, in chunks as the text is made.
pub fn to_writer(v: &Value, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    emit::to_writer(v, w)
}

/// Applies `<<` merge keys throughout a tree built in code (parsing applies them
/// already): merged keys take the place of the `<<` entry, explicit keys win.
pub fn resolve_merge_keys(v: &mut Value) -> std::result::Result<(), MergeError> {
    v.apply_merge()
}

pub fn kind(v: &Value) -> &'static str {
    v.kind()
}

/// The value with any `!reset` / `!override` tag looked through.
pub fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

pub fn untag_mut(v: &mut Value) -> &mut Value {
    match v {
        Value::Tagged(t) => &mut t.value,
        other => other,
    }
}

/// A scalar as Compose reads it in a string position (`0022` is "18", `1e3` is
/// "1000", `on` is "on"); `None` for null and collections.
pub fn scalar_string(v: &Value) -> Option<String> {
    match untag(v) {
        Value::Scalar(s) => s.resolve().to_go_string(),
        _ => None,
    }
}

pub fn is_truthy(v: &Value) -> bool {
    match untag(v) {
        Value::Scalar(s) => match s.resolve() {
            Resolved::Bool(b) => b,
            // Compose casts a string where it wants a boolean: y, yes, true, on.
            Resolved::Str(s) => ["y", "yes", "true", "on"]
                .iter()
                .any(|t| s.eq_ignore_ascii_case(t)),
            _ => false,
        },
        _ => false,
    }
}

/// A string netfence writes (a key or a value), quoted on output only where needed.
pub fn key(s: &str) -> Value {
    Value::from(s)
}

/// Inserts `k` at position `index` of `m` (or moves it there), keeping the others' order.
pub fn insert_at(m: &mut Mapping, index: usize, k: Value, v: Value) {
    // `index` counts the entries as they are, the key's own old place included.
    let index = match m.get_index_of(&k) {
        Some(old) if old < index => index - 1,
        _ => index,
    };
    m.shift_insert(index, k, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Value> {
        parse(&Source::Stdin, s)
    }

    #[test]
    fn merge_keys_keep_order_and_explicit_keys_win() {
        let v = p("base: &b {image: x, restart: always}\nsvc:\n  a: 1\n  <<: *b\n  image: y\n")
            .unwrap();
        let keys: Vec<_> = v["svc"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(keys, ["a", "restart", "image"]);
        assert_eq!(v["svc"]["image"], Value::from("y"));
    }

    #[test]
    fn merging_a_list_of_scalars_is_refused_with_a_reason() {
        let e = p("l: &l [a, b]\nm:\n  <<: *l\n").unwrap_err().to_string();
        assert!(e.contains("merge key takes a mapping"), "{e}");
        assert!(e.starts_with("<stdin>:3:3:"), "{e}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = p("a: 1\nb: [1, 2\nc: 3\n").unwrap_err().to_string();
        assert!(e.starts_with("<stdin>:"), "{e}");
        assert!(e.contains(":3:") || e.contains(":4:"), "{e}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let e = p(&s).unwrap_err().to_string();
        assert!(e.contains("alias"), "{e}");
    }
}
