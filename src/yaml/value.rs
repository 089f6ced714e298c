//! The compose tree: a YAML value that keeps each scalar's text, style and tag, so that
//! what netfence does not change is written back as it was read. The API follows
//! `serde_yaml_ng::Value` (`get`, `as_mapping`, `as_str`, `Index`, `Tagged`, …); what a
//! scalar *means* is asked of it (`as_str`, `as_bool`, `is_null`, …) and answered the
//! way Compose (go-yaml v3) reads it.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::mapping::Mapping;
use super::resolve::{self, Resolved};

/// A YAML sequence.
pub type Sequence = Vec<Value>;

#[derive(Clone)]
pub enum Value {
    Scalar(Scalar),
    Sequence(Sequence),
    Mapping(Mapping),
    /// A node with a tag that changes what it is (`!reset`, `!override`, `!custom`).
    /// The core scalar tags (`!!str`, `!!int`, …) stay on the [`Scalar`].
    Tagged(Box<TaggedValue>),
}

/// How a scalar was written. Values netfence makes itself are [`Style::Any`]: the
/// emitter quotes them only where the plain text would read as something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    Any,
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// The YAML core tags that decide how a scalar resolves (`!!str 0022` is a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreTag {
    Str,
    Int,
    Float,
    Bool,
    Null,
    Binary,
    Timestamp,
}

impl CoreTag {
    pub fn from_suffix(s: &str) -> Option<CoreTag> {
        Some(match s {
            "str" => CoreTag::Str,
            "int" => CoreTag::Int,
            "float" => CoreTag::Float,
            "bool" => CoreTag::Bool,
            "null" => CoreTag::Null,
            "binary" => CoreTag::Binary,
            "timestamp" => CoreTag::Timestamp,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CoreTag::Str => "!!str",
            CoreTag::Int => "!!int",
            CoreTag::Float => "!!float",
            CoreTag::Bool => "!!bool",
            CoreTag::Null => "!!null",
            CoreTag::Binary => "!!binary",
            CoreTag::Timestamp => "!!timestamp",
        }
    }
}

/// A scalar as written: its value (for a plain scalar, exactly its text), its style and
/// any core tag. Immutable: a changed value is a new scalar.
#[derive(Clone)]
pub struct Scalar(Repr);

/// Texts up to this long (most keys, names and images) live in the scalar itself: no
/// allocation, and a lookup compares keys without following a pointer.
const SHORT: usize = 20;

#[derive(Clone)]
enum Repr {
    Short {
        bytes: [u8; SHORT],
        len: u8,
        style: Style,
        tag: Option<CoreTag>,
    },
    Long {
        text: Box<str>,
        style: Style,
        tag: Option<CoreTag>,
    },
}

impl Scalar {
    pub fn new(text: impl AsRef<str>, style: Style, tag: Option<CoreTag>) -> Scalar {
        let text = text.as_ref();
        if text.len() <= SHORT {
            let mut bytes = [0; SHORT];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Scalar(Repr::Short {
                bytes,
                len: text.len() as u8,
                style,
                tag,
            })
        } else {
            Scalar(Repr::Long {
                text: text.into(),
                style,
                tag,
            })
        }
    }

    /// A string netfence writes itself, quoted on output only where needed.
    pub fn string(text: impl AsRef<str>) -> Scalar {
        Scalar::new(text, Style::Any, None)
    }

    /// A plain scalar whose text is its YAML spelling (`true`, `80`, `null`).
    pub fn plain(text: impl AsRef<str>) -> Scalar {
        Scalar::new(text, Style::Plain, None)
    }

    /// The scalar's value: for a quoted or block scalar the string it holds, for a plain
    /// scalar its text (`0022`, `on`, `~`).
    pub fn text(&self) -> &str {
        match &self.0 {
            // SAFETY: `bytes[..len]` is only ever written by `Scalar::new`, as a copy of a
            // whole `&str`, and never changed after: it is valid UTF-8. (Checking it on
            // every read cost a sixth of a rewrite's instructions.)
            Repr::Short { bytes, len, .. } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            Repr::Long { text, .. } => text,
        }
    }

    pub fn style(&self) -> Style {
        match self.0 {
            Repr::Short { style, .. } | Repr::Long { style, .. } => style,
        }
    }

    pub fn tag(&self) -> Option<CoreTag> {
        match self.0 {
            Repr::Short { tag, .. } | Repr::Long { tag, .. } => tag,
        }
    }

    /// The same scalar with a core tag (`!!str`).
    pub fn with_tag(mut self, core: Option<CoreTag>) -> Scalar {
        match &mut self.0 {
            Repr::Short { tag, .. } | Repr::Long { tag, .. } => *tag = core,
        }
        self
    }

