//! Where compose input and the policy come from, resolved once
//! from flags and the environment into values the core reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{Project, Scope};

/// The names Compose looks for, in its order (compose-go `DefaultFileNames`).
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The override files Compose adds beside whichever base it found, in its order.
pub const OVERRIDE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// The compose files a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeFiles {
    /// Named by `-f` (in order; `-` is stdin) or by `$COMPOSE_FILE`.
    Given(Vec<PathBuf>),
    /// Found as Compose finds them: a base file and its override, in the working
    /// directory or its nearest parent that has one.
    Discovered {
        files: Vec<PathBuf>,
        /// Several candidates in one directory: which one was taken.
        warnings: Vec<String>,
    },
    /// What a running project was started from, as Compose recorded it on its
    /// containers: the files, and its project directory.
    Recorded {
        files: Vec<PathBuf>,
        project_dir: Option<PathBuf>,
    },
    /// Nothing named or found, and standard input is not a terminal: read it.
    Stdin,
    /// Nothing named, found or piped; `looked_from` is where the search began.
    Nothing { looked_from: PathBuf },
}

impl ComposeFiles {
    /// `-f` wins; else `$COMPOSE_FILE`, split on `$COMPOSE_PATH_SEPARATOR` (`:` by
    /// default); else Compose's discovery from `working_dir` up; else stdin when
    /// something is piped to it.
    pub fn resolve(
        flags: &[PathBuf],
        environ: &BTreeMap<String, String>,
        working_dir: &Path,
        stdin_is_terminal: bool,
    ) -> ComposeFiles {
        if !flags.is_empty() {
            return ComposeFiles::Given(flags.to_vec());
        }
        let from_env = environ.get("COMPOSE_FILE").filter(|s| !s.is_empty());
        if let Some(list) = from_env {
            let sep = environ
                .get("COMPOSE_PATH_SEPARATOR")
                .filter(|s| !s.is_empty())
                .map_or(":", String::as_str);
            let files: Vec<PathBuf> = list
                .split(sep)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
            if !files.is_empty() {
                return ComposeFiles::Given(files);
            }
        }
        if let Some(found) = discover(working_dir) {
            return found;
        }
        if stdin_is_terminal {
            ComposeFiles::Nothing {
                looked_from: working_dir.to_path_buf(),
            }
        } else {
            ComposeFiles::Stdin
        }
    }

    /// Files the user has (named or found), not stdin that merely happens to be piped.
    pub fn is_named(&self) -> bool {
        matches!(
            self,
            ComposeFiles::Given(_)
                | ComposeFiles::Discovered { .. }
                | ComposeFiles::Recorded { .. }
        )
    }

    /// The project directory, when it is not the first file's.
    pub fn project_dir(&self) -> Option<&Path> {
        match self {
            ComposeFiles::Recorded { project_dir, .. } => project_dir.as_deref(),
            _ => None,
        }
    }

    /// Is there any input to read?
    pub fn is_some(&self) -> bool {
        !matches!(self, ComposeFiles::Nothing { .. })
    }

    /// What discovery wants the user to know (which of several files it took).
    pub fn warnings(&self) -> &[String] {
        match self {
            ComposeFiles::Discovered { warnings, .. } => warnings,
            _ => &[],
        }
    }

    /// The paths to read; `-` stands for stdin.
    pub fn paths(&self) -> Result<Vec<PathBuf>> {
        match self {
            ComposeFiles::Given(files)
            | ComposeFiles::Discovered { files, .. }
            | ComposeFiles::Recorded { files, .. } => Ok(files.clone()),
            ComposeFiles::Stdin => Ok(vec![PathBuf::from("-")]),
            ComposeFiles::Nothing { looked_from } => Err(Error::Usage(format!(
                "no compose input: no {} in {} or any parent directory, and nothing on stdin; give -f FILE, set COMPOSE_FILE, or pipe a file to stdin",
                FILE_NAMES.join(", "),
                looked_from.display()
            ))),
        }
    }
}

