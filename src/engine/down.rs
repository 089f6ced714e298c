//! `netfence down --run-id ID | --env NAME`: removes a scope's containers, networks and
//! (for runs, or with `volumes`) volumes, found by their labels alone.

pub use super::sweep::Object;
use super::sweep::{describe, Kind};
use super::{scope_filter, Engine, EngineError, EngineResult};
use crate::scope::Scope;

/// What `down` removed.
#[derive(Debug, Clone, Default)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    /// An environment's volumes were left (without `volumes`).
    pub volumes_kept: bool,
    /// What the engine refused to remove.
    pub left: Vec<Object>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.containers + self.networks + self.volumes == 0
    }
}

/// Removes what carries `scope`'s labels. An environment keeps its volumes unless
/// `volumes`; a run's always go.
pub async fn down(engine: &Engine, scope: &Scope, volumes: bool) -> EngineResult<Removed> {
    let keep_volumes = scope.is_env() && !volumes;
    let filter = scope_filter(scope);
    let keep = |o: &Object| keep_volumes && o.kind == Kind::Volume;
    let before: Vec<Object> = engine
        .owned(&filter)
        .await?
        .into_iter()
        .filter(|o| !keep(o))
        .collect();
    if before.is_empty() {
        return Ok(Removed::default());
    }
    let left = engine.sweep_scope(&filter, keep).await?;
    super::sweep::forget_files(&before);
    let count = |k: Kind| before.iter().filter(|o| o.kind == k).count();
    Ok(Removed {
        containers: count(Kind::Container),
        networks: count(Kind::Network),
        volumes: count(Kind::Volume),
        volumes_kept: keep_volumes,
        left,
    })
}

impl Removed {
    /// The error for what is left, if anything is.
    pub fn check(&self, scope: &Scope) -> EngineResult<()> {
        if self.left.is_empty() {
            return Ok(());
        }
        Err(EngineError(format!(
            "{scope}: could not remove {}",
            describe(&self.left)
        )))
    }
}
