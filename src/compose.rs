//! Read-only views of the untyped compose tree: services, their attachments, networks.
//! Everything here reads; nothing edits (that is `rewrite`'s job).

use crate::yaml::{Mapping, Value};

use crate::yaml::{scalar_string, untag};

pub const DEFAULT_NETWORK: &str = "default";

pub fn section<'a>(doc: &'a Value, name: &str) -> Option<&'a Mapping> {
    doc.get(name).map(untag).and_then(Value::as_mapping)
}

/// `(name, service mapping)` in file order; a null service reads as an empty mapping.
pub fn services(doc: &Value) -> Vec<(String, Mapping)> {
    section(doc, "services")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let name = scalar_string(k)?;
                    let body = untag(v).as_mapping().cloned().unwrap_or_default();
                    Some((name, body))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Like [`services`] without copying: the planner reads every service of large files.
pub fn services_ref(doc: &Value) -> Vec<(String, &Mapping)> {
    static EMPTY: std::sync::LazyLock<Mapping> = std::sync::LazyLock::new(Mapping::new);
    section(doc, "services")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let name = scalar_string(k)?;
                    Some((name, untag(v).as_mapping().unwrap_or(&EMPTY)))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn network_keys(doc: &Value) -> Vec<String> {
    section(doc, "networks")
        .map(|m| m.keys().filter_map(scalar_string).collect())
        .unwrap_or_default()
}

/// A service's attachments as written: each network key with its config (if any).
/// `None` when the service has no `networks:` key.
pub fn attachments(svc: &Mapping) -> Option<Vec<(String, Option<Mapping>)>> {
    match untag(svc.get("networks")?) {
        Value::Sequence(s) => Some(
            s.iter()
                .filter_map(scalar_string)
                .map(|n| (n, None))
                .collect(),
        ),
        Value::Mapping(m) => Some(
            m.iter()
                .filter_map(|(k, v)| Some((scalar_string(k)?, untag(v).as_mapping().cloned())))
                .collect(),
        ),
        _ => Some(Vec::new()),
    }
}

pub fn network_mode(svc: &Mapping) -> Option<String> {
    svc.get("network_mode").and_then(scalar_string)
}

/// Is the network declared external (`external: true`, or the legacy `external: {name}`)?
pub fn is_external(net: &Mapping) -> bool {
    match net.get("external").map(untag) {
        Some(v @ Value::Scalar(_)) => crate::yaml::is_truthy(v),
        Some(Value::Mapping(_)) => true,
        _ => false,
    }
}

/// The real name Compose gives an external network.
pub fn external_name(key: &str, net: &Mapping) -> String {
    if let Some(n) = net.get("name").and_then(scalar_string) {
        return n;
    }
    if let Some(Value::Mapping(e)) = net.get("external").map(untag) {
        if let Some(n) = e.get("name").and_then(scalar_string) {
            return n;
        }
    }
    key.to_owned()
}

/// The service a same-file `extends` points at, if any.
pub fn extends_base(svc: &Mapping) -> Option<String> {
    match untag(svc.get("extends")?) {
        v @ Value::Scalar(_) => v.as_str().map(str::to_owned),
        Value::Mapping(m) => {
            if m.get("file").is_some() {
                return None;
            }
            m.get("service").and_then(scalar_string)
        }
        _ => None,
    }
}

/// The IPv4 subnets written in a network's `ipam.config`.
pub fn ipam_subnets(net: &Mapping) -> Vec<String> {
    net.get("ipam")
        .and_then(|i| i.get("config"))
        .and_then(Value::as_sequence)
        .map(|c| {
            c.iter()
                .filter_map(|e| e.get("subnet").and_then(scalar_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Labels of a service, from `labels` and `deploy.labels`.
pub fn service_labels(svc: &Mapping) -> Vec<(String, String)> {
    let mut out = crate::labels::entries(svc.get("labels"));
    if let Some(deploy) = svc.get("deploy").map(untag).and_then(Value::as_mapping) {
        out.extend(crate::labels::entries(deploy.get("labels")));
    }
    out
}
