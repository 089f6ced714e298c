//! What `verify` reads from the engine: the scope's containers and networks, the
//! networks they touch, the containers on those that are not the scope's, and the list
//! of every container (whose each one is, and whose network namespace it runs in).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};

use super::{Ctr, Expected, Net, Observed};
use crate::engine::client::docker::{found, ContainerSummary};
use crate::engine::{scope_filter, Engine, EngineError, EngineResult};
use crate::labels::{self, compose};
use crate::scope::Scope;

/// At most this many foreign containers on the scope's networks are inspected.
const MAX_FOREIGN: usize = 50;
/// At most this many other scopes' containers are probed as "must not reach".
pub(super) const MAX_OUTSIDERS: usize = 6;

/// The scope's containers (its probes left out) and the names of its networks: what
/// the expectations are drawn up against.
pub(super) async fn scope(
    engine: &Engine,
    scope: &Scope,
) -> EngineResult<(Vec<Ctr>, BTreeSet<String>)> {
    let filter = scope_filter(scope);
    let listed = engine.containers_labelled(&filter, true).await?;
    let ids: Vec<String> = listed.into_iter().map(|c| c.id).collect();
    let mut containers = inspect_all(engine, &ids).await?;
    containers.retain(|c| c.labels.get(labels::ROLE).map(String::as_str) != Some("probe"));
    let networks = engine.networks_labelled(&filter).await?;
    Ok((containers, networks.into_iter().map(|n| n.name).collect()))
}

/// The rest of the picture: which of `containers` are ours, the networks the scope, the
/// expectations and our containers name, the foreign containers on those, and every
/// container as the engine lists it.
pub(super) async fn around(
    engine: &Engine,
    expected: &Expected,
    containers: Vec<Ctr>,
    scope_networks: BTreeSet<String>,
) -> EngineResult<Observed> {
    let (ours, mut others) = split(expected, containers);
    let mut relevant: BTreeSet<String> = scope_networks.clone();
    relevant.extend(expected.networks.keys().cloned());
    for c in &ours {
        relevant.extend(c.endpoints.keys().cloned());
    }
    let mut nets: BTreeMap<String, Net> = BTreeMap::new();
    for name in relevant {
        let inspected = found(engine.inspect_network(&name).await)
            .map_err(|e| e.doing(format!("inspecting network {name}")))?;
        if let Some(n) = inspected {
            nets.insert(name, Net::of(n));
        }
    }
    // Listed after the networks were read, so that every member they show is in it
    // (unless it went away meanwhile).
    let listed = engine
        .containers(true)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    others.extend(inspect_all(engine, &foreign(&nets, &ours, &others)).await?);
    for o in &mut others {
        o.holder = format!("container {}", o.name);
    }
    let info = engine.info().await?;
    let by_priority = info.orders_names_by_priority();
    let answers = ask_names(&info, &ours, &others).await;
    let host_rules = tokio::task::spawn_blocking(move || super::host_rules::read(&info))
        .await
        .map_err(|e| EngineError::Host {
            path: None,
            message: format!("reading the host's netfilter rules: {e}"),
        })?;
    Ok(Observed {
        answers,
        scope_networks,
        ours,
        others,
        nets,
        listed,
        by_priority,
        host_rules,
    })
}

/// Ours (with a plan: its project's; else every one of the scope) and the others. Ours
/// are held by their service, or by `project/service` when several projects share the
/// scope and no plan says which one is meant.
pub(super) fn split(expected: &Expected, containers: Vec<Ctr>) -> (Vec<Ctr>, Vec<Ctr>) {
    let project = |c: &Ctr| c.labels.get(compose::PROJECT).cloned();
    let (mut ours, others): (Vec<Ctr>, Vec<Ctr>) =
        containers
            .into_iter()
            .partition(|c| match &expected.project {
                Some(p) => project(c).as_ref() == Some(p),
                None => true,
            });
    let projects: BTreeSet<String> = ours.iter().filter_map(project).collect();
    let multi_project = expected.project.is_none() && projects.len() > 1;
    for c in &mut ours {
        c.holder = match (c.labels.get(compose::SERVICE), multi_project) {
            (Some(s), false) => s.clone(),
            (Some(s), true) => format!("{}/{s}", project(c).unwrap_or_default()),
            (None, _) => c.name.clone(),
        };
    }
    (ours, others)
}

/// Containers on these networks that are neither ours nor the scope's others.
fn foreign(nets: &BTreeMap<String, Net>, ours: &[Ctr], others: &[Ctr]) -> Vec<String> {
    let known: BTreeSet<&str> = ours.iter().chain(others).map(|c| c.id.as_str()).collect();
    nets.values()
        .flat_map(|n| n.members.iter())
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(MAX_FOREIGN)
        .collect()
}

/// Other scopes' containers to probe as "must not reach": the foreign ones already found,
/// then netfence-owned containers of other scopes, those with our service names first.
pub(super) async fn outsiders(
    engine: &Engine,
    scope: &Scope,
    observed: &Observed,
    base_project: Option<&str>,
) -> EngineResult<Vec<Ctr>> {
    let mut out: Vec<Ctr> = observed
        .others
        .iter()
        .filter(|c| c.running)
        .take(MAX_OUTSIDERS)
        .cloned()
        .collect();
    if out.len() >= MAX_OUTSIDERS {
        return Ok(out);
    }
    let managed = [format!("{}=true", labels::MANAGED)];
    let managed = engine.containers_labelled(&managed, true).await?;
    let ids: Vec<String> = rank_outsiders(scope, &observed.ours, managed, base_project)
        .into_iter()
        .filter(|id| !out.iter().any(|c| &c.id == id))
        .take(MAX_OUTSIDERS - out.len())
        .collect();
    for mut c in inspect_all(engine, &ids).await? {
        if c.running {
            c.holder = format!("container {}", c.name);
            out.push(c);
        }
    }
    Ok(out)
}

