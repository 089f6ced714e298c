//! Rule 13 live: from each running container of the scope, every name its own project
//! holds must be answered by its own project. The engine asks a container's networks one
//! after another and answers from the first that holds the name: on engines since 28 in
//! endpoint-priority order (then non-internal first, then by name); before 28 by internal
//! flag and name in a heap, where only the first network is sure to be asked first (see
//! `plan::name_order`). What the probes then resolve is the engine's own answer.

use std::collections::{BTreeMap, BTreeSet};

use std::net::IpAddr;

use super::{join, Answers, Ctr, Net, Row};
use crate::labels;

/// The project a container belongs to, as its labels say.
pub(super) fn project_of(c: &Ctr) -> Option<&str> {
    c.labels
        .get(labels::PROJECT)
        .or_else(|| c.labels.get(labels::compose::PROJECT))
        .map(String::as_str)
}

/// The order in which the engine asks `c`'s networks for a name, as far as it is known.
enum Order {
    /// Every network, first asked first.
    Known(Vec<String>),
    /// Only the first is sure (engines before 28), when any is.
    FirstOnly(Option<String>),
}

fn order(c: &Ctr, nets: &BTreeMap<String, Net>, by_priority: bool) -> Order {
    let mut mine: Vec<(&String, bool, i64)> = c
        .endpoints
        .keys()
        .filter_map(|n| {
            let net = nets.get(n)?;
            Some((n, net.internal, c.priority.get(n).copied().unwrap_or(0)))
        })
        .collect();
    if by_priority {
        mine.sort_by(|a, b| (-a.2, a.1, a.0).cmp(&(-b.2, b.1, b.0)));
        return Order::Known(mine.into_iter().map(|m| m.0.clone()).collect());
    }
    mine.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    let internal = mine.iter().filter(|m| m.1).count();
    let first = mine.first().filter(|f| !(f.1 && internal > 1));
    Order::FirstOnly(first.map(|f| f.0.clone()))
}

/// Who holds each name on each of `c`'s networks: name → network → (holder, project).
type Holders<'a> = BTreeMap<String, BTreeMap<&'a str, BTreeSet<(&'a str, Option<&'a str>)>>>;

