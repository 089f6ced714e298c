//! Writing the tree back as YAML text. The layout is libyaml's block style as
//! serde_yaml_ng writes it (2-space indents, `key:` then `- item` at the key's column,
//! `{}` / `[]` for empty collections), so output keeps its familiar shape; scalars keep
//! the style they were read in: a plain scalar is written as its exact text, a quoted
//! one quoted the same way, `|` and `>` blocks as blocks. Values netfence makes itself
//! ([`Style::Any`]) are quoted only where their plain text would read as something
//! other than a string, by YAML 1.2 or by go-yaml (`'5432'`, `'true'`, `'0755'`).
//!
//! A style that cannot carry a value (a plain or single-quoted text with a line break,
//! a block scalar with trailing spaces or control characters) falls back to the next
//! one, as libyaml does: the value, which is what Compose reads, never changes.

use super::resolve::{self, Resolved};
use super::value::{Scalar, Style, Value};

pub fn to_string(v: &Value) -> String {
    let mut e = Emitter {
        out: String::with_capacity(16 * 1024),
        sink: None,
        failed: None,
    };
    e.root(v);
    e.out
}

/// Writes the text to `w` as it is made, in chunks: no copy of a large output is held.
pub fn to_writer(v: &Value, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut e = Emitter {
        out: String::with_capacity(CHUNK + 4 * 1024),
        sink: Some(w),
        failed: None,
    };
    e.root(v);
    e.flush();
    match e.failed {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// How much text is gathered before it goes to a writer.
const CHUNK: usize = 64 * 1024;

/// Where a node is written, which decides how a collection under it is laid out.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// After `key:` (sequences are written at the key's column).
    MapValue,
    /// After `- ` (collections start on the same line).
    SeqItem,
    /// After the `:` of a `? key` entry (like an item, but sequences indent after a tag).
    ComplexValue,
}

struct Emitter<'w> {
    out: String,
    sink: Option<&'w mut dyn std::io::Write>,
    /// The first write error; nothing is written after it.
    failed: Option<std::io::Error>,
}

