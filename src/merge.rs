//! Merging several compose files (`-f a.yml -f b.yml`) with the Compose merge rules:
//! mappings deep-merged, most sequences appended without duplicates, a few replaced, some
//! merged by a key (volumes by target, secrets by source), and `!reset` / `!override`.

use crate::yaml::{Mapping, Value};

use crate::yaml::key;

/// Sequences that an override replaces instead of extending.
const REPLACED: &[&str] = &["command", "entrypoint"];
/// List-or-mapping keys whose list form is `KEY=VALUE` (or `KEY:VALUE` for extra_hosts).
const KEYED_LISTS: &[&str] = &[
    "environment",
    "labels",
    "annotations",
    "sysctls",
    "extra_hosts",
    "args",
];
/// Sequences of mounts, unique by their container target.
const BY_TARGET: &[&str] = &["volumes", "devices"];
/// Sequences of references, unique by their source.
const BY_SOURCE: &[&str] = &["secrets", "configs"];
/// Keys whose string form is a one-item list (compose-go `mergeToSequence`).
const STRING_OR_LIST: &[&str] = &[
    "dns",
    "dns_opt",
    "dns_search",
    "tmpfs",
    "env_file",
    "label_file",
];

pub fn merge_files(base: &mut Value, over: Value) {
    let Value::Mapping(o) = over else {
        *base = over;
        return;
    };
    let Value::Mapping(b) = base else {
        *base = Value::Mapping(o);
        return;
    };
    for (k, v) in o {
        match k.as_str() {
            Some("services") => match (b.get_mut("services"), v) {
                (Some(Value::Mapping(bs)), Value::Mapping(os)) => {
                    for (name, svc) in os {
                        merge_entry(bs, name, svc, merge_value);
                    }
                }
                (_, v) => {
                    b.insert(k, v);
                }
            },
            _ => merge_entry(b, k, v, merge_value),
        }
    }
}

/// Merges `v` into `m[k]` honouring `!reset` (remove) and `!override` (replace).
fn merge_entry(m: &mut Mapping, k: Value, v: Value, merge: fn(&mut Value, Value)) {
    if let Value::Tagged(t) = &v {
        match t.tag.to_string().as_str() {
            "!reset" => {
                m.shift_remove(&k);
                return;
            }
            "!override" => {
                m.insert(k, settled(t.value.clone()));
                return;
            }
            _ => {}
        }
    }
    match m.get_mut(&k) {
        Some(existing) => merge(existing, v),
        None => {
            m.insert(k, settled(v));
        }
    }
}

/// The first file as Compose reads it before anything merges over it: [`settled`],
/// except in a service that `extends` another, whose tags stay for the `extends` they
/// apply to (`command: !reset` removes what the base gives, not just the key).
pub fn settled_file(v: Value) -> Value {
    let Value::Mapping(top) = v else {
        return settled(v);
    };
    let settle_service = |svc: Value| {
        let extends = svc.as_mapping().is_some_and(|m| m.contains_key("extends"));
        if extends {
            svc
        } else {
            settled(svc)
        }
    };
    Value::Mapping(
        top.into_iter()
            .map(|(k, v)| match (k.as_str(), v) {
                (Some("services"), Value::Mapping(services)) => {
                    let services = services
                        .into_iter()
                        .map(|(name, svc)| (name, settle_service(svc)))
                        .collect();
                    (k, Value::Mapping(services))
                }
                (_, v) => (k, settled(v)),
            })
            .collect(),
    )
}

/// A value as it lands where nothing was merged yet (a later file's new key, or the
/// first file): its `!reset` entries gone and its `!override` values untagged, as
/// Compose reads them (there is nothing under them left to reset). Read back as a plain
/// value, an overlay's `x-netfence` record is found like any other.
pub fn settled(v: Value) -> Value {
    let is_reset = |v: &Value| matches!(v, Value::Tagged(t) if t.tag == "reset");
    match v {
        Value::Tagged(t) if t.tag == "override" => settled(t.value),
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .filter(|(_, v)| !is_reset(v))
                .map(|(k, v)| (k, settled(v)))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .filter(|v| !is_reset(v))
                .map(settled)
                .collect(),
        ),
        other => other,
    }
}

