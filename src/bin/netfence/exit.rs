//! The one mapping from outcomes to exit codes.

use std::process::ExitCode;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0.
    Success,
    /// 1: a check found something (`rewrite --check`, `audit --deny`, `verify`, drift
    /// reported by `ensure`).
    Found,
    /// 2: the input is invalid, every problem reported already (`validate`).
    Invalid,
    /// 3: an outside program netfence drives failed (Graphviz for `graph`), reported
    /// already.
    External,
    /// The command `run` ran exited with this status.
    Child(u8),
}

impl ExitStatus {
    pub fn found_if(found: bool) -> ExitStatus {
        if found {
            ExitStatus::Found
        } else {
            ExitStatus::Success
        }
    }

    pub fn code(self) -> ExitCode {
        ExitCode::from(match self {
            ExitStatus::Success => 0,
            ExitStatus::Found => 1,
            ExitStatus::Invalid => 2,
            ExitStatus::External => 3,
            ExitStatus::Child(c) => c,
        })
    }
}

/// The exit code of a failure: 3 when the engine or Compose failed, 2 for bad input
/// (the library's own errors say which; anything else here is the user's input too).
pub fn error_code(e: &anyhow::Error) -> ExitCode {
    if e.downcast_ref::<netfence::engine::EngineError>().is_some() {
        return ExitCode::from(3);
    }
    ExitCode::from(
        e.downcast_ref::<netfence::Error>()
            .map_or(2, |e| e.exit_code()),
    )
}

/// A reader that went away (`netfence rewrite | head`) ends the program quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
