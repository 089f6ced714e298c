//! `netfence gc`: removes netfence-owned containers, networks and volumes of runs that are
//! over. A run is over when no live `netfence run` owns it (its `io.netfence.owner`
//! process is gone, or it has no owner) and its newest object is older than
//! `--older-than`. Environments and cross-scope networks (proxy, shared) are never
//! collected, nor are dev stacks (`netfence up`) unless asked: `--dev` also takes those
//! whose checkout is gone ([`select_dev`]). Objects without `io.netfence.managed=true`
//! are never even listed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::engine::host::owner::{self, Liveness};
pub use crate::engine::host::sweep::{Kind, Object};
use crate::engine::{Engine, EngineResult};
use crate::labels;

/// How old what `gc` takes must be.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// A run's newest object.
    pub runs: Duration,
    /// A reused stack's last use (`run --reuse`).
    pub reused: Duration,
}

impl Thresholds {
    /// `--older-than` for both, else an hour for runs and a day for reused stacks.
    pub fn new(older_than: Option<Duration>) -> Thresholds {
        Thresholds {
            runs: older_than.unwrap_or(Duration::from_secs(3600)),
            reused: older_than.unwrap_or(Duration::from_secs(24 * 3600)),
        }
    }
}

/// Which objects `gc` would remove, grouped by scope. `last_use`: when a reused stack
/// (by run id) was last used; its age is that, not its objects'.
pub fn select(
    objects: Vec<Object>,
    t: Thresholds,
    now: SystemTime,
    last_use: impl Fn(&str) -> Option<SystemTime>,
) -> BTreeMap<String, Vec<Object>> {
    let older_than = t.runs;
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
        if let Some(used) = scope_id(objs).and_then(&last_use) {
            return now.duration_since(used).unwrap_or_default() >= t.reused;
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

/// The run id of a scope's objects.
fn scope_id(objs: &[Object]) -> Option<&str> {
    objs.first()?.scope()?.strip_prefix("run:")
}

/// The dev stacks `gc --dev` removes: those whose checkout (`io.netfence.checkout`) no
/// longer exists on this machine (a removed worktree), every object of them older than
/// `older_than`. A dev stack whose objects do not name their checkout is never taken:
/// nothing says it is abandoned.
pub fn select_dev(
    objects: Vec<Object>,
    older_than: Duration,
    now: SystemTime,
    checkout_exists: impl Fn(&std::path::Path) -> bool,
) -> BTreeMap<String, Vec<Object>> {
    let mut by_scope: BTreeMap<String, Vec<Object>> = BTreeMap::new();
    for o in objects {
        let Some(scope) = o.scope().map(str::to_owned) else {
            continue;
        };
        if scope.starts_with("dev:") && !o.is_persistent() {
            by_scope.entry(scope).or_default().push(o);
        }
    }
    by_scope.retain(|_, objs| {
        let checkouts: std::collections::BTreeSet<&str> = objs
            .iter()
            .filter_map(|o| o.label(labels::CHECKOUT))
            .collect();
        let gone = !checkouts.is_empty()
            && checkouts
                .iter()
                .all(|c| c.starts_with('/') && !checkout_exists(std::path::Path::new(c)));
        gone && objs.iter().all(|o| {
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
    collect(engine, Thresholds::new(Some(older_than)), dry_run, false).await
}

/// [`gc`]; with `dev`, also the dev stacks whose checkout is gone (see [`select_dev`]).
pub async fn collect(
    engine: &Engine,
    t: Thresholds,
    dry_run: bool,
    dev: bool,
) -> EngineResult<Collected> {
    let all = engine.owned(&[format!("{}=true", labels::MANAGED)]).await?;
    let now = SystemTime::now();
    let mut chosen = if dev {
        select_dev(all.clone(), t.runs, now, std::path::Path::is_dir)
    } else {
        BTreeMap::new()
    };
    let state = crate::engine::host::state_dir::StateDir::existing();
    let last_use = |id: &str| state.as_ref()?.reuse_record(id).map(|(when, _)| when);
    chosen.extend(select(all, t, now, last_use));
    if dry_run {
        return Ok(Collected {
            removed: chosen,
            failures: Vec::new(),
        });
    }
    let objects: Vec<Object> = chosen.values().flatten().cloned().collect();
    let failures = engine.remove_objects(&objects).await;
    crate::engine::host::sweep::forget_files(&objects);
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
        let got = select(
            objs.clone(),
            Thresholds::new(Some(Duration::from_secs(3600))),
            SystemTime::now(),
            |_| None,
        );
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec!["run:dead".to_owned(), "run:noowner".to_owned()]
        );
        let got = select(
            objs,
            Thresholds::new(Some(Duration::ZERO)),
            SystemTime::now(),
            |_| None,
        );
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            vec!["run:dead", "run:half", "run:noowner", "run:young"]
        );
    }

    #[test]
    fn dev_stacks_are_taken_only_when_asked_and_their_checkout_is_gone() {
        let gone = (labels::CHECKOUT, "/src/gone");
        let here = (labels::CHECKOUT, "/src/here");
        let objs = vec![
            obj(Kind::Container, "dev:gone-1", &[gone], 9999),
            obj(Kind::Network, "dev:gone-1", &[gone], 9999),
            obj(Kind::Container, "dev:here-2", &[here], 9999),
            obj(Kind::Network, "dev:unnamed-3", &[], 9999),
            obj(
                Kind::Container,
                "dev:young-4",
                &[(labels::CHECKOUT, "/src/young")],
                10,
            ),
            obj(
                Kind::Container,
                "dev:relative-5",
                &[(labels::CHECKOUT, "src")],
                9999,
            ),
        ];
        let never = select(
            objs.clone(),
            Thresholds::new(Some(Duration::ZERO)),
            SystemTime::now(),
            |_| None,
        );
        assert!(
            never.is_empty(),
            "plain gc never takes a dev stack: {never:?}"
        );
        let exists = |p: &std::path::Path| p == std::path::Path::new("/src/here");
        let got = select_dev(
            objs.clone(),
            Duration::from_secs(3600),
            SystemTime::now(),
            exists,
        );
        assert_eq!(got.keys().collect::<Vec<_>>(), ["dev:gone-1"]);
        assert_eq!(got["dev:gone-1"].len(), 2);
        let got = select_dev(objs, Duration::ZERO, SystemTime::now(), exists);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["dev:gone-1", "dev:young-4"]
        );
    }
}
