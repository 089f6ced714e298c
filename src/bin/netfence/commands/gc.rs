//! `netfence gc`: the leftovers of runs that are over, removed by their labels.

use netfence::engine::gc::Kind;
use netfence::engine::{self, Engine, EngineError};

use crate::exit::ExitStatus;
use crate::settings::GcSettings;

pub fn run(s: GcSettings) -> anyhow::Result<ExitStatus> {
    let collected = engine::block_on(async {
        let engine = Engine::connect().await?;
        Ok(engine::gc::gc(&engine, s.older_than, s.dry_run).await?)
    })?;
    let verb = if s.dry_run { "would remove" } else { "removed" };
    let mut out = String::new();
    for (scope, objects) in &collected.removed {
        for o in objects {
            out.push_str(&format!("{verb} {} {} ({scope})\n", o.kind.name(), o.name));
        }
    }
    print!("{out}");
    eprintln!(
        "netfence: gc {verb} {} container(s), {} network(s), {} volume(s) of {} run(s)",
        collected.count(Kind::Container),
        collected.count(Kind::Network),
        collected.count(Kind::Volume),
        collected.removed.len()
    );
    if !collected.failures.is_empty() {
        return Err(EngineError(collected.failures.join("; ")).into());
    }
    Ok(ExitStatus::Success)
}
