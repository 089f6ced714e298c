//! `include:` as Compose applies it to each file (compose-go `ApplyInclude`): every entry
//! is loaded as a project of its own (its files merged, its own includes and extends
//! followed, interpolated with the includer's variables plus its env files), its paths
//! re-based onto its project directory, and its services, networks, volumes, configs,
//! secrets and models imported into the including file. A name the includer defines
//! differently is a conflict; an include that leads back to a file on its way is a cycle.
//!
//! The `include:` key itself goes: the output holds the included resources, fenced, and
//! keeping the key would make Compose import them a second time, unfenced.

use std::path::{Path, PathBuf};

use super::env::Env;
use super::pipeline::{FileCtx, Frame, Loader};
use super::rebase::{self, Rebase};
use crate::audit::lines::{key as seg, Seg};
use crate::error::{Error, Result};
use crate::yaml::{key, scalar_string, untag, Mapping, Value};

/// The resources an include imports (compose-go `importResources`).
const IMPORTED: [&str; 6] = [
    "services", "volumes", "networks", "secrets", "configs", "models",
];

/// One item of `include:`, as written (before interpolation).
struct Entry {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_file: Vec<String>,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match untag(v) {
        Value::Sequence(items) => items.iter().map(scalar_string).collect(),
        other => scalar_string(other).map(|s| vec![s]),
    }
}

