//! The tree as serde data, for JSON output and JSON Schema: each scalar as Compose reads
//! it (`0022` is 18, `on` is "on"), a tagged node as `{"!tag": value}` (as
//! serde_yaml_ng wrote it). Deserializing makes values netfence writes itself.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::mapping::Mapping;
use super::resolve::Resolved;
use super::value::{Scalar, Value};

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.resolve() {
            Resolved::Null => serializer.serialize_unit(),
            Resolved::Bool(b) => serializer.serialize_bool(b),
            Resolved::Int(i) => serializer.serialize_i64(i),
            Resolved::Uint(u) => serializer.serialize_u64(u),
            Resolved::Float(f) => serializer.serialize_f64(f),
            Resolved::Str(s) => serializer.serialize_str(s),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Scalar(s) => s.serialize(serializer),
            Value::Sequence(s) => serializer.collect_seq(s),
            Value::Mapping(m) => m.serialize(serializer),
            Value::Tagged(t) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(t.tag.as_str(), &t.value)?;
                map.end()
            }
        }
    }
}

impl Serialize for Mapping {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mapping, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Mapping(m) => Ok(m),
            other => Err(de::Error::custom(format!(
                "expected a mapping, found {}",
                other.kind()
            ))),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::from(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::from(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::from(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::from(s))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::from(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::null())
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::null())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Mapping::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((k, v)) = map.next_entry::<Value, Value>()? {
            m.insert(k, v);
        }
        Ok(Value::Mapping(m))
    }
}