impl Emitter<'_> {
    fn flush(&mut self) {
        if let Some(w) = self.sink.as_mut() {
            if self.failed.is_none() {
                if let Err(e) = w.write_all(self.out.as_bytes()) {
                    self.failed = Some(e);
                }
            }
            self.out.clear();
        }
    }

    /// Between entries: hands a full chunk to the writer.
    fn maybe_flush(&mut self) {
        if self.out.len() >= CHUNK && self.sink.is_some() {
            self.flush();
        }
    }

    fn indent(&mut self, n: usize) {
        const SPACES: &str = "                                                                ";
        let mut n = n;
        while n > SPACES.len() {
            self.out.push_str(SPACES);
            n -= SPACES.len();
        }
        self.out.push_str(&SPACES[..n]);
    }

    fn root(&mut self, v: &Value) {
        match v {
            Value::Mapping(m) if !m.is_empty() => self.mapping(m, 0, false),
            Value::Sequence(s) if !s.is_empty() => self.sequence(s, 0, false),
            Value::Tagged(t) => {
                self.out.push_str(t.tag.as_str());
                match &t.value {
                    Value::Mapping(m) if !m.is_empty() => {
                        self.out.push('\n');
                        self.mapping(m, 0, false)
                    }
                    Value::Sequence(s) if !s.is_empty() => {
                        self.out.push('\n');
                        self.sequence(s, 0, false)
                    }
                    inner => {
                        if !is_empty_plain(inner) {
                            self.out.push(' ');
                        }
                        self.inline(inner, 0);
                    }
                }
            }
            other => self.inline(other, 0),
        }
    }

    /// A scalar or an empty collection, on the current line (after any separating
    /// space); block scalars continue on the next lines at `indent + 2`. Ends the line.
    fn inline(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Scalar(s) => self.scalar(s, indent, false),
            Value::Mapping(_) => self.out.push_str("{}\n"),
            Value::Sequence(_) => self.out.push_str("[]\n"),
            Value::Tagged(t) => {
                self.out.push_str(t.tag.as_str());
                self.out.push(' ');
                self.inline(&t.value, indent);
            }
        }
    }

    /// Entries at column `indent`; with `inline` the first one continues the current
    /// line (after `- `).
    fn mapping(&mut self, m: &super::mapping::Mapping, indent: usize, inline: bool) {
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 || !inline {
                self.maybe_flush();
                self.indent(indent);
            }
            if self.simple_key(k) {
                self.key(k);
                self.out.push(':');
                self.value(v, indent, Ctx::MapValue);
            } else {
                // libyaml's long-key form: `? key` then `: value`.
                self.out.push('?');
                self.value(k, indent, Ctx::ComplexValue);
                self.indent(indent);
                self.out.push(':');
                self.value(v, indent, Ctx::ComplexValue);
            }
        }
    }

    fn sequence(&mut self, s: &[Value], indent: usize, inline: bool) {
        for (i, item) in s.iter().enumerate() {
            if i > 0 || !inline {
                self.maybe_flush();
                self.indent(indent);
            }
            self.out.push('-');
            self.value(item, indent, Ctx::SeqItem);
        }
    }

    /// A node after `key:`, `-`, `?` or `:` at column `indent` (of that key or dash).
    fn value(&mut self, v: &Value, indent: usize, ctx: Ctx) {
        match v {
            Value::Mapping(m) if !m.is_empty() => {
                if ctx == Ctx::MapValue {
                    self.out.push('\n');
                    self.mapping(m, indent + 2, false);
                } else {
                    self.out.push(' ');
                    self.mapping(m, indent + 2, true);
                }
            }
            Value::Sequence(s) if !s.is_empty() => {
                if ctx == Ctx::MapValue {
                    self.out.push('\n');
                    self.sequence(s, indent, false);
                } else {
                    self.out.push(' ');
                    self.sequence(s, indent + 2, true);
                }
            }
            Value::Tagged(t) => {
                self.out.push(' ');
                self.out.push_str(t.tag.as_str());
                match &t.value {
                    Value::Mapping(m) if !m.is_empty() => {
                        self.out.push('\n');
                        self.mapping(m, indent + 2, false);
                    }
                    Value::Sequence(s) if !s.is_empty() => {
                        self.out.push('\n');
                        // After a tag libyaml indents a sequence only under a dash.
                        let at = if ctx == Ctx::SeqItem {
                            indent + 2
                        } else {
                            indent
                        };
                        self.sequence(s, at, false);
                    }
                    Value::Tagged(_) => self.value(&t.value, indent, ctx),
                    inner => {
                        if !is_empty_plain(inner) {
                            self.out.push(' ');
                        }
                        self.inline(inner, indent);
                    }
                }
            }
            other => {
                if !is_empty_plain(other) {
                    self.out.push(' ');
                }
                self.inline(other, indent);
            }
        }
    }

    /// libyaml writes a key on the key's line when it is a short single-line scalar
    /// (or an empty collection).
    fn simple_key(&self, k: &Value) -> bool {
        fn length(k: &Value) -> Option<usize> {
            match k {
                Value::Scalar(s) => (!has_break(s.text()))
                    .then(|| s.text().len() + s.tag().map_or(0, |t| t.as_str().len())),
                Value::Tagged(t) => length(&t.value).map(|n| n + t.tag.as_str().len()),
                Value::Mapping(m) => m.is_empty().then_some(0),
                Value::Sequence(s) => s.is_empty().then_some(0),
            }
        }
        length(k).is_some_and(|n| n <= 128)
    }

    fn key(&mut self, k: &Value) {
        match k {
            Value::Scalar(s) => {
                // A null key written as nothing would read back as the empty string.
                if is_empty_plain(k) && s.tag().is_none() {
                    self.out.push_str("null");
                } else {
                    self.scalar(s, 0, true);
                }
            }
            Value::Tagged(t) => {
                self.out.push_str(t.tag.as_str());
                self.out.push(' ');
                self.key(&t.value);
            }
            Value::Mapping(_) => self.out.push_str("{}"),
            Value::Sequence(_) => self.out.push_str("[]"),
        }
    }

    /// A scalar where the cursor is (the separating space already written). A value
    /// (`key = false`) ends its line.
    fn scalar(&mut self, s: &Scalar, indent: usize, key: bool) {
        let style = self.choose(s, key);
        let text = s.text();
        if let Some(tag) = s.tag() {
            self.out.push_str(tag.as_str());
            if !(text.is_empty() && style == Style::Plain) {
                self.out.push(' ');
            }
        }
        match style {
            Style::Plain => self.out.push_str(text),
            Style::SingleQuoted => self.single_quoted(text),
            Style::Literal => return self.block(text, indent + 2, false),
            Style::Folded => return self.block(text, indent + 2, true),
            _ => self.double_quoted(text),
        }
        if !key {
            self.out.push('\n');
        }
    }

    /// The style a scalar is written in: its own where that style can carry the value
    /// in this place, else the next that can (libyaml's `select_scalar_style`).
    fn choose(&self, s: &Scalar, key: bool) -> Style {
        let text = s.text();
        // Most scalars are names, images and paths: decided at a glance (printable
        // ASCII without blanks can be written plain or single-quoted).
        match s.style() {
            Style::Plain if plain_at_a_glance(text) => return Style::Plain,
            Style::Any if plain_at_a_glance(text) => {
                return if could_be_non_string(text) && reads_as_non_string(text) {
                    Style::SingleQuoted
                } else {
                    Style::Plain
                };
            }
            _ => {}
        }
        let mut style = match s.style() {
            Style::Any => any_style(text),
            style => style,
        };
        let trusted = s.style() == Style::Plain;
        let a = analyze(text, trusted);
        if key && a.multiline {
            style = Style::DoubleQuoted;
        }
        if style == Style::Plain && (!a.block_plain || (text.is_empty() && key)) {
            style = Style::SingleQuoted;
        }
        if style == Style::SingleQuoted && (!a.single || a.multiline) {
            style = Style::DoubleQuoted;
        }
        if matches!(style, Style::Literal | Style::Folded) && (!a.block || key) {
            style = Style::DoubleQuoted;
        }
        style
    }

    fn single_quoted(&mut self, text: &str) {
        self.out.push('\'');
        if text.contains('\'') {
            self.out.push_str(&text.replace('\'', "''"));
        } else {
            self.out.push_str(text);
        }
        self.out.push('\'');
    }

    fn double_quoted(&mut self, text: &str) {
        self.out.push('"');
        let mut rest = text;
        while let Some(i) = rest.find(|c: char| needs_escape(c)) {
            self.out.push_str(&rest[..i]);
            let c = rest[i..].chars().next().unwrap_or('\0');
            self.escape(c);
            rest = &rest[i + c.len_utf8()..];
        }
        self.out.push_str(rest);
        self.out.push('"');
    }

    fn escape(&mut self, c: char) {
        let short = match c {
            '\0' => '0',
            '\u{7}' => 'a',
            '\u{8}' => 'b',
            '\t' => 't',
            '\n' => 'n',
            '\u{b}' => 'v',
            '\u{c}' => 'f',
            '\r' => 'r',
            '\u{1b}' => 'e',
            '"' => '"',
            '\\' => '\\',
            '\u{85}' => 'N',
            '\u{a0}' => '_',
            '\u{2028}' => 'L',
            '\u{2029}' => 'P',
            _ => {
                use std::fmt::Write;
                let n = c as u32;
                let _ = if n <= 0xFF {
                    write!(self.out, "\\x{n:02X}")
                } else if n <= 0xFFFF {
                    write!(self.out, "\\u{n:04X}")
                } else {
                    write!(self.out, "\\U{n:08X}")
                };
                return;
            }
        };
        self.out.push('\\');
        self.out.push(short);
    }

    /// A literal (`|`) or folded (`>`) block scalar: header, then the lines at
    /// `indent`. Folding is undone the way libyaml does it: a line break between two
    /// lines that do not start with a blank gets an extra empty line.
    fn block(&mut self, text: &str, indent: usize, folded: bool) {
        self.out.push(if folded { '>' } else { '|' });
        let first = text.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.out.push('2');
        }
        let mut tail = text.chars().rev();
        match (tail.next(), tail.next()) {
            (None, _) => self.out.push('-'),
            (Some(last), _) if !is_break(last) => self.out.push('-'),
            (Some(_), None) => self.out.push('+'),
            (Some(_), Some(before)) if is_break(before) => self.out.push('+'),
            _ => {}
        }
        self.out.push('\n');
        let mut breaks = true;
        let mut leading_blank = true;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if is_break(c) {
                if folded && !breaks && !leading_blank && c == '\n' {
                    let after = text[i..].trim_start_matches(is_break);
                    if after.chars().next().is_some_and(|n| n != ' ' && n != '\t') {
                        self.out.push('\n');
                    }
                }
                self.out.push(c);
                breaks = true;
            } else {
                if breaks {
                    self.indent(indent);
                    leading_blank = c == ' ' || c == '\t';
                }
                // Copy the run up to the next break at once.
                let end = text[i..].find(is_break).map_or(text.len(), |j| i + j);
                self.out.push_str(&text[i..end]);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                breaks = false;
            }
        }
        if !breaks {
            self.out.push('\n');
        }
    }
}

