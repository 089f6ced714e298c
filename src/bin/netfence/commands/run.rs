//! `netfence run`: an isolated copy of the stack (or several), CMD against it, tear-down;
//! exits with CMD's status. The work is the engine's `run`.

use crate::exit::ExitStatus;
use crate::settings::{RunSettings, REUSE_PENDING};

pub fn run(mut s: RunSettings) -> anyhow::Result<ExitStatus> {
    let project = s.input.load()?;
    if let Some(slot) = &s.reuse {
        let digest = netfence::engine::stacks::run::reuse_digest(&project, &s.run);
        if s.run.ids == [REUSE_PENDING] {
            let id = match slot.as_str() {
                "" => format!("reuse-{digest}"),
                slot => format!("reuse-{digest}-{slot}"),
            };
            netfence::scope::check_id(&id)
                .map_err(|m| netfence::Error::Usage(format!("--reuse={slot}: run id {id}: {m}")))?;
            s.run.ids = vec![id];
        }
        eprintln!(
            "netfence: run id {} (--reuse: input {digest})",
            s.run.ids[0]
        );
        s.run.reuse = Some(digest);
    }
    let status = netfence::engine::stacks::run::run(project, s.run)?;
    Ok(ExitStatus::Child(status))
}
