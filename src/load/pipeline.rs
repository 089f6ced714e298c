//! One compose file through Compose's per-file stages (compose-go `loadYamlFile`): parse,
//! interpolate (here: only what an include's env files define), `extends`, `include`.
//! The merge of several files into one model is the caller's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::env::Env;
use super::{extends, include};
use crate::audit::lines::{key as seg, LineIndex, Seg};
use crate::error::{Error, Result, Source};
use crate::yaml::Value;

/// State shared by every file of one load.
pub struct Loader {
    /// The process environment, read once.
    environ: BTreeMap<String, String>,
    /// The main project's directory (its `.env` is read when a value needs it).
    project_dir: PathBuf,
    project_env: Option<Env>,
    /// What the user should know (paths netfence could not re-base).
    pub notes: Vec<String>,
    /// Every file read because another named it (tenant mode judges where they are).
    pub references: Vec<super::Reference>,
}

/// Where a file is being loaded from.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The loader's working directory (absolute): relative `include` paths and
    /// `extends.file` resolve against it. The project directory for top-level files, an
    /// include's project directory inside it.
    pub working_dir: PathBuf,
    /// `None`: the main project's environment (read only if needed).
    pub env: Option<Env>,
    /// The files whose `include:` led here, outermost first.
    pub included: Vec<PathBuf>,
    /// Resolve same-file `extends` too. Kept as written only in a single top-level file,
    /// where Compose resolving it from netfence's output gives the same service.
    pub resolve_local: bool,
}

/// A file being loaded: how to name it and where its text is, for errors with lines.
pub struct FileCtx<'a> {
    pub source: &'a Source,
    /// Its absolute path (`-` for stdin): the identity include cycles are found by.
    pub path: &'a Path,
    pub text: &'a str,
}

impl FileCtx<'_> {
    /// An error at `path` in this file, with its line and column when the text has it.
    pub fn error_at(&self, path: &[Seg], message: String) -> Error {
        match LineIndex::new(self.text).locate(path) {
            Some((pos, matched)) if matched == path.len() => {
                Error::compose_at(self.source, pos.line, pos.column, message)
            }
            _ => Error::compose(self.source, message),
        }
    }

    /// An error at `services.<name>.<field>`.
    pub fn service_error(&self, name: &str, field: &str, message: String) -> Error {
        self.error_at(&[seg("services"), seg(name), seg(field)], message)
    }
}

/// `include[0].path`, `services.web.extends.file`.
pub(super) fn dotted(at: &[Seg]) -> String {
    let mut out = String::new();
    for seg in at {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) | Seg::Label(k) | Seg::Item(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        }
    }
    out
}

impl Loader {
    pub fn new(environ: BTreeMap<String, String>, project_dir: PathBuf) -> Loader {
        Loader {
            environ,
            project_dir,
            project_env: None,
            notes: Vec::new(),
            references: Vec::new(),
        }
    }

    /// The variables `${VAR}` sees in content loaded in `frame`.
    pub fn env(&mut self, frame: &Frame) -> Result<Env> {
        if let Some(env) = &frame.env {
            return Ok(env.clone());
        }
        if self.project_env.is_none() {
            self.project_env = Some(Env::project(self.environ.clone(), &self.project_dir)?);
        }
        Ok(self.project_env.clone().unwrap_or_default())
    }

    /// Evaluates `${VAR}` in a value netfence reads itself (a path).
    pub fn eval(
        &mut self,
        frame: &Frame,
        ctx: &FileCtx<'_>,
        at: &[Seg],
        text: &str,
    ) -> Result<String> {
        if !text.contains('$') {
            return Ok(text.to_owned());
        }
        let env = self.env(frame)?;
        env.eval(text).map_err(|e| ctx.error_at(at, e.to_string()))
    }

    /// Reads and loads a file by path (an included one, or the base of an `extends`).
    /// A file that cannot be read is an error at the reference (`by`, at `at`), in
    /// Compose's words.
    pub fn read(&mut self, path: &Path, by: &FileCtx<'_>, at: &[Seg]) -> Result<(Source, String)> {
        let source = Source::File(path.to_path_buf());
        self.references.push(super::Reference {
            path: path.to_path_buf(),
            by: by.source.clone(),
            key: dotted(at),
        });
        // A file another one names is read only when it is a regular file: a FIFO a
        // tenant's container made in the project would hold the loader forever.
        match super::host::Host::read(&super::host::Disk, path) {
            Ok(text) => Ok((source, text)),
            Err(Error::Io { source: e, .. }) => {
                let reason = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                    std::io::ErrorKind::IsADirectory => "is a directory".to_owned(),
                    _ => e.to_string(),
                };
                Err(by.error_at(at, format!("open {}: {reason}", path.display())))
            }
            Err(other) => Err(other),
        }
    }

    /// The per-file stages on one file's text.
    pub fn file(&mut self, ctx: &FileCtx<'_>, frame: &Frame) -> Result<Value> {
        let mut value = super::parse_document(ctx.source, ctx.text)?;
        if let Some(env) = &frame.env {
            env.substitute_local(&mut value)
                .map_err(|e| Error::compose(ctx.source, format!("interpolating {e}")))?;
        }
        extends::apply(self, ctx, &mut value, frame)?;
        include::apply(self, ctx, &mut value, frame)?;
        Ok(value)
    }
}
