//! `extends:` as Compose applies it to each file's services (compose-go `ApplyExtends`):
//! depth first, the base merged under the service with the rules of a later file, the
//! `extends` key gone. A base from another file is read raw, only its services, with
//! their relative paths re-based onto that file's directory, so chains work.
//!
//! A same-file `extends` in a single top-level file is checked and kept as written:
//! Compose resolves it from netfence's output to the same service, fenced.

use std::path::Path;

use super::pipeline::{FileCtx, Frame, Loader};
use super::rebase::{self, Rebase};
use crate::audit::lines::key as seg;
use crate::error::{Error, Result, Source};
use crate::yaml::{key, scalar_string, untag, Mapping, Value};

/// (file, service) pairs on the way to a base: a repeat is a cycle.
type Branch = Vec<(String, String)>;

pub fn apply(loader: &mut Loader, ctx: &FileCtx<'_>, doc: &mut Value, frame: &Frame) -> Result<()> {
    let Some(Value::Mapping(services)) = doc.get_mut("services").map(crate::yaml::untag_mut) else {
        return Ok(());
    };
    let names: Vec<String> = services.keys().filter_map(scalar_string).collect();
    for name in names {
        resolve(
            loader,
            ctx,
            services,
            &name,
            &Vec::new(),
            frame,
            frame.resolve_local,
        )?;
    }
    Ok(())
}

/// What an `extends` names: the base service and, for another file, that file.
struct Reference {
    service: String,
    file: Option<String>,
}

fn reference(ctx: &FileCtx<'_>, name: &str, v: &Value) -> Result<Reference> {
    let v = untag(v);
    if let Some(s) = v.as_str() {
        return Ok(Reference {
            service: s.to_owned(),
            file: None,
        });
    }
    match v {
        Value::Mapping(m) => {
            let Some(service) = m.get("service").and_then(scalar_string) else {
                return Err(ctx.service_error(
                    name,
                    "extends",
                    format!("extends.{name}.service is required"),
                ));
            };
            Ok(Reference {
                service,
                file: m.get("file").and_then(scalar_string),
            })
        }
        other => Err(ctx.service_error(
            name,
            "extends",
            format!(
                "`extends` of service {name} must be a service name or a mapping with `service` (and `file`), found {}",
                crate::yaml::kind(other)
            ),
        )),
    }
}

/// Resolves service `name` of `services` (the services of `ctx`'s file) in place and
/// returns it; `None` for a service without a body.
fn resolve(
    loader: &mut Loader,
    ctx: &FileCtx<'_>,
    services: &mut Mapping,
    name: &str,
    branch: &Branch,
    frame: &Frame,
    local: bool,
) -> Result<Option<Value>> {
    let Some(svc) = services.get(name) else {
        return Ok(None);
    };
    let Value::Mapping(body) = untag(svc) else {
        return Ok(None);
    };
    let Some(ext) = body.get("extends") else {
        return Ok(Some(svc.clone()));
    };
    let mut r = reference(ctx, name, ext)?;
    let body = body.clone();
    let at = [seg("services"), seg(name), seg("extends")];
    r.service = loader.eval(frame, ctx, &at, &r.service)?;
    if let Some(f) = &r.file {
        r.file = Some(loader.eval(frame, ctx, &at, f)?);
    }

    let here = (ctx.path.display().to_string(), name.to_owned());
    if branch.contains(&here) {
        let mut lines = vec!["Circular reference:".to_owned()];
        for (i, (file, service)) in branch.iter().chain([&here]).enumerate() {
            lines.push(if i == 0 {
                format!("  {service} in {file}")
            } else {
                format!("  extends {service} in {file}")
            });
        }
        return Err(ctx.service_error(name, "extends", lines.join("\n")));
    }
    let mut branch = branch.clone();
    branch.push(here);

    let base = match &r.file {
        Some(file) => from_file(loader, ctx, name, &r.service, file, &branch, frame)?,
        None => {
            if !services.contains_key(r.service.as_str()) {
                return Err(ctx.service_error(
                    name,
                    "extends",
                    format!(
                        "cannot extend service \"{name}\" in {}: service \"{}\" not found",
                        ctx.source, r.service
                    ),
                ));
            }
            let base = resolve(loader, ctx, services, &r.service, &branch, frame, local)?;
            if !local {
                // Kept as written: Compose resolves it from the output (the base it
                // names is there, resolved and fenced).
                return Ok(services.get(name).cloned());
            }
            base
        }
    };
    let mut merged = match base {
        Some(b) => {
            let mut b = untag(&b).clone();
            crate::merge::merge_service(&mut b, Value::Mapping(body.clone()));
            b
        }
        None => Value::Mapping(body.clone()),
    };
    if let Value::Mapping(m) = &mut merged {
        m.shift_remove("extends");
    }
    services.insert(key(name), merged.clone());
    Ok(Some(merged))
}

/// The base service `base` of file `file` (relative to the loader's working directory),
/// resolved in its own file and re-based for this one.
fn from_file(
    loader: &mut Loader,
    ctx: &FileCtx<'_>,
    name: &str,
    base: &str,
    file: &str,
    branch: &Branch,
    frame: &Frame,
) -> Result<Option<Value>> {
    if rebase::is_remote_resource(file) {
        return Err(ctx.service_error(
            name,
            "extends",
            format!("`extends.file: {file}` is a remote resource, which netfence does not fetch; extend a local copy"),
        ));
    }
    let path = rebase::join(&frame.working_dir, Path::new(file));
    let at = [seg("services"), seg(name), seg("extends")];
    let (source, text) = loader.read(&path, ctx, &at)?;
    let base_ctx = FileCtx {
        source: &source,
        path: &path,
        text: &text,
    };
    let mut doc = super::parse_document(&source, &text)?;
    if let Some(env) = &frame.env {
        env.substitute_local(&mut doc)
            .map_err(|e| Error::compose(&source, format!("interpolating {e}")))?;
    }
    let Some(Value::Mapping(services)) = doc.get_mut("services").map(crate::yaml::untag_mut) else {
        return Err(ctx.service_error(
            name,
            "extends",
            format!(
                "cannot extend service \"{name}\" in {}: no services section",
                Source::File(path.clone())
            ),
        ));
    };
    if !services.contains_key(base) {
        return Err(ctx.service_error(
            name,
            "extends",
            format!(
                "cannot extend service \"{name}\" in {}: service \"{base}\" not found in {file}",
                ctx.source
            ),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let rel = rebase::relative(&frame.working_dir, dir);
    let mut rebase = Rebase::new(&rel, &path, false);
    for (_, svc) in services.iter_mut() {
        if let Value::Mapping(svc) = crate::yaml::untag_mut(svc) {
            rebase.service(svc);
        }
    }
    loader.notes.append(&mut rebase.notes);
    // Inside the base's file every `extends` is followed (its `file:` re-based above).
    resolve(loader, &base_ctx, services, base, branch, frame, true)
}
