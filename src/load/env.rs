//! The variables a compose file is interpolated with, and env files (`.env`, an
//! include's `env_file`) read as compose-go's `dotenv` reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::host::{Entry, Host};
use super::interpolate::{self, InterpolationError};
use crate::error::{Error, Result, Source};

/// What `${VAR}` means in the content being loaded.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Every variable, as Compose would interpolate this content.
    vars: BTreeMap<String, String>,
    /// The names netfence must substitute itself: they come from an include's env files
    /// only, and Compose reading the output (with the main project's environment) would
    /// not see them.
    local: BTreeSet<String>,
}

impl Env {
    /// The main project's environment: the process's, then the project directory's
    /// `.env` for names the process does not set (Compose's precedence).
    pub fn project(process: BTreeMap<String, String>, project_dir: &Path) -> Result<Env> {
        Env::project_on(&super::host::Disk, process, project_dir)
    }

    /// [`Env::project`] with the `.env` read from `host`.
    pub fn project_on(
        host: &dyn Host,
        process: BTreeMap<String, String>,
        project_dir: &Path,
    ) -> Result<Env> {
        let mut env = Env {
            vars: process,
            local: BTreeSet::new(),
        };
        let dotenv = project_dir.join(".env");
        if host.is_file(&dotenv) {
            for (k, v) in read_file_on(host, &dotenv, &env.vars)? {
                env.vars.entry(k).or_insert(v);
            }
        }
        Ok(env)
    }

    /// The process's variables alone (no project directory to read a `.env` from).
    pub fn process(vars: BTreeMap<String, String>) -> Env {
        Env {
            vars,
            local: BTreeSet::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// Every variable, as Compose would interpolate this content.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The environment of an included project: these variables plus the include's env
    /// files for names not set yet (`environment.Clone().Merge(envFromFile)`).
    pub fn with_files(&self, files: &[std::path::PathBuf]) -> Result<Env> {
        let mut from_files: BTreeMap<String, String> = BTreeMap::new();
        for f in files {
            let read = read_file(f, &self.vars)?;
            from_files.extend(read);
        }
        let mut env = self.clone();
        for (k, v) in from_files {
            if !env.vars.contains_key(&k) {
                env.local.insert(k.clone());
                env.vars.insert(k, v);
            }
        }
        Ok(env)
    }

    /// Evaluates a value netfence must read itself (an include path, an extends file).
    pub fn eval(&self, text: &str) -> std::result::Result<String, InterpolationError> {
        interpolate::eval(text, &|n| self.get(n))
    }

    /// Substitutes, in every string of `doc`, the variables only this content sees.
    pub fn substitute_local(
        &self,
        doc: &mut crate::yaml::Value,
    ) -> std::result::Result<(), InterpolationError> {
        if self.local.is_empty() {
            return Ok(());
        }
        interpolate::substitute_tree(doc, &|n| self.local.contains(n), &|n| self.get(n))
    }
}

/// Reads one env file; `${VAR}` in values sees `outer` first, then the file's own
/// earlier keys.
pub fn read_file(path: &Path, outer: &BTreeMap<String, String>) -> Result<Vec<(String, String)>> {
    read_file_on(&super::host::Disk, path, outer)
}

/// [`read_file`] from `host`.
pub fn read_file_on(
    host: &dyn Host,
    path: &Path,
    outer: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>> {
    let source = Source::File(path.to_path_buf());
    let Some(real) = host.canonical(path) else {
        return Err(Error::compose(
            &source,
            format!("couldn't find env file: {}", path.display()),
        ));
    };
    if host.entry(&real) == Entry::Dir {
        return Err(Error::compose(
            &source,
            format!("{} is a directory", path.display()),
        ));
    }
    let text = host.read(path)?;
    parse(&text, outer).map_err(|(line, message)| {
        Error::compose_at(
            &source,
            line,
            1,
            format!("failed to read env file: {message}"),
        )
    })
}

/// `KEY=VALUE` lines (`export` allowed, `KEY: VALUE` too), `#` comments, single quotes
/// literal, double quotes with escapes, an unquoted value cut at ` #`; a bare `KEY`
/// takes the outer environment's value. Errors carry a 1-based line.
pub fn parse(
    text: &str,
    outer: &BTreeMap<String, String>,
) -> std::result::Result<Vec<(String, String)>, (usize, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut own: BTreeMap<String, String> = BTreeMap::new();
    let mut rest = text;
    let mut line = 1usize;
    loop {
        // Skip blank lines and comments.
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace());
        line += rest[..rest.len() - trimmed.len()].matches('\n').count();
        rest = trimmed;
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
            line += 1;
            continue;
        }
        if let Some(r) = rest.strip_prefix("export") {
            if r.starts_with([' ', '\t']) {
                rest = r.trim_start_matches([' ', '\t']);
            }
        }
        let end = rest.find(['=', ':', '\n']).unwrap_or(rest.len());
        let name = rest[..end].trim_end();
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')))
        {
            return Err((
                line,
                format!("unexpected character {bad:?} in variable name {name:?}"),
            ));
        }
        let sep = rest[end..].chars().next();
        if sep != Some('=') && sep != Some(':') {
            // A bare name: inherited from the environment, when it has it.
            if let Some(v) = outer.get(name) {
                own.insert(name.to_owned(), v.clone());
                out.push((name.to_owned(), v.clone()));
            }
            rest = &rest[end..];
            continue;
        }
        let name = name.to_owned();
        rest = rest[end + 1..].trim_start_matches([' ', '\t']);
        let lookup = |n: &str| outer.get(n).or_else(|| own.get(n)).cloned();
        let value = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let body = &rest[1..];
                let mut value = String::new();
                let mut escaped = false;
                let mut close = None;
                for (i, c) in body.char_indices() {
                    if escaped {
                        escaped = false;
                        if c != q {
                            value.push('\\');
                        }
                        value.push(c);
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == q {
                        close = Some(i);
                        break;
                    } else {
                        value.push(c);
                    }
                }
                let Some(close) = close else {
                    return Err((line, format!("unterminated quoted value for {name}")));
                };
                line += body[..close].matches('\n').count();
                rest = &body[close + 1..];
                rest = rest.split_once('\n').map_or("", |(_, r)| r);
                line += 1;
                if q == '"' {
                    interpolate::eval(&unescape(&value), &lookup)
                        .map_err(|e| (line, e.to_string()))?
                } else {
                    value
                }
            }
            _ => {
                let (raw, r) = rest.split_once('\n').unwrap_or((rest, ""));
                rest = r;
                line += 1;
                let raw = raw.split_once(" #").map_or(raw, |(v, _)| v).trim_end();
                interpolate::eval(raw, &lookup).map_err(|e| (line - 1, e.to_string()))?
            }
        };
        own.insert(name.clone(), value.clone());
        out.push((name, value));
    }
    Ok(out)
}

