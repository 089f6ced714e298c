//! Typed errors of the library. Callers branch on the variant (the CLI maps each
//! [`ErrorKind`] to an exit code), so every variant carries what a user needs to find and
//! fix the problem.

use std::path::PathBuf;

/// Where a document came from, for messages: a file path or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Stdin,
    /// The `x-netfence:` key of a compose file.
    Embedded(PathBuf),
    BuiltIn,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Stdin => f.write_str("<stdin>"),
            Source::Embedded(p) => write!(f, "{} (x-netfence)", p.display()),
            Source::BuiltIn => f.write_str("<built-in policy>"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document is not YAML, or is YAML that netfence refuses (alias bombs, nesting).
    #[error("{source_name}{}: {message}", location(*line, *column))]
    Yaml {
        source_name: Source,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// The compose file is YAML but not a compose file netfence can fence (or Compose
    /// would not load), at a line when netfence knows it.
    #[error("{source_name}{}: {message}", location(*line, *column))]
    Compose {
        source_name: Source,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// A policy value is wrong; `pointer` is the JSON pointer of the offending value.
    #[error("{source_name}: policy{}: {message}", pointer_suffix(pointer))]
    Policy {
        source_name: Source,
        pointer: String,
        message: String,
    },
    /// In tenant mode, the file reaches past its fence: every refusal
    /// names the service or network, the key, why, and the policy key that grants it.
    #[error(
        "{source_name}: refused in tenant mode (the compose file is a tenant's: it may not reach past its own project):{}",
        bullets(refusals)
    )]
    Tenant {
        source_name: Source,
        refusals: Vec<String>,
    },
    /// `run` with the id of a run that is still going; `owner` says which.
    #[error("run id `{run_id}` is held by a live run ({owner}): choose another --run-id, or wait until that run ends")]
    RunIdHeld { run_id: String, owner: String },
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: Source,
        #[source]
        source: std::io::Error,
    },
    /// The engine or Compose failed (or could not be reached).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn bullets(items: &[String]) -> String {
    items.iter().map(|i| format!("\n  - {i}")).collect()
}

fn pointer_suffix(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" at {pointer}")
    }
}

