//! `netfence ensure --env NAME`: the environment's persistent networks, created when
//! missing; exit 1 when one differs from the plan and `--recreate` was not given.

use netfence::engine::fences::ensure::{self, Status};
use netfence::engine::{self, Engine};

use crate::exit::ExitStatus;
use crate::settings::EnsureSettings;

pub fn run(s: EnsureSettings) -> anyhow::Result<ExitStatus> {
    let project = ensure::load_project(&s.input.spec, s.input.scope.as_ref())?;
    crate::settings::warn_notes(&project);
    let opts = s.input.options(&project, s.target);
    let plan = project.plan(&opts)?;
    let nets = ensure::persistent_networks(&plan);
    let limit = project.policy.policy.max_networks();
    let results = engine::block_on(async {
        let engine = Engine::connect().await?;
        Ok(ensure::ensure_networks(&engine, &nets, s.recreate, limit).await?)
    })?;
    for r in &results {
        println!("{}", ensure::describe(r));
    }
    let differs = results
        .iter()
        .any(|r| matches!(r.status, Status::Differs { .. }));
    Ok(ExitStatus::found_if(differs))
}