fn is_empty_plain(v: &Value) -> bool {
    matches!(v, Value::Scalar(s) if s.text().is_empty() && s.style() == Style::Plain && s.tag().is_none())
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn has_break(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\n' | b'\r' | 0xC2 | 0xE2)) && s.contains(is_break)
}

/// Printable ASCII without blanks, not starting with an indicator or ending with `:`:
/// libyaml's analysis would find nothing to object to.
fn plain_at_a_glance(s: &str) -> bool {
    let b = s.as_bytes();
    let first_ok = match b.first() {
        Some(c) if c.is_ascii_alphanumeric() => true,
        Some(b'-') => b.len() > 1 && !b.starts_with(b"---"),
        Some(b'.') => !b.starts_with(b"..."),
        Some(c) => matches!(
            c,
            b'/' | b'_' | b'$' | b'(' | b')' | b'+' | b'=' | b'~' | b'<' | b';' | b'\\' | b'^'
        ),
        None => false,
    };
    // Without a short circuit, so the loop runs over whole words.
    first_ok
        && b[b.len() - 1] != b':'
        && b.iter()
            .fold(true, |ok, c| ok & (c.wrapping_sub(0x21) < 0x5e))
}

/// Whether a plain text might read as null, a boolean or a number (YAML 1.2 or
/// go-yaml): all of those start with one of these.
fn could_be_non_string(s: &str) -> bool {
    s.as_bytes()
        .first()
        .is_none_or(|c| b"0123456789+-.~nNtTfF".contains(c))
}

/// libyaml's printable set, widened to the characters beyond the Basic Multilingual
/// Plane that YAML allows (libyaml escapes those; writing them as they are keeps the
/// text).
fn printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

fn needs_escape(c: char) -> bool {
    !printable(c) || is_break(c) || c == '"' || c == '\\'
}

/// What libyaml's `analyze_scalar` finds out about a value: which styles can carry it.
struct Analysis {
    multiline: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

/// `trusted`: the text was read as a plain scalar, so a tab inside it is fine as it is.
fn analyze(s: &str, trusted: bool) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let b = s.as_bytes();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let blankz = |c: Option<char>| c.is_none_or(|c| c == ' ' || c == '\t' || is_break(c));
    let mut chars = s.char_indices().peekable();
    let first_is_indicator = matches!(
        b[0],
        b'#' | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    );
    block_indicators |= first_is_indicator;
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let followed_by_whitespace = blankz(next);
        if i == 0 {
            if matches!(c, '?' | ':' | '-') && followed_by_whitespace {
                block_indicators = true;
            }
        } else if (c == ':' && followed_by_whitespace) || (c == '#' && preceded_by_whitespace) {
            block_indicators = true;
        }
        if !(printable(c) || (trusted && c == '\t')) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= next.is_none();
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= next.is_none();
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks || block_indicators {
        a.block_plain = false;
    }
    a
}

/// Whether a plain scalar's text is written as it is.
#[cfg(test)]
pub(super) fn plain_allowed(s: &str) -> bool {
    analyze(s, true).block_plain
}

/// The style serde_yaml_ng would give a string (a block for several lines, quotes
/// where YAML 1.2 reads a number, boolean or null), also quoting what go-yaml reads as
/// something else (`1_000`, `0o17`, `2001-12-14`).
fn any_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if reads_as_non_string(s) {
        Style::SingleQuoted
    } else {
        Style::Plain
    }
}

