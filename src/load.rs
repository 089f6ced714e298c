//! Loading compose input as Compose does: the files in order (`-` is stdin; which files
//! is decided in `input`), each parsed, anchors and merge keys resolved, its `extends`
//! and `include:` resolved (see `load/pipeline.rs`), then merged.

pub(crate) mod env;
mod extends;
pub mod host;
mod include;
pub(crate) mod interpolate;
mod pipeline;
pub(crate) mod rebase;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::yaml::Value;

use crate::error::{Error, Result, Source};

/// The merged compose document and where it came from.
#[derive(Debug, Clone)]
pub struct ComposeInput {
    pub sources: Vec<Source>,
    pub value: Value,
    /// The directory Compose would take as the project directory: the first file's.
    pub project_dir: PathBuf,
    /// What the user should know about how the input was read.
    pub notes: Vec<String>,
    /// Every file an `include:` or `extends: {file:}` made netfence read.
    pub references: Vec<Reference>,
    /// The host's files as planning may see them (the project's `.env`, env files,
    /// where a path's links lead): the machine's own unless a caller gives another.
    pub host: host::HostView,
}

/// A file read because another one named it (`include:`, `extends.file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The file as read.
    pub path: PathBuf,
    /// The file that names it.
    pub by: Source,
    /// Where in that file: `include[0]`, `services.web.extends.file`.
    pub key: String,
}

/// How to read compose input beyond the files themselves.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Compose's `--project-directory` (e.g. a running project's, from its labels);
    /// default: the first file's directory.
    pub project_dir: Option<PathBuf>,
    /// The variables Compose will interpolate with; default: the process's. Read only
    /// for what netfence must resolve itself (include and extends paths, an include's
    /// env files).
    pub environ: Option<BTreeMap<String, String>>,
}

impl ComposeInput {
    pub fn first_source(&self) -> &Source {
        self.sources.first().unwrap_or(&Source::Stdin)
    }

    /// Parses one in-memory document as it is, `include:` and `extends` untouched; for
    /// tests and library callers ([`load_document`] reads one as Compose would).
    pub fn from_str(source: Source, text: &str) -> Result<ComposeInput> {
        let value = parse_document(&source, text)?;
        Ok(ComposeInput {
            sources: vec![source],
            value,
            project_dir: std::env::current_dir().unwrap_or_default(),
            notes: Vec::new(),
            references: Vec::new(),
            host: host::HostView::default(),
        })
    }
}

/// Reads one input whole, within [`MAX_INPUT_BYTES`](crate::yaml::MAX_INPUT_BYTES): the
/// same bound for files, devices, FIFOs and stdin, so `-f /dev/zero` is refused rather
/// than read until memory runs out.
pub fn read_bounded(source: &Source, reader: &mut dyn Read) -> Result<String> {
    let limit = crate::yaml::MAX_INPUT_BYTES;
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Io {
            path: source.clone(),
            source: e,
        })?;
    if bytes.len() > limit {
        return Err(Error::Yaml {
            source_name: source.clone(),
            line: None,
            column: None,
            message: format!(
                "input goes on past {limit} bytes, the most netfence reads (a device or a stream that never ends?)"
            ),
        });
    }
    String::from_utf8(bytes).map_err(|e| Error::Yaml {
        source_name: source.clone(),
        line: None,
        column: None,
        message: format!("not UTF-8 text: {e}"),
    })
}

/// [`read_bounded`] of a file by path.
pub fn read_file(path: &Path) -> Result<String> {
    let source = Source::File(path.to_path_buf());
    let mut file = std::fs::File::open(path).map_err(|e| Error::Io {
        path: source.clone(),
        source: e,
    })?;
    read_bounded(&source, &mut file)
}

pub fn load(paths: &[PathBuf], stdin: &mut dyn Read) -> Result<ComposeInput> {
    load_with(paths, stdin, &LoadOptions::default())
}

/// [`load`] with a project directory or an environment of the caller's.
pub fn load_with(
    paths: &[PathBuf],
    stdin: &mut dyn Read,
    opts: &LoadOptions,
) -> Result<ComposeInput> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut docs = Vec::new();
    let mut stdin_used = false;
    for path in paths {
        if path == Path::new("-") {
            if stdin_used {
                return Err(Error::Usage("`-f -` (stdin) can be given only once".into()));
            }
            stdin_used = true;
            let text = read_bounded(&Source::Stdin, stdin)?;
            docs.push((Source::Stdin, PathBuf::from("-"), text));
        } else {
            let text = read_file(path)?;
            docs.push((Source::File(path.clone()), absolute(&cwd, path), text));
        }
    }
    load_documents(docs, &cwd, opts)
}

/// One compose document already in memory, named `path` (its relative paths, includes
/// and extends resolve as they would in that file): for tests and library callers.
pub fn load_document(path: &Path, text: &str, opts: &LoadOptions) -> Result<ComposeInput> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let doc = (
        Source::File(path.to_path_buf()),
        absolute(&cwd, path),
        text.to_owned(),
    );
    load_documents(vec![doc], &cwd, opts)
}

