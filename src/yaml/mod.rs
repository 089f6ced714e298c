//! Parsing YAML into an untyped `Value` tree the way Compose reads it: anchors expanded,
//! `<<` merge keys applied, key order kept. Bounded against alias bombs and deep nesting.

/// The compose tree every module works on. New code names it through here, so the
/// representation can change in one place.
pub use serde_yaml_ng::{Mapping, Value};

// netfence's own tree, which keeps each scalar's text, style and tag, with its parser
// (libyaml events) and emitter; it replaces the serde_yaml_ng tree above.
pub mod emit;
mod libyaml;
pub mod mapping;
pub mod parse;
pub mod resolve;
mod ser;
pub mod value;

#[cfg(test)]
mod roundtrip;

use crate::error::{Error, Result, Source};

/// Larger inputs are refused before parsing: no compose file comes close, and the
/// bound keeps memory proportional to what a user could mean.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Nesting deeper than this is refused (serde_yaml_ng stops at 128 by itself; this
/// bound also covers values built by merge keys).
const MAX_DEPTH: usize = 100;

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
    let mut value: Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(source, &e))?;
    if depth_exceeds(&value, MAX_DEPTH) {
        return Err(Error::Yaml {
            source_name: source.clone(),
            line: None,
            column: None,
            message: format!("nesting deeper than {MAX_DEPTH} levels is refused"),
        });
    }
    resolve_merge_keys(&mut value).map_err(|message| {
        let (line, column) = match locate_bad_merge(text) {
            Some((l, c)) => (Some(l), Some(c)),
            None => (None, None),
        };
        Error::Yaml {
            source_name: source.clone(),
            line,
            column,
            message,
        }
    })?;
    Ok(value)
}

pub fn yaml_error(source: &Source, e: &serde_yaml_ng::Error) -> Error {
    let (line, column) = match e.location() {
        Some(l) => (Some(l.line()), Some(l.column())),
        None => (None, None),
    };
    let mut message = e.to_string();
    // The crate appends "at line L column C"; the location is already in the prefix.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    if message.contains("repetition limit exceeded") {
        message = "too many alias expansions (a YAML alias bomb?): refused".into();
    } else if message.contains("recursion limit exceeded") {
        message = "nesting too deep: refused".into();
    }
    Error::Yaml {
        source_name: source.clone(),
        line,
        column,
        message,
    }
}

fn depth_exceeds(v: &Value, max: usize) -> bool {
    // Iterative, so hostile input cannot overflow the stack here either.
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        if d > max {
            return true;
        }
        match v {
            Value::Sequence(s) => stack.extend(s.iter().map(|x| (x, d + 1))),
            Value::Mapping(m) => stack.extend(m.values().map(|x| (x, d + 1))),
            Value::Tagged(t) => stack.push((&t.value, d + 1)),
            _ => {}
        }
    }
    false
}

/// Applies `<<` merge keys. Unlike `Value::apply_merge` this keeps the mapping's key
/// order: merged keys take the place of the `<<` entry, explicit keys win.
pub fn resolve_merge_keys(v: &mut Value) -> std::result::Result<(), String> {
    match v {
        Value::Mapping(m) => {
            for (_, child) in m.iter_mut() {
                resolve_merge_keys(child)?;
            }
            if m.contains_key("<<") {
                let mut out = Mapping::with_capacity(m.len());
                let explicit: Vec<Value> = m
                    .keys()
                    .filter(|k| k.as_str() != Some("<<"))
                    .cloned()
                    .collect();
                for (k, val) in std::mem::take(m) {
                    if k.as_str() == Some("<<") {
                        for source in merge_sources(val)? {
                            for (mk, mv) in source {
                                if !explicit.contains(&mk) && !out.contains_key(&mk) {
                                    out.insert(mk, mv);
                                }
                            }
                        }
                    } else {
                        out.insert(k, val);
                    }
                }
                *m = out;
            }
        }
        Value::Sequence(s) => {
            for x in s {
                resolve_merge_keys(x)?;
            }
        }
        Value::Tagged(t) => resolve_merge_keys(&mut t.value)?,
        _ => {}
    }
    Ok(())
}

fn merge_sources(val: Value) -> std::result::Result<Vec<Mapping>, String> {
    match val {
        Value::Mapping(m) => Ok(vec![m]),
        Value::Sequence(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Mapping(m) => Ok(m),
                other => Err(format!(
                    "a `<<` merge key takes a mapping or a list of mappings, found a list holding {}",
                    kind(&other)
                )),
            })
            .collect(),
        other => Err(format!(
            "a `<<` merge key takes a mapping or a list of mappings, found {}",
            kind(&other)
        )),
    }
}

/// Where a `<<` merges an anchored list (the usual form of this mistake): the `Value`
/// tree has no positions, so the text is searched for a `<<:` whose alias names an
/// anchor that starts a sequence. 1-based line and column of the `<<`.
fn locate_bad_merge(text: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let starts_sequence = |name: &str| -> bool {
        let anchor = format!("&{name}");
        lines.iter().enumerate().any(|(i, l)| {
            let Some(pos) = l.find(&anchor) else {
                return false;
            };
            let rest = l[pos + anchor.len()..].trim();
            if rest.starts_with('[') {
                return true;
            }
            rest.is_empty()
                && lines[i + 1..]
                    .iter()
                    .map(|n| n.trim())
                    .find(|n| !n.is_empty() && !n.starts_with('#'))
                    .is_some_and(|n| n.starts_with("- "))
        })
    };
    for (i, l) in lines.iter().enumerate() {
        let Some(col) = l.find("<<") else { continue };
        let rest = &l[col + 2..];
        if !rest.trim_start().starts_with(':') {
            continue;
        }
        let bad = rest.split('*').skip(1).any(|alias| {
            let name: String = alias
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
                .collect();
            !name.is_empty() && starts_sequence(&name)
        });
        if bad || !rest.contains('*') {
            return Some((i + 1, col + 1));
        }
    }
    None
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
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

/// A scalar as Compose would read it in a string position.
pub fn scalar_string(v: &Value) -> Option<String> {
    match untag(v) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn is_truthy(v: &Value) -> bool {
    match untag(v) {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub fn key(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// Inserts `k` at position `index` of `m` (or moves it there), keeping the others' order.
pub fn insert_at(m: &mut Mapping, index: usize, k: Value, v: Value) {
    let mut out = Mapping::with_capacity(m.len() + 1);
    let mut pending = Some((k.clone(), v));
    for (i, (ek, ev)) in std::mem::take(m).into_iter().enumerate() {
        if i == index {
            if let Some((k, v)) = pending.take() {
                out.insert(k, v);
            }
        }
        if ek != k {
            out.insert(ek, ev);
        }
    }
    if let Some((k, v)) = pending {
        out.insert(k, v);
    }
    *m = out;
}

pub fn to_string(v: &Value) -> String {
    // A `Value` holds only YAML-representable data, so serialisation cannot fail.
    serde_yaml_ng::to_string(v).unwrap_or_default()
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
