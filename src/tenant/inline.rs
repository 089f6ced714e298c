//! Env and label files, and bare names in `environment`, read into the closed output.
//! Compose reads them at deploy with the deploy's environment: `T=${PLATFORM_TOKEN}` in
//! an env file, or `environment: [PLATFORM_TOKEN]`, would copy the deploying process's
//! secret into the tenant's container whatever netfence resolved. Inlined, the values are
//! those of the variables the platform named, and nothing is left to read at deploy.
//! A file outside the project is not read here: it stays for `files::check` to refuse.

use std::collections::BTreeMap;
use std::path::Path;

use super::host_paths;
use super::CloseError;
use crate::load::env::{read_file_on, Env};
use crate::load::host::Host;
use crate::yaml::{key, scalar_string, untag, Mapping, Value};

/// Every service's `env_file` into its `environment`, and `label_file` into `labels`;
/// bare names in `environment` given their value or dropped. `Err` is Compose's own
/// refusal (a required file missing or unreadable).
pub(super) fn inline(
    doc: &mut Value,
    env: &Env,
    project_dir: &Path,
    host: &dyn Host,
) -> Result<(), CloseError> {
    let Some(services) = doc
        .as_mapping_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Value::as_mapping_mut)
    else {
        return Ok(());
    };
    for svc in services.values_mut().filter_map(Value::as_mapping_mut) {
        let files = Files {
            env,
            project_dir,
            host,
        };
        inline_files(svc, "env_file", "environment", &files)?;
        inline_files(svc, "label_file", "labels", &files)?;
        resolve_bare_names(svc, "environment", env);
        // `build.args: [TOKEN]` takes the deploy's variable into the image the same way.
        if let Some(build) = svc.get_mut("build").and_then(Value::as_mapping_mut) {
            resolve_bare_names(build, "args", env);
        }
    }
    Ok(())
}

/// One file entry: its path, whether Compose requires it, and whether it is read
/// literally (`format: raw`: no variables, so nothing to close).
struct Entry {
    path: String,
    required: bool,
    raw: bool,
}

fn entries(v: &Value) -> Vec<Entry> {
    let one = |v: &Value| -> Option<Entry> {
        if let Some(path) = scalar_string(v) {
            return Some(Entry {
                path,
                required: true,
                raw: false,
            });
        }
        let m = untag(v).as_mapping()?;
        Some(Entry {
            path: m.get("path").and_then(scalar_string)?,
            required: m.get("required").is_none_or(crate::yaml::is_truthy),
            raw: m.get("format").and_then(scalar_string).as_deref() == Some("raw"),
        })
    };
    match untag(v) {
        Value::Sequence(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// Where env and label files are read from, and with which variables.
struct Files<'a> {
    env: &'a Env,
    project_dir: &'a Path,
    host: &'a dyn Host,
}

/// `files` (`env_file`, `label_file`) read into `target`; the target's own entries win,
/// as in Compose. Left as written when any file lies outside the project.
fn inline_files(
    svc: &mut Mapping,
    files: &str,
    target: &str,
    from: &Files<'_>,
) -> Result<(), CloseError> {
    let Some(list) = svc.get(files).map(entries) else {
        return Ok(());
    };
    let outside = |e: &Entry| {
        !host_paths::inside(
            from.host,
            &host_paths::resolve(from.host, &e.path, Some(from.project_dir)),
            from.project_dir,
        )
    };
    if list.iter().any(|e| outside(e) || e.raw) {
        return Ok(());
    }
    let mut merged: Vec<(String, Value)> = Vec::new();
    for e in &list {
        let path = Path::new(&e.path);
        if from.host.canonical(path).is_none() && (!e.required || svc.contains_key("profiles")) {
            // Compose reads a profiled service's files only when the profile is active:
            // a missing one is no error yet, and is left for Compose (with its key).
            if e.required {
                return Ok(());
            }
            continue;
        }
        let read = read_file_on(from.host, path, from.env.vars())
            .map_err(|err| CloseError::Unreadable(err.to_string()))?;
        // Read values are literal: Compose would interpolate `$` in the output again.
        merged.extend(
            read.into_iter()
                .map(|(k, v)| (k, Value::from(v.replace('$', "$$")))),
        );
    }
    merged.extend(own_entries(svc.get(target), target == "environment"));
    let mut m = Mapping::new();
    for (k, v) in merged {
        m.insert(key(&k), v);
    }
    let at = svc.get_index_of(files).unwrap_or(svc.len());
    svc.shift_remove(files);
    if svc.contains_key(target) {
        svc.insert(key(target), Value::Mapping(m));
    } else {
        crate::yaml::insert_at(svc, at.min(svc.len()), key(target), Value::Mapping(m));
    }
    Ok(())
}

/// A target's entries as written (list `K=V` or mapping), values as they stand; a bare
/// `K` in a list is null in `environment` (the deploy's variable), empty in `labels`.
fn own_entries(v: Option<&Value>, bare_is_null: bool) -> Vec<(String, Value)> {
    match v.map(untag) {
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((scalar_string(k)?, v.clone())))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar_string)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), Value::from(v)),
                None if bare_is_null => (s, Value::null()),
                None => (s, Value::from("")),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `environment: [NAME]` or `NAME:` with no value (and so `build.args`) takes the
/// deploy's variable: given the value of the variables the platform named now, or
/// dropped (an unset one sets nothing in the container either).
fn resolve_bare_names(holder: &mut Mapping, field: &str, env: &Env) {
    let Some(environment) = holder.get(field) else {
        return;
    };
    let bare = |v: &Value| v.is_null();
    let entries = own_entries(Some(environment), true);
    if !entries.iter().any(|(_, v)| bare(v)) {
        return;
    }
    let resolved: BTreeMap<usize, Option<Value>> = entries
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| bare(v))
        .map(|(i, (k, _))| (i, env.get(k).map(|v| Value::from(v.replace('$', "$$")))))
        .collect();
    let mut m = Mapping::new();
    for (i, (k, v)) in entries.into_iter().enumerate() {
        match resolved.get(&i) {
            Some(Some(value)) => m.insert(key(&k), value.clone()),
            // The last entry of a name wins, as in Compose: an unset one unsets it.
            Some(None) => m.shift_remove(k.as_str()),
            None => m.insert(key(&k), v),
        };
    }
    holder.insert(key(field), Value::Mapping(m));
}