/// Whether plain `s` reads as something other than the string `s`, by YAML 1.2 or by
/// go-yaml.
fn reads_as_non_string(s: &str) -> bool {
    yaml12_non_string(s)
        || !matches!(resolve::plain(s), Resolved::Str(_))
        || resolve::is_timestamp(s)
}

/// serde_yaml_ng's reading of a plain scalar: null, bool, integer (decimal, `0x`, `0o`,
/// `0b`, 128 bits) or finite float, and numbers with a leading zero.
fn yaml12_non_string(s: &str) -> bool {
    if s.is_empty() || matches!(s, "~" | "null" | "Null" | "NULL") {
        return true;
    }
    if matches!(s, "true" | "True" | "TRUE" | "false" | "False" | "FALSE") {
        return true;
    }
    let unsigned = s.strip_prefix('+').unwrap_or(s);
    let magnitude = s.strip_prefix('-').unwrap_or(unsigned);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = magnitude.strip_prefix(prefix) {
            if !rest.starts_with(['+', '-']) && u128::from_str_radix(rest, radix).is_ok() {
                return true;
            }
        }
    }
    if digits_but_not_number(s) {
        return true;
    }
    if unsigned.parse::<u128>().is_ok() || s.parse::<i128>().is_ok() {
        return true;
    }
    if matches!(unsigned, ".inf" | ".Inf" | ".INF")
        || matches!(s, "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN")
    {
        return true;
    }
    !unsigned.starts_with(['+', '-']) && unsigned.parse::<f64>().is_ok_and(f64::is_finite)
}