/// `extends`: a service over its base, with the rules of a later file (compose-go
/// `ExtendService`); `!reset` / `!override` in the service apply to the base.
pub fn merge_service(base: &mut Value, service: Value) {
    merge_value(base, service)
}

/// Generic deep merge, with the keyed rules selected by the key under which a value sits.
fn merge_value(base: &mut Value, over: Value) {
    match (&mut *base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                let name = k.as_str().map(str::to_owned);
                match (name.as_deref(), b.get_mut(&k)) {
                    (Some(n), Some(existing)) if !is_tagged(&v) => {
                        merge_keyed(n, existing, v);
                    }
                    _ => merge_entry(b, k, v, merge_value),
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(o)) => append_unique(b, o),
        (base, over) => *base = settled(over),
    }
}

fn is_tagged(v: &Value) -> bool {
    matches!(v, Value::Tagged(_))
}

fn merge_keyed(name: &str, existing: &mut Value, over: Value) {
    if REPLACED.contains(&name) || name == "test" {
        *existing = over;
    } else if KEYED_LISTS.contains(&name) {
        merge_keyed_list(
            existing,
            over,
            if name == "extra_hosts" {
                &['=', ':']
            } else {
                &['=']
            },
        );
    } else if name == "networks" {
        merge_networks(existing, over);
    } else if name == "build" {
        merge_build(existing, over);
    } else if name == "depends_on" {
        merge_depends_on(existing, over);
    } else if STRING_OR_LIST.contains(&name) {
        merge_string_or_list(existing, over);
    } else if name == "logging" {
        merge_logging(existing, over);
    } else if name == "ulimits" {
        merge_ulimits(existing, over);
    } else if BY_TARGET.contains(&name) {
        merge_unique_by(existing, over, mount_target);
    } else if BY_SOURCE.contains(&name) {
        merge_unique_by(existing, over, reference_source);
    } else {
        merge_value(existing, over);
    }
}

fn append_unique(b: &mut Vec<Value>, o: Vec<Value>) {
    for v in o {
        if !b.contains(&v) {
            b.push(v);
        }
    }
}

fn list_key(v: &Value, seps: &[char]) -> Option<String> {
    let s = v.as_str()?;
    Some(match s.find(seps) {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    })
}

fn list_to_map(list: &[Value], seps: &[char]) -> Mapping {
    let mut m = Mapping::new();
    for item in list {
        if let Some(s) = item.as_str() {
            match s.find(seps) {
                Some(i) => m.insert(key(&s[..i]), key(&s[i + 1..])),
                None => m.insert(key(s), Value::null()),
            };
        }
    }
    m
}

fn merge_keyed_list(existing: &mut Value, over: Value, seps: &[char]) {
    match (&mut *existing, over) {
        (Value::Sequence(b), Value::Sequence(o)) => {
            for item in o {
                let k = list_key(&item, seps);
                match b.iter_mut().find(|e| k.is_some() && list_key(e, seps) == k) {
                    Some(slot) => *slot = item,
                    None => b.push(item),
                }
            }
        }
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                b.insert(k, v);
            }
        }
        (Value::Mapping(b), Value::Sequence(o)) => {
            for (k, v) in list_to_map(&o, seps) {
                b.insert(k, v);
            }
        }
        (Value::Sequence(b), Value::Mapping(o)) => {
            let mut m = list_to_map(b, seps);
            for (k, v) in o {
                m.insert(k, v);
            }
            *existing = Value::Mapping(m);
        }
        (slot, over) => *slot = over,
    }
}

fn networks_as_map(v: Value) -> Value {
    match v {
        Value::Sequence(s) => Value::Mapping(s.into_iter().map(|n| (n, Value::null())).collect()),
        other => other,
    }
}