    /// The same value in the style of `other` where that is a quoting style: a value
    /// netfence rewrites keeps the quotes it was written with.
    pub fn with_quotes_of(mut self, other: &Scalar) -> Scalar {
        let quotes = other.style();
        if matches!(quotes, Style::SingleQuoted | Style::DoubleQuoted) {
            match &mut self.0 {
                Repr::Short { style, .. } | Repr::Long { style, .. } => *style = quotes,
            }
        }
        self
    }

    /// What the scalar means to Compose.
    pub fn resolve(&self) -> Resolved<'_> {
        let text = self.text();
        match (self.style(), self.tag()) {
            (Style::Plain, None) => resolve::plain(text),
            (_, None | Some(CoreTag::Str | CoreTag::Binary | CoreTag::Timestamp)) => {
                Resolved::Str(text)
            }
            (_, Some(CoreTag::Null)) => Resolved::Null,
            (_, Some(tag)) => match resolve::plain(text) {
                r @ (Resolved::Int(_) | Resolved::Uint(_) | Resolved::Float(_))
                    if matches!(tag, CoreTag::Int | CoreTag::Float) =>
                {
                    r
                }
                r @ Resolved::Bool(_) if tag == CoreTag::Bool => r,
                _ => Resolved::Str(text),
            },
        }
    }

    fn class(&self) -> Class {
        match self.resolve() {
            Resolved::Null => Class::Null,
            Resolved::Str(_) => Class::Str,
            _ => Class::Other,
        }
    }
}

/// What equality and hashing of scalars look at: all nulls are equal, and a string
/// never equals a number or boolean with the same text (`"80"` is not `80`).
#[derive(PartialEq)]
enum Class {
    Null,
    Str,
    Other,
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Scalar) -> bool {
        let class = self.class();
        class == other.class() && (class == Class::Null || self.text() == other.text())
    }
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = self.tag() {
            write!(f, "{} ", t.as_str())?;
        }
        match self.style() {
            Style::Any | Style::Plain => write!(f, "{}", self.text()),
            _ => write!(f, "{:?}", self.text()),
        }
    }
}

/// A tag as written: `!reset`, `!override`, `!!set`, `!<tag:example.com,2000:x>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag(Box<str>);

impl Tag {
    /// A tag from its name with or without the leading `!` (`Tag::new("reset")`).
    pub fn new(name: &str) -> Tag {
        if name.starts_with('!') {
            Tag(name.into())
        } else {
            Tag(format!("!{name}").into())
        }
    }

