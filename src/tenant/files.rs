//! Host files a tenant's file makes Compose (or the build) read: env and label files,
//! secrets and configs from files, `develop.watch` host_paths, build contexts. Outside the
//! project's directory each is another tenant's, or the host's (`/proc/self/environ` is
//! the deploying process's whole environment); a secret or config from an engine's
//! socket is a bind mount of it. And the build's own ways out: the host's network,
//! privileges, the deploying user's SSH agent.

use std::path::Path;

use super::host_paths::{self, Home};
use super::{path, Context, Escape, Kind, Part};
use crate::compose;
use crate::yaml::{is_truthy, scalar_string, untag, Mapping, Value};

pub(super) fn check(doc: &Value, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(dir) = ctx.project_dir else {
        return;
    };
    let home = &Home {
        dir,
        host: ctx.host,
    };
    for (name, svc) in compose::services_ref(doc) {
        let subject = format!("service {name}");
        for (at, file) in service_files(&name, svc) {
            let is_label_file = matches!(at.get(2), Some(Part::Key(k)) if k == "label_file");
            if is_label_file {
                label_file(&subject, &at, &file, home, out);
            }
            outside(&subject, at, &file, home, out);
        }
        build(&name, svc, home, out);
    }
    for section in ["secrets", "configs"] {
        let Some(items) = compose::section(doc, section) else {
            continue;
        };
        let singular = section.trim_end_matches('s');
        for (k, v) in items {
            let (Some(key), Some(file)) = (
                scalar_string(k),
                untag(v).get("file").and_then(scalar_string),
            ) else {
                continue;
            };
            let subject = format!("{singular} {key}");
            let at = path(&[section, &key, "file"], None);
            let resolved = host_paths::resolve(ctx.host, &file, Some(dir));
            if host_paths::exposes_docker_socket(ctx.host, &resolved) {
                out.push(Escape::new(
                    Kind::DockerSocket,
                    subject.clone(),
                    at.clone(),
                    format!("a {singular} from `{file}` is a bind mount of it: the container gets an engine's API, which can undo every fence"),
                    None,
                ));
            }
            outside(&subject, at, &file, home, out);
        }
    }
}

/// `env_file`, `label_file` (a path or a list; `env_file` entries may be `{path: …}`),
/// `credential_spec.file` and `develop.watch[].path`.
fn service_files(name: &str, svc: &Mapping) -> Vec<(Vec<Part>, String)> {
    let mut found = Vec::new();
    // Read by the engine on Windows hosts only; named here, it is still a host path.
    if let Some(file) = svc
        .get("credential_spec")
        .and_then(|c| untag(c).get("file"))
        .and_then(scalar_string)
    {
        found.push((
            path(&["services", name, "credential_spec", "file"], None),
            file,
        ));
    }
    for field in ["env_file", "label_file"] {
        match svc.get(field).map(untag) {
            Some(Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let file = scalar_string(item)
                        .or_else(|| untag(item).get("path").and_then(scalar_string));
                    if let Some(file) = file {
                        found.push((path(&["services", name, field], Some(i)), file));
                    }
                }
            }
            Some(v) => {
                if let Some(file) = scalar_string(v) {
                    found.push((path(&["services", name, field], None), file));
                }
            }
            None => {}
        }
    }
    let watch = svc
        .get("develop")
        .map(untag)
        .and_then(|d| d.get("watch"))
        .map(untag);
    if let Some(Value::Sequence(rules)) = watch {
        for (i, rule) in rules.iter().enumerate() {
            if let Some(file) = untag(rule).get("path").and_then(scalar_string) {
                let mut at = path(&["services", name, "develop", "watch"], Some(i));
                at.push(Part::Key("path".into()));
                found.push((at, file));
            }
        }
    }
    found
}

