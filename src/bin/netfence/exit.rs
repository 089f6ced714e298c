//! The one mapping from outcomes to exit codes: 0 success, 1 a check found something,
//! 2 bad input, 3 the engine, Compose or another program netfence drives failed; `run`
//! exits with its command's status.

use std::process::ExitCode;

use netfence::engine::stacks::run::RunEnd;
use netfence::ErrorKind;

/// A check found something.
const FOUND: u8 = 1;
/// The input, the policy or the command line is wrong.
const INVALID: u8 = 2;
/// The engine, Compose or another program netfence drives failed, or netfence's own part
/// of `run` did.
const FAILED: u8 = 3;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0.
    Success,
    /// 1: a check found something (`rewrite --check`, `audit --deny`, `verify`, drift
    /// reported by `ensure`).
    Found,
    /// 2: the input (or the command line) is invalid, every problem reported already
    /// (`validate`).
    Invalid,
    /// 3: an outside program netfence drives failed (Graphviz for `graph`), reported
    /// already.
    External,
    /// How `run` ended: its first failing copy.
    Run(RunEnd),
}

impl ExitStatus {
    pub fn found_if(found: bool) -> ExitStatus {
        if found {
            ExitStatus::Found
        } else {
            ExitStatus::Success
        }
    }

    pub fn number(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Found => FOUND,
            ExitStatus::Invalid => INVALID,
            ExitStatus::External => FAILED,
            ExitStatus::Run(end) => run_number(end),
        }
    }

    pub fn code(self) -> ExitCode {
        ExitCode::from(self.number())
    }
}

/// `run`'s status: CMD's own, else what a shell would say of a command that did not run
/// (127) or died of a signal (128 + its number), else [`FAILED`] when netfence's part
/// failed.
fn run_number(end: RunEnd) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match end {
        RunEnd::Up => 0,
        RunEnd::Cmd(status) => match (status.code(), status.signal()) {
            (Some(c), _) => c as u8,
            (None, Some(s)) => signalled(s),
            _ => 1,
        },
        RunEnd::CmdNotRun => 127,
        RunEnd::Failed => FAILED,
        RunEnd::Interrupted(s) => signalled(s),
    }
}

fn signalled(signal: i32) -> u8 {
    128u8.saturating_add(signal as u8)
}

/// The exit code of a failure: the library's errors say which side they are on; anything
/// else here is the user's input too.
pub fn error_code(e: &anyhow::Error) -> ExitCode {
    let kind = if e.downcast_ref::<netfence::engine::EngineError>().is_some() {
        ErrorKind::Engine
    } else {
        e.downcast_ref::<netfence::Error>()
            .map_or(ErrorKind::Input, netfence::Error::kind)
    };
    ExitCode::from(match kind {
        ErrorKind::Input => INVALID,
        ErrorKind::Engine => FAILED,
    })
}

/// A reader that went away (`netfence rewrite | head`) ends the program quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
