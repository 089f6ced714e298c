//! The report's rows from what was expected and what the engine shows: pure, so every
//! rule can be pinned with a hand-built picture of the engine.

use std::collections::{BTreeMap, BTreeSet};

use super::{join, row, Ctr, Expected, Net, Observed, Row};
use crate::labels;
use crate::plan::Role;
use crate::scope::Scope;

/// Every row but the probes', in report order.
pub(super) fn rows(scope: &Scope, expected: &Expected, observed: &Observed) -> Vec<Row> {
    let Observed {
        scope_networks,
        ours,
        others,
        nets,
    } = observed;
    let mut rows: Vec<Row> = Vec::new();
    if ours.is_empty() && scope_networks.is_empty() {
        // A mistyped scope must not pass as "nothing differs".
        rows.push(row(
            "scope",
            scope.to_string(),
            "containers and networks on the engine".into(),
            "nothing".into(),
        ));
    }
    compare_networks(expected, nets, scope, &mut rows);
    let want = wanted(expected, ours, nets, scope);
    compare_attachments(expected, &want, ours, &mut rows);
    // With a plan, only its project's networks are judged: another project of the same
    // environment has its own, with its own containers on them. (Without one, every
    // network of the scope is expected as a managed one.)
    let own_nets: BTreeSet<String> = expected
        .networks
        .iter()
        .filter(|(_, (role, _))| *role == Role::Managed)
        .map(|(n, _)| n.clone())
        .collect();
    compare_members(scope, nets, &own_nets, ours, others, &mut rows);
    compare_pairs(ours, &want, &mut rows);
    compare_names(ours, others, nets, &mut rows);
    rows
}

fn compare_networks(
    expected: &Expected,
    nets: &BTreeMap<String, Net>,
    scope: &Scope,
    rows: &mut Vec<Row>,
) {
    for (name, (role, internal)) in &expected.networks {
        let want = match internal {
            Some(true) => "exists, internal".to_owned(),
            Some(false) => "exists, not internal".to_owned(),
            None => "exists".to_owned(),
        };
        let got = match nets.get(name) {
            None => "missing".to_owned(),
            Some(n) => {
                let owned = *role != Role::Managed
                    || n.labels.get(labels::SCOPE).map(String::as_str) == Some(&scope.to_string());
                let mut s = "exists".to_owned();
                match internal {
                    Some(_) if n.internal => s.push_str(", internal"),
                    Some(_) => s.push_str(", not internal"),
                    // Shown, not judged: the labels do not say what the plan wanted.
                    None => {}
                }
                if !owned {
                    s.push_str(&format!(", not labelled {scope}"));
                }
                s
            }
        };
        let mut r = row("network", name.clone(), want, got);
        if internal.is_none() {
            if let Some(n) = nets.get(name) {
                r.observed = format!(
                    "{}{}",
                    r.observed,
                    if n.internal { " (internal)" } else { "" }
                );
                r.expected = format!(
                    "{}{}",
                    r.expected,
                    if n.internal { " (internal)" } else { "" }
                );
            }
        }
        rows.push(r);
    }
}

/// What each of our holders is expected to be attached to: the plan's attachments, or
/// without a plan the networks it may be on (its own project's, cross-scope ones).
pub(super) fn wanted(
    expected: &Expected,
    ours: &[Ctr],
    nets: &BTreeMap<String, Net>,
    scope: &Scope,
) -> BTreeMap<String, BTreeSet<String>> {
    if let Some(services) = &expected.services {
        return services
            .iter()
            .map(|(svc, att)| (svc.clone(), att.keys().cloned().collect()))
            .collect();
    }
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in ours {
        let allowed = c.endpoints.keys().filter(|n| {
            nets.get(*n).is_some_and(|net| {
                // Its own project's networks (an environment holds several projects,
                // each with its own) or cross-scope ones.
                net.persistent()
                    || (net.labels.get(labels::SCOPE).map(String::as_str)
                        == Some(&scope.to_string())
                        && net.labels.get(labels::PROJECT) == c.labels.get(labels::PROJECT))
            })
        });
        want.entry(c.holder.clone())
            .or_default()
            .extend(allowed.cloned());
    }
    want
}