/// Each document through the per-file stages, then merged in order.
fn load_documents(
    docs: Vec<(Source, PathBuf, String)>,
    cwd: &Path,
    opts: &LoadOptions,
) -> Result<ComposeInput> {
    let project_dir = match &opts.project_dir {
        Some(d) => rebase::join(cwd, d),
        None => docs
            .iter()
            .find(|(s, _, _)| *s != Source::Stdin)
            .and_then(|(_, abs, _)| abs.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| cwd.to_path_buf()),
    };
    let environ = opts
        .environ
        .clone()
        .unwrap_or_else(|| std::env::vars().collect());
    let mut loader = pipeline::Loader::new(environ, project_dir.clone());
    // Same-file `extends` can stay as written only when no other file merges over the
    // base it names.
    let frame = pipeline::Frame {
        working_dir: project_dir.clone(),
        env: None,
        included: Vec::new(),
        resolve_local: docs.len() > 1,
    };
    let mut sources = Vec::new();
    let mut merged: Option<Value> = None;
    for (source, abs, text) in &docs {
        let ctx = pipeline::FileCtx {
            source,
            path: abs,
            text,
        };
        let value = loader.file(&ctx, &frame)?;
        sources.push(source.clone());
        match &mut merged {
            None => merged = Some(crate::merge::settled_file(value)),
            Some(base) => crate::merge::merge_files(base, value),
        }
    }
    if merged.as_ref().is_none_or(is_empty) {
        let read: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        return Err(Error::compose(
            sources.first().unwrap_or(&Source::Stdin),
            format!(
                "empty compose file: nothing to fence (read {}); Compose refuses it too",
                if read.is_empty() {
                    "nothing".into()
                } else {
                    read.join(", ")
                }
            ),
        ));
    }
    Ok(ComposeInput {
        sources,
        value: merged.unwrap_or(Value::Mapping(Default::default())),
        project_dir,
        notes: loader.notes,
        references: loader.references,
        host: host::HostView::default(),
    })
}

/// A file's absolute path as Compose takes it (`filepath.Abs`): its directory with
/// symbolic links resolved, the file itself not (a linked compose file keeps the link's
/// directory as the project directory).
fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    let abs = rebase::join(cwd, p);
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

/// A document with no keys at all: an empty file, only comments, or `{}`.
fn is_empty(v: &Value) -> bool {
    v.as_mapping().is_some_and(|m| m.is_empty())
}

/// Parses one compose document and checks the shape netfence relies on.
pub fn parse_document(source: &Source, text: &str) -> Result<Value> {
    let value = crate::yaml::parse(source, text)?;
    let value = match value {
        v if v.is_null() => Value::Mapping(Default::default()),
        v => v,
    };
    let Value::Mapping(top) = &value else {
        return Err(Error::compose(
            source,
            format!(
                "a compose file is a mapping at the top level (services:, networks:, ...), found {}",
                crate::yaml::kind(&value)
            ),
        ));
    };
    for section in ["services", "networks", "volumes"] {
        match top.get(section).map(crate::yaml::untag) {
            None | Some(Value::Mapping(_)) => {}
            Some(v) if v.is_null() => {}
            Some(other) => {
                return Err(Error::compose(
                    source,
                    format!(
                        "`{section}:` must be a mapping of names, found {}",
                        crate::yaml::kind(other)
                    ),
                ))
            }
        }
    }
    if let Some(Value::Mapping(services)) = top.get("services") {
        for (name, svc) in services {
            let name = crate::yaml::scalar_string(name).unwrap_or_default();
            match crate::yaml::untag(svc) {
                Value::Mapping(_) => {}
                v if v.is_null() => {}
                other => {
                    return Err(Error::compose(
                        source,
                        format!(
                            "service `{name}` must be a mapping, found {}",
                            crate::yaml::kind(other)
                        ),
                    ))
                }
            }
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_is_an_error_not_an_empty_plan() {
        for text in ["", "# only a comment\n", "{}\n"] {
            let e = load(&[PathBuf::from("-")], &mut text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains("empty compose file"), "{text:?}: {e}");
        }
        assert!(load(&[PathBuf::from("-")], &mut "services: {}\n".as_bytes()).is_ok());
    }

    #[test]
    fn endless_input_is_refused_within_the_bound() {
        let e = read_file(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("the most netfence reads"), "{e}");
        let mut endless = std::io::repeat(b'a');
        assert!(read_bounded(&Source::Stdin, &mut endless).is_err());
    }

    /// A FIFO has no end until a writer closes it, and may never get one: a file that
    /// another names is read only when it is a regular one.
    #[test]
    fn a_named_file_that_is_a_fifo_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("sub.yml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo is needed here");
        let main = dir.path().join("compose.yml");
        std::fs::write(&main, "include: [sub.yml]\nservices: {a: {image: x}}\n").unwrap();
        let e = load(&[main], &mut std::io::empty())
            .unwrap_err()
            .to_string();
        assert!(e.contains("sub.yml: not a regular file"), "{e}");
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        let e = parse_document(&Source::Stdin, "- a\n- b\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mapping at the top level"), "{e}");
        let e = parse_document(&Source::Stdin, "services: [a]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`services:` must be a mapping"), "{e}");
    }
}