/// Compose's own search (compose-go `WithDefaultConfigPath`): in `dir`, then each parent
/// up to the root, the first directory holding one of [`FILE_NAMES`] gives the first of
/// them there, plus the first of [`OVERRIDE_NAMES`] beside it.
pub fn discover(dir: &Path) -> Option<ComposeFiles> {
    let mut warnings = Vec::new();
    for d in dir.ancestors() {
        let bases = existing(d, &FILE_NAMES);
        let Some(base) = bases.first().cloned() else {
            continue;
        };
        if bases.len() > 1 {
            warnings.push(several("config files", &bases, &base));
        }
        let mut files = vec![base];
        let overrides = existing(d, &OVERRIDE_NAMES);
        if let Some(o) = overrides.first() {
            if overrides.len() > 1 {
                warnings.push(several("override files", &overrides, o));
            }
            files.push(o.clone());
        }
        return Some(ComposeFiles::Discovered { files, warnings });
    }
    None
}

fn existing(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect()
}

fn several(what: &str, found: &[PathBuf], used: &Path) -> String {
    let all: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
    format!(
        "found multiple {what} with supported names: {}; using {}",
        all.join(", "),
        used.display()
    )
}

/// Compose input plus where its policy comes from.
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub files: ComposeFiles,
    /// `--policy FILE`; otherwise discovered.
    pub policy: Option<PathBuf>,
    /// Where `./netfence.yml` is looked for.
    pub working_dir: PathBuf,
}

impl InputSpec {
    /// Reads, merges and unfences the compose input and finds its policy, for input
    /// fenced into `scope` when the caller knows it already (it decides trust).
    pub fn load(&self, scope: Option<&Scope>) -> Result<Project> {
        let paths = self.files.paths()?;
        let opts = crate::load::LoadOptions {
            project_dir: self.files.project_dir().map(Path::to_path_buf),
            environ: None,
        };
        let input = crate::load::load_with(&paths, &mut std::io::stdin().lock(), &opts)?;
        Project::for_scope(input, self.policy.as_deref(), &self.working_dir, scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn flags_then_compose_file_then_discovery_then_piped_stdin() {
        let empty = tempfile::tempdir().unwrap();
        let dir = empty.path();
        let flags = [PathBuf::from("x.yml")];
        let e = env(&[("COMPOSE_FILE", "a.yml:b.yml")]);
        assert_eq!(
            ComposeFiles::resolve(&flags, &e, dir, true),
            ComposeFiles::Given(vec!["x.yml".into()])
        );
        assert_eq!(
            ComposeFiles::resolve(&[], &e, dir, true),
            ComposeFiles::Given(vec!["a.yml".into(), "b.yml".into()])
        );
        let e = env(&[
            ("COMPOSE_FILE", "a.yml;b.yml"),
            ("COMPOSE_PATH_SEPARATOR", ";"),
        ]);
        assert_eq!(
            ComposeFiles::resolve(&[], &e, dir, true),
            ComposeFiles::Given(vec!["a.yml".into(), "b.yml".into()])
        );
        assert_eq!(
            ComposeFiles::resolve(&[], &env(&[]), dir, false),
            ComposeFiles::Stdin
        );
        std::fs::write(dir.join("compose.yml"), "services: {}\n").unwrap();
        assert_eq!(
            ComposeFiles::resolve(&[], &env(&[]), dir, false)
                .paths()
                .unwrap(),
            [dir.join("compose.yml")],
            "a file found wins over piped stdin, as with Compose"
        );
    }

    #[test]
    fn discovery_takes_compose_order_overrides_and_parents() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path();
        let deep = top.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        for n in [
            "docker-compose.yaml",
            "docker-compose.yml",
            "docker-compose.override.yaml",
        ] {
            std::fs::write(top.join(n), "services: {}\n").unwrap();
        }
        let found = discover(&deep).unwrap();
        assert_eq!(
            found.paths().unwrap(),
            [
                top.join("docker-compose.yml"),
                top.join("docker-compose.override.yaml")
            ],
            ".yml before .yaml for docker-compose names; the override beside the base"
        );
        assert_eq!(found.warnings().len(), 1, "{:?}", found.warnings());
        std::fs::write(deep.join("compose.yaml"), "services: {}\n").unwrap();
        assert_eq!(
            discover(&deep).unwrap().paths().unwrap(),
            [deep.join("compose.yaml")]
        );
    }

    #[test]
    fn nothing_to_read_says_where_netfence_looked() {
        let e = ComposeFiles::Nothing {
            looked_from: "/srv/app".into(),
        }
        .paths()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no compose input") && e.contains("/srv/app"),
            "{e}"
        );
        assert!(e.contains("compose.yaml, compose.yml"), "{e}");
    }
}
