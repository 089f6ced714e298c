//! Relative paths in content that moves between directories. Compose resolves every
//! relative path of a file against its loader's working directory; content brought in by
//! `include:` or `extends: {file:}` is first re-based onto its own directory
//! (compose-go `paths.ResolveRelativePaths`). netfence writes that content into the main
//! file, so it re-bases the same set of paths, lexically, and keeps them relative where
//! Compose would have computed them relative: the output works from the project
//! directory, wherever that is.

use std::path::{Component, Path, PathBuf};

use crate::yaml::{key, scalar_string, untag_mut, Mapping, Value};

/// `filepath.Clean`: `.` and `..` collapsed without touching the filesystem.
pub fn clean(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// `filepath.Join(base, p)`, cleaned; an absolute `p` stays itself.
pub fn join(base: &Path, p: &Path) -> PathBuf {
    clean(&base.join(p))
}

/// `filepath.Rel(from, to)` for two absolute paths: how to get to `to` from `from`.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let (from, to) = (clean(from), clean(to));
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// Re-bases paths onto `dir` (the content's directory as seen from where the output is
/// read: relative, or absolute when Compose would make it absolute).
pub struct Rebase<'a> {
    dir: &'a Path,
    /// Where the content came from, for notes.
    file: &'a Path,
    /// Compose sets `build.context: "."` on included content before re-basing it; the
    /// raw base of an `extends` gets its default only after the merge.
    default_context: bool,
    pub notes: Vec<String>,
}