/// Which side a failure is on: what the command layer turns into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input, the policy or the command line: the user's to fix (a run id a live run
    /// holds included).
    Input,
    /// The engine or Compose failed, or netfence would not go on with what it found there.
    Engine,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Engine(_) => ErrorKind::Engine,
            _ => ErrorKind::Input,
        }
    }

    pub(crate) fn compose(source_name: &Source, message: impl Into<String>) -> Self {
        Error::Compose {
            source_name: source_name.clone(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// [`Error::compose`] at a 1-based line and column.
    pub(crate) fn compose_at(
        source_name: &Source,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Compose {
            source_name: source_name.clone(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    pub(crate) fn policy(
        source_name: &Source,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Policy {
            source_name: source_name.clone(),
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The engine or Compose failed, or netfence would not go on with what it found there.
/// Raised by the engine module; the variant says which part failed, for a caller to
/// branch on, and the text is the whole message. No variant has a `source`: the text
/// already says everything, and a chain would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No engine to talk to: the Docker context cannot be resolved (`at` is none), or
    /// nothing answers at `at`, where it points.
    #[error("{}", unreachable(at.as_deref(), reason))]
    Unreachable { at: Option<String>, reason: String },
    /// The engine answered a call with an error: what netfence was doing, the HTTP status
    /// when there was an answer, and the engine's message.
    #[error("{doing}: {message}")]
    Api {
        doing: String,
        status: Option<u16>,
        message: String,
    },
    /// The engine holds a network in the way of one netfence was to create: one of that
    /// name (another run with the same id?), or one on an overlapping subnet.
    #[error("{message}")]
    Conflict { network: String, message: String },
    /// Compose (the program) was not found, did not run, failed or did not finish in
    /// time: the command, its exit code when it exited, and what it said.
    #[error("{message}")]
    Compose {
        command: String,
        status: Option<i32>,
        message: String,
    },
    /// The stack did not become ready (a service exited, failed its healthcheck, or the
    /// timeout passed), with the failing containers' logs.
    #[error("{0}")]
    NotReady(String),
    /// This host around the engine: netfence's state directory and the files in it, the
    /// lock on a run id (those with their `path`), the firewall's rules.
    #[error("{message}")]
    Host {
        path: Option<PathBuf>,
        message: String,
    },
    /// netfence would not go on: a limit reached, networks without their isolation rules,
    /// too many plans in a row overtaken by concurrent runs.
    #[error("{0}")]
    Refused(String),
    /// Part of what was asked is not done: objects still on the engine after a
    /// tear-down, containers not reconnected to a recreated network.
    #[error("{0}")]
    Incomplete(String),
    /// Planning against what the engine holds failed.
    #[error("{0}")]
    Plan(Box<Error>),
    /// An error, then what became of the stack because of it (left as it was, cleaned up
    /// in part): [`EngineError::origin`] is the error.
    #[error("{error}\n{then}")]
    Then {
        error: Box<EngineError>,
        then: String,
    },
    /// Anything else that stopped the engine code: its async runtime, signal handlers.
    #[error("{0}")]
    Other(String),
}

fn unreachable(at: Option<&str>, reason: &str) -> String {
    match at {
        Some(at) => format!("cannot reach the Docker engine at {at}: {reason}"),
        None => reason.to_owned(),
    }
}

impl EngineError {
    pub fn other(message: impl Into<String>) -> Self {
        EngineError::Other(message.into())
    }

    pub fn refused(message: impl Into<String>) -> Self {
        EngineError::Refused(message.into())
    }

    pub fn incomplete(message: impl Into<String>) -> Self {
        EngineError::Incomplete(message.into())
    }

    /// A failure on this host concerning `path`.
    pub fn host(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        EngineError::Host {
            path: Some(path.into()),
            message: message.into(),
        }
    }

    /// This error, followed by what became of the stack because of it.
    pub fn then(self, then: impl Into<String>) -> Self {
        EngineError::Then {
            error: Box::new(self),
            then: then.into(),
        }
    }

    /// The error that started it, looking through [`EngineError::Then`].
    pub fn origin(&self) -> &EngineError {
        match self {
            EngineError::Then { error, .. } => error.origin(),
            e => e,
        }
    }

    /// The engine's HTTP status, when the engine answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self.origin() {
            EngineError::Api { status, .. } => *status,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_error_reads_as_the_one_message_it_was() {
        let api = EngineError::Api {
            doing: "inspecting network nf-a".into(),
            status: Some(404),
            message: "network nf-a not found".into(),
        };
        assert_eq!(
            api.to_string(),
            "inspecting network nf-a: network nf-a not found"
        );
        let left = api.then("the stack is left as it is");
        assert_eq!(
            left.to_string(),
            "inspecting network nf-a: network nf-a not found\nthe stack is left as it is"
        );
        assert_eq!(left.status(), Some(404));
        assert!(matches!(left.origin(), EngineError::Api { .. }));
        // A chain would repeat what the text already says (`{:#}` prints it).
        assert!(std::error::Error::source(&left).is_none());

        let at = EngineError::Unreachable {
            at: Some("context `default` (unix:///var/run/docker.sock)".into()),
            reason: "connection refused".into(),
        };
        assert_eq!(
            at.to_string(),
            "cannot reach the Docker engine at context `default` (unix:///var/run/docker.sock): connection refused"
        );
        let nowhere = EngineError::Unreachable {
            at: None,
            reason: "context \"nope\" does not exist".into(),
        };
        assert_eq!(nowhere.to_string(), "context \"nope\" does not exist");
        assert_eq!(nowhere.status(), None);
    }
}