fn merge_networks(existing: &mut Value, over: Value) {
    if let (Value::Sequence(b), Value::Sequence(o)) = (&mut *existing, &over) {
        append_unique(b, o.clone());
        return;
    }
    let mut b = networks_as_map(std::mem::take(existing));
    let o = networks_as_map(over);
    if let (Value::Mapping(bm), Value::Mapping(om)) = (&mut b, o) {
        for (k, v) in om {
            match bm.get_mut(&k) {
                Some(e) if !e.is_null() => {
                    if !v.is_null() {
                        merge_value(e, v)
                    }
                }
                _ => {
                    bm.insert(k, v);
                }
            }
        }
    }
    *existing = b;
}

/// `build: ./ctx` is `{context: ./ctx}`; then the mappings merge.
fn merge_build(existing: &mut Value, over: Value) {
    let as_map = |v: Value| {
        if v.is_string() {
            let mut m = Mapping::new();
            m.insert(key("context"), v);
            Value::Mapping(m)
        } else {
            v
        }
    };
    match (&*existing, &over) {
        (Value::Scalar(_), Value::Mapping(_)) | (Value::Mapping(_), Value::Scalar(_)) => {
            let mut b = as_map(std::mem::take(existing));
            merge_value(&mut b, as_map(over));
            *existing = b;
        }
        _ => merge_value(existing, over),
    }
}

/// `depends_on: [db]` is `{db: {condition: service_started, required: true}}`.
fn merge_depends_on(existing: &mut Value, over: Value) {
    let as_map = |v: Value| match v {
        Value::Sequence(s) => Value::Mapping(
            s.into_iter()
                .map(|n| {
                    let mut c = Mapping::new();
                    c.insert(key("condition"), key("service_started"));
                    c.insert(key("required"), Value::from(true));
                    (n, Value::Mapping(c))
                })
                .collect(),
        ),
        other => other,
    };
    match (&*existing, &over) {
        (Value::Sequence(_), Value::Mapping(_)) | (Value::Mapping(_), Value::Sequence(_)) => {
            let mut b = as_map(std::mem::take(existing));
            merge_value(&mut b, as_map(over));
            *existing = b;
        }
        _ => merge_value(existing, over),
    }
}

/// `dns: 1.1.1.1` + `[8.8.8.8]` is both.
fn merge_string_or_list(existing: &mut Value, over: Value) {
    let as_list = |v: Value| {
        if v.is_string() {
            Value::Sequence(vec![v])
        } else {
            v
        }
    };
    let mut b = as_list(std::mem::take(existing));
    let o = as_list(over);
    match (&mut b, o) {
        (Value::Sequence(items), Value::Sequence(more)) => {
            for item in more {
                // env_file entries are one per path: a later one replaces an earlier.
                let path = |v: &Value| match v {
                    Value::Mapping(m) => m.get("path").cloned(),
                    other => Some(other.clone()),
                };
                let p = path(&item);
                match items.iter_mut().find(|e| p.is_some() && path(e) == p) {
                    Some(slot) => *slot = item,
                    None => items.push(item),
                }
            }
        }
        (slot, o) => *slot = o,
    }
    *existing = b;
}

/// Logging options merge only under the same driver; another driver replaces it all.
fn merge_logging(existing: &mut Value, over: Value) {
    let driver = |v: &Value| v.get("driver").cloned();
    let (a, b) = (driver(existing), driver(&over));
    if a.is_some() && b.is_some() && a != b {
        *existing = over;
    } else {
        merge_value(existing, over);
    }
}

/// Each ulimit is replaced whole (`{soft, hard}` or a number).
fn merge_ulimits(existing: &mut Value, over: Value) {
    match (&mut *existing, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                merge_entry(b, k, v, |slot, v| *slot = v);
            }
        }
        (slot, over) => *slot = over,
    }
}