/// Attachment rows: a planned service without a container, each container's networks
/// against `want`, and (with a plan) its aliases on each.
fn compare_attachments(
    expected: &Expected,
    want: &BTreeMap<String, BTreeSet<String>>,
    ours: &[Ctr],
    rows: &mut Vec<Row>,
) {
    for (svc, att) in expected.services.iter().flatten() {
        if !ours.iter().any(|c| &c.holder == svc) {
            rows.push(row(
                "attachments",
                format!("service {svc}"),
                join(att.keys()),
                "no container".into(),
            ));
        }
    }
    for c in ours {
        let subject = format!("{} ({})", c.holder, c.name);
        if !c.running {
            rows.push(Row {
                check: "attachments",
                subject,
                expected: "running".into(),
                observed: format!("not running (exit {})", c.exit_code),
                // A one-shot job that finished cleanly is not a fence problem.
                ok: c.exit_code == 0,
            });
            continue;
        }
        let expected_nets = want.get(&c.holder).cloned().unwrap_or_default();
        rows.push(row(
            "attachments",
            subject.clone(),
            join(&expected_nets),
            join(c.endpoints.keys()),
        ));
        if let Some(services) = &expected.services {
            rows.extend(alias_rows(c, &subject, services.get(&c.holder)));
        }
    }
}

/// On each planned network it is on, a container answers to its service name and
/// the plan's aliases.
fn alias_rows(c: &Ctr, subject: &str, planned: Option<&BTreeMap<String, Vec<String>>>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (net, aliases) in planned.into_iter().flatten() {
        let Some((_, have)) = c.endpoints.get(net) else {
            continue;
        };
        let mut need: Vec<String> = vec![c.holder.clone()];
        need.extend(aliases.iter().cloned());
        let missing: Vec<&String> = need.iter().filter(|a| !have.contains(a)).collect();
        rows.push(Row {
            check: "aliases",
            subject: format!("{subject} on {net}"),
            expected: join(&need),
            observed: if missing.is_empty() {
                join(&need)
            } else {
                format!("missing {}", join(&missing))
            },
            ok: missing.is_empty(),
        });
    }
    rows
}

/// The scope's own networks hold only the scope's containers.
fn compare_members(
    scope: &Scope,
    nets: &BTreeMap<String, Net>,
    own: &BTreeSet<String>,
    ours: &[Ctr],
    others: &[Ctr],
    rows: &mut Vec<Row>,
) {
    for (name, n) in nets {
        if !own.contains(name)
            || n.labels.get(labels::SCOPE).map(String::as_str) != Some(&scope.to_string())
            || n.persistent()
        {
            continue;
        }
        let mine: BTreeSet<String> = ours
            .iter()
            .filter(|c| n.members.contains(&c.id))
            .map(|c| c.holder.clone())
            .collect();
        let foreign: BTreeSet<String> = others
            .iter()
            .filter(|c| n.members.contains(&c.id))
            .map(|c| c.holder.clone())
            .collect();
        let mut observed = join(&mine);
        if !foreign.is_empty() {
            observed = format!("{observed}; also {}", join(&foreign));
        }
        rows.push(Row {
            check: "members",
            subject: name.clone(),
            expected: format!("only {scope}: {}", join(&mine)),
            observed: if foreign.is_empty() {
                format!("only {scope}: {}", join(&mine))
            } else {
                observed
            },
            ok: foreign.is_empty(),
        });
    }
}