fn holders<'a>(c: &'a Ctr, everyone: &[&'a Ctr]) -> Holders<'a> {
    let mut out: Holders = BTreeMap::new();
    for net in c.endpoints.keys() {
        for t in everyone
            .iter()
            .filter(|t| t.running && t.endpoints.contains_key(net))
        {
            for n in t.names_on(net) {
                out.entry(n)
                    .or_default()
                    .entry(net.as_str())
                    .or_default()
                    .insert((t.holder.as_str(), project_of(t)));
            }
        }
    }
    out
}

/// The names to ask from inside `c`: every name its project holds on its networks.
pub(super) fn to_ask(c: &Ctr, everyone: &[&Ctr]) -> Vec<String> {
    let Some(project) = project_of(c) else {
        return Vec::new();
    };
    holders(c, everyone)
        .into_iter()
        .filter(|(_, on)| on.values().flatten().any(|(_, p)| *p == Some(project)))
        .map(|(name, _)| name)
        .filter(|n| crate::engine::verify::probe_container::safe_name(n))
        .collect()
}

/// What the engine's DNS answered from inside each container, judged: every address of a
/// name its project holds must be one of its project's.
pub(super) fn answered_rows(
    ours: &[Ctr],
    others: &[Ctr],
    answers: &BTreeMap<String, Result<Answers, String>>,
) -> Vec<Row> {
    let everyone: Vec<&Ctr> = ours.iter().chain(others).collect();
    let holder_of = |ip: &IpAddr| -> Option<&Ctr> {
        everyone
            .iter()
            .copied()
            .find(|t| t.endpoints.values().any(|(a, _)| a.as_ref() == Some(ip)))
    };
    let mut rows = Vec::new();
    for c in ours.iter().filter(|c| c.running) {
        let (Some(project), Some(got)) = (project_of(c), answers.get(&c.id)) else {
            continue;
        };
        let subject = format!("names asked from {}", c.holder);
        let expected = format!("each name of {project} answered by {project}");
        let got = match got {
            Ok(g) => g,
            Err(why) => {
                rows.push(row(subject, expected, format!("not asked: {why}"), true));
                continue;
            }
        };
        let mut wrong = Vec::new();
        for (name, answer) in got {
            match answer {
                Err(e) => wrong.push(format!("`{name}`: {e}")),
                Ok(ips) if ips.is_empty() => wrong.push(format!("`{name}` does not resolve")),
                Ok(ips) => {
                    for ip in ips {
                        let who = holder_of(ip);
                        if who.and_then(project_of) != Some(project) {
                            let by = who.map_or("no container of this scope".to_owned(), |t| {
                                t.holder.clone()
                            });
                            wrong.push(format!("`{name}` answered {ip}, which is {by}'s"));
                        }
                    }
                }
            }
        }
        if wrong.is_empty() {
            let n = got.len();
            rows.push(row(
                subject.clone(),
                expected.clone(),
                format!("{n} name(s), each answered by {project}"),
                true,
            ));
        }
        for w in wrong {
            rows.push(row(subject.clone(), expected.clone(), w, false));
        }
    }
    rows
}

fn row(subject: String, expected: String, observed: String, ok: bool) -> Row {
    Row {
        check: "names",
        subject,
        expected,
        observed,
        ok,
    }
}

/// One row per running container of ours: every name of its project answers from it.
pub(super) fn rows(
    ours: &[Ctr],
    others: &[Ctr],
    nets: &BTreeMap<String, Net>,
    by_priority: bool,
) -> Vec<Row> {
    let everyone: Vec<&Ctr> = ours.iter().chain(others).collect();
    let mut rows = Vec::new();
    for c in ours.iter().filter(|c| c.running) {
        let Some(project) = project_of(c) else {
            continue;
        };
        let order = order(c, nets, by_priority);
        let mut wrong = Vec::new();
        for (name, on) in holders(c, &everyone) {
            let ours_too = on.values().flatten().any(|(_, p)| *p == Some(project));
            if !ours_too {
                continue;
            }
            if let Some(w) = judge(&name, &on, &order, project) {
                wrong.push(w);
            }
        }
        let subject = format!("bare names from {}", c.holder);
        let expected = format!("each name of {project} answers from {project}");
        if wrong.is_empty() {
            rows.push(Row {
                check: "names",
                subject: subject.clone(),
                observed: expected.clone(),
                expected: expected.clone(),
                ok: true,
            });
        }
        for w in wrong {
            rows.push(Row {
                check: "names",
                subject: subject.clone(),
                expected: expected.clone(),
                observed: w,
                ok: false,
            });
        }
    }
    rows
}

/// What is wrong with how `name` answers from a container of `project`, if anything.
fn judge(
    name: &str,
    on: &BTreeMap<&str, BTreeSet<(&str, Option<&str>)>>,
    order: &Order,
    project: &str,
) -> Option<String> {
    let foreign = |net: &str| -> Vec<&str> {
        on.get(net)
            .into_iter()
            .flatten()
            .filter(|(_, p)| *p != Some(project))
            .map(|(h, _)| *h)
            .collect()
    };
    let first = match order {
        Order::Known(all) => all.iter().find(|n| on.contains_key(n.as_str())).cloned(),
        Order::FirstOnly(Some(f)) if on.contains_key(f.as_str()) => Some(f.clone()),
        Order::FirstOnly(_) => None,
    };
    if let Some(first) = first {
        let f = foreign(&first);
        return (!f.is_empty()).then(|| {
            format!(
                "`{name}` answers from {first}, where {} hold(s) it",
                join(f)
            )
        });
    }
    let (net, f) = on
        .keys()
        .map(|n| (*n, foreign(n)))
        .find(|(_, f)| !f.is_empty())?;
    Some(format!(
        "`{name}` may answer from {net}, where {} hold(s) it: this engine (before 28) orders a container's networks by name, not priority",
        join(f)
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ctr, failures, labelled, net};
    use super::*;

    /// Projects alpha and beta, each an `api` and a `db` on its own network and on the
    /// environment's (`aaa-env`, which sorts first), the shared attachments at `shared`.
    fn two_projects(shared: i64) -> (Vec<Ctr>, BTreeMap<String, Net>) {
        let mut all = Vec::new();
        for p in ["alpha", "beta"] {
            for s in ["api", "db"] {
                let own = format!("zz-{p}");
                let mut c = ctr(
                    &format!("{p}-{s}-1"),
                    &format!("{p}/{s}"),
                    &[
                        (own.as_str(), "10.1.0.2", &[s]),
                        ("aaa-env", "10.2.0.2", &[s]),
                    ],
                );
                c.labels = labelled("env:e", p, s);
                c.priority.insert("aaa-env".into(), shared);
                all.push(c);
            }
        }
        let refs: Vec<&Ctr> = all.iter().collect();
        let nets = BTreeMap::from([
            ("aaa-env".to_owned(), net("env:e", &refs)),
            ("zz-alpha".to_owned(), net("env:e", &refs[..2])),
            ("zz-beta".to_owned(), net("env:e", &refs[2..])),
        ]);
        (all, nets)
    }

    #[test]
    fn a_shared_network_below_the_own_one_answers_every_bare_name_at_home() {
        let (all, nets) = two_projects(-1);
        let rows = rows(&all, &[], &nets, true);
        assert_eq!(rows.len(), 4, "one row per container");
        assert!(failures(&rows).is_empty(), "{:?}", failures(&rows));
    }

    #[test]
    fn without_priorities_the_shared_network_sorting_first_answers_for_both_projects() {
        let (all, nets) = two_projects(0);
        let f = failures(&rows(&all, &[], &nets, true));
        assert!(
            f.contains(
                &"bare names from alpha/api: `db` answers from aaa-env, where beta/db hold(s) it"
                    .to_owned()
            ),
            "{f:#?}"
        );
        // An engine before 28 ignores the priority the plan set.
        let (all, nets) = two_projects(-1);
        let f = failures(&rows(&all, &[], &nets, false));
        assert!(
            f.iter().any(|l| l.starts_with(
                "bare names from beta/api: `db` answers from aaa-env, where alpha/db"
            )),
            "{f:#?}"
        );
    }

    #[test]
    fn an_engine_before_28_is_sure_only_of_the_first_network() {
        let (mut all, mut nets) = two_projects(0);
        // The environment network sorts last now, but alpha's api has a third network.
        for c in &mut all {
            let ep = c.endpoints.remove("aaa-env").unwrap();
            c.endpoints.insert("zzz-env".into(), ep);
        }
        let env = nets.remove("aaa-env").unwrap();
        nets.insert("zzz-env".into(), env);
        assert!(failures(&rows(&all, &[], &nets, false)).is_empty());
        // alpha's db moves to a back network that alpha's api joins too: the api's first
        // network no longer holds `db`, and which of the other two comes next is not said.
        let ep = all[1].endpoints.remove("zz-alpha").unwrap();
        all[1].endpoints.insert("zz-alpha-back".into(), ep.clone());
        all[0]
            .endpoints
            .insert("zz-alpha-back".into(), (None, vec![]));
        nets.insert("zz-alpha-back".into(), net("env:e", &[]));
        let f = failures(&rows(&all, &[], &nets, false));
        assert!(
            f.iter().any(|l| l.contains(
                "`db` may answer from zzz-env, where beta/db hold(s) it: this engine (before 28)"
            )),
            "{f:#?}"
        );
    }
}

#[cfg(test)]
mod short_id {
    use super::super::testing::ctr;

    #[test]
    fn an_alias_that_merely_begins_the_id_is_a_name_and_the_short_id_is_not() {
        let mut c = ctr(
            "db1",
            "db",
            &[("back", "10.0.0.2", &["db", "db3f00a1b2c3"])],
        );
        c.id = "db3f00a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdd".into();
        let names = c.names_on("back");
        assert!(names.contains("db"), "{names:?}");
        assert!(!names.contains("db3f00a1b2c3"), "{names:?}");
    }
}