fn mount_target(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(_) => {
            let parts: Vec<&str> = v.as_str()?.split(':').collect();
            Some(match parts.len() {
                1 => parts[0].to_owned(),
                _ => parts[1].to_owned(),
            })
        }
        Value::Mapping(m) => m.get("target").and_then(|t| t.as_str()).map(str::to_owned),
        _ => None,
    }
}

fn reference_source(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(_) => v.as_str().map(str::to_owned),
        Value::Mapping(m) => m.get("source").and_then(|t| t.as_str()).map(str::to_owned),
        _ => None,
    }
}

fn merge_unique_by(existing: &mut Value, over: Value, id: fn(&Value) -> Option<String>) {
    match (&mut *existing, over) {
        (Value::Sequence(b), Value::Sequence(o)) => {
            for item in o {
                let k = id(&item);
                match b.iter_mut().find(|e| k.is_some() && id(e) == k) {
                    Some(slot) => *slot = item,
                    None => b.push(item),
                }
            }
        }
        (slot, over) => merge_value(slot, over),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        crate::yaml::from_str(s).unwrap()
    }

    fn merged(a: &str, b: &str) -> Value {
        let mut v = y(a);
        merge_files(&mut v, y(b));
        v
    }

    #[test]
    fn ports_append_without_duplicates_and_command_is_replaced() {
        let v = merged(
            "services: {a: {ports: ['80:80'], command: [a, b]}}",
            "services: {a: {ports: ['80:80', '443:443'], command: [c]}}",
        );
        assert_eq!(v["services"]["a"]["ports"], y("['80:80', '443:443']"));
        assert_eq!(v["services"]["a"]["command"], y("[c]"));
    }

    #[test]
    fn environment_merges_by_key_across_forms() {
        let v = merged(
            "services: {a: {environment: [A=1, B=2]}}",
            "services: {a: {environment: {B: '3', C: '4'}}}",
        );
        assert_eq!(
            v["services"]["a"]["environment"],
            y("{A: '1', B: '3', C: '4'}")
        );
        let v = merged(
            "services: {a: {labels: [a=1, b=2]}}",
            "services: {a: {labels: [b=5]}}",
        );
        assert_eq!(v["services"]["a"]["labels"], y("[a=1, b=5]"));
    }

    #[test]
    fn volumes_merge_by_target() {
        let v = merged(
            "services: {a: {volumes: ['./x:/data', 'y:/logs']}}",
            "services: {a: {volumes: ['./z:/data']}}",
        );
        assert_eq!(v["services"]["a"]["volumes"], y("['./z:/data', 'y:/logs']"));
    }

    #[test]
    fn reset_removes_and_override_replaces() {
        let v = merged(
            "services: {a: {ports: ['80:80'], environment: {A: '1'}}}",
            "services: {a: {ports: !reset [], environment: !override {B: '2'}}}",
        );
        assert!(v["services"]["a"].get("ports").is_none());
        assert_eq!(v["services"]["a"]["environment"], y("{B: '2'}"));
    }

    #[test]
    fn tags_under_a_new_key_are_settled_as_compose_reads_them() {
        let v = merged(
            "services: {a: {image: x}}",
            "x-rec: {kept: !override {a: 1}, gone: !reset null}\nservices: {b: {image: y, ports: !override ['80']}}",
        );
        assert_eq!(v["x-rec"], y("{kept: {a: 1}}"));
        assert_eq!(v["services"]["b"], y("{image: y, ports: ['80']}"));
    }

    #[test]
    fn service_networks_merge_list_into_map() {
        let v = merged(
            "services: {a: {networks: [front]}}",
            "services: {a: {networks: {back: {aliases: [x]}}}}",
        );
        assert_eq!(
            v["services"]["a"]["networks"],
            y("{front: null, back: {aliases: [x]}}")
        );
    }

    #[test]
    fn new_services_and_top_level_keys_are_added() {
        let v = merged(
            "services: {a: {image: x}}",
            "services: {b: {image: y}}\nnetworks: {n: {}}",
        );
        assert_eq!(v["services"]["b"]["image"], y("y"));
        assert!(v["networks"].get("n").is_some());
    }
}
