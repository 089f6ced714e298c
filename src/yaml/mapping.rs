//! A YAML mapping: keys in file order, looked up by `&str` without building a key.
//! Shaped like `serde_yaml_ng::Mapping`; boxed so that a [`Value`] stays small.

use std::fmt;
use std::hash::{Hash, Hasher};

use indexmap::IndexMap;

use super::resolve::Resolved;
use super::value::Value;

type Map = IndexMap<Value, Value, foldhash::fast::RandomState>;

pub use indexmap::map::{Entry, IntoIter, Iter, IterMut, Keys, Values, ValuesMut};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    map: Box<Map>,
}

impl Mapping {
    pub fn new() -> Mapping {
        Mapping::default()
    }

    pub fn with_capacity(capacity: usize) -> Mapping {
        Mapping {
            map: Box::new(Map::with_capacity_and_hasher(capacity, Default::default())),
        }
    }

    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional)
    }

    /// Inserts or replaces; a replaced key keeps its place.
    pub fn insert(&mut self, k: Value, v: Value) -> Option<Value> {
        self.map.insert(k, v)
    }

    pub fn contains_key<I: Key>(&self, key: I) -> bool {
        key.find_in(self).is_some()
    }

    pub fn get<I: Key>(&self, key: I) -> Option<&Value> {
        let i = key.find_in(self)?;
        self.map.get_index(i).map(|(_, v)| v)
    }

    pub fn get_mut<I: Key>(&mut self, key: I) -> Option<&mut Value> {
        let i = key.find_in(self)?;
        self.map.get_index_mut(i).map(|(_, v)| v)
    }

    pub fn get_key_value<I: Key>(&self, key: I) -> Option<(&Value, &Value)> {
        let i = key.find_in(self)?;
        self.map.get_index(i)
    }

    pub fn get_index_of<I: Key>(&self, key: I) -> Option<usize> {
        key.find_in(self)
    }

    pub fn get_index(&self, index: usize) -> Option<(&Value, &Value)> {
        self.map.get_index(index)
    }

    pub fn get_index_mut(&mut self, index: usize) -> Option<(&Value, &mut Value)> {
        self.map.get_index_mut(index)
    }

    pub fn entry(&mut self, k: Value) -> Entry<'_, Value, Value> {
        self.map.entry(k)
    }

    /// Removes a key, keeping the order of the others.
    pub fn shift_remove<I: Key>(&mut self, key: I) -> Option<Value> {
        let i = key.find_in(self)?;
        self.map.shift_remove_index(i).map(|(_, v)| v)
    }

    pub fn shift_remove_entry<I: Key>(&mut self, key: I) -> Option<(Value, Value)> {
        let i = key.find_in(self)?;
        self.map.shift_remove_index(i)
    }

    pub fn swap_remove_entry<I: Key>(&mut self, key: I) -> Option<(Value, Value)> {
        let i = key.find_in(self)?;
        self.map.swap_remove_index(i)
    }

    pub fn remove_entry<I: Key>(&mut self, key: I) -> Option<(Value, Value)> {
        self.shift_remove_entry(key)
    }

    pub fn shift_remove_index(&mut self, index: usize) -> Option<(Value, Value)> {
        self.map.shift_remove_index(index)
    }

    /// Removes a key, moving the last entry into its place.
    pub fn swap_remove<I: Key>(&mut self, key: I) -> Option<Value> {
        let i = key.find_in(self)?;
        self.map.swap_remove_index(i).map(|(_, v)| v)
    }

    /// Like [`Mapping::shift_remove`] (the order of the others is kept).
    pub fn remove<I: Key>(&mut self, key: I) -> Option<Value> {
        self.shift_remove(key)
    }

    /// Inserts `k` at `index` (or moves it there), keeping the others' order.
    pub fn shift_insert(&mut self, index: usize, k: Value, v: Value) -> Option<Value> {
        let index = index.min(self.map.len());
        match self.map.get_index_of(&k) {
            Some(old) => {
                let previous = std::mem::replace(&mut self.map[old], v);
                self.map.move_index(old, index.min(self.map.len() - 1));
                Some(previous)
            }
            None => {
                self.map.shift_insert(index, k, v);
                None
            }
        }
    }

    pub fn retain<F: FnMut(&Value, &mut Value) -> bool>(&mut self, keep: F) {
        self.map.retain(keep)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn clear(&mut self) {
        self.map.clear()
    }

    pub fn iter(&self) -> Iter<'_, Value, Value> {
        self.map.iter()
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, Value, Value> {
        self.map.iter_mut()
    }

    pub fn keys(&self) -> Keys<'_, Value, Value> {
        self.map.keys()
    }

    pub fn values(&self) -> Values<'_, Value, Value> {
        self.map.values()
    }

    pub fn values_mut(&mut self) -> ValuesMut<'_, Value, Value> {
        self.map.values_mut()
    }

    pub fn into_keys(self) -> indexmap::map::IntoKeys<Value, Value> {
        self.map.into_keys()
    }

    pub fn into_values(self) -> indexmap::map::IntoValues<Value, Value> {
        self.map.into_values()
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.map.iter()).finish()
    }
}