fn entries(ctx: &FileCtx<'_>, v: &Value) -> Result<Vec<Entry>> {
    let Value::Sequence(items) = untag(v) else {
        return Err(ctx.error_at(
            &[seg("include")],
            format!(
                "`include` must be a list, got {}",
                scalar_string(v).unwrap_or_else(|| crate::yaml::kind(v).to_owned())
            ),
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = [seg("include"), Seg::Index(i)];
        let bad = |what: &str| {
            ctx.error_at(
                &at,
                format!("include[{i}]: {what}; an item is a path, or a mapping with `path` (a string or a list), `project_directory` and `env_file`"),
            )
        };
        let entry = match untag(item) {
            Value::Mapping(m) => {
                for k in m.keys() {
                    let k = scalar_string(k).unwrap_or_default();
                    if !matches!(k.as_str(), "path" | "project_directory" | "env_file") {
                        return Err(bad(&format!("unknown key `{k}`")));
                    }
                }
                Entry {
                    paths: m
                        .get("path")
                        .and_then(strings)
                        .filter(|p| !p.is_empty())
                        .ok_or_else(|| bad("`path` is required"))?,
                    project_directory: m.get("project_directory").and_then(scalar_string),
                    env_file: match m.get("env_file") {
                        Some(v) => strings(v)
                            .ok_or_else(|| bad("`env_file` is a path or a list of paths"))?,
                        None => Vec::new(),
                    },
                }
            }
            other => Entry {
                paths: vec![scalar_string(other).ok_or_else(|| bad("not a path"))?],
                project_directory: None,
                env_file: Vec::new(),
            },
        };
        out.push(entry);
    }
    Ok(out)
}

pub fn apply(loader: &mut Loader, ctx: &FileCtx<'_>, doc: &mut Value, frame: &Frame) -> Result<()> {
    let Some(top) = crate::yaml::untag_mut(doc).as_mapping_mut() else {
        return Ok(());
    };
    let Some(list) = top.get("include").cloned() else {
        return Ok(());
    };
    if list.is_null() {
        top.shift_remove("include");
        return Ok(());
    }
    let mut included = frame.included.clone();
    included.push(ctx.path.to_path_buf());
    let mut earlier = Vec::new();
    for (i, entry) in entries(ctx, &list)?.into_iter().enumerate() {
        let at = [seg("include"), Seg::Index(i)];
        let wd = &frame.working_dir;
        let mut files = Vec::new();
        for p in &entry.paths {
            let p = loader.eval(frame, ctx, &at, p)?;
            if rebase::is_remote_resource(&p) {
                return Err(ctx.error_at(
                    &at,
                    format!("include `{p}` is a remote resource, which netfence does not fetch; include a local copy"),
                ));
            }
            files.push(rebase::join(wd, Path::new(&p)));
        }
        let first = files[0].clone();
        if included.contains(&first) {
            let chain: Vec<String> = included
                .iter()
                .chain([&first])
                .map(|p| p.display().to_string())
                .collect();
            return Err(ctx.error_at(
                &at,
                format!(
                    "include cycle detected:\n{}\n include {}",
                    chain[0],
                    chain[1..].join("\n include ")
                ),
            ));
        }
        // The included project's directory, and the same as seen from the includer:
        // Compose keeps it relative unless it was given absolute.
        let (project_dir, rel) = match &entry.project_directory {
            Some(pd) => {
                let pd = loader.eval(frame, ctx, &at, pd)?;
                if Path::new(&pd).is_absolute() {
                    let abs = rebase::clean(Path::new(&pd));
                    (abs.clone(), abs)
                } else {
                    let abs = rebase::join(wd, Path::new(&pd));
                    let rel = rebase::relative(wd, &abs);
                    (abs, rel)
                }
            }
            None => {
                let dir = first
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("/"));
                let rel = rebase::relative(wd, &dir);
                (dir, rel)
            }
        };
        let env = include_env(loader, ctx, frame, &at, &entry, &project_dir)?;
        let sub = Frame {
            working_dir: project_dir,
            env: Some(env),
            included: included.clone(),
            resolve_local: true,
        };
        let mut model = Value::Mapping(Mapping::new());
        for f in &files {
            let (source, text) = loader.read(f, ctx, &at)?;
            let fctx = FileCtx {
                source: &source,
                path: f,
                text: &text,
            };
            let v = loader.file(&fctx, &sub)?;
            crate::merge::merge_files(&mut model, v);
        }
        let mut rebase = Rebase::new(&rel, &first, true);
        rebase.model(&mut model);
        loader.notes.append(&mut rebase.notes);
        import(ctx, top, model, &first, &mut earlier)?;
    }
    top.shift_remove("include");
    Ok(())
}

/// The includer's variables plus the include's env files (`env_file`, relative to the
/// includer's directory, else the included project's `.env`), for names not yet set.
fn include_env(
    loader: &mut Loader,
    ctx: &FileCtx<'_>,
    frame: &Frame,
    at: &[Seg],
    entry: &Entry,
    project_dir: &Path,
) -> Result<Env> {
    let parent = loader.env(frame)?;
    let mut files = Vec::new();
    if entry.env_file.is_empty() {
        let dotenv = project_dir.join(".env");
        if dotenv.is_file() {
            // Judged as the explicit ones are: it may be a link out of the project.
            loader.references.push(super::Reference {
                path: dotenv.clone(),
                by: ctx.source.clone(),
                key: format!("{}.env_file", super::pipeline::dotted(at)),
            });
            files.push(dotenv);
        }
    } else {
        for f in &entry.env_file {
            let f = loader.eval(frame, ctx, at, f)?;
            let path = rebase::join(&frame.working_dir, Path::new(&f));
            if !path.exists() {
                return Err(ctx.error_at(
                    at,
                    format!("stat {}: no such file or directory", path.display()),
                ));
            }
            if path.is_dir() {
                return Err(ctx.error_at(at, format!("{} is not a file", path.display())));
            }
            // Read like an included file: tenant mode judges where it is.
            loader.references.push(super::Reference {
                path: path.clone(),
                by: ctx.source.clone(),
                key: format!("{}.env_file", super::pipeline::dotted(at)),
            });
            files.push(path);
        }
    }
    parent.with_files(&files)
}

/// Adds the included model's resources to the including file's; a name both define,
/// differently, is refused (Compose 2.40's wording).
fn import(
    ctx: &FileCtx<'_>,
    top: &mut Mapping,
    model: Value,
    from: &Path,
    earlier: &mut Vec<(String, String, PathBuf)>,
) -> Result<()> {
    let Value::Mapping(mut model) = model else {
        return Ok(());
    };
    for section in IMPORTED {
        let Some(Value::Mapping(from_section)) =
            model.shift_remove(section).map(|v| untag(&v).clone())
        else {
            continue;
        };
        let slot = top
            .entry(key(section))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !matches!(untag(slot), Value::Mapping(_)) {
            *slot = Value::Mapping(Mapping::new());
        }
        let Some(to) = crate::yaml::untag_mut(slot).as_mapping_mut() else {
            continue;
        };
        for (name, def) in from_section {
            match to.get(&name) {
                Some(existing) if untag(existing) == untag(&def) => {}
                Some(_) => {
                    let n = scalar_string(&name).unwrap_or_default();
                    let first = earlier
                        .iter()
                        .find(|(s, e, _)| s == section && *e == n)
                        .map(|(_, _, f)| f.as_path());
                    return Err(conflict(ctx, section, &n, from, first));
                }
                None => {
                    let n = scalar_string(&name).unwrap_or_default();
                    earlier.push((section.to_owned(), n, from.to_path_buf()));
                    to.insert(name, def);
                }
            }
        }
    }
    Ok(())
}

fn conflict(
    ctx: &FileCtx<'_>,
    section: &str,
    name: &str,
    from: &Path,
    imported_before: Option<&Path>,
) -> Error {
    let why = match imported_before {
        Some(first) => format!(
            "{} and {}, both included here, define it differently",
            first.display(),
            from.display()
        ),
        None => format!(
            "defined here and, differently, in {}, which this file includes",
            from.display()
        ),
    };
    let at = match imported_before {
        Some(_) => vec![seg("include")],
        None => vec![seg(section), seg(name)],
    };
    ctx.error_at(
        &at,
        format!(
            "{section}.{name} conflicts with imported resource ({why}; rename one or define it in one place)"
        ),
    )
}
