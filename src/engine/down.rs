//! `netfence down --run-id ID | --env NAME`: removes a scope's containers, networks and
//! (for runs, or with --volumes) volumes, found by their labels alone.

use super::sweep::{describe, Kind, Object};
use super::{scope_filter, Engine, EngineError};
use crate::cli::DownArgs;
use crate::error::Error;
use crate::scope::{valid_id, Scope};

pub fn command(a: &DownArgs) -> anyhow::Result<u8> {
    let scope = match (&a.run_id, &a.env) {
        (Some(id), _) => Scope::Run(id.clone()),
        (None, Some(name)) => Scope::Env(name.clone()),
        (None, None) => return Err(Error::Usage("give --run-id ID or --env NAME".into()).into()),
    };
    if !valid_id(scope.id()) {
        return Err(Error::Usage(format!(
            "`{}` is not a valid scope id: expected 1 to 63 of [a-zA-Z0-9_.-], starting with a letter or digit",
            scope.id()
        ))
        .into());
    }
    let keep_volumes = scope.is_env() && !a.volumes;
    let rt = super::runtime()?;
    rt.block_on(async {
        let engine = Engine::connect().await?;
        let filter = scope_filter(&scope);
        let keep = |o: &Object| keep_volumes && o.kind == Kind::Volume;
        let before: Vec<Object> = engine
            .owned(&filter)
            .await?
            .into_iter()
            .filter(|o| !keep(o))
            .collect();
        if before.is_empty() {
            eprintln!("netfence: nothing of {scope} is on the engine");
            return Ok(0);
        }
        let left = engine.sweep_scope(&filter, keep).await?;
        super::sweep::forget_files(&before);
        let count = |k: Kind| before.iter().filter(|o| o.kind == k).count();
        eprintln!(
            "netfence: {scope}: removed {} container(s), {} network(s), {} volume(s){}",
            count(Kind::Container),
            count(Kind::Network),
            count(Kind::Volume),
            if keep_volumes {
                " (volumes kept: add --volumes)"
            } else {
                ""
            }
        );
        if !left.is_empty() {
            return Err(
                EngineError(format!("{scope}: could not remove {}", describe(&left))).into(),
            );
        }
        Ok(0)
    })
}
