//! Typed errors of the library. Callers branch on the variant (the CLI maps each to an
//! exit code), so every variant carries what a user needs to find and fix the problem.

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

impl Error {
    /// The process exit code: 3 when the engine or Compose failed,
    /// 2 for bad input.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Engine(_) => 3,
            _ => 2,
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

/// The engine or Compose failed: exit code 3. Raised by the engine module.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

impl EngineError {
    pub fn new(message: impl Into<String>) -> Self {
        EngineError(message.into())
    }
}

/// A message from inside the engine code (a file written, a step that failed) becomes the
/// engine's error where it leaves its function.
impl From<String> for EngineError {
    fn from(message: String) -> EngineError {
        EngineError(message)
    }
}

/// The engine code's internal failures are messages; this joins the two.
impl From<EngineError> for String {
    fn from(e: EngineError) -> String {
        e.0
    }
}
