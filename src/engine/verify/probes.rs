//! `verify --probe-image`: what each of our containers must and must not reach, tried
//! from inside its network namespace, and judged. Deciding the checks and judging what
//! they saw are pure; only running them touches the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures_util::stream::{self, StreamExt};
use ipnet::IpNet;

use super::{join, observe, Ctr, Expected, Net, Observed, Row};
use crate::engine::probe::{self, Check, Seen};
use crate::engine::{Engine, EngineResult};
use crate::labels;
use crate::scope::Scope;

/// Probe containers started at once (each runs many checks itself).
const PROBES_AT_ONCE: usize = 2;

type Want = BTreeMap<String, BTreeSet<String>>;

/// The probe rows of a scope, sorted by subject.
pub(super) async fn rows(
    engine: &Engine,
    image: &str,
    scope: &Scope,
    expected: &Expected,
    observed: &Observed,
    base_project: Option<&str>,
) -> EngineResult<Vec<Row>> {
    let mut others = observed.others.clone();
    for o in observe::outsiders(engine, scope, observed, base_project).await? {
        if !others.iter().any(|c| c.id == o.id) {
            others.push(o);
        }
    }
    let want = super::compare::wanted(expected, &observed.ours, &observed.nets, scope);
    let reach = Reach {
        want: &want,
        nets: &observed.nets,
    };
    let owner: Vec<(String, String)> = vec![
        (labels::MANAGED.to_owned(), "true".to_owned()),
        (labels::SCOPE.to_owned(), scope.to_string()),
    ];
    let plans = plan_probes(&observed.ours, &others, &reach);
    let results: Vec<EngineResult<Vec<Row>>> = stream::iter(plans)
        .map(|(s, checks)| probe_one(engine, image, &owner, s, checks, &observed.nets))
        .buffer_unordered(PROBES_AT_ONCE)
        .collect()
        .await;
    let mut rows = Vec::new();
    for r in results {
        rows.extend(r?);
    }
    rows.sort_by(|a, b| a.subject.cmp(&b.subject));
    Ok(rows)
}

/// Runs one container's checks in a probe container and judges what they saw.
async fn probe_one(
    engine: &Engine,
    image: &str,
    owner: &[(String, String)],
    s: &Ctr,
    checks: Vec<Probe>,
    nets: &BTreeMap<String, Net>,
) -> EngineResult<Vec<Row>> {
    let mut labels_for = owner.to_vec();
    if let Some(p) = s.labels.get(labels::PROJECT) {
        labels_for.push((labels::PROJECT.to_owned(), p.clone()));
    }
    // Traffic goes only to addresses inside a network the engine has right now: the
    // address of a container whose network is gone meanwhile would be routed out of the
    // machine's default route (and may well answer from out there).
    let live = engine.occupied_subnets().await?;
    let send = on_engine(&checks, &live);
    let just: Vec<Check> = send.iter().map(|&i| checks[i].check.clone()).collect();
    let isolated = s
        .endpoints
        .keys()
        .all(|n| nets.get(n).is_some_and(|n| n.internal));
    let got = probe::run(engine, image, &s.id, &labels_for, &just, isolated).await?;
    let after = engine.occupied_subnets().await?;
    let seen = settle(&checks, &send, got, &after);
    Ok(checks
        .into_iter()
        .zip(seen)
        .map(|(p, seen)| probe_row(p, seen))
        .collect())
}

/// Is this check's target inside one of these subnets (a name is always asked)?
fn local(c: &Check, subnets: &[IpNet]) -> bool {
    match c {
        Check::Tcp { ip, .. } | Check::Ping { ip, .. } => subnets.iter().any(|n| n.contains(ip)),
        Check::Dns { .. } => true,
    }
}

/// The checks that may be sent: those whose target is on a network of the engine.
fn on_engine(checks: &[Probe], live: &[IpNet]) -> Vec<usize> {
    (0..checks.len())
        .filter(|&i| local(&checks[i].check, live))
        .collect()
}

/// What each check saw: `got` for the ones sent (in `sent` order), unless the target's
/// network went away meanwhile; "not probed" for the rest.
fn settle(checks: &[Probe], sent: &[usize], got: Vec<Seen>, after: &[IpNet]) -> Vec<Seen> {
    let mut seen =
        vec![
            Seen::Skipped("its network is gone: the address is no longer on this engine".into());
            checks.len()
        ];
    for (&i, g) in sent.iter().zip(got) {
        seen[i] = if local(&checks[i].check, after) {
            g
        } else {
            Seen::Skipped("its network went away while probing".into())
        };
    }
    seen
}

/// Who should reach whom, by plan.
struct Reach<'a> {
    want: &'a Want,
    nets: &'a BTreeMap<String, Net>,
}

impl Reach<'_> {
    /// Should a container planned on `mine` reach `t` over `net`? Ours: when both are
    /// planned there. Outsiders: only over a cross-scope network.
    fn planned(&self, mine: &BTreeSet<String>, t: &Ctr, net: &str) -> bool {
        mine.contains(net)
            && if t.is_outsider() {
                self.nets.get(net).is_some_and(Net::persistent)
            } else {
                self.want.get(&t.holder).is_some_and(|x| x.contains(net))
            }
    }
}

/// Each running container of ours with its checks.
fn plan_probes<'a>(
    ours: &'a [Ctr],
    others: &'a [Ctr],
    reach: &Reach,
) -> Vec<(&'a Ctr, Vec<Probe>)> {
    let running: Vec<&Ctr> = ours.iter().filter(|c| c.running).collect();
    let outsiders: Vec<&Ctr> = others.iter().filter(|o| o.running).collect();
    running
        .iter()
        .map(|&s| {
            let mut checks = name_checks(s, &running, &outsiders, reach);
            checks.extend(address_checks(s, &running, &outsiders, reach));
            (s, checks)
        })
        .collect()
}