/// Other scopes' netfence containers, most telling first: another copy of the same
/// stack (same project after the scope part, same service names), then the newest.
fn rank_outsiders(
    scope: &Scope,
    ours: &[Ctr],
    managed: Vec<ContainerSummary>,
    base_project: Option<&str>,
) -> Vec<String> {
    let our_services: BTreeSet<&String> = ours
        .iter()
        .filter_map(|c| c.labels.get(compose::SERVICE))
        .collect();
    let scope = scope.to_string();
    let mut candidates: Vec<(bool, bool, i64, String)> = managed
        .into_iter()
        .filter(|c| {
            c.labels.get(labels::SCOPE) != Some(&scope)
                && c.labels.get(labels::ROLE).map(String::as_str) != Some("probe")
        })
        .map(|c| {
            let same_project = base_project
                .is_some_and(|p| c.project().is_some_and(|cp| cp.ends_with(&format!("-{p}"))));
            let same_service = c
                .labels
                .get(compose::SERVICE)
                .is_some_and(|s| our_services.contains(s));
            (same_project, same_service, c.created.unwrap_or(0), c.id)
        })
        .collect();
    candidates.sort_by(|a, b| b.cmp(a));
    candidates.into_iter().map(|(_, _, _, id)| id).collect()
}

/// Inspects containers, a few at once; one that vanished meanwhile is left out.
async fn inspect_all(engine: &Engine, ids: &[String]) -> EngineResult<Vec<Ctr>> {
    let got: Vec<EngineResult<Option<Ctr>>> = stream::iter(ids)
        .map(|id| async move {
            found(engine.inspect_container(id).await)
                .map(|c| c.map(Ctr::of))
                .map_err(|e| e.doing(format!("inspecting container {id}")))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut out = Vec::new();
    for g in got {
        out.extend(g?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// From inside each running container of ours, what every name its project holds
/// resolves to (see `dns`): only on the engine's own host, where its process ids are ours.
async fn ask_names(
    info: &crate::engine::client::docker::EngineInfo,
    ours: &[Ctr],
    others: &[Ctr],
) -> BTreeMap<String, Result<super::Answers, String>> {
    let local = crate::engine::host::netfilter::local(info);
    let everyone: Vec<&Ctr> = ours.iter().chain(others).collect();
    let mut out = BTreeMap::new();
    for c in ours.iter().filter(|c| c.running) {
        let got = match &local {
            Err(why) => Err(why.to_string()),
            Ok(()) => {
                let (pid, names) = (c.pid, super::names::to_ask(c, &everyone));
                tokio::task::spawn_blocking(move || super::dns::ask(pid, names))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
            }
        };
        out.insert(c.id.clone(), got);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::ctr;
    use super::*;

    fn of(project: &str, service: &str) -> Ctr {
        let name = format!("{project}-{service}-1");
        let mut c = ctr(&name, &name, &[]);
        c.labels.insert(compose::PROJECT.into(), project.into());
        c.labels.insert(compose::SERVICE.into(), service.into());
        c
    }

    fn holders(cs: &[Ctr]) -> Vec<&str> {
        cs.iter().map(|c| c.holder.as_str()).collect()
    }

    #[test]
    fn with_a_plan_only_its_projects_containers_are_ours() {
        let expected = Expected {
            project: Some("nf-production-shop".into()),
            ..Expected::default()
        };
        let (ours, others) = split(
            &expected,
            vec![
                of("nf-production-blog", "web"),
                of("nf-production-shop", "web"),
            ],
        );
        assert_eq!(holders(&ours), vec!["web"]);
        assert_eq!(holders(&others), vec!["nf-production-blog-web-1"]);
    }

    #[test]
    fn without_a_plan_several_projects_are_told_apart_by_project() {
        let expected = Expected::default();
        let (ours, others) = split(&expected, vec![of("blog", "web"), of("shop", "web")]);
        assert_eq!(holders(&ours), vec!["blog/web", "shop/web"]);
        assert!(others.is_empty());
        let (ours, _) = split(&expected, vec![of("shop", "db"), of("shop", "web")]);
        assert_eq!(holders(&ours), vec!["db", "web"]);
    }

    #[test]
    fn outsiders_to_probe_are_copies_of_the_same_stack_first_then_the_newest() {
        let summary =
            |id: &str, scope: &str, project: &str, service: &str, created: i64| ContainerSummary {
                id: id.into(),
                labels: [
                    (labels::SCOPE, scope),
                    (compose::PROJECT, project),
                    (compose::SERVICE, service),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                created: Some(created),
                ..ContainerSummary::default()
            };
        let mut probe = summary("probe", "run:b", "nf-b-shop", "web", 9);
        probe.labels.insert(labels::ROLE.into(), "probe".into());
        let managed = vec![
            summary("mine", "run:a", "nf-a-shop", "web", 9),
            summary("old-copy", "run:b", "nf-b-shop", "db", 1),
            summary("new-other", "run:c", "nf-c-blog", "cms", 8),
            summary("same-service", "run:c", "nf-c-blog", "web", 2),
            probe,
        ];
        let ours = vec![of("nf-a-shop", "web")];
        let ranked = rank_outsiders(&Scope::Run("a".into()), &ours, managed, Some("shop"));
        assert_eq!(ranked, vec!["old-copy", "same-service", "new-other"]);
    }
}
