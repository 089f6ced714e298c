//! Where things are in a compose file's text. The merged document audit judges carries no
//! positions (several files, includes and extends went into it), so audit reads each file's
//! events again with the loader's own parser (`yaml::libyaml`), keeps a small tree of
//! positions, and answers "on which line is `services.web.ports[0]`?".
//!
//! Anchors and `<<` merge keys are followed the way `yaml::parse` resolves them: a key
//! reached through an alias or a merge key is reported where it is written (at the anchor),
//! which is where a user would edit it.

use std::rc::Rc;

use std::collections::HashMap;

use crate::yaml::libyaml::{Event, Mark, Parser};

/// One step of a path into a compose document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
    /// The sequence item whose scalar text is exactly this (short-syntax ports).
    Item(String),
    /// A label by name: a mapping key, or a list item `name=value` / `name`.
    Label(String),
}

pub fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug)]
enum Node {
    Scalar(String, Pos),
    Seq(Vec<Rc<Node>>, Pos),
    Map(Vec<(String, Pos, Rc<Node>)>, Pos),
    /// An alias: the anchored node, resolved when the alias is read.
    Alias(Rc<Node>, Pos),
}

impl Node {
    fn pos(&self) -> Pos {
        match self {
            Node::Scalar(_, p) | Node::Seq(_, p) | Node::Map(_, p) | Node::Alias(_, p) => *p,
        }
    }

    /// Looks through an alias to the node it stands for.
    fn target(&self) -> &Node {
        match self {
            Node::Alias(n, _) => n.target(),
            other => other,
        }
    }
}

/// The positions of one YAML document.
#[derive(Debug)]
pub struct LineIndex {
    root: Option<Rc<Node>>,
}

/// Merge keys nest at most this deep when looking a key up (the loader bounds nesting too).
const MAX_MERGE_DEPTH: usize = 32;

impl LineIndex {
    /// Indexes the first document of `text`. Text the parser cannot read gives an empty index
    /// (findings then carry no line) rather than an error: the document has already been
    /// parsed successfully by the loader, and line numbers are a help, not a requirement.
    pub fn new(text: &str) -> LineIndex {
        let mut builder = Builder::default();
        let mut parser = Parser::new(text);
        loop {
            match parser.next() {
                Err(_) => return LineIndex { root: None },
                Ok((Event::StreamEnd, _)) => break,
                Ok((event, mark)) => {
                    if builder.event(event, mark) {
                        break;
                    }
                }
            }
        }
        LineIndex { root: builder.root }
    }

    /// The position of the deepest node along `path` and how many segments matched.
    pub fn locate(&self, path: &[Seg]) -> Option<(Pos, usize)> {
        let mut node: &Node = self.root.as_deref()?.target();
        let mut pos = node.pos();
        let mut matched = 0;
        for seg in path {
            match step(node, seg, 0) {
                Some((p, next)) => {
                    pos = p;
                    node = next.target();
                    matched += 1;
                }
                None => break,
            }
        }
        Some((pos, matched))
    }
}

/// One step down: the position to report (a key's, or an item's) and the child node.
fn step<'a>(node: &'a Node, seg: &Seg, depth: usize) -> Option<(Pos, &'a Node)> {
    if depth > MAX_MERGE_DEPTH {
        return None;
    }
    match (node.target(), seg) {
        (Node::Map(entries, _), Seg::Key(k) | Seg::Label(k)) => {
            if let Some((_, p, v)) = entries.iter().find(|(ek, _, _)| ek == k) {
                return Some((*p, v));
            }
            // Keys merged in by `<<: *anchor` or `<<: [*a, *b]`, first source first.
            for (_, _, v) in entries.iter().filter(|(ek, _, _)| ek == "<<") {
                let sources: Vec<&Node> = match v.target() {
                    Node::Seq(items, _) => items.iter().map(|i| i.target()).collect(),
                    other => vec![other],
                };
                for s in sources {
                    if let Some(found) = step(s, seg, depth + 1) {
                        return Some(found);
                    }
                }
            }
            None
        }
        (Node::Seq(items, _), Seg::Index(i)) => items.get(*i).map(|n| (n.pos(), n.as_ref())),
        // A key in list form (`networks: [front, back]`) is an item.
        (Node::Seq(items, _), Seg::Item(text) | Seg::Key(text)) => items
            .iter()
            .find(|n| matches!(n.target(), Node::Scalar(s, _) if s == text))
            .map(|n| (n.pos(), n.as_ref())),
        (Node::Seq(items, _), Seg::Label(name)) => items
            .iter()
            .find(|n| match n.target() {
                Node::Scalar(s, _) => {
                    s == name
                        || s.strip_prefix(name.as_str())
                            .is_some_and(|r| r.starts_with('='))
                }
                _ => false,
            })
            .map(|n| (n.pos(), n.as_ref())),
        _ => None,
    }
}

fn pos_of(mark: Mark) -> Pos {
    Pos {
        line: mark.line + 1,
        column: mark.column + 1,
    }
}