/// A leading zero followed by digits: a string in YAML 1.2, octal for go-yaml.
fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The shortcut never takes a text libyaml's analysis would quote.
        #[test]
        fn the_glance_agrees_with_the_analysis(s in "[ -~]{0,12}") {
            if plain_at_a_glance(&s) {
                prop_assert!(analyze(&s, false).block_plain, "{s:?}");
            }
            if !could_be_non_string(&s) {
                prop_assert!(!yaml12_non_string(&s), "{s:?}");
                prop_assert!(matches!(resolve::plain(&s), Resolved::Str(_)), "{s:?}");
                prop_assert!(!resolve::is_timestamp(&s), "{s:?}");
            }
        }
    }

    fn out(s: &str) -> String {
        to_string(&Value::from(s))
    }

    #[test]
    fn strings_netfence_writes_are_quoted_only_where_needed() {
        for (s, want) in [
            ("web", "web\n"),
            ("5432", "'5432'\n"),
            ("0755", "'0755'\n"),
            ("true", "'true'\n"),
            ("on", "on\n"),
            ("", "''\n"),
            ("1_000", "'1_000'\n"),
            ("2001-12-14", "'2001-12-14'\n"),
            ("127.0.0.1::8000", "127.0.0.1::8000\n"),
            ("a: b", "'a: b'\n"),
            ("it's", "it's\n"),
            ("- x", "'- x'\n"),
            ("tab\there", "\"tab\\there\"\n"),
            ("two\nlines", "|-\n  two\n  lines\n"),
        ] {
            assert_eq!(out(s), want, "{s:?}");
        }
    }
}
