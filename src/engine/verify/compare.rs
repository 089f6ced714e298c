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
}
