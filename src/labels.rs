//! Labels as Compose writes them: a mapping (`key: value`) or a list (`key=value`).
//! Edits keep the form the user wrote.

use crate::yaml::{Mapping, Value};

use crate::yaml::{key, scalar_string};

pub const MANAGED: &str = "io.netfence.managed";
pub const SCOPE: &str = "io.netfence.scope";
pub const PROJECT: &str = "io.netfence.project";
pub const NETWORK: &str = "io.netfence.network";
pub const ORIGINAL_NAME: &str = "io.netfence.original-name";
pub const CREATED: &str = "io.netfence.created";
pub const OWNER: &str = "io.netfence.owner";
pub const ROLE: &str = "io.netfence.role";
/// On a dev stack's objects (`netfence up`): the checkout it belongs to, an absolute path.
pub const CHECKOUT: &str = "io.netfence.checkout";
pub const PREFIX: &str = "io.netfence.";

/// The labels Docker Compose puts on what it creates: how netfence finds a project's
/// containers and networks on the engine without its file.
pub mod compose {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    /// On containers: their number within the service (1, 2, … with `scale`).
    pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
    /// On networks: the logical key the network stands for.
    pub const NETWORK: &str = "com.docker.compose.network";
    /// The project's compose files, comma-separated absolute paths.
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    /// `True` on one-off containers (`docker compose run`).
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
}

/// All labels as (key, value) pairs, in written order.
pub fn entries(labels: Option<&Value>) -> Vec<(String, String)> {
    match labels.map(crate::yaml::untag) {
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((scalar_string(k)?, scalar_string(v).unwrap_or_default())))
            .collect(),
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|i| {
                let s = scalar_string(i)?;
                Some(match s.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (s, String::new()),
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A label's value as Compose reads it: of duplicates in a list, the last.
pub fn get(labels: Option<&Value>, name: &str) -> Option<String> {
    entries(labels)
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Sets a label in place, keeping list or map form; creates a mapping when absent.
/// In a list every entry of the key goes: Compose keeps the last of duplicates, so one
/// left behind would win over the value set here.
pub fn set(parent: &mut Mapping, field: &str, name: &str, value: &str) {
    let at = match parent.get_index_of(field) {
        Some(i) => i,
        None => {
            parent.insert(key(field), Value::Mapping(Mapping::new()));
            parent.len() - 1
        }
    };
    let Some((_, slot)) = parent.get_index_mut(at) else {
        return;
    };
    if slot.is_null() {
        *slot = Value::Mapping(Mapping::new());
    }
    match crate::yaml::untag_mut(slot) {
        Value::Sequence(s) => {
            let item = key(&format!("{name}={value}"));
            let is_key = |i: &Value| scalar_string(i).is_some_and(|t| entry_key(&t) == name);
            match s.iter().position(is_key) {
                Some(first) => {
                    s[first] = item;
                    let mut i = first + 1;
                    while i < s.len() {
                        if is_key(&s[i]) {
                            s.remove(i);
                        } else {
                            i += 1;
                        }
                    }
                }
                None => s.push(item),
            }
        }
        Value::Mapping(m) => {
            m.insert(key(name), key(value));
        }
        other => {
            let mut m = Mapping::new();
            m.insert(key(name), key(value));
            *other = Value::Mapping(m);
        }
    }
}

/// The key of a list entry `key=value` (or `key`), as Compose splits it.
fn entry_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Removes every label whose key satisfies `pred`; drops the field when it empties.
/// Renames label `from` to `to` with `value`, in its place (`parent[field]`, a list or a
/// mapping); nothing when it is not there.
pub fn rename(parent: &mut Mapping, field: &str, from: &str, to: &str, value: &str) {
    let Some(slot) = parent.get_mut(field).map(crate::yaml::untag_mut) else {
        return;
    };
    match slot {
        Value::Sequence(s) => {
            for item in s.iter_mut() {
                if scalar_string(item).is_some_and(|t| entry_key(&t) == from) {
                    *item = key(&format!("{to}={value}"));
                }
            }
        }
        Value::Mapping(m) => {
            if let Some(at) = m.get_index_of(from) {
                let old = m.shift_remove(from).unwrap_or_else(Value::null);
                // An unchanged value keeps the node as written (its quoting).
                let kept = scalar_string(&old).is_some_and(|v| v == value);
                let new = if kept { old } else { key(value) };
                crate::yaml::insert_at(m, at, key(to), new);
            }
        }
        _ => {}
    }
}

/// [`rename`] in a service's own `labels` and in its `deploy.labels`, wherever it is.
pub fn rename_in_service(svc: &mut Mapping, from: &str, to: &str, value: &str) {
    rename(svc, "labels", from, to, value);
    if let Some(d) = svc
        .get_mut("deploy")
        .map(crate::yaml::untag_mut)
        .and_then(Value::as_mapping_mut)
    {
        rename(d, "labels", from, to, value);
    }
}

pub fn remove_where(parent: &mut Mapping, field: &str, pred: impl Fn(&str) -> bool) {
    let Some(slot) = parent.get_mut(field) else {
        return;
    };
    let empty = match crate::yaml::untag_mut(slot) {
        Value::Sequence(s) => {
            s.retain(|i| !pred(entry_key(&scalar_string(i).unwrap_or_default())));
            s.is_empty()
        }
        Value::Mapping(m) => {
            m.retain(|k, _| !k.as_str().is_some_and(&pred));
            m.is_empty()
        }
        _ => false,
    };
    if empty {
        parent.shift_remove(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Mapping {
        crate::yaml::from_str(s)
            .unwrap()
            .as_mapping()
            .cloned()
            .unwrap()
    }

    #[test]
    fn set_keeps_list_and_map_forms() {
        let mut m = y("labels: [a=1, traefik.docker.network=x]");
        set(&mut m, "labels", "traefik.docker.network", "real");
        set(&mut m, "labels", "b", "2");
        assert_eq!(
            m["labels"],
            crate::yaml::from_str("[a=1, traefik.docker.network=real, b=2]").unwrap()
        );
        let mut m = y("labels: {a: '1'}");
        set(&mut m, "labels", "b", "2");
        assert_eq!(get(m.get("labels"), "b").as_deref(), Some("2"));
        let mut m = y("image: x");
        set(&mut m, "labels", "b", "2");
        assert_eq!(get(m.get("labels"), "b").as_deref(), Some("2"));
    }

    #[test]
    fn set_replaces_every_duplicate_of_a_key() {
        let mut m = y("labels: [io.netfence.scope=env:staging, a=1, io.netfence.scope=env:staging, io.netfence.scope]");
        set(&mut m, "labels", SCOPE, "env:prod");
        assert_eq!(
            m["labels"],
            crate::yaml::from_str("[io.netfence.scope=env:prod, a=1]").unwrap()
        );
        assert_eq!(get(m.get("labels"), SCOPE).as_deref(), Some("env:prod"));
    }

    #[test]
    fn remove_where_drops_empty_field() {
        let mut m = y("labels: [io.netfence.scope=run:a]");
        remove_where(&mut m, "labels", |k| k.starts_with(PREFIX));
        assert!(m.get("labels").is_none());
    }
}
