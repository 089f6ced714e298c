//! `netfence down --run-id ID | --env NAME`, or `down` in a checkout: removes a scope's
//! containers, networks and (for runs, or with `volumes`) volumes, found by their
//! labels alone. Another scope's container is never touched, even on one of this
//! scope's networks: that network is then left, and the container that holds it named.

use std::collections::BTreeMap;

use crate::engine::client::docker::found;
pub use crate::engine::host::sweep::Object;
use crate::engine::host::sweep::{describe, Kind};
use crate::engine::{scope_filter, Engine, EngineError, EngineResult};
use crate::labels;
use crate::scope::Scope;

/// What `down` removed.
#[derive(Debug, Clone, Default)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    /// Volumes of an environment or a checkout's stack were left (without `volumes`).
    pub volumes_kept: bool,
    /// What the engine refused to remove.
    pub left: Vec<Object>,
    /// For each network left: the containers still attached to it (none of them the
    /// scope's, which are gone), each with whose it is.
    pub held_by: BTreeMap<String, Vec<String>>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.containers + self.networks + self.volumes == 0
    }
}

/// Removes what carries `scope`'s labels. An environment or a checkout's stack keeps
/// its volumes unless `volumes` (as `docker compose down` keeps them); a run's always go.
pub async fn down(engine: &Engine, scope: &Scope, volumes: bool) -> EngineResult<Removed> {
    let keep_volumes = !matches!(scope, Scope::Run(_)) && !volumes;
    let filter = scope_filter(scope);
    let keep = |o: &Object| keep_volumes && o.kind == Kind::Volume;
    let (kept, before): (Vec<Object>, Vec<Object>) =
        engine.owned(&filter).await?.into_iter().partition(keep);
    let volumes_kept = !kept.is_empty();
    if before.is_empty() {
        return Ok(Removed {
            volumes_kept,
            ..Removed::default()
        });
    }
    let left = engine.sweep_scope(&filter, keep).await?;
    crate::engine::host::sweep::forget_files(&before);
    let count = |k: Kind| {
        let gone = |o: &&Object| !left.iter().any(|l| l.kind == o.kind && l.id == o.id);
        before.iter().filter(|o| o.kind == k).filter(gone).count()
    };
    let held_by = held_by(engine, &left).await;
    Ok(Removed {
        containers: count(Kind::Container),
        networks: count(Kind::Network),
        volumes: count(Kind::Volume),
        volumes_kept,
        left,
        held_by,
    })
}

/// Who is still attached to each network left: `container x (env:prod)`.
async fn held_by(engine: &Engine, left: &[Object]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for n in left.iter().filter(|o| o.kind == Kind::Network) {
        let Ok(Some(net)) = found(engine.inspect_network(&n.id).await) else {
            continue;
        };
        let mut holders = Vec::new();
        for (id, name) in net.containers {
            let whose = match found(engine.inspect_container(&id).await) {
                Ok(Some(c)) => c
                    .labels
                    .get(labels::SCOPE)
                    .cloned()
                    .unwrap_or_else(|| "no netfence labels".into()),
                _ => "gone meanwhile".into(),
            };
            holders.push(format!("container {name} ({whose})"));
        }
        if !holders.is_empty() {
            out.insert(n.name.clone(), holders);
        }
    }
    out
}

impl Removed {
    /// The error for what is left, if anything is.
    pub fn check(&self, scope: &Scope) -> EngineResult<()> {
        if self.left.is_empty() {
            return Ok(());
        }
        let mut message = format!("{scope}: could not remove {}", describe(&self.left));
        for (net, holders) in &self.held_by {
            message.push_str(&format!(
                "; {net} is still attached to {}, which netfence leaves alone (not {scope}'s)",
                holders.join(", ")
            ));
        }
        Err(EngineError::incomplete(message))
    }
}