/// Who shares a network with whom: every pair of the scope's services.
fn compare_pairs(ours: &[Ctr], want: &BTreeMap<String, BTreeSet<String>>, rows: &mut Vec<Row>) {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in ours.iter().filter(|c| c.running) {
        seen.entry(c.holder.clone())
            .or_default()
            .extend(c.endpoints.keys().cloned());
    }
    let holders: Vec<&String> = want
        .keys()
        .chain(seen.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for (i, a) in holders.iter().enumerate() {
        for b in &holders[i + 1..] {
            let shared = |m: &BTreeMap<String, BTreeSet<String>>| -> BTreeSet<String> {
                match (m.get(*a), m.get(*b)) {
                    (Some(x), Some(y)) => x.intersection(y).cloned().collect(),
                    _ => BTreeSet::new(),
                }
            };
            let show = |s: BTreeSet<String>| {
                if s.is_empty() {
                    "isolated".to_owned()
                } else {
                    format!("via {}", join(s))
                }
            };
            rows.push(row(
                "pair",
                format!("{a} ↔ {b}"),
                show(shared(want)),
                show(shared(&seen)),
            ));
        }
    }
}

/// Every name on a network the scope uses resolves to one holder.
fn compare_names(ours: &[Ctr], others: &[Ctr], nets: &BTreeMap<String, Net>, rows: &mut Vec<Row>) {
    let used: BTreeSet<&String> = ours.iter().flat_map(|c| c.endpoints.keys()).collect();
    for net in used {
        if !nets.contains_key(net) {
            continue;
        }
        let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let ours_here: BTreeSet<String> = ours
            .iter()
            .filter(|c| c.endpoints.contains_key(net))
            .flat_map(|c| c.names_on(net))
            .collect();
        for c in ours
            .iter()
            .chain(others)
            .filter(|c| c.running && c.endpoints.contains_key(net))
        {
            for n in c.names_on(net) {
                holders.entry(n).or_default().insert(c.holder.clone());
            }
        }
        let ambiguous: Vec<(&String, &BTreeSet<String>)> = holders
            .iter()
            .filter(|(n, h)| h.len() > 1 && ours_here.contains(*n))
            .collect();
        if ambiguous.is_empty() {
            rows.push(row(
                "names",
                net.clone(),
                "each name has one holder".into(),
                "each name has one holder".into(),
            ));
        }
        for (name, h) in ambiguous {
            rows.push(Row {
                check: "names",
                subject: format!("`{name}` on {net}"),
                expected: "one holder".into(),
                observed: format!("{} holders: {}", h.len(), join(h)),
                ok: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_foreign_member_and_a_shared_name_are_differences() {
        let scope = Scope::Run("a".into());
        let web = ctr("a-web-1", "web", &[("nf-a-front", "10.0.0.2", &["web"])]);
        let api = ctr("a-api-1", "api", &[("nf-a-front", "10.0.0.3", &["api"])]);
        let stranger = ctr(
            "stranger",
            "container stranger",
            &[("nf-a-front", "10.0.0.9", &["web"])],
        );
        let mut nets = BTreeMap::new();
        nets.insert(
            "nf-a-front".to_owned(),
            net("run:a", &[&web, &api, &stranger]),
        );
        let own: BTreeSet<String> = nets.keys().cloned().collect();
        let ours = vec![web, api];
        let others = vec![stranger];
        let mut rows = Vec::new();
        compare_members(&scope, &nets, &own, &ours, &others, &mut rows);
        compare_names(&ours, &others, &nets, &mut rows);
        let bad: Vec<String> = rows
            .iter()
            .filter(|r| !r.ok)
            .map(|r| format!("{} {}: {}", r.check, r.subject, r.observed))
            .collect();
        assert_eq!(
            bad,
            vec![
                "members nf-a-front: api, web; also container stranger".to_owned(),
                "names `web` on nf-a-front: 2 holders: container stranger, web".to_owned(),
            ]
        );
        // Without the stranger: nothing differs.
        let mut nets2 = BTreeMap::new();
        nets2.insert("nf-a-front".to_owned(), net("run:a", &[&ours[0], &ours[1]]));
        let mut rows = Vec::new();
        compare_members(&scope, &nets2, &own, &ours, &[], &mut rows);
        compare_names(&ours, &[], &nets2, &mut rows);
        assert!(rows.iter().all(|r| r.ok), "{rows:?}");
    }

    #[test]
    fn pairs_compare_shared_networks_not_just_membership() {
        let web = ctr("a-web-1", "web", &[("front", "10.0.0.2", &[])]);
        let db = ctr(
            "a-db-1",
            "db",
            &[("back", "10.0.1.2", &[]), ("front", "10.0.0.4", &[])],
        );
        let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        want.insert("web".into(), ["front".to_owned()].into());
        want.insert("db".into(), ["back".to_owned()].into());
        let mut rows = Vec::new();
        compare_pairs(&[web, db], &want, &mut rows);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].subject, "db ↔ web");
        assert_eq!(rows[0].expected, "isolated");
        assert_eq!(rows[0].observed, "via front");
        assert!(!rows[0].ok);
    }

    #[test]
    fn an_internal_network_that_is_not_internal_live_is_a_difference() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        observed.nets.get_mut("nf-a-back").unwrap().internal = false;
        assert_eq!(
            differences(&scope, &expected, &observed),
            vec!["network nf-a-back: expected exists, internal, observed exists, not internal"]
        );
    }

    #[test]
    fn a_clean_scope_has_no_differences_and_a_network_of_another_scope_has_one() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        assert_eq!(
            differences(&scope, &expected, &observed),
            Vec::<String>::new()
        );
        observed
            .nets
            .get_mut("nf-a-front")
            .unwrap()
            .labels
            .insert(labels::SCOPE.into(), "run:b".into());
        assert_eq!(
            differences(&scope, &expected, &observed),
            vec!["network nf-a-front: expected exists, not internal, observed exists, not internal, not labelled run:a"]
        );
    }

    #[test]
    fn a_foreign_network_on_one_of_our_containers_breaks_attachments_and_pairs_stay_judged() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        // db joins the front network: it is attached where the plan does not put it,
        // and web and db now share a network the plan keeps them apart on.
        let front_ip = (Some("10.0.0.4".parse().unwrap()), vec!["db".to_owned()]);
        observed.ours[0]
            .endpoints
            .insert("nf-a-front".into(), front_ip);
        let mut got = differences(&scope, &expected, &observed);
        got.sort();
        assert_eq!(
            got,
            vec![
                "attachments db (a-db-1): expected nf-a-back, observed nf-a-back, nf-a-front",
                "pair db ↔ web: expected via nf-a-back, observed via nf-a-back, nf-a-front",
            ]
        );
    }

    #[test]
    fn a_planned_service_without_a_container_and_a_missing_alias_are_named() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        observed.ours.retain(|c| c.holder == "web");
        observed
            .ours
            .iter_mut()
            .for_each(|c| c.endpoints.get_mut("nf-a-back").unwrap().1.clear());
        let got = differences(&scope, &expected, &observed);
        assert!(
            got.contains(
                &"attachments service db: expected nf-a-back, observed no container".into()
            ),
            "{got:?}"
        );
        assert!(
            got.contains(
                &"aliases web (a-web-1) on nf-a-back: expected web, observed missing web".into()
            ),
            "{got:?}"
        );
    }

    #[test]
    fn a_one_shot_job_that_finished_is_fine_and_a_crashed_one_is_not() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        let attachments = |observed: &Observed| -> Vec<String> {
            differences(&scope, &expected, observed)
                .into_iter()
                .filter(|d| d.starts_with("attachments"))
                .collect()
        };
        observed.ours[0].running = false;
        assert_eq!(attachments(&observed), Vec::<String>::new());
        observed.ours[0].exit_code = 2;
        assert_eq!(
            attachments(&observed),
            vec!["attachments db (a-db-1): expected running, observed not running (exit 2)"]
        );
    }

    #[test]
    fn a_mistyped_scope_is_not_a_pass() {
        let scope = Scope::Run("typo".into());
        let expected = super::super::expectations(&scope, None, &BTreeSet::new());
        assert_eq!(
            differences(&scope, &expected, &Observed::default()),
            vec![
                "scope run:typo: expected containers and networks on the engine, observed nothing"
            ]
        );
    }

    #[test]
    fn without_a_plan_a_container_may_join_its_own_projects_networks_and_cross_scope_ones() {
        let scope = Scope::Env("production".into());
        let label = |project: &str| {
            HashMap::from([
                (labels::SCOPE.to_owned(), "env:production".to_owned()),
                (labels::PROJECT.to_owned(), project.to_owned()),
            ])
        };
        let mut web = ctr("shop-web-1", "web", &[("shop-net", "10.0.0.2", &[])]);
        web.labels = label("shop");
        let mut nets = BTreeMap::new();
        nets.insert(
            "shop-net".to_owned(),
            Net {
                labels: label("shop"),
                ..Net::default()
            },
        );
        nets.insert(
            "blog-net".to_owned(),
            Net {
                labels: label("blog"),
                ..Net::default()
            },
        );
        let mut env = Net::default();
        env.labels.insert(labels::ROLE.into(), "environment".into());
        nets.insert("nf-env-production".to_owned(), env);
        web.endpoints
            .insert("nf-env-production".into(), (None, Vec::new()));
        let expected = Expected::default();
        let want = wanted(&expected, std::slice::from_ref(&web), &nets, &scope);
        assert_eq!(
            want["web"],
            BTreeSet::from(["nf-env-production".to_owned(), "shop-net".to_owned()])
        );
        // Another project's network of the same environment is not this one's.
        web.endpoints.insert("blog-net".into(), (None, Vec::new()));
        let want = wanted(&expected, std::slice::from_ref(&web), &nets, &scope);
        assert!(!want["web"].contains("blog-net"));
    }
}
