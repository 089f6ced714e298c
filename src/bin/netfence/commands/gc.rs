//! `netfence gc`: the leftovers of runs that are over (with `--dev`, also the stacks of
//! checkouts that are gone), removed by their labels.

use netfence::engine::host::gc::Kind;
use netfence::engine::{self, Engine, EngineError};

use crate::exit::ExitStatus;
use crate::settings::GcSettings;

pub fn run(s: GcSettings) -> anyhow::Result<ExitStatus> {
    let collected = engine::block_on(async {
        let engine = Engine::connect().await?;
        Ok(engine::host::gc::collect(
            &engine,
            engine::host::gc::Thresholds::new(s.older_than),
            s.dry_run,
            s.dev,
        )
        .await?)
    })?;
    let verb = if s.dry_run { "would remove" } else { "removed" };
    let mut out = String::new();
    for (scope, objects) in &collected.removed {
        for o in objects {
            out.push_str(&format!("{verb} {} {} ({scope})\n", o.kind.name(), o.name));
        }
    }
    print!("{out}");
    let dev = collected
        .removed
        .keys()
        .filter(|s| s.starts_with("dev:"))
        .count();
    eprintln!(
        "netfence: gc {verb} {} container(s), {} network(s), {} volume(s) of {} run(s){}",
        collected.count(Kind::Container),
        collected.count(Kind::Network),
        collected.count(Kind::Volume),
        collected.removed.len() - dev,
        if s.dev {
            format!(" and {dev} dev stack(s) whose checkout is gone")
        } else {
            String::new()
        }
    );
    if !collected.failures.is_empty() {
        return Err(EngineError::incomplete(collected.failures.join("; ")).into());
    }
    Ok(ExitStatus::Success)
}