impl Hash for Mapping {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len())
    }
}

impl<I: Key> std::ops::Index<I> for Mapping {
    type Output = Value;
    fn index(&self, key: I) -> &Value {
        self.get(key).expect("key not found in YAML mapping")
    }
}

impl<I: Key> std::ops::IndexMut<I> for Mapping {
    fn index_mut(&mut self, key: I) -> &mut Value {
        self.get_mut(key).expect("key not found in YAML mapping")
    }
}

impl Extend<(Value, Value)> for Mapping {
    fn extend<T: IntoIterator<Item = (Value, Value)>>(&mut self, iter: T) {
        self.map.extend(iter)
    }
}

impl FromIterator<(Value, Value)> for Mapping {
    fn from_iter<T: IntoIterator<Item = (Value, Value)>>(iter: T) -> Mapping {
        let mut m = Mapping::new();
        m.extend(iter);
        m
    }
}

impl IntoIterator for Mapping {
    type Item = (Value, Value);
    type IntoIter = IntoIter<Value, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.into_iter()
    }
}

impl<'a> IntoIterator for &'a Mapping {
    type Item = (&'a Value, &'a Value);
    type IntoIter = Iter<'a, Value, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl<'a> IntoIterator for &'a mut Mapping {
    type Item = (&'a Value, &'a mut Value);
    type IntoIter = IterMut<'a, Value, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter_mut()
    }
}

/// A key to look up: `&str`, `String`, or a [`Value`]. Sealed.
pub trait Key: private::Sealed {
    #[doc(hidden)]
    fn find_in(&self, m: &Mapping) -> Option<usize>;
}

/// A `&str` looked up as the key it spells: hashes like a scalar key with that text.
struct Text<'a>(&'a str);

impl Hash for Text<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl indexmap::Equivalent<Value> for Text<'_> {
    fn equivalent(&self, key: &Value) -> bool {
        match key {
            Value::Scalar(s) => s.text() == self.0 && s.resolve() != Resolved::Null,
            _ => false,
        }
    }
}

impl Key for str {
    fn find_in(&self, m: &Mapping) -> Option<usize> {
        m.map.get_index_of(&Text(self))
    }
}

impl Key for String {
    fn find_in(&self, m: &Mapping) -> Option<usize> {
        m.map.get_index_of(&Text(self))
    }
}

impl Key for Value {
    fn find_in(&self, m: &Mapping) -> Option<usize> {
        m.map.get_index_of(self)
    }
}

impl<T: Key + ?Sized> Key for &T {
    fn find_in(&self, m: &Mapping) -> Option<usize> {
        (**self).find_in(m)
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for super::Value {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_text_and_keep_their_order() {
        let mut m = Mapping::new();
        m.insert(Value::from("b"), Value::from(1));
        m.insert(Value::from("a"), Value::from(2));
        assert_eq!(m.get("a"), Some(&Value::from(2)));
        assert!(m.contains_key("b".to_string()));
        m.shift_insert(0, Value::from("a"), Value::from(3));
        let keys: Vec<_> = m.keys().filter_map(Value::as_str).collect();
        assert_eq!(keys, ["a", "b"]);
        m.shift_insert(5, Value::from("c"), Value::from(4));
        assert_eq!(m.get_index_of("c"), Some(2));
        assert_eq!(m.shift_remove("a"), Some(Value::from(3)));
        assert_eq!(m.len(), 2);
    }
}
