//! What a tenant's containers mount: bind sources only inside the project directory
//! (links followed, as the engine follows them), named volumes only the project's own.
//! A fixed `name:` or `external: true` mounts whatever volume the engine holds under that
//! name — `/var/lib/docker` and another project's database files are one step away.

use std::path::Path;

use super::{host_paths, path, Context, Escape, Kind};

/// The null device: mounted over a file it hides that file, and reads and keeps
/// nothing of the host's.
const NOTHING: &str = "/dev/null";
use crate::compose;
use crate::yaml::{is_truthy, scalar_string, untag, Mapping, Value};

/// Bind mounts of host paths outside the project directory (grant `host_paths`). The
/// engine's socket is `services::socket`'s, with its own grant.
pub(super) fn bind_sources(doc: &Value, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(dir) = ctx.project_dir else {
        return;
    };
    for (name, svc) in compose::services_ref(doc) {
        let Some(Value::Sequence(vols)) = svc.get("volumes").map(untag) else {
            continue;
        };
        for (i, v) in vols.iter().enumerate() {
            let Some(source) = bind_source(untag(v)) else {
                continue;
            };
            let resolved = host_paths::resolve(ctx.host, &source, Some(dir));
            if host_paths::exposes_docker_socket(ctx.host, &resolved)
                || host_paths::inside(ctx.host, &resolved, dir)
                || host_paths::real(ctx.host, &resolved) == Path::new(NOTHING)
            {
                continue;
            }
            let real = host_paths::real(ctx.host, &resolved);
            out.push(Escape::new(
                Kind::HostPath,
                format!("service {name}"),
                path(&["services", &name, "volumes"], Some(i)),
                format!(
                    "bind mount of `{source}` (resolves to {}, links followed) reaches the host outside the project's directory",
                    real.display()
                ),
                Some(real.display().to_string()),
            ));
        }
    }
}

/// The source of a bind mount, short (`src:dst[:mode]`) or long (`type: bind`) form. A
/// named pipe (`type: npipe`) is a host path too: only Windows engines read it, but its
/// source is the host's.
pub(super) fn bind_source(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(_) => {
            let (source, _) = v.as_str()?.split_once(':')?;
            let is_path = source.starts_with(['/', '.', '~', '$']) || source.contains('/');
            is_path.then(|| source.to_owned())
        }
        Value::Mapping(m) => {
            let kind = m.get("type").and_then(scalar_string);
            let bind = matches!(kind.as_deref(), Some("bind" | "npipe"));
            bind.then(|| m.get("source").and_then(scalar_string))
                .flatten()
        }
        _ => None,
    }
}

/// Top-level volumes: external ones only by grant, none with a fixed name, plugins only
/// by grant, and local driver options that mount a device or a host path only where `host_paths` grants it.
pub(super) fn scoped(doc: &Value, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(volumes) = compose::section(doc, "volumes") else {
        return;
    };
    for (k, v) in volumes {
        let Some(key) = scalar_string(k) else {
            continue;
        };
        let empty = Mapping::new();
        let m = untag(v).as_mapping().unwrap_or(&empty);
        let subject = format!("volume {key}");
        let fixed = m.get("name").and_then(scalar_string);
        if m.get("external").is_some_and(is_truthy) {
            let real = fixed.unwrap_or_else(|| key.clone());
            out.push(Escape::new(
                Kind::ExternalVolume,
                subject,
                path(&["volumes", &key, "external"], None),
                format!("external volume `{real}` is whatever volume of that name the engine holds: another project's data, for one"),
                Some(real),
            ));
            continue;
        }
        if let Some(real) = fixed {
            out.push(Escape::new(
                Kind::ForeignVolume,
                subject.clone(),
                path(&["volumes", &key, "name"], None),
                format!("`name: {real}` names the volume outside the project's scope: it can be another project's; drop `name:` and Compose scopes the volume to the project"),
                None,
            ));
        }
        if let Some(driver) = m.get("driver").and_then(scalar_string) {
            if driver != "local" {
                out.push(Escape::new(
                    Kind::VolumeDriver,
                    format!("volume {key}"),
                    path(&["volumes", &key, "driver"], None),
                    format!("driver `{driver}` is a volume plugin: its options can mount any host path or remote share as the volume, and netfence cannot judge them"),
                    Some(driver),
                ));
                continue;
            }
        }
        driver_opts(&key, m, ctx, out);
    }
}

/// `driver_opts` with `device`, `o` or `type` mount something of the host's (a disk, a
/// directory, an NFS export) as the volume.
fn driver_opts(key: &str, m: &Mapping, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(opts) = m.get("driver_opts").map(untag).and_then(Value::as_mapping) else {
        return;
    };
    let opt = |k: &str| opts.get(k).and_then(scalar_string);
    let mounts = ["device", "o", "type"].iter().any(|k| opt(k).is_some());
    if !mounts {
        return;
    }
    let device = opt("device").unwrap_or_default();
    let tmpfs = |v: Option<String>| v.is_none_or(|t| t.eq_ignore_ascii_case("tmpfs"));
    if tmpfs(opt("type")) && tmpfs(opt("device")) {
        // Memory, not the host's: `type: tmpfs` with a size is the common use.
        return;
    }
    let item = if device.starts_with(['/', '.', '~']) {
        let resolved = host_paths::resolve(ctx.host, &device, ctx.project_dir);
        if host_paths::exposes_docker_socket(ctx.host, &resolved)
            || ctx
                .project_dir
                .is_some_and(|d| host_paths::inside(ctx.host, &resolved, d))
        {
            return;
        }
        host_paths::real(ctx.host, &resolved).display().to_string()
    } else {
        device.clone()
    };
    out.push(Escape::new(
        Kind::HostPath,
        format!("volume {key}"),
        path(&["volumes", key, "driver_opts"], None),
        format!(
            "the local driver mounts `{}` (type `{}`, options `{}`) of the host as the volume",
            device,
            opt("type").unwrap_or_default(),
            opt("o").unwrap_or_default()
        ),
        Some(item),
    ));
}
