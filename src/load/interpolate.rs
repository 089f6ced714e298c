//! `${VAR}` as Compose reads it (compose-go `template`): `$VAR`, `${VAR}`, the `:-` `-`
//! `:?` `?` `:+` `+` forms with nested defaults, and `$$` for a literal `$`.
//!
//! netfence passes `${VAR}` through. It evaluates it only where it must
//! read a value itself (the path of an `include:` or an `extends.file`), and substitutes it
//! only for variables that Compose reading the output would no longer see: those an
//! included file gets from its own env files.

use crate::yaml::{untag_mut, Value};

/// A variable's value, `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why a template cannot be evaluated, in Compose's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// A `${` Compose cannot read: no closing brace, no name, an unknown operator.
    #[error("Invalid template: {0:?}")]
    Invalid(String),
    /// `${NAME:?reason}` (or `?`) with the variable unset (or empty).
    #[error("required variable {name} is missing a value{}", reason_suffix(reason))]
    Missing { name: String, reason: String },
    /// A value of a tree ([`substitute_tree`]), at its dotted path.
    #[error("{path}: {error}")]
    At {
        path: String,
        error: Box<InterpolationError>,
    },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// One `$` expression of a template.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    /// `$$`.
    Dollar,
    /// `$NAME` or `${NAME…}`: the whole text, the name, and the operator with its argument.
    Var {
        raw: &'a str,
        name: &'a str,
        op: Option<(&'static str, &'a str)>,
    },
}

const OPS: [&str; 6] = [":?", "?", ":-", "-", ":+", "+"];

fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn is_name(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// `{` and `}` of `${…}`, named once.
const OPEN: u8 = 0x7b;
const CLOSE: u8 = 0x7d;

/// The template as text and `$` expressions, in order.
fn parse(text: &str) -> Result<Vec<Piece<'_>>, InterpolationError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let Some((piece, end)) = expression(text, i)? else {
            i += 1;
            continue;
        };
        if start < i {
            out.push(Piece::Text(&text[start..i]));
        }
        out.push(piece);
        start = end;
        i = end;
    }
    if start < b.len() {
        out.push(Piece::Text(&text[start..]));
    }
    Ok(out)
}

/// The expression starting at `i`, with where it ends; `None` when `i` starts none.
fn expression(text: &str, i: usize) -> Result<Option<(Piece<'_>, usize)>, InterpolationError> {
    let b = text.as_bytes();
    if b[i] != b'$' || i + 1 >= b.len() {
        return Ok(None);
    }
    let next = b[i + 1];
    Ok(if next == b'$' {
        Some((Piece::Dollar, i + 2))
    } else if is_name_start(next) {
        Some(bare(text, i))
    } else if next == OPEN {
        Some(braced(text, i)?)
    } else {
        None
    })
}

/// `$NAME` at `i`.
fn bare(text: &str, i: usize) -> (Piece<'_>, usize) {
    let b = text.as_bytes();
    let mut j = i + 1;
    while j < b.len() && is_name(b[j]) {
        j += 1;
    }
    let var = Piece::Var {
        raw: &text[i..j],
        name: &text[i + 1..j],
        op: None,
    };
    (var, j)
}

/// `${NAME}` or `${NAME<op><argument>}` at `i`.
fn braced(text: &str, i: usize) -> Result<(Piece<'_>, usize), InterpolationError> {
    let invalid = || InterpolationError::Invalid(text.to_owned());
    let close = closing_brace(text.as_bytes(), i + 1).ok_or_else(invalid)?;
    let inner = &text[i + 2..close];
    let ib = inner.as_bytes();
    if ib.is_empty() || !is_name_start(ib[0]) {
        return Err(invalid());
    }
    let j = 1 + ib[1..].iter().take_while(|c| is_name(**c)).count();
    let (name, rest) = inner.split_at(j);
    let op = if rest.is_empty() {
        None
    } else {
        let op = OPS
            .iter()
            .find(|o| rest.starts_with(**o))
            .ok_or_else(invalid)?;
        Some((*op, &rest[op.len()..]))
    };
    let var = Piece::Var {
        raw: &text[i..=close],
        name,
        op,
    };
    Ok((var, close + 1))
}

/// Whether Compose substitutes anything in `text` (`$$` is a literal `$`). A template
/// Compose cannot read counts: it is not a plain value either.
pub fn has_variables(text: &str) -> bool {
    parse(text).map_or(true, |pieces| {
        pieces.iter().any(|p| matches!(p, Piece::Var { .. }))
    })
}

