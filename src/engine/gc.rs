//! `netfence gc`: removes netfence-owned containers, networks and volumes of runs that are
//! over. A run is over when no live `netfence run` owns it (its `io.netfence.owner`
//! process is gone, or it has no owner) and its newest object is older than
//! `--older-than`. Environments and cross-scope networks (proxy, shared) are never
//! collected; objects without `io.netfence.managed=true` are never even listed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::owner::{self, Liveness};
pub use super::sweep::{Kind, Object};
use super::{Engine, EngineResult};
use crate::labels;

/// Which objects `gc` would remove, grouped by scope.
pub fn select(
    objects: Vec<Object>,
    older_than: Duration,
    now: SystemTime,
) -> BTreeMap<String, Vec<Object>> {
    let mut by_scope: BTreeMap<String, Vec<Object>> = BTreeMap::new();
    for o in objects {
        let Some(scope) = o.scope().map(str::to_owned) else {
            continue;
        };
        if !scope.starts_with("run:") || o.is_persistent() {
            continue;
        }
        by_scope.entry(scope).or_default().push(o);
    }
    by_scope.retain(|_, objs| {
        let live = objs.iter().any(|o| {
            o.label(labels::OWNER)
                .is_some_and(|l| owner::liveness(l) == Liveness::Alive)
        });
        if live {
            return false;
        }
        if older_than.is_zero() {
            return true;
        }
        // The run's age is its newest object's: never take half a run.
        objs.iter().all(|o| {
            o.created
                .and_then(|c| now.duration_since(c).ok())
                .is_some_and(|age| age >= older_than)
        })
    });
    by_scope
}

/// What `gc` removed (or, dry, would remove), by run scope.
#[derive(Debug, Default)]
pub struct Collected {
    pub removed: BTreeMap<String, Vec<Object>>,
    /// Objects the engine refused to remove, one message each.
    pub failures: Vec<String>,
}

impl Collected {
    pub fn count(&self, kind: Kind) -> usize {
        self.removed
            .values()
            .flatten()
            .filter(|o| o.kind == kind)
            .count()
    }
}

/// Removes (unless `dry_run`) the objects of every run that is over: see [`select`].
pub async fn gc(engine: &Engine, older_than: Duration, dry_run: bool) -> EngineResult<Collected> {
    let all = engine.owned(&[format!("{}=true", labels::MANAGED)]).await?;
    let mut chosen = select(all, older_than, SystemTime::now());
    if dry_run {
        return Ok(Collected {
            removed: chosen,
            failures: Vec::new(),
        });
    }
    let objects: Vec<Object> = chosen.values().flatten().cloned().collect();
    let failures = engine.remove_objects(&objects).await;
    super::sweep::forget_files(&objects);
    for objs in chosen.values_mut() {
        objs.retain(|o| {
            !failures
                .iter()
                .any(|f| f.contains(&format!("{} {}:", o.kind.name(), o.name)))
        });
    }
    chosen.retain(|_, objs| !objs.is_empty());
    Ok(Collected {
        removed: chosen,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn obj(kind: Kind, scope: &str, extra: &[(&str, &str)], age_secs: u64) -> Object {
        let mut labels: HashMap<String, String> = HashMap::new();
        labels.insert(labels::MANAGED.into(), "true".into());
        if !scope.is_empty() {
            labels.insert(labels::SCOPE.into(), scope.into());
        }
        for (k, v) in extra {
            labels.insert((*k).into(), (*v).into());
        }
        Object {
            kind,
            id: format!("{scope}-{age_secs}"),
            name: format!("{scope}-{age_secs}"),
            labels,
            created: Some(SystemTime::now() - Duration::from_secs(age_secs)),
            running: false,
        }
    }

    #[test]
    fn live_owners_envs_and_persistent_networks_are_spared() {
        let me = owner::current();
        let dead = format!("{}/4194999/1", owner::hostname());
        let objs = vec![
            obj(Kind::Container, "run:live", &[(labels::OWNER, &me)], 9999),
            obj(Kind::Network, "run:dead", &[(labels::OWNER, &dead)], 9999),
            obj(Kind::Volume, "run:noowner", &[], 9999),
            obj(Kind::Network, "env:prod", &[], 9999),
            obj(Kind::Network, "", &[(labels::ROLE, "proxy")], 9999),
            obj(Kind::Network, "run:young", &[(labels::OWNER, &dead)], 10),
            obj(Kind::Network, "run:half", &[], 9999),
            obj(Kind::Container, "run:half", &[], 10),
        ];
        let got = select(objs.clone(), Duration::from_secs(3600), SystemTime::now());
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec!["run:dead".to_owned(), "run:noowner".to_owned()]
        );
        let got = select(objs, Duration::ZERO, SystemTime::now());
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec!["run:dead", "run:half", "run:noowner", "run:young"]
        );
    }
}