/// Labels from a file are labels all the same: none of them may be netfence's own.
fn label_file(subject: &str, at: &[Part], file: &str, home: &Home<'_>, out: &mut Vec<Escape>) {
    let resolved = host_paths::resolve(home.host, file, Some(home.dir));
    let Ok(text) = home.host.read(&resolved) else {
        return;
    };
    for line in text.lines().map(str::trim) {
        let key = line.split_once('=').map_or(line, |(k, _)| k).trim();
        if key.starts_with(crate::labels::PREFIX) {
            out.push(Escape::new(
                Kind::OwnLabels,
                subject,
                at.to_vec(),
                format!("`{file}` sets label `{key}`, netfence's own: ownership is netfence's to set, never the file's"),
                None,
            ));
        }
    }
}

fn outside(subject: &str, at: Vec<Part>, file: &str, home: &Home<'_>, out: &mut Vec<Escape>) {
    let resolved = host_paths::resolve(home.host, file, Some(home.dir));
    if host_paths::inside(home.host, &resolved, home.dir) {
        return;
    }
    out.push(Escape::new(
        Kind::OutsideFile,
        subject,
        at,
        format!("reads `{file}` (resolves to {}, links followed), outside the project's directory: a tenant's file reads only its own", resolved.display()),
        None,
    ));
}

/// Whether a build context or an additional context names something other than a
/// local directory (a Git or HTTP URL, an image, another service's stage).
fn is_remote(context: &str) -> bool {
    context.contains("://")
        || context.starts_with("git@")
        || context.starts_with("service:")
        || context.starts_with("target:")
}

