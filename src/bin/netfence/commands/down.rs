//! `netfence down --run-id ID | --env NAME`: a scope removed by its labels alone.

use netfence::engine::{self, Engine};

use crate::exit::ExitStatus;
use crate::settings::DownSettings;

pub fn run(s: DownSettings) -> anyhow::Result<ExitStatus> {
    let scope = &s.scope;
    let removed = engine::block_on(async {
        let engine = Engine::connect().await?;
        Ok(engine::down::down(&engine, scope, s.volumes).await?)
    })?;
    if removed.is_empty() && removed.left.is_empty() {
        eprintln!("netfence: nothing of {scope} is on the engine");
        return Ok(ExitStatus::Success);
    }
    eprintln!(
        "netfence: {scope}: removed {} container(s), {} network(s), {} volume(s){}",
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