enum Open {
    Seq(Vec<Rc<Node>>, Pos, Option<String>),
    /// Entries so far, a key waiting for its value, the position, the anchor.
    Map(
        Vec<(String, Pos, Rc<Node>)>,
        Option<(String, Pos)>,
        Pos,
        Option<String>,
    ),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<String, Rc<Node>>,
    root: Option<Rc<Node>>,
}

impl Builder {
    /// Feeds one event; true when the first document is complete.
    fn event(&mut self, event: Event, mark: Mark) -> bool {
        let pos = pos_of(mark);
        match event {
            Event::Scalar { value, anchor, .. } => {
                let text = value.text().to_owned();
                // A scalar in key position is a key, not a node.
                if let Some(Open::Map(_, pending @ None, _, _)) = self.stack.last_mut() {
                    *pending = Some((text, pos));
                    return false;
                }
                self.push(Rc::new(Node::Scalar(text, pos)), anchor)
            }
            Event::Alias(name) => {
                let target = self
                    .anchors
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| Rc::new(Node::Scalar(String::new(), pos)));
                if let Some(Open::Map(_, pending @ None, _, _)) = self.stack.last_mut() {
                    // An alias used as a key: keep its text when it is a scalar.
                    let text = match target.target() {
                        Node::Scalar(s, _) => s.clone(),
                        _ => String::new(),
                    };
                    *pending = Some((text, pos));
                    return false;
                }
                self.push(Rc::new(Node::Alias(target, pos)), None)
            }
            Event::SequenceStart { anchor, .. } => {
                self.stack.push(Open::Seq(Vec::new(), pos, anchor));
                false
            }
            Event::MappingStart { anchor, .. } => {
                if let Some(Open::Map(_, pending @ None, _, _)) = self.stack.last_mut() {
                    // A complex key: give it an empty name so the value pairs up.
                    *pending = Some((String::new(), pos));
                }
                self.stack.push(Open::Map(Vec::new(), None, pos, anchor));
                false
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq(items, p, anchor)) => {
                    self.push(Rc::new(Node::Seq(items, p)), anchor)
                }
                _ => true,
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Map(entries, _, p, anchor)) => {
                    self.push(Rc::new(Node::Map(entries, p)), anchor)
                }
                _ => true,
            },
            Event::DocumentEnd => true,
            _ => false,
        }
    }

    /// Attaches a finished node to its parent; true when it was the document's root.
    fn push(&mut self, node: Rc<Node>, anchor: Option<String>) -> bool {
        if let Some(anchor) = anchor {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(Open::Seq(items, _, _)) => items.push(node),
            Some(Open::Map(entries, pending, _, _)) => {
                let (k, p) = pending.take().unwrap_or_default();
                entries.push((k, p, node));
            }
            None => {
                self.root = Some(node);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
        LineIndex::new(text)
            .locate(path)
            .map(|(p, matched)| (p.line, matched))
    }

    #[test]
    fn keys_items_and_labels_are_found() {
        let text = "services:\n  web:\n    image: x\n    ports:\n      - \"8080:80\"\n      - 9000:9000\n    labels:\n      - traefik.enable=true\n  db:\n    labels: {traefik.docker.network: x}\n";
        let svc = |s: &str| vec![key("services"), key(s)];
        assert_eq!(line(text, &svc("web")), Some((2, 2)));
        let mut p = svc("web");
        p.extend([key("ports"), Seg::Item("9000:9000".into())]);
        assert_eq!(line(text, &p), Some((6, 4)));
        let mut p = svc("web");
        p.extend([key("ports"), Seg::Index(0)]);
        assert_eq!(line(text, &p), Some((5, 4)));
        let mut p = svc("web");
        p.extend([key("labels"), Seg::Label("traefik.enable".into())]);
        assert_eq!(line(text, &p), Some((8, 4)));
        let mut p = svc("db");
        p.extend([key("labels"), Seg::Label("traefik.docker.network".into())]);
        assert_eq!(line(text, &p), Some((10, 4)));
    }

    #[test]
    fn a_missing_key_reports_the_deepest_match() {
        let text = "services:\n  web:\n    image: x\n";
        assert_eq!(
            line(text, &[key("services"), key("web"), key("ports")]),
            Some((2, 2))
        );
    }

    #[test]
    fn merge_keys_and_aliases_point_at_the_anchor() {
        let text = "x-base: &base\n  container_name: fixed\n  ports: [\"1:1\"]\nservices:\n  a:\n    <<: *base\n    image: x\n  b: *base\n";
        assert_eq!(
            line(text, &[key("services"), key("a"), key("container_name")]),
            Some((2, 3))
        );
        assert_eq!(
            line(text, &[key("services"), key("b"), key("ports")]),
            Some((3, 3))
        );
        assert_eq!(
            line(text, &[key("services"), key("a"), key("image")]),
            Some((7, 3))
        );
    }

    #[test]
    fn unreadable_text_gives_no_lines() {
        assert_eq!(line("a: [1, 2\n", &[key("a")]), None);
    }
}
