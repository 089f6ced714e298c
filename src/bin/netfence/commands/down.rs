//! `netfence down --run-id ID | --env NAME`: a scope removed by its labels alone; with
//! neither, this checkout's stack (from `netfence up`).

use netfence::engine::stacks::down::Removed;
use netfence::engine::{self, Engine};
use netfence::Scope;

use crate::exit::ExitStatus;
use crate::settings::DownSettings;

pub fn run(s: DownSettings) -> anyhow::Result<ExitStatus> {
    let (scope, removed, whose) = match s {
        DownSettings::Scope { scope, volumes } => {
            let removed = engine::block_on(async {
                let engine = Engine::connect().await?;
                Ok(engine::stacks::down::down(&engine, &scope, volumes).await?)
            })?;
            (scope, removed, String::new())
        }
        DownSettings::Checkout { checkout, volumes } => {
            let removed = engine::stacks::dev::down(&checkout, volumes)?;
            let whose = format!(" (checkout {})", checkout.root.display());
            (checkout.scope(), removed, whose)
        }
    };
    report(&scope, &removed, &whose)
}

fn report(scope: &Scope, removed: &Removed, whose: &str) -> anyhow::Result<ExitStatus> {
    if removed.is_empty() && removed.left.is_empty() {
        if removed.volumes_kept {
            eprintln!("netfence: nothing of {scope}{whose} to remove but its volumes (kept: add --volumes)");
        } else {
            eprintln!("netfence: nothing of {scope}{whose} is on the engine");
        }
        return Ok(ExitStatus::Success);
    }
    eprintln!(
        "netfence: {scope}{whose}: removed {} container(s), {} network(s), {} volume(s){}",
        removed.containers,
        removed.networks,
        removed.volumes,
        if removed.volumes_kept {
            " (volumes kept: add --volumes)"
        } else {
            ""
        }
    );
    removed.check(scope)?;
    Ok(ExitStatus::Success)
}