/// The `}` closing the `{` at `open`, counting nested braces.
fn closing_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in b.iter().enumerate().skip(open) {
        match *c {
            OPEN => depth += 1,
            CLOSE => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The template with every expression evaluated and `$$` made `$`.
pub fn eval(text: &str, lookup: Lookup<'_>) -> Result<String, InterpolationError> {
    let mut out = String::new();
    for p in parse(text)? {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Dollar => out.push('$'),
            Piece::Var { name, op, .. } => out.push_str(&value(name, op, lookup)?),
        }
    }
    Ok(out)
}

fn value(
    name: &str,
    op: Option<(&str, &str)>,
    lookup: Lookup<'_>,
) -> Result<String, InterpolationError> {
    let v = lookup(name);
    let Some((op, arg)) = op else {
        return Ok(v.unwrap_or_default());
    };
    let set_nonempty = v.as_deref().is_some_and(|s| !s.is_empty());
    Ok(match op {
        ":-" if !set_nonempty => eval(arg, lookup)?,
        "-" if v.is_none() => eval(arg, lookup)?,
        ":+" if set_nonempty => eval(arg, lookup)?,
        "+" if v.is_some() => eval(arg, lookup)?,
        ":?" | "?"
            if !(if op == ":?" {
                set_nonempty
            } else {
                v.is_some()
            }) =>
        {
            return Err(InterpolationError::Missing {
                name: name.to_owned(),
                reason: eval(arg, lookup)?,
            });
        }
        _ => v.unwrap_or_default(),
    })
}

/// Does the expression name a variable `wanted` picks, in itself or in its argument?
fn mentions(name: &str, op: Option<(&str, &str)>, wanted: &dyn Fn(&str) -> bool) -> bool {
    if wanted(name) {
        return true;
    }
    let Some((_, arg)) = op else {
        return false;
    };
    parse(arg).is_ok_and(|pieces| {
        pieces.iter().any(|p| match p {
            Piece::Var { name, op, .. } => mentions(name, *op, wanted),
            _ => false,
        })
    })
}

/// The template with only the expressions that mention a `wanted` variable evaluated
/// (their result escaped, so Compose reads it literally); everything else as written.
pub fn substitute_only(
    text: &str,
    wanted: &dyn Fn(&str) -> bool,
    lookup: Lookup<'_>,
) -> Result<String, InterpolationError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::new();
    for p in parse(text)? {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Dollar => out.push_str("$$"),
            Piece::Var { raw, name, op } => {
                if mentions(name, op, wanted) {
                    out.push_str(&value(name, op, lookup)?.replace('$', "$$"));
                } else {
                    out.push_str(raw);
                }
            }
        }
    }
    Ok(out)
}

/// [`substitute_only`] over every string value of a tree (keys are not interpolated).
/// The first failure is returned with the path of the value.
pub fn substitute_tree(
    v: &mut Value,
    wanted: &dyn Fn(&str) -> bool,
    lookup: Lookup<'_>,
) -> Result<(), InterpolationError> {
    fn walk(
        v: &mut Value,
        path: &mut Vec<String>,
        wanted: &dyn Fn(&str) -> bool,
        lookup: Lookup<'_>,
    ) -> Result<(), InterpolationError> {
        let v = untag_mut(v);
        if let Some(s) = v.as_str().filter(|s| s.contains('$')) {
            let new = substitute_only(s, wanted, lookup).map_err(|e| InterpolationError::At {
                path: path.join("."),
                error: Box::new(e),
            })?;
            *v = Value::from(new);
            return Ok(());
        }
        match v {
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(format!("[{i}]"));
                    walk(item, path, wanted, lookup)?;
                    path.pop();
                }
            }
            Value::Mapping(m) => {
                for (k, item) in m.iter_mut() {
                    path.push(crate::yaml::scalar_string(k).unwrap_or_default());
                    walk(item, path, wanted, lookup)?;
                    path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(v, &mut Vec::new(), wanted, lookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("v".into()),
            "EMPTY" => Some(String::new()),
            "DOLLAR" => Some("a$b".into()),
            "INC" => Some("from-inc".into()),
            _ => None,
        }
    }

    fn e(t: &str) -> Result<String, String> {
        eval(t, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_evaluates_like_compose() {
        assert_eq!(e("$SET-${SET}").unwrap(), "v-v");
        assert_eq!(e("${UNSET}|$UNSET").unwrap(), "|");
        assert_eq!(
            e("${UNSET:-d}${EMPTY:-e}${EMPTY-f}${UNSET-g}").unwrap(),
            "deg"
        );
        assert_eq!(e("${SET:+r}${EMPTY:+r}${EMPTY+s}${UNSET+t}").unwrap(), "rs");
        assert_eq!(e("${UNSET:-${SET}/x}").unwrap(), "v/x");
        assert_eq!(e("$$SET costs $5 {x}").unwrap(), "$SET costs $5 {x}");
        assert_eq!(
            e("${EMPTY:?give it}").unwrap_err(),
            "required variable EMPTY is missing a value: give it"
        );
        assert!(e("${EMPTY?x}").is_ok());
        assert!(e("${UNSET?}").is_err());
        assert!(e("${").unwrap_err().contains("Invalid template"));
        assert!(e("${1x}").unwrap_err().contains("Invalid template"));
    }

    #[test]
    fn only_wanted_variables_are_substituted_and_escaped() {
        let wanted = |n: &str| n == "INC" || n == "DOLLAR";
        let s = |t: &str| substitute_only(t, &wanted, &env).unwrap();
        assert_eq!(s("img:${INC}-${SET}-$$x"), "img:from-inc-${SET}-$$x");
        assert_eq!(s("${SET:-${INC}}"), "v");
        assert_eq!(s("${DOLLAR}"), "a$$b");
        assert_eq!(s("no vars"), "no vars");
    }
}
