//! Building the tree from parser events, with an explicit stack (hostile input cannot
//! overflow the call stack): anchors and aliases expanded within a node budget, `<<`
//! merge keys applied as each mapping closes, nesting bounded, duplicate keys and extra
//! documents refused — every refusal with the line and column it concerns.

use std::collections::HashMap;

use super::libyaml::{Event, Mark, Parser};
use super::mapping::{Entry, Mapping};
use super::value::{CoreTag, Scalar, Style, Tag, TaggedValue, Value};

/// Nesting deeper than this is refused, aliases and merged values included.
pub const MAX_DEPTH: usize = 100;

/// Nodes that aliases may add beyond a few per input byte: generous for files that
/// reuse anchors a lot, and a fast refusal for alias bombs.
const ALIAS_NODES: usize = 100_000;

/// A `<<` merge key whose value is neither a mapping nor a list of mappings: what it
/// holds instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("a `<<` merge key takes a mapping or a list of mappings, found {0}")]
    Found(&'static str),
    #[error("a `<<` merge key takes a mapping or a list of mappings, found a list holding {0}")]
    ListHolding(&'static str),
}

#[derive(Debug)]
pub struct ParseError {
    /// 1-based, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

fn at(mark: Mark, message: impl Into<String>) -> ParseError {
    ParseError {
        line: Some(mark.line + 1),
        column: Some(mark.column + 1),
        message: message.into(),
    }
}

struct Anchored {
    value: Value,
    nodes: usize,
    depth: usize,
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: Option<String>,
        tag: Option<String>,
    },
    Mapping {
        /// Entries with where each key is; the map is built once they are all read,
        /// at its final size.
        entries: Vec<(Value, Value, Mark)>,
        key: Option<(Value, Mark)>,
        anchor: Option<String>,
        tag: Option<String>,
    },
}

pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut parser = Parser::new(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<String, Anchored> = HashMap::new();
    let mut budget = ALIAS_NODES.saturating_add(text.len().saturating_mul(2));
    let mut root: Option<Value> = None;
    let mut documents = 0;
    loop {
        let (event, mark) = parser.next().map_err(|e| at(e.mark, e.problem))?;
        let (node, anchor) = match event {
            Event::StreamStart | Event::DocumentEnd => continue,
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    // Compose merges the documents of a file; netfence would have to as well.
                    return Err(at(
                        mark,
                        "more than one YAML document in one file is not supported",
                    ));
                }
                continue;
            }
            Event::Alias(name) => {
                let Some(a) = anchors.get(&name) else {
                    return Err(at(mark, format!("unknown anchor `{name}`")));
                };
                if stack.len() + a.depth > MAX_DEPTH {
                    return Err(at(mark, too_deep()));
                }
                if a.nodes > budget {
                    return Err(at(
                        mark,
                        "too many alias expansions (a YAML alias bomb?): refused",
                    ));
                }
                budget -= a.nodes;
                (a.value.clone(), None)
            }
            Event::Scalar { anchor, tag, value } => (scalar(value, tag), anchor),
            Event::SequenceStart { anchor, tag } => {
                if stack.len() >= MAX_DEPTH {
                    return Err(at(mark, too_deep()));
                }
                stack.push(Frame::Sequence {
                    items: Vec::new(),
                    anchor,
                    tag,
                });
                continue;
            }
            Event::MappingStart { anchor, tag } => {
                if stack.len() >= MAX_DEPTH {
                    return Err(at(mark, too_deep()));
                }
                stack.push(Frame::Mapping {
                    entries: Vec::new(),
                    key: None,
                    anchor,
                    tag,
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Sequence { items, anchor, tag }) => {
                    (collection(Value::Sequence(items), tag, "seq"), anchor)
                }
                _ => return Err(at(mark, "unbalanced sequence end")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Mapping {
                    entries,
                    anchor,
                    tag,
                    ..
                }) => (
                    collection(Value::Mapping(mapping(entries)?), tag, "map"),
                    anchor,
                ),
                _ => return Err(at(mark, "unbalanced mapping end")),
            },
        };
        if let Some(name) = anchor {
            let (nodes, depth) = size(&node);
            anchors.insert(
                name,
                Anchored {
                    value: node.clone(),
                    nodes,
                    depth,
                },
            );
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping { entries, key, .. }) => match key.take() {
                None => {
                    if !is_scalar(&node) {
                        return Err(at(
                            mark,
                            "a mapping key must be a scalar (Compose reads only string keys)",
                        ));
                    }
                    *key = Some((node, mark));
                }
                Some((k, key_mark)) => entries.push((k, node, key_mark)),
            },
        }
    }
    Ok(root.unwrap_or_else(Value::null))
}