    /// The tag as libyaml reports it (`tag:yaml.org,2002:set`, `!reset`, `tag:x`), in
    /// the short form it is written in.
    pub fn from_resolved(full: &str) -> Tag {
        if let Some(core) = full.strip_prefix("tag:yaml.org,2002:") {
            Tag(format!("!!{core}").into())
        } else if full.starts_with('!') {
            Tag(full.into())
        } else {
            Tag(format!("!<{full}>").into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compares by name, with or without the `!` (as serde_yaml_ng's `Tag` does).
impl PartialEq<str> for Tag {
    fn eq(&self, other: &str) -> bool {
        self.0.trim_start_matches('!') == other.trim_start_matches('!')
    }
}

impl PartialEq<&str> for Tag {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

#[derive(Clone, PartialEq, Debug)]
pub struct TaggedValue {
    pub tag: Tag,
    pub value: Value,
}

static NULL: std::sync::LazyLock<Value> = std::sync::LazyLock::new(Value::null);

impl Value {
    /// A null netfence writes itself (`null`).
    pub fn null() -> Value {
        Value::Scalar(Scalar::plain("null"))
    }

    pub fn string(s: impl AsRef<str>) -> Value {
        Value::Scalar(Scalar::string(s))
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A mapping's value for a key, or a sequence's item by position.
    pub fn get<I: Index>(&self, index: I) -> Option<&Value> {
        index.index_into(self)
    }

    pub fn get_mut<I: Index>(&mut self, index: I) -> Option<&mut Value> {
        index.index_into_mut(self)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Scalar(s) if s.resolve() == Resolved::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.as_scalar()?.resolve() {
            Resolved::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn is_bool(&self) -> bool {
        self.as_bool().is_some()
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.as_scalar()?.resolve() {
            Resolved::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self.as_scalar()?.resolve() {
            Resolved::Int(i) => u64::try_from(i).ok(),
            Resolved::Uint(u) => Some(u),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self.as_scalar()?.resolve() {
            Resolved::Int(i) => Some(i as f64),
            Resolved::Uint(u) => Some(u as f64),
            Resolved::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn is_number(&self) -> bool {
        self.as_f64().is_some()
    }

    pub fn is_i64(&self) -> bool {
        self.as_i64().is_some()
    }

    pub fn is_u64(&self) -> bool {
        self.as_u64().is_some()
    }

    pub fn is_f64(&self) -> bool {
        matches!(
            self.as_scalar().map(Scalar::resolve),
            Some(Resolved::Float(_))
        )
    }

    pub fn as_null(&self) -> Option<()> {
        self.is_null().then_some(())
    }

    /// The string a scalar holds, when Compose reads it as a string (`"5432"`, `on`,
    /// `12:30`), not for numbers, booleans or null.
    pub fn as_str(&self) -> Option<&str> {
        match self.as_scalar()?.resolve() {
            Resolved::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_string(&self) -> bool {
        self.as_str().is_some()
    }

    pub fn as_sequence(&self) -> Option<&Sequence> {
        match self {
            Value::Sequence(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_sequence_mut(&mut self) -> Option<&mut Sequence> {
        match self {
            Value::Sequence(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_sequence(&self) -> bool {
        self.as_sequence().is_some()
    }

    pub fn as_mapping(&self) -> Option<&Mapping> {
        match self {
            Value::Mapping(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_mapping_mut(&mut self) -> Option<&mut Mapping> {
        match self {
            Value::Mapping(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_mapping(&self) -> bool {
        self.as_mapping().is_some()
    }

    /// Applies `<<` merge keys throughout a tree built in code (parsing applies them).
    pub fn apply_merge(&mut self) -> Result<(), super::MergeError> {
        match self {
            Value::Mapping(m) => {
                for (_, child) in m.iter_mut() {
                    child.apply_merge()?;
                }
                super::parse::merge_into(m)
            }
            Value::Sequence(s) => s.iter_mut().try_for_each(Value::apply_merge),
            Value::Tagged(t) => t.value.apply_merge(),
            Value::Scalar(_) => Ok(()),
        }
    }

    /// What the value is, for messages: "a string", "a list", …
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Scalar(s) => match s.resolve() {
                Resolved::Null => "null",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int(_) | Resolved::Uint(_) | Resolved::Float(_) => "a number",
                Resolved::Str(_) => "a string",
            },
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
            Value::Tagged(_) => "a tagged value",
        }
    }
}

impl Default for Value {
    fn default() -> Value {
        Value::null()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a == b,
            (Value::Sequence(a), Value::Sequence(b)) => a == b,
            (Value::Mapping(a), Value::Mapping(b)) => a == b,
            (Value::Tagged(a), Value::Tagged(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

/// Consistent with `str`'s hash for scalars, so a mapping finds `"image"` by `&str`.
impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::Scalar(s) if s.class() == Class::Null => "".hash(state),
            Value::Scalar(s) => s.text().hash(state),
            Value::Sequence(s) => {
                state.write_u8(1);
                s.hash(state)
            }
            Value::Mapping(m) => {
                state.write_u8(2);
                state.write_usize(m.len())
            }
            Value::Tagged(t) => {
                state.write_u8(3);
                t.tag.hash(state);
                t.value.hash(state)
            }
        }
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => s.fmt(f),
            Value::Sequence(s) => f.debug_list().entries(s).finish(),
            Value::Mapping(m) => m.fmt(f),
            Value::Tagged(t) => write!(f, "{} {:?}", t.tag, t.value),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::string(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::string(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::string(s.as_str())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Scalar(Scalar::plain(if b { "true" } else { "false" }))
    }
}

macro_rules! from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Scalar(Scalar::plain(n.to_string()))
            }
        }
    )*};
}
from_integer!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        let text = if f.is_nan() {
            ".nan".to_owned()
        } else if f.is_infinite() {
            if f > 0.0 { ".inf" } else { "-.inf" }.to_owned()
        } else {
            // Debug keeps a `.0` on whole numbers, so the text reads back as a float.
            format!("{f:?}")
        };
        Value::Scalar(Scalar::plain(text))
    }
}

impl From<Mapping> for Value {
    fn from(m: Mapping) -> Value {
        Value::Mapping(m)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Sequence(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Value {
        Value::Sequence(iter.into_iter().map(Into::into).collect())
    }
}

/// Whatever indexes a [`Value`]: a key (`&str`, `String`, `Value`) for a mapping, a
/// position (`usize`) for a sequence. Sealed.
pub trait Index: private::Sealed {
    #[doc(hidden)]
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value>;
    #[doc(hidden)]
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value>;
    #[doc(hidden)]
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value;
}

impl Index for usize {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_sequence()?.get(*self)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        v.as_sequence_mut()?.get_mut(*self)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        match v {
            Value::Sequence(s) => {
                let len = s.len();
                s.get_mut(*self).unwrap_or_else(|| {
                    panic!("cannot access index {self} of a YAML sequence of length {len}")
                })
            }
            _ => panic!("cannot access index {self} of a YAML value that is not a sequence"),
        }
    }
}

impl Index for str {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        v.as_mapping()?.get(self)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        v.as_mapping_mut()?.get_mut(self)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        if v.is_null() {
            *v = Value::Mapping(Mapping::new());
        }
        match v {
            Value::Mapping(m) => m.entry(Value::from(self)).or_insert_with(Value::null),
            _ => panic!("cannot access key {self:?} of a YAML value that is not a mapping"),
        }
    }
}

impl Index for String {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.as_str().index_into(v)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        self.as_str().index_into_mut(v)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        self.as_str().index_or_insert(v)
    }
}

impl Index for Value {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        match self {
            Value::Scalar(s) if matches!(s.resolve(), Resolved::Int(_) | Resolved::Uint(_)) => {
                match v {
                    Value::Sequence(_) => self.as_u64().and_then(|i| (i as usize).index_into(v)),
                    _ => v.as_mapping()?.get(self),
                }
            }
            _ => v.as_mapping()?.get(self),
        }
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        v.as_mapping_mut()?.get_mut(self)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        if v.is_null() {
            *v = Value::Mapping(Mapping::new());
        }
        match v {
            Value::Mapping(m) => m.entry(self.clone()).or_insert_with(Value::null),
            _ => panic!("cannot access key {self:?} of a YAML value that is not a mapping"),
        }
    }
}

impl<T: Index + ?Sized> Index for &T {
    fn index_into<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        (**self).index_into(v)
    }
    fn index_into_mut<'v>(&self, v: &'v mut Value) -> Option<&'v mut Value> {
        (**self).index_into_mut(v)
    }
    fn index_or_insert<'v>(&self, v: &'v mut Value) -> &'v mut Value {
        (**self).index_or_insert(v)
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for super::Value {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}

/// `value["key"]`: null when the key (or position) is missing, as in serde_yaml_ng.
impl<I: Index> std::ops::Index<I> for Value {
    type Output = Value;
    fn index(&self, index: I) -> &Value {
        index.index_into(self).unwrap_or(&NULL)
    }
}

/// `value["key"] = …`: a missing key is added (a null becomes a mapping first).
impl<I: Index> std::ops::IndexMut<I> for Value {
    fn index_mut(&mut self, index: I) -> &mut Value {
        index.index_or_insert(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_compare_as_what_they_mean() {
        let plain = |t: &str| Value::Scalar(Scalar::plain(t));
        let quoted = |t: &str| Value::Scalar(Scalar::new(t, Style::DoubleQuoted, None));
        assert_eq!(plain("image"), quoted("image"));
        assert_eq!(plain("image"), Value::from("image"));
        assert_ne!(plain("80"), quoted("80"));
        assert_eq!(plain("~"), plain(""));
        assert_eq!(plain("null"), Value::null());
        assert_ne!(plain("true"), quoted("true"));
        assert_eq!(plain("on"), Value::from("on"));
        assert_eq!(plain("0022").as_u64(), Some(18));
        assert_eq!(quoted("0022").as_str(), Some("0022"));
        assert_eq!(
            Value::Scalar(Scalar::new("42", Style::DoubleQuoted, Some(CoreTag::Int))).as_u64(),
            Some(42)
        );
        assert_eq!(
            Value::Scalar(Scalar::new("0022", Style::Plain, Some(CoreTag::Str))).as_str(),
            Some("0022")
        );
    }

    #[test]
    fn short_and_long_texts_read_back_whole() {
        for text in [
            "",
            "a",
            &"x".repeat(20),
            &"x".repeat(21),
            &"é".repeat(10),
            &"é".repeat(11),
            "€€€€€€€€€€",
        ] {
            let s = Scalar::new(text, Style::DoubleQuoted, None);
            assert_eq!(s.text(), text);
            let s = s.with_tag(Some(CoreTag::Str)).with_quotes_of(&Scalar::new(
                "q",
                Style::SingleQuoted,
                None,
            ));
            assert_eq!(
                (s.text(), s.style(), s.tag()),
                (text, Style::SingleQuoted, Some(CoreTag::Str))
            );
        }
    }

    #[test]
    fn the_tree_is_small() {
        assert_eq!(std::mem::size_of::<Scalar>(), 24);
        assert!(std::mem::size_of::<Value>() <= 32);
    }
}
