//! Undoing a previous fencing before fencing again. This is what makes rewriting
//! netfence's own output idempotent, and re-scoping clean (no `nf-a-nf-b-...`): the
//! output records what it replaced, and this module puts it back.

use crate::yaml::{Mapping, Value};
use serde::{Deserialize, Serialize};

use crate::labels;
use crate::yaml::{key, scalar_string, untag_mut};

/// Logical network keys netfence adds itself (proxy, shared, environment).
pub const INJECTED_PREFIX: &str = "netfence-";

/// The `x-netfence.fenced` record of a rewritten file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub scope: String,
    /// The project name before scoping.
    pub project: String,
    /// The top-level `name:` the input had, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub policy: String,
    pub version: String,
    /// `container_name`s removed, by service: restored before fencing again, so the
    /// aliases they became are rebuilt on every network, injected ones included.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub container_names: std::collections::BTreeMap<String, String>,
    /// `ports:` lists as written, by service, where netfence changed them: a run makes
    /// them ephemeral, an environment keeps them, so re-scoping needs the originals.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub ports: std::collections::BTreeMap<String, Value>,
    /// Services' `networks:` as written (null: there was none), where netfence rewrote them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub networks: std::collections::BTreeMap<String, Value>,
    /// Networks' `ipam:` as written (null: there was none), where netfence changed it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub ipam: std::collections::BTreeMap<String, Value>,
    /// Proxy labels renamed in tenant mode, by service: each new key with the key and
    /// value it had.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub proxy_names: std::collections::BTreeMap<String, Value>,
}

pub fn record(doc: &Value) -> Option<Record> {
    Record::from_value(doc.get("x-netfence")?.get("fenced")?)
}

impl Record {
    /// The record as written under `x-netfence.fenced`. The values it keeps (ports,
    /// networks, ipam as they were) are copied as they are, text and quotes included.
    pub fn into_value(self) -> Value {
        let mut m = Mapping::new();
        m.insert(key("scope"), Value::from(self.scope));
        m.insert(key("project"), Value::from(self.project));
        if let Some(name) = self.name {
            m.insert(key("name"), Value::from(name));
        }
        m.insert(key("policy"), Value::from(self.policy));
        m.insert(key("version"), Value::from(self.version));
        if !self.container_names.is_empty() {
            let names = self
                .container_names
                .into_iter()
                .map(|(s, n)| (Value::from(s), Value::from(n)))
                .collect();
            m.insert(key("container_names"), Value::Mapping(names));
        }
        for (field, values) in [
            ("ports", self.ports),
            ("networks", self.networks),
            ("ipam", self.ipam),
            ("proxy_names", self.proxy_names),
        ] {
            if !values.is_empty() {
                let values = values
                    .into_iter()
                    .map(|(k, v)| (Value::from(k), v))
                    .collect();
                m.insert(key(field), Value::Mapping(values));
            }
        }
        Value::Mapping(m)
    }

    /// Reads a record back; `None` when it is not one (a field missing or mistyped).
    pub fn from_value(v: &Value) -> Option<Record> {
        let m = v.as_mapping()?;
        let text = |field: &str| m.get(field).and_then(Value::as_str).map(str::to_owned);
        let entries = |field: &str| -> Option<Vec<(String, &Value)>> {
            match m.get(field) {
                None => Some(Vec::new()),
                Some(v) => v
                    .as_mapping()?
                    .iter()
                    .map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
                    .collect(),
            }
        };
        let values = |field: &str| -> Option<std::collections::BTreeMap<String, Value>> {
            Some(
                entries(field)?
                    .into_iter()
                    .map(|(k, v)| (k, v.clone()))
                    .collect(),
            )
        };
        let name = match m.get("name") {
            None => None,
            Some(n) if n.is_null() => None,
            Some(n) => Some(n.as_str()?.to_owned()),
        };
        Some(Record {
            scope: text("scope")?,
            project: text("project")?,
            name,
            policy: text("policy")?,
            version: text("version")?,
            container_names: entries("container_names")?
                .into_iter()
                .map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect::<Option<_>>()?,
            ports: values("ports")?,
            networks: values("networks")?,
            ipam: values("ipam")?,
            proxy_names: values("proxy_names")?,
        })
    }
}