/// `build.additional_contexts`, a mapping or a list of `NAME=VALUE`: where each is below
/// `build`, and its value.
pub(super) fn additional_contexts(contexts: Option<&Value>) -> Vec<(Vec<Part>, String)> {
    let key = |k: &str| Part::Key(k.to_owned());
    match contexts.map(untag) {
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| {
                let (k, v) = (scalar_string(k)?, scalar_string(v)?);
                Some((vec![key("additional_contexts"), key(&k)], v))
            })
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar_string)
            .enumerate()
            .filter_map(|(i, item)| {
                let (_, v) = item.split_once('=')?;
                Some((
                    vec![key("additional_contexts"), Part::Index(i)],
                    v.to_owned(),
                ))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn build(name: &str, svc: &Mapping, home: &Home<'_>, out: &mut Vec<Escape>) {
    let Some(build) = svc.get("build").map(untag) else {
        return;
    };
    let subject = format!("service {name}");
    let at = |keys: &[&str]| {
        let mut p = path(&["services", name, "build"], None);
        p.extend(keys.iter().map(|k| Part::Key((*k).to_owned())));
        p
    };
    let mut contexts: Vec<(Vec<Part>, String)> = Vec::new();
    if let Some(c) = scalar_string(build) {
        contexts.push((at(&[]), c));
    }
    if let Some(c) = build.get("context").and_then(scalar_string) {
        contexts.push((at(&["context"]), c));
    }
    for (below, v) in additional_contexts(build.get("additional_contexts")) {
        let mut p = at(&[]);
        p.extend(below);
        contexts.push((p, v));
    }
    let local = contexts
        .first()
        .map(|(_, c)| c.clone())
        .filter(|c| !is_remote(c));
    for (p, c) in contexts.into_iter().filter(|(_, c)| !is_remote(c)) {
        outside(&subject, p, &c, home, out);
    }
    if let (Some(context), Some(file)) = (local, build.get("dockerfile").and_then(scalar_string)) {
        let joined = crate::load::rebase::join(Path::new(&context), Path::new(&file));
        outside(
            &subject,
            at(&["dockerfile"]),
            &joined.to_string_lossy(),
            home,
            out,
        );
    }
    for field in ["cache_from", "cache_to"] {
        for (i, cache) in list(build.get(field)).iter().enumerate() {
            let mut p = at(&[field]);
            p.push(Part::Index(i));
            if let Some(local) = local_cache(cache) {
                outside(&subject, p, &local, home, out);
            } else if field == "cache_to" && !inline_cache(cache) {
                out.push(Escape::new(
                    Kind::OutsideFile,
                    subject.clone(),
                    p,
                    format!("cache export `{cache}` writes with the deploying user's registry (or cloud) credentials, wherever they may push: another project's images included"),
                    None,
                ));
            }
        }
    }
    build_privileges(&subject, build, &at, out);
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v.map(untag) {
        Some(Value::Sequence(items)) => items.iter().filter_map(scalar_string).collect(),
        _ => Vec::new(),
    }
}

/// A cache exported into the image itself (`type=inline`): written nowhere else.
fn inline_cache(spec: &str) -> bool {
    spec.split(',')
        .filter_map(|f| f.trim().split_once('='))
        .any(|(k, v)| k == "type" && v == "inline")
}

/// The host directory of a `type=local` cache (`src=` to read, `dest=` to write).
fn local_cache(spec: &str) -> Option<String> {
    let fields: Vec<(&str, &str)> = spec
        .split(',')
        .filter_map(|f| f.trim().split_once('='))
        .collect();
    let is_local = fields.iter().any(|(k, v)| *k == "type" && *v == "local");
    is_local
        .then(|| {
            fields
                .iter()
                .find(|(k, _)| matches!(*k, "src" | "dest"))
                .map(|(_, v)| (*v).to_owned())
        })
        .flatten()
}

/// The build's own ways out: BuildKit runs it on the host's network, privileged, or with
/// the deploying user's SSH agent when the file asks.
fn build_privileges(
    subject: &str,
    build: &Value,
    at: &dyn Fn(&[&str]) -> Vec<Part>,
    out: &mut Vec<Escape>,
) {
    let network = build.get("network").and_then(scalar_string);
    // The classic builder attaches the build container to any network by name: an
    // environment's, or another project's internal one.
    if let Some(name) = network
        .as_deref()
        .filter(|n| !matches!(*n, "host" | "default" | "none"))
    {
        out.push(Escape::new(
            Kind::ExternalNetwork,
            subject,
            at(&["network"]),
            format!("the build joins network `{name}`, which the project does not own"),
            Some(name.to_owned()),
        ));
    }
    let mut push = |kind: Kind, keys: &[&str], why: &str| {
        out.push(Escape::new(kind, subject, at(keys), why, None));
    };
    if network.as_deref() == Some("host") {
        push(
            Kind::HostNetwork,
            &["network"],
            "the build runs on the host's network stack",
        );
    }
    if build.get("privileged").is_some_and(is_truthy) {
        push(
            Kind::Privileged,
            &["privileged"],
            "the build runs privileged",
        );
    }
    let entitlements: Vec<String> = match build.get("entitlements").map(untag) {
        Some(Value::Sequence(items)) => items.iter().filter_map(scalar_string).collect(),
        _ => Vec::new(),
    };
    if entitlements.iter().any(|e| e == "network.host") {
        push(
            Kind::HostNetwork,
            &["entitlements"],
            "entitlement `network.host` runs build steps on the host's network",
        );
    }
    if entitlements.iter().any(|e| e == "security.insecure") {
        push(
            Kind::Privileged,
            &["entitlements"],
            "entitlement `security.insecure` runs build steps privileged",
        );
    }
    // BuildKit gives an entitlement whatever meaning its version has: one not judged
    // here is refused, as an unknown key is.
    for e in &entitlements {
        let (kind, why) = match e.split_once('=').map_or(e.as_str(), |(name, _)| name) {
            "network.host" | "security.insecure" => continue,
            "device" => (
                Kind::Device,
                format!("entitlement `{e}` gives build steps devices of the host"),
            ),
            _ => (
                Kind::UnknownKey,
                format!("entitlement `{e}` is not one tenant mode knows (`network.host`, `security.insecure`, `device`): a newer BuildKit may give it any meaning"),
            ),
        };
        push(kind, &["entitlements"], &why);
    }
    let ssh = build.get("ssh").map(untag);
    if ssh.is_some_and(|s| !s.is_null() && s.as_sequence().is_none_or(|l| !l.is_empty())) {
        push(
            Kind::OutsideFile,
            &["ssh"],
            "the build gets the deploying user's SSH agent (or keys from the host)",
        );
    }
}
