//! Finding and removing netfence-owned objects by their labels: the one clean-up path
//! that `run`'s tear-down, `down` and `gc` share. Objects without `io.netfence.managed`
//! are never listed here, so they can never be removed — but for Compose's own leftovers
//! of a scope's project: a container Compose made for one of the scope's projects without
//! the service's labels (a lifecycle hook's, `com.docker.compose.hook`) counts as the
//! scope's when no netfence scope label says otherwise.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use futures_util::stream::{self, StreamExt};

use crate::engine::client::docker::{done_if_gone, ContainerSummary, LiveNetwork, Volume};
use crate::engine::{Engine, EngineResult};
use crate::labels;

/// How many removals run at once: the engine serialises much of it anyway.
const CONCURRENCY: usize = 8;

/// Removal rounds before `sweep_scope` gives up: about five seconds of waiting in all.
const ROUNDS: u64 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Container,
    Network,
    Volume,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Network => "network",
            Kind::Volume => "volume",
        }
    }
}

/// One netfence-owned object on the engine.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: Kind,
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    /// When it was created: the `io.netfence.created` label, else the engine's time.
    pub created: Option<SystemTime>,
    /// For containers: running (or restarting, paused).
    pub running: bool,
}

impl Object {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn scope(&self) -> Option<&str> {
        self.label(labels::SCOPE)
    }

    /// A proxy, shared or environment network: lives beyond any one run.
    pub fn is_persistent(&self) -> bool {
        self.label(labels::ROLE)
            .is_some_and(|r| matches!(r, "proxy" | "shared" | "environment"))
    }
}

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
        .or_else(|| {
            // Go's RFC 3339 with nanoseconds and an offset: keep the seconds, assume UTC.
            let head = s.get(..19)?;
            humantime::parse_rfc3339_weak(head).ok()
        })
}

/// When an object was made: netfence's `io.netfence.created` label, else the engine's time.
fn created(
    labels: &HashMap<String, String>,
    engine_time: Option<SystemTime>,
) -> Option<SystemTime> {
    labels
        .get(labels::CREATED)
        .and_then(|s| parse_time(s))
        .or(engine_time)
}

impl Object {
    fn container(c: ContainerSummary) -> Object {
        let since_epoch = |t: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
        Object {
            kind: Kind::Container,
            created: created(&c.labels, c.created.map(since_epoch)),
            running: matches!(c.state.as_str(), "running" | "restarting" | "paused"),
            id: c.id,
            name: c.name,
            labels: c.labels,
        }
    }

    fn network(n: LiveNetwork) -> Object {
        Object {
            kind: Kind::Network,
            created: created(&n.labels, n.created.as_deref().and_then(parse_time)),
            id: n.id,
            name: n.name,
            labels: n.labels,
            running: false,
        }
    }

    fn volume(v: Volume) -> Object {
        Object {
            kind: Kind::Volume,
            created: created(&v.labels, v.created.as_deref().and_then(parse_time)),
            id: v.name.clone(),
            name: v.name,
            labels: v.labels,
            running: false,
        }
    }
}

impl Engine {
    /// Every object that carries all of `filter`'s `label=value` pairs.
    pub async fn owned(&self, filter: &[String]) -> EngineResult<Vec<Object>> {
        let (containers, networks, volumes) = tokio::join!(
            self.containers_labelled(filter, true),
            self.networks_labelled(filter),
            self.volumes_labelled(filter),
        );
        let containers = containers?.into_iter().map(Object::container);
        let networks = networks?.into_iter().map(Object::network);
        let volumes = volumes?.into_iter().map(Object::volume);
        let mut objects: Vec<Object> = containers.chain(networks).chain(volumes).collect();
        let leftovers = self.compose_leftovers(&objects).await?;
        objects.extend(leftovers);
        Ok(objects)
    }

    /// Containers Compose made for a project of `objects` that carry no netfence scope:
    /// each with the scope's ownership labels of that project added (in memory only), so
    /// that every clean-up and count takes it as the scope's.
    async fn compose_leftovers(&self, objects: &[Object]) -> EngineResult<Vec<Object>> {
        let mut owners: HashMap<&str, &Object> = HashMap::new();
        for o in objects.iter().filter(|o| o.scope().is_some()) {
            let project = o
                .label(labels::compose::PROJECT)
                .or_else(|| o.label(labels::PROJECT));
            if let Some(p) = project {
                owners.entry(p).or_insert(o);
            }
        }
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let listed = self
            .containers_labelled(&[labels::compose::PROJECT.to_owned()], true)
            .await?;
        let mut out = Vec::new();
        for c in listed {
            if c.labels.contains_key(labels::SCOPE) || objects.iter().any(|o| o.id == c.id) {
                continue;
            }
            let Some(owner) = c
                .labels
                .get(labels::compose::PROJECT)
                .and_then(|p| owners.get(p.as_str()))
            else {
                continue;
            };
            let mut o = Object::container(c);
            for key in [labels::MANAGED, labels::SCOPE, labels::PROJECT] {
                if let Some(v) = owner.label(key) {
                    o.labels.insert(key.to_owned(), v.to_owned());
                }
            }
            out.push(o);
        }
        Ok(out)
    }