/// A mapping from its entries: duplicate keys refused, `<<` applied.
fn mapping(entries: Vec<(Value, Value, Mark)>) -> Result<Mapping, ParseError> {
    let mut map = Mapping::with_capacity(entries.len());
    let mut merge = None;
    for (k, v, mark) in entries {
        if merge.is_none() && is_merge_key(&k) {
            merge = Some(mark);
        }
        match map.entry(k) {
            Entry::Occupied(e) => {
                return Err(at(mark, format!("duplicate entry with key {:?}", e.key())))
            }
            Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
    if let Some(mark) = merge {
        merge_into(&mut map).map_err(|m| at(mark, m.to_string()))?;
    }
    Ok(map)
}

fn too_deep() -> String {
    format!("nesting deeper than {MAX_DEPTH} levels is refused")
}

fn is_scalar(v: &Value) -> bool {
    match v {
        Value::Scalar(_) => true,
        Value::Tagged(t) => is_scalar(&t.value),
        _ => false,
    }
}

/// A plain `<<` untagged or tagged `!`, or any `<<` tagged `!!merge`: a quoted one is
/// otherwise an ordinary key, as for go-yaml. Missing the tagged form would let a file merge keys
/// Compose reads and netfence does not see.
pub fn is_merge_key(k: &Value) -> bool {
    match k {
        Value::Scalar(s) => s.text() == "<<" && s.style() == Style::Plain && s.tag().is_none(),
        Value::Tagged(t) => {
            let Value::Scalar(s) = &t.value else {
                return false;
            };
            let plain = s.style() == Style::Plain;
            s.text() == "<<"
                && s.tag().is_none()
                && (t.tag.as_str() == "!!merge" || (t.tag.as_str() == "!" && plain))
        }
        _ => false,
    }
}

fn scalar(value: Scalar, tag: Option<String>) -> Value {
    let Some(tag) = tag else {
        return Value::Scalar(value);
    };
    match tag
        .strip_prefix("tag:yaml.org,2002:")
        .and_then(CoreTag::from_suffix)
    {
        Some(core) => Value::Scalar(value.with_tag(Some(core))),
        None => Value::Tagged(Box::new(TaggedValue {
            tag: Tag::from_resolved(&tag),
            value: Value::Scalar(value),
        })),
    }
}

/// A collection with its tag: `!!map` / `!!seq` say nothing more than the shape does.
fn collection(value: Value, tag: Option<String>, core: &str) -> Value {
    match tag {
        Some(t) if t.strip_prefix("tag:yaml.org,2002:") != Some(core) => {
            Value::Tagged(Box::new(TaggedValue {
                tag: Tag::from_resolved(&t),
                value,
            }))
        }
        _ => value,
    }
}

/// Node count and depth below a node.
fn size(v: &Value) -> (usize, usize) {
    match v {
        Value::Scalar(_) => (1, 0),
        Value::Sequence(s) => s
            .iter()
            .map(size)
            .fold((1, 1), |(n, d), (cn, cd)| (n + cn, d.max(cd + 1))),
        Value::Mapping(m) => m
            .iter()
            .map(|(_, v)| size(v))
            .fold((1, 1), |(n, d), (cn, cd)| (n + cn + 1, d.max(cd + 1))),
        Value::Tagged(t) => size(&t.value),
    }
}

/// Applies the `<<` key of one mapping: merged keys take the place of the `<<` entry,
/// explicit keys win, and among merged mappings the first that has a key wins.
pub fn merge_into(m: &mut Mapping) -> Result<(), MergeError> {
    let Some(at) = m.keys().position(is_merge_key) else {
        return Ok(());
    };
    let Some((_, sources)) = m.shift_remove_index(at) else {
        return Ok(());
    };
    let sources: Vec<Mapping> = match sources {
        Value::Mapping(source) => vec![source],
        Value::Sequence(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Mapping(source) => Ok(source),
                other => Err(MergeError::ListHolding(other.kind())),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(MergeError::Found(other.kind())),
    };
    // Compose drops a `!reset` entry before it merges `<<`: the merged value then stands.
    let is_reset = |v: &Value| matches!(v, Value::Tagged(t) if t.tag == "reset");
    let mut merged = Mapping::new();
    for source in sources {
        for (k, v) in source {
            let explicit = m.get(&k).is_some_and(|e| !is_reset(e));
            if !explicit && !merged.contains_key(&k) {
                merged.insert(k, v);
            }
        }
    }
    let old = std::mem::take(m);
    let mut out = Mapping::with_capacity(old.len() + merged.len());
    let reset_by_merge: Vec<Value> = merged.keys().cloned().collect();
    let mut merged = Some(merged);
    for (i, (k, v)) in old.into_iter().enumerate() {
        if i == at {
            out.extend(merged.take().into_iter().flatten());
        }
        if is_reset(&v) && reset_by_merge.contains(&k) {
            continue;
        }
        out.insert(k, v);
    }
    out.extend(merged.into_iter().flatten());
    *m = out;
    Ok(())
}
