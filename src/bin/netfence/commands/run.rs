//! `netfence run`: an isolated copy of the stack (or several), CMD against it, tear-down;
//! exits with CMD's status (SPEC §4). The work is the engine's `run`.

use crate::exit::ExitStatus;
use crate::settings::RunSettings;

pub fn run(s: RunSettings) -> anyhow::Result<ExitStatus> {
    let project = s.input.load()?;
    let status = netfence::engine::run::run(project, s.run)?;
    Ok(ExitStatus::Child(status))
}