    /// Removes objects: containers first (forced, with their anonymous volumes), then
    /// networks, then volumes. Returns one message per object that could not be removed.
    pub async fn remove_objects(&self, objects: &[Object]) -> Vec<String> {
        let mut failures = Vec::new();
        for kind in [Kind::Container, Kind::Network, Kind::Volume] {
            let batch: Vec<&Object> = objects.iter().filter(|o| o.kind == kind).collect();
            let results: Vec<Option<String>> = stream::iter(batch)
                .map(|o| async move { self.remove_object(o).await.err().map(|e| e.to_string()) })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            failures.extend(results.into_iter().flatten());
        }
        failures
    }

    async fn remove_object(&self, o: &Object) -> EngineResult<()> {
        let res = match o.kind {
            Kind::Container => self.remove_container(&o.id, true).await,
            Kind::Network => self.remove_network(&o.id).await,
            Kind::Volume => self.remove_volume(&o.name).await,
        };
        done_if_gone(res).map_err(|e| e.doing(format!("removing {} {}", o.kind.name(), o.name)))
    }

    /// Removes everything of one scope, then checks: what still remains after a few
    /// rounds (a container a cancelled `up` was still creating) is returned.
    pub async fn sweep_scope(
        &self,
        filter: &[String],
        keep: impl Fn(&Object) -> bool,
    ) -> EngineResult<Vec<Object>> {
        let mut last_failures = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        for round in 0..ROUNDS {
            let objects: Vec<Object> = self
                .owned(filter)
                .await?
                .into_iter()
                .filter(|o| !keep(o))
                .collect();
            if objects.is_empty() {
                return Ok(Vec::new());
            }
            if round > 0 {
                tokio::time::sleep(Duration::from_millis((300 * round).min(1500))).await;
                self.release_stale_endpoints(&objects, &removed).await;
            }
            removed.extend(
                objects
                    .iter()
                    .filter(|o| o.kind == Kind::Container)
                    .map(|o| o.name.clone()),
            );
            last_failures = self.remove_objects(&objects).await;
        }
        let left: Vec<Object> = self
            .owned(filter)
            .await?
            .into_iter()
            .filter(|o| !keep(o))
            .collect();
        for f in &last_failures {
            tracing::warn!("{f}");
        }
        Ok(left)
    }

    /// A busy engine can report "active endpoints" on a network whose containers are
    /// already gone: their endpoints outlive them for a moment, sometimes for good.
    /// A forced disconnect by name deletes such an endpoint. Only the scope's own,
    /// already removed containers are named, so no other scope's container is touched.
    async fn release_stale_endpoints(&self, objects: &[Object], removed: &[String]) {
        for net in objects.iter().filter(|o| o.kind == Kind::Network) {
            for name in removed {
                let _ = self.disconnect_network(&net.id, name, true).await;
            }
        }
    }
}

/// Removes the files `run` wrote for the runs these objects belong to (the fenced
/// compose file and the run info, in each run's private directory), found by the
/// project label. For `down` and `gc`, which work without the input. Only directories
/// inside netfence's own state directory are ever removed: a label names a project, never
/// a path.
pub fn forget_files(objects: &[Object]) {
    let Some(state) = crate::engine::host::state_dir::StateDir::existing() else {
        return;
    };
    let projects: std::collections::BTreeSet<&str> = objects
        .iter()
        .filter_map(|o| o.label(labels::PROJECT))
        .filter(|p| crate::scope::valid_id(p))
        .collect();
    for project in projects {
        state.forget(project);
    }
    // A reused stack taken down is no longer one.
    let runs: std::collections::BTreeSet<&str> = objects
        .iter()
        .filter_map(|o| o.scope()?.strip_prefix("run:"))
        .filter(|id| crate::scope::valid_id(id))
        .collect();
    for id in runs {
        state.forget_reuse(id);
    }
}

/// `container x, network y` for messages.
pub fn describe(objects: &[Object]) -> String {
    objects
        .iter()
        .map(|o| format!("{} {}", o.kind.name(), o.name))
        .collect::<Vec<_>>()
        .join(", ")
}