/// Double-quoted escapes: `\n`, `\t`, `\\`, `\"`, …; `\$` stays a literal dollar.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, String)> {
        let outer: BTreeMap<String, String> =
            [("OUTER".to_owned(), "o".to_owned())].into_iter().collect();
        parse(text, &outer).unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn env_files_read_like_compose() {
        assert_eq!(
            p("# c\nA=1\nexport B = two # note\nC='lit $A'\nD=\"x\\ny${A}\"\nE=${OUTER}-$A\nOUTER\nF: yaml\n\nG=\n"),
            pairs(&[
                ("A", "1"),
                ("B", "two"),
                ("C", "lit $A"),
                ("D", "x\ny1"),
                ("E", "o-1"),
                ("OUTER", "o"),
                ("F", "yaml"),
                ("G", ""),
            ])
        );
        assert_eq!(
            p("H=\"multi\nline\"\nI=2"),
            pairs(&[("H", "multi\nline"), ("I", "2")])
        );
        let e = parse("A=1\nB C=2\n", &BTreeMap::new()).unwrap_err();
        assert_eq!(e.0, 2, "{e:?}");
        assert!(parse("A=\"open\n", &BTreeMap::new()).is_err());
    }

    #[test]
    fn an_include_env_adds_only_missing_names_and_marks_them_local() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("inc.env");
        std::fs::write(&f, "TAG=inc\nONLY=here\n").unwrap();
        let parent = Env {
            vars: [("TAG".to_owned(), "main".to_owned())]
                .into_iter()
                .collect(),
            local: BTreeSet::new(),
        };
        let env = parent.with_files(&[f]).unwrap();
        assert_eq!(env.get("TAG").as_deref(), Some("main"));
        assert_eq!(env.get("ONLY").as_deref(), Some("here"));
        let mut doc = crate::yaml::key("${TAG}-${ONLY}");
        env.substitute_local(&mut doc).unwrap();
        assert_eq!(doc, crate::yaml::key("${TAG}-here"));
        assert!(parent.with_files(&[dir.path().join("nope.env")]).is_err());
    }
}