/// Returns the document as it was before netfence fenced it (as far as that matters for
/// fencing it again), and the record found, if any.
pub fn unfence(mut doc: Value) -> (Value, Option<Record>) {
    let Some(rec) = record(&doc) else {
        return (doc, None);
    };
    let Value::Mapping(top) = &mut doc else {
        return (doc, Some(rec));
    };
    match &rec.name {
        Some(n) => {
            top.insert(key("name"), key(n));
        }
        None => {
            top.shift_remove("name");
        }
    }
    // Real names of the networks this output manages, to map labels back to keys.
    let mut real_to_key: Vec<(String, String)> = Vec::new();
    if let Some(Value::Mapping(nets)) = top.get_mut("networks").map(untag_mut) {
        nets.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with(INJECTED_PREFIX)));
        for (k, v) in nets.iter_mut() {
            let Some(m) = untag_mut(v).as_mapping_mut() else {
                continue;
            };
            if labels::get(m.get("labels"), labels::MANAGED).is_none() {
                continue;
            }
            if let (Some(k), Some(real)) = (scalar_string(k), m.get("name").and_then(scalar_string))
            {
                real_to_key.push((real, k));
            }
            // netfence named every managed network: the original name, if any, is in a label.
            match labels::get(m.get("labels"), labels::ORIGINAL_NAME) {
                Some(orig) => crate::yaml::insert_at(m, 0, key("name"), key(&orig)),
                None => {
                    m.shift_remove("name");
                }
            };
            match scalar_string(k).and_then(|k| rec.ipam.get(&k)) {
                Some(v) if v.is_null() => {
                    m.shift_remove("ipam");
                }
                Some(orig) => {
                    m.insert(key("ipam"), orig.clone());
                }
                None => {}
            }
            labels::remove_where(m, "labels", |l| l.starts_with(labels::PREFIX));
        }
    }
    if let Some(Value::Mapping(vols)) = top.get_mut("volumes").map(untag_mut) {
        for (_, v) in vols.iter_mut() {
            if let Some(m) = untag_mut(v).as_mapping_mut() {
                if labels::get(m.get("labels"), labels::MANAGED).is_some() {
                    // A volume keeps its name unless a run dropped it (then it is in a label).
                    if let Some(orig) = labels::get(m.get("labels"), labels::ORIGINAL_NAME) {
                        crate::yaml::insert_at(m, 0, key("name"), key(&orig));
                    }
                    labels::remove_where(m, "labels", |l| l.starts_with(labels::PREFIX));
                }
            }
        }
    }
    if let Some(Value::Mapping(services)) = top.get_mut("services").map(untag_mut) {
        for (name, svc) in services.iter_mut() {
            if let Some(m) = untag_mut(svc).as_mapping_mut() {
                unfence_service(m, &real_to_key);
                let Some(name) = scalar_string(name) else {
                    continue;
                };
                if let (Some(cn), false) = (
                    rec.container_names.get(&name),
                    m.contains_key("container_name"),
                ) {
                    m.insert(key("container_name"), key(cn));
                }
                if let (Some(orig), Some(slot)) = (rec.ports.get(&name), m.get_mut("ports")) {
                    *slot = orig.clone();
                }
                if let Some(renamed) = rec.proxy_names.get(&name) {
                    rename_back(m, renamed);
                }
                match rec.networks.get(&name) {
                    Some(v) if v.is_null() => {
                        m.shift_remove("networks");
                    }
                    Some(orig) => {
                        m.insert(key("networks"), orig.clone());
                    }
                    None => {}
                }
            }
        }
    }
    (doc, Some(rec))
}

/// Proxy labels back to the keys and values they had (see `Record::proxy_names`).
fn rename_back(svc: &mut Mapping, renamed: &Value) {
    let Some(renamed) = renamed.as_mapping() else {
        return;
    };
    for (to, was) in renamed {
        let (Some(to), Some([from, value])) =
            (scalar_string(to), was.as_sequence().map(Vec::as_slice))
        else {
            continue;
        };
        let (Some(from), Some(value)) = (scalar_string(from), scalar_string(value)) else {
            continue;
        };
        labels::rename_in_service(svc, &to, &from, &value);
    }
}

fn unfence_service(m: &mut Mapping, real_to_key: &[(String, String)]) {
    labels::remove_where(m, "labels", |l| l.starts_with(labels::PREFIX));
    if let Some(nets) = m.get_mut("networks").map(untag_mut) {
        match nets {
            Value::Sequence(s) => {
                s.retain(|n| !n.as_str().is_some_and(|n| n.starts_with(INJECTED_PREFIX)))
            }
            Value::Mapping(n) => {
                n.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with(INJECTED_PREFIX)))
            }
            _ => {}
        }
    }
    // A proxy label that names a real network of this file goes back to the key.
    for field in ["labels", "deploy"] {
        let holder = if field == "deploy" {
            match m
                .get_mut("deploy")
                .map(untag_mut)
                .and_then(Value::as_mapping_mut)
            {
                Some(d) => d,
                None => continue,
            }
        } else {
            &mut *m
        };
        for label in crate::proxy_labels::NETWORK_LABELS {
            if let Some(v) = labels::get(holder.get("labels"), label) {
                if let Some((_, k)) = real_to_key.iter().find(|(real, _)| *real == v) {
                    labels::set(holder, "labels", label, k);
                }
            }
        }
    }
}
