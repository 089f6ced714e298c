//! `netfence run`: an isolated copy of the stack (or several), CMD against it, tear-down;
//! exits with CMD's status. The work is the engine's `run`.

use netfence::engine::stacks::run::Outcome;

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
    let copies = netfence::engine::stacks::run::run(project, s.run)?;
    if copies.len() > 1 {
        summarise(&copies);
    }
    let failed = copies.iter().find(|c| !c.end.is_success());
    Ok(failed.map_or(ExitStatus::Success, |c| ExitStatus::Run(c.end)))
}

fn summarise(copies: &[Outcome]) {
    eprintln!("netfence: {} copies:", copies.len());
    for (i, o) in copies.iter().enumerate() {
        let verdict = if o.end.is_success() { "ok" } else { "FAILED" };
        let why = o
            .error
            .as_deref()
            .map(|e| format!(": {}", e.lines().next().unwrap_or_default()))
            .unwrap_or_default();
        eprintln!(
            "  copy {i} (run:{}): {verdict}, exit {} in {:.1}s{why}",
            o.id,
            ExitStatus::Run(o.end).number(),
            o.elapsed.as_secs_f64()
        );
    }
}