impl<'a> Rebase<'a> {
    pub fn new(dir: &'a Path, file: &'a Path, default_context: bool) -> Rebase<'a> {
        Rebase {
            dir,
            file,
            default_context,
            notes: Vec::new(),
        }
    }

    fn is_noop(&self) -> bool {
        self.dir == Path::new(".") || self.dir.as_os_str().is_empty()
    }

    /// One path, if it moves: relative ones only (`~` is the user's home wherever the
    /// file is, and a Windows drive path is absolute too).
    pub fn path(&mut self, p: &str) -> Option<String> {
        if p.is_empty() || p.starts_with('/') || p.starts_with('~') || is_windows_abs(p) {
            return None;
        }
        if p.starts_with('$') {
            // Compose interpolates before it re-bases; netfence leaves `${VAR}` to Compose.
            self.notes.push(format!(
                "{}: `{p}` starts with a variable, so netfence cannot tell whether it is a relative path; it is left as written and, if relative, resolves against the project directory instead of {}",
                self.file.display(),
                self.dir.display()
            ));
            return None;
        }
        let joined = if p.contains('$') {
            // Cleaning could fold a `${VAR}/..` that the variable would have kept.
            let rest = p.strip_prefix("./").unwrap_or(p);
            self.dir.join(rest)
        } else {
            join(self.dir, Path::new(p))
        };
        let s = joined.to_string_lossy().into_owned();
        // Short volume syntax takes a source as a path only when it starts with `.`.
        let dotted = s == "." || s == ".." || s.starts_with("./") || s.starts_with("../");
        Some(if joined.is_absolute() || dotted {
            s
        } else {
            format!("./{s}")
        })
    }

    fn slot(&mut self, v: &mut Value) {
        let v = untag_mut(v);
        let Some(s) = v.as_str().map(str::to_owned) else {
            return;
        };
        if let Some(new) = self.path(&s) {
            *v = Value::from(new);
        }
    }

    fn context_slot(&mut self, v: &mut Value) {
        let v = untag_mut(v);
        let Some(s) = v.as_str().map(str::to_owned) else {
            return;
        };
        if !is_remote_context(&s) {
            if let Some(new) = self.path(&s) {
                *v = Value::from(new);
            }
        }
    }

    /// Every path of a compose model that Compose re-bases.
    pub fn model(&mut self, doc: &mut Value) {
        if self.is_noop() {
            return;
        }
        let Some(top) = untag_mut(doc).as_mapping_mut() else {
            return;
        };
        if let Some(Value::Mapping(services)) = top.get_mut("services").map(untag_mut) {
            for (_, svc) in services.iter_mut() {
                if let Value::Mapping(svc) = untag_mut(svc) {
                    self.service(svc);
                }
            }
        }
        for section in ["configs", "secrets"] {
            if let Some(Value::Mapping(m)) = top.get_mut(section).map(untag_mut) {
                for (_, item) in m.iter_mut() {
                    if let Some(f) = untag_mut(item)
                        .as_mapping_mut()
                        .and_then(|i| i.get_mut("file"))
                    {
                        self.slot(f);
                    }
                }
            }
        }
        if let Some(Value::Mapping(vols)) = top.get_mut("volumes").map(untag_mut) {
            for (_, vol) in vols.iter_mut() {
                if let Value::Mapping(vol) = untag_mut(vol) {
                    self.bind_volume_device(vol);
                }
            }
        }
    }

    /// The paths of one service.
    pub fn service(&mut self, svc: &mut Mapping) {
        if self.is_noop() {
            return;
        }
        if let Some(build) = svc.get_mut("build") {
            self.build(build);
        }
        for field in ["env_file", "label_file"] {
            if let Some(v) = svc.get_mut(field) {
                self.file_list(v);
            }
        }
        if let Some(Value::Mapping(ext)) = svc.get_mut("extends").map(untag_mut) {
            if let Some(f) = ext.get_mut("file") {
                if !scalar_string(f).is_some_and(|s| is_remote_resource(&s)) {
                    self.slot(f);
                }
            }
        }
        if let Some(Value::Sequence(watch)) = svc
            .get_mut("develop")
            .map(untag_mut)
            .and_then(Value::as_mapping_mut)
            .and_then(|d| d.get_mut("watch"))
            .map(untag_mut)
        {
            for w in watch {
                if let Some(p) = untag_mut(w)
                    .as_mapping_mut()
                    .and_then(|w| w.get_mut("path"))
                {
                    self.slot(p);
                }
            }
        }
        if let Some(Value::Sequence(vols)) = svc.get_mut("volumes").map(untag_mut) {
            for v in vols {
                self.service_volume(v);
            }
        }
    }

    fn build(&mut self, build: &mut Value) {
        match untag_mut(build) {
            Value::Scalar(_) => self.context_slot(build),
            Value::Mapping(b) => {
                if !b.contains_key("context") && self.default_context {
                    b.insert(key("context"), key("."));
                }
                if let Some(c) = b.get_mut("context") {
                    self.context_slot(c);
                }
                match b.get_mut("additional_contexts").map(untag_mut) {
                    Some(Value::Mapping(m)) => {
                        for (_, c) in m.iter_mut() {
                            self.context_slot(c);
                        }
                    }
                    Some(Value::Sequence(items)) => {
                        for item in items {
                            self.keyed_item(item, true);
                        }
                    }
                    _ => {}
                }
                match b.get_mut("ssh").map(untag_mut) {
                    Some(Value::Mapping(m)) => {
                        for (_, p) in m.iter_mut() {
                            self.slot(p);
                        }
                    }
                    Some(Value::Sequence(items)) => {
                        for item in items {
                            self.keyed_item(item, false);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// A `name=path` list item (`additional_contexts`, `ssh`); a bare `default` has none.
    fn keyed_item(&mut self, item: &mut Value, context: bool) {
        let item = untag_mut(item);
        let Some(s) = item.as_str().map(str::to_owned) else {
            return;
        };
        let Some((name, p)) = s.split_once('=') else {
            return;
        };
        if context && is_remote_context(p) {
            return;
        }
        if let Some(new) = self.path(p) {
            *item = Value::from(format!("{name}={new}"));
        }
    }

    /// `env_file` / `label_file`: a string, or a list of strings or `{path: …}`.
    fn file_list(&mut self, v: &mut Value) {
        match untag_mut(v) {
            Value::Scalar(_) => self.slot(v),
            Value::Sequence(items) => {
                for item in items {
                    match untag_mut(item) {
                        Value::Scalar(_) => self.slot(item),
                        Value::Mapping(m) => {
                            if let Some(p) = m.get_mut("path") {
                                self.slot(p);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// A service mount: short `SRC:DST[:MODE]` with a path source, or long `type: bind`.
    fn service_volume(&mut self, v: &mut Value) {
        let v = untag_mut(v);
        if let Some(s) = v.as_str().map(str::to_owned) {
            if s.starts_with('$') {
                // `${DATA:-./data}:/data`: only Compose knows what it resolves to.
                self.path(&s);
                return;
            }
            let Some((src, rest)) = s.split_once(':') else {
                return;
            };
            // compose-go `isFilePath`: a relative source starts with a dot; anything
            // else that is not absolute is a named volume.
            if !src.starts_with('.') {
                return;
            }
            if let Some(new) = self.path(src) {
                *v = Value::from(format!("{new}:{rest}"));
            }
            return;
        }
        if let Value::Mapping(m) = v {
            let bind = m
                .get("type")
                .and_then(scalar_string)
                .is_some_and(|t| t == "bind");
            if bind {
                if let Some(src) = m.get_mut("source") {
                    self.slot(src);
                }
            }
        }
    }

    /// A top-level volume that is a bind mount in disguise (`driver: local`, `o: bind`).
    fn bind_volume_device(&mut self, vol: &mut Mapping) {
        let local = vol
            .get("driver")
            .and_then(scalar_string)
            .is_some_and(|d| d == "local");
        let Some(Value::Mapping(opts)) = vol.get_mut("driver_opts").map(untag_mut) else {
            return;
        };
        let bind = opts
            .get("o")
            .and_then(scalar_string)
            .is_some_and(|o| o == "bind");
        if local && bind {
            if let Some(d) = opts.get_mut("device") {
                self.slot(d);
            }
        }
    }
}

/// `C:\…` or `C:/…`.
fn is_windows_abs(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

/// A build context that is not a local directory (compose-go `absContextPath`).
pub fn is_remote_context(p: &str) -> bool {
    p.contains("://")
        || p.starts_with("service:")
        || ["github.com/", "git@"].iter().any(|pre| p.starts_with(pre))
}

/// A file Compose would fetch rather than read (git or OCI resource loaders).
pub fn is_remote_resource(p: &str) -> bool {
    p.contains("://") || p.starts_with("git@")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        crate::yaml::parse(&crate::Source::Stdin, s).unwrap()
    }

    #[test]
    fn clean_join_and_relative_are_lexical_like_go() {
        assert_eq!(clean(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(clean(Path::new("../p1/./sub/..")), PathBuf::from("../p1"));
        assert_eq!(clean(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(clean(Path::new("a/..")), PathBuf::from("."));
        assert_eq!(
            join(Path::new("inc"), Path::new("../x")),
            PathBuf::from("x")
        );
        assert_eq!(
            relative(Path::new("/p/app"), Path::new("/p/app/inc/db")),
            PathBuf::from("inc/db")
        );
        assert_eq!(
            relative(Path::new("/p/app"), Path::new("/p/shared")),
            PathBuf::from("../shared")
        );
        assert_eq!(
            relative(Path::new("/p"), Path::new("/p")),
            PathBuf::from(".")
        );
    }

    #[test]
    fn every_path_compose_rebases_moves_and_nothing_else() {
        let mut doc = y(r#"
services:
  s:
    build: {dockerfile: Dockerfile.dev, additional_contexts: [lib=../lib, img=docker-image://alpine], ssh: [default, key=./id]}
    env_file: [a.env, {path: b.env, required: false}]
    label_file: labels.txt
    extends: {file: ../base.yml, service: b}
    develop: {watch: [{path: ./src, action: sync}]}
    volumes: ["./data:/data:ro", "named:/n", "/abs:/abs", "~/h:/h", "v:/v", {type: bind, source: logs, target: /logs}, {type: volume, source: x, target: /x}]
  t:
    build: https://github.com/x/y.git
  u:
    build: .
configs: {c: {file: ./cfg.txt}}
secrets: {s: {file: sec.txt}, e: {environment: X}}
volumes: {dev: {driver: local, driver_opts: {o: bind, type: none, device: ./dev}}, other: {driver_opts: {device: ./keep}}}
"#);
        let mut r = Rebase::new(Path::new("inc"), Path::new("inc/x.yml"), true);
        r.model(&mut doc);
        let want = y(r#"
services:
  s:
    build: {dockerfile: Dockerfile.dev, additional_contexts: [lib=./lib, img=docker-image://alpine], ssh: [default, key=./inc/id], context: ./inc}
    env_file: [./inc/a.env, {path: ./inc/b.env, required: false}]
    label_file: ./inc/labels.txt
    extends: {file: ./base.yml, service: b}
    develop: {watch: [{path: ./inc/src, action: sync}]}
    volumes: ["./inc/data:/data:ro", "named:/n", "/abs:/abs", "~/h:/h", "v:/v", {type: bind, source: ./inc/logs, target: /logs}, {type: volume, source: x, target: /x}]
  t:
    build: https://github.com/x/y.git
  u:
    build: ./inc
configs: {c: {file: ./inc/cfg.txt}}
secrets: {s: {file: ./inc/sec.txt}, e: {environment: X}}
volumes: {dev: {driver: local, driver_opts: {o: bind, type: none, device: ./inc/dev}}, other: {driver_opts: {device: ./keep}}}
"#);
        assert_eq!(doc, want);
        assert!(r.notes.is_empty());
    }

    #[test]
    fn a_path_starting_with_a_variable_is_left_with_a_note() {
        let mut r = Rebase::new(Path::new("inc"), Path::new("inc/x.yml"), false);
        assert_eq!(r.path("${DATA:-./data}"), None);
        assert_eq!(r.notes.len(), 1);
        assert_eq!(r.path("./d/${X}/.."), Some("./inc/d/${X}/..".into()));
        assert_eq!(r.path(".."), Some(".".into()));
    }
}