/// Names: every name any container holds, ours (this one included: its own name must
/// reach only itself) and outsiders'. Expected: the addresses of holders on networks
/// this container shares with them by plan; recorded: the same from the engine's
/// attachments (what its DNS answers from).
fn name_checks(s: &Ctr, running: &[&Ctr], outsiders: &[&Ctr], reach: &Reach) -> Vec<Probe> {
    let mine = reach.want.get(&s.holder).cloned().unwrap_or_default();
    let mut names: BTreeMap<String, NameFacts> = BTreeMap::new();
    for t in running.iter().chain(outsiders) {
        for (net, (ip, _)) in &t.endpoints {
            let expected_here = reach.planned(&mine, t, net);
            let recorded_here = s.endpoints.contains_key(net);
            for n in t.names_on(net) {
                let e = names.entry(n).or_default();
                e.holders.insert(t.holder.clone());
                if expected_here {
                    e.expected.extend(ip.iter().copied());
                }
                if recorded_here {
                    e.recorded.extend(ip.iter().copied());
                }
            }
        }
    }
    names
        .into_iter()
        .filter(|(name, _)| probe::safe_name(name))
        .map(|(name, facts)| Probe {
            subject: format!("{} → name `{name}` ({})", s.holder, join(&facts.holders)),
            // A lookup the engine's records cannot answer is forwarded to the host's
            // resolvers: such a name is asked only where that cannot leave the machine.
            check: Check::Dns {
                name,
                must_resolve: !facts.expected.is_empty() && !facts.recorded.is_empty(),
            },
            expected: facts.expected,
            recorded: facts.recorded,
        })
        .collect()
}

/// Addresses: every address of every other container, ours and outsiders; TCP to its
/// first exposed port, else ICMP.
fn address_checks(s: &Ctr, running: &[&Ctr], outsiders: &[&Ctr], reach: &Reach) -> Vec<Probe> {
    let mine = reach.want.get(&s.holder).cloned().unwrap_or_default();
    let mut checks = Vec::new();
    for t in running.iter().filter(|t| t.id != s.id).chain(outsiders) {
        for (net, (ip, _)) in &t.endpoints {
            let Some(ip) = ip else { continue };
            let reach = reach.planned(&mine, t, net);
            let (check, how) = match t.tcp_ports.first() {
                Some(&port) => (
                    Check::Tcp {
                        ip: *ip,
                        port,
                        must_answer: reach,
                    },
                    format!("tcp {ip}:{port}"),
                ),
                None => (
                    Check::Ping {
                        ip: *ip,
                        must_answer: reach,
                    },
                    format!("ping {ip}"),
                ),
            };
            checks.push(Probe {
                subject: format!("{} → {} {how} on {net}", s.holder, t.holder),
                check,
                expected: BTreeSet::new(),
                recorded: BTreeSet::new(),
            });
        }
    }
    checks
}

/// One probe check with what the plan and the engine's records say it should see.
struct Probe {
    subject: String,
    check: Check,
    /// For names: the addresses the plan says it resolves to.
    expected: BTreeSet<IpAddr>,
    /// For names: the addresses the engine's attachments say it resolves to.
    recorded: BTreeSet<IpAddr>,
}

#[derive(Default)]
struct NameFacts {
    holders: BTreeSet<String>,
    expected: BTreeSet<IpAddr>,
    recorded: BTreeSet<IpAddr>,
}

fn ips(set: &BTreeSet<IpAddr>) -> String {
    join(set.iter().map(|i| i.to_string()))
}

fn probe_row(p: Probe, seen: Seen) -> Row {
    let Probe {
        subject,
        check,
        expected: want,
        recorded,
    } = p;
    match check {
        Check::Dns { .. } => {
            let expected = if want.is_empty() {
                "does not resolve".to_owned()
            } else {
                format!("resolves to {}", ips(&want))
            };
            let (observed, ok) = match seen {
                Seen::Resolved(got) => {
                    let got: BTreeSet<IpAddr> = got.into_iter().collect();
                    // Every answer must be a planned holder (DNS may leave one out).
                    let ok = !want.is_empty() && got.is_subset(&want);
                    (format!("resolves to {}", ips(&got)), ok)
                }
                Seen::NotResolved => ("does not resolve".to_owned(), want.is_empty()),
                Seen::Skipped(why) => {
                    // Judged by what the engine's DNS answers from: its attachments.
                    let by_records = if recorded.is_empty() {
                        "no holder".to_owned()
                    } else {
                        format!("resolves to {}", ips(&recorded))
                    };
                    (
                        format!("engine records: {by_records} (not probed: {why})"),
                        recorded == want,
                    )
                }
                other => (format!("{other:?}"), false),
            };
            Row {
                check: "probe dns",
                subject,
                expected,
                observed,
                ok,
            }
        }
        Check::Tcp { must_answer, .. } | Check::Ping { must_answer, .. } => {
            let expected = if must_answer { "answers" } else { "no answer" }.to_owned();
            let (observed, ok) = match seen {
                Seen::Answered => ("answers".to_owned(), must_answer),
                Seen::NoAnswer => ("no answer".to_owned(), !must_answer),
                // The target went away: nothing to judge (the engine rows say the rest).
                Seen::Skipped(why) => (format!("not probed: {why}"), true),
                other => (format!("{other:?}"), false),
            };
            let check = if matches!(check, Check::Tcp { .. }) {
                "probe tcp"
            } else {
                "probe icmp"
            };
            Row {
                check,
                subject,
                expected,
                observed,
                ok,
            }
        }
    }
}
