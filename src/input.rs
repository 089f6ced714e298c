//! Where compose input and the policy come from (SPEC §2 Input, Policy), resolved once
//! from flags and the environment into values the core reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::{Project, Scope};

/// The compose files a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeFiles {
    /// Named by `-f` (in order; `-` is stdin) or by `$COMPOSE_FILE`.
    Given(Vec<PathBuf>),
    /// Nothing named, and standard input is not a terminal: read it.
    Stdin,
    /// Nothing named and nothing piped.
    Nothing,
}

impl ComposeFiles {
    /// `-f` wins; else `$COMPOSE_FILE`, split on `$COMPOSE_PATH_SEPARATOR` (`:` by
    /// default); else stdin when something is piped to it.
    pub fn resolve(
        flags: &[PathBuf],
        environ: &BTreeMap<String, String>,
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
        if stdin_is_terminal {
            ComposeFiles::Nothing
        } else {
            ComposeFiles::Stdin
        }
    }

    /// Files the user named (not stdin that merely happens to be piped).
    pub fn is_named(&self) -> bool {
        matches!(self, ComposeFiles::Given(_))
    }

    /// Is there any input to read?
    pub fn is_some(&self) -> bool {
        !matches!(self, ComposeFiles::Nothing)
    }

    /// The paths to read; `-` stands for stdin.
    pub fn paths(&self) -> Result<Vec<PathBuf>> {
        match self {
            ComposeFiles::Given(files) => Ok(files.clone()),
            ComposeFiles::Stdin => Ok(vec![PathBuf::from("-")]),
            ComposeFiles::Nothing => Err(Error::Usage(
                "no compose input: give -f FILE, set COMPOSE_FILE, or pipe a file to stdin".into(),
            )),
        }
    }
}

/// Compose input plus where its policy comes from.
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub files: ComposeFiles,
    /// `--policy FILE`; otherwise discovered (SPEC §2 Policy).
    pub policy: Option<PathBuf>,
    /// Where `./netfence.yml` is looked for.
    pub working_dir: PathBuf,
}

impl InputSpec {
    /// Reads, merges and unfences the compose input and finds its policy, for input
    /// fenced into `scope` when the caller knows it already (it decides trust).
    pub fn load(&self, scope: Option<&Scope>) -> Result<Project> {
        let paths = self.files.paths()?;
        let input = crate::load::load(&paths, &mut std::io::stdin().lock())?;
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
    fn flags_then_compose_file_then_piped_stdin() {
        let flags = [PathBuf::from("x.yml")];
        let e = env(&[("COMPOSE_FILE", "a.yml:b.yml")]);
        assert_eq!(
            ComposeFiles::resolve(&flags, &e, true),
            ComposeFiles::Given(vec!["x.yml".into()])
        );
        assert_eq!(
            ComposeFiles::resolve(&[], &e, true),
            ComposeFiles::Given(vec!["a.yml".into(), "b.yml".into()])
        );
        let e = env(&[
            ("COMPOSE_FILE", "a.yml;b.yml"),
            ("COMPOSE_PATH_SEPARATOR", ";"),
        ]);
        assert_eq!(
            ComposeFiles::resolve(&[], &e, true),
            ComposeFiles::Given(vec!["a.yml".into(), "b.yml".into()])
        );
        assert_eq!(
            ComposeFiles::resolve(&[], &env(&[]), false),
            ComposeFiles::Stdin
        );
        assert_eq!(
            ComposeFiles::resolve(&[], &env(&[]), true),
            ComposeFiles::Nothing
        );
    }

    #[test]
    fn nothing_to_read_is_a_usage_error() {
        let e = ComposeFiles::Nothing.paths().unwrap_err().to_string();
        assert!(e.contains("no compose input"), "{e}");
    }
}
