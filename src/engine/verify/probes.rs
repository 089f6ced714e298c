//! `verify --probe-image`: what each of our containers must and must not reach, tried
//! from inside its network namespace, and judged. Deciding the checks and judging what
//! they saw are pure; only running them touches the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures_util::stream::{self, StreamExt};
use ipnet::IpNet;

use super::fence::{Kind, Rules};
use super::{join, names, observe, Ctr, Expected, Net, Observed, Row};
use crate::engine::verify::probe_container::{self, Check, Seen};
use crate::engine::{Engine, EngineResult};
use crate::labels;

/// Probe containers started at once (each runs many checks itself).
const PROBES_AT_ONCE: usize = 2;

type Want = BTreeMap<String, BTreeSet<String>>;

/// The probe rows of a scope, sorted by subject.
pub(super) async fn rows(
    engine: &Engine,
    image: &str,
    rules: &Rules<'_>,
    expected: &Expected,
    observed: &Observed,
    base_project: Option<&str>,
) -> EngineResult<Vec<Row>> {
    let scope = rules.scope;
    let mut others = observed.others.clone();
    for o in observe::outsiders(engine, scope, observed, base_project).await? {
        if !others.iter().any(|c| c.id == o.id) {
            others.push(o);
        }
    }
    let want = super::compare::wanted(rules, expected, &observed.ours, &observed.nets);
    let reach = Reach {
        want: &want,
        nets: &observed.nets,
        rules,
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
    let got = probe_container::run(engine, image, &s.id, &labels_for, &just, isolated).await?;
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

/// Who should reach whom, by plan and by the fence.
struct Reach<'a> {
    want: &'a Want,
    nets: &'a BTreeMap<String, Net>,
    rules: &'a Rules<'a>,
}

impl Reach<'_> {
    /// Should a container planned on `mine` reach `t` over `net`? Ours: when both are
    /// planned there. Outsiders: only over the environment, proxy or shared network, and
    /// only when the fence lets them be there (an intruder must not be reached).
    fn planned(&self, mine: &BTreeSet<String>, t: &Ctr, net: &str) -> bool {
        if !mine.contains(net) {
            return false;
        }
        if !t.is_outsider() {
            return self.want.get(&t.holder).is_some_and(|x| x.contains(net));
        }
        let Some(n) = self.nets.get(net) else {
            return false;
        };
        matches!(
            self.rules.kind(net, n),
            Kind::Environment | Kind::Proxy | Kind::Shared
        ) && self.rules.intrusion(net, n, &t.labels).is_none()
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
    let project = names::project_of(s);
    let mut by_name: BTreeMap<String, NameFacts> = BTreeMap::new();
    for t in running.iter().chain(outsiders) {
        let kin = project.is_some() && names::project_of(t) == project;
        for (net, (ip, _)) in &t.endpoints {
            let expected_here = reach.planned(&mine, t, net);
            let recorded_here = s.endpoints.contains_key(net);
            for n in t.names_on(net) {
                let e = by_name.entry(n).or_default();
                e.holders.insert(t.holder.clone());
                if expected_here {
                    e.expected.extend(ip.iter().copied());
                    if kin {
                        e.kin.extend(ip.iter().copied());
                    }
                }
                if recorded_here {
                    e.recorded.extend(ip.iter().copied());
                }
            }
        }
    }
    by_name
        .into_iter()
        .filter(|(name, _)| probe_container::safe_name(name))
        .map(|(name, mut facts)| {
            {
                // A name its own project holds answers from its own project only (rule 13).
                if !facts.kin.is_empty() {
                    facts.expected = std::mem::take(&mut facts.kin);
                }
                facts
            }
            .into_probe(s, name)
        })
        .collect()
}

impl NameFacts {
    fn into_probe(self, s: &Ctr, name: String) -> Probe {
        let facts = self;
        Probe {
            subject: format!("{} → name `{name}` ({})", s.holder, join(&facts.holders)),
            // A lookup the engine's records cannot answer is forwarded to the host's
            // resolvers: such a name is asked only where that cannot leave the machine.
            check: Check::Dns {
                name,
                must_resolve: !facts.expected.is_empty() && !facts.recorded.is_empty(),
            },
            expected: facts.expected,
            recorded: facts.recorded,
        }
    }
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
    /// Of `expected`, the addresses of the asking container's own project.
    kin: BTreeSet<IpAddr>,
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
                Seen::Unclear(what) => (format!("unclear: {what}"), false),
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
                // A reset comes from the target's own kernel: the path is open.
                Seen::Refused => (
                    "answers (connection refused: nothing listens there)".to_owned(),
                    must_answer,
                ),
                Seen::Pinged => ("answers (ping; tcp silent)".to_owned(), must_answer),
                Seen::NoAnswer => ("no answer".to_owned(), !must_answer),
                Seen::Unclear(what) => (format!("unclear: {what}"), false),
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{compare, Platform};
    use super::*;
    use crate::scope::Scope;

    /// Each check of a clean run `a`, as `subject: must`.
    fn checks(observed: &Observed) -> Vec<String> {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let platform = Platform::default();
        let rules = rules(&scope, &platform, &expected);
        checks_under(&rules, &expected, observed)
    }

    fn checks_under(rules: &Rules, expected: &Expected, observed: &Observed) -> Vec<String> {
        let want = compare::wanted(rules, expected, &observed.ours, &observed.nets);
        let reach = Reach {
            want: &want,
            nets: &observed.nets,
            rules,
        };
        plan_probes(&observed.ours, &observed.others, &reach)
            .into_iter()
            .flat_map(|(_, checks)| checks)
            .map(|p| {
                let must = match p.check {
                    Check::Dns { must_resolve, .. } => format!("resolve {must_resolve}"),
                    Check::Tcp { must_answer, .. } | Check::Ping { must_answer, .. } => {
                        format!("answer {must_answer}")
                    }
                };
                format!("{}: {must} {}", p.subject, ips(&p.expected))
            })
            .collect()
    }

    #[test]
    fn each_container_must_reach_exactly_what_it_shares_by_plan() {
        let scope = Scope::Run("a".into());
        assert_eq!(
            checks(&clean(&scope)),
            vec![
                "db → name `a-db-1` (db): resolve true 10.0.1.3",
                "db → name `a-web-1` (web): resolve true 10.0.1.2",
                "db → name `db` (db): resolve true 10.0.1.3",
                "db → name `web` (web): resolve true 10.0.1.2",
                "db → web ping 10.0.1.2 on nf-a-back: answer true —",
                // The front network is web's alone: db must not get there.
                "db → web ping 10.0.0.2 on nf-a-front: answer false —",
                "web → name `a-db-1` (db): resolve true 10.0.1.3",
                "web → name `a-web-1` (web): resolve true 10.0.0.2, 10.0.1.2",
                "web → name `db` (db): resolve true 10.0.1.3",
                "web → name `web` (web): resolve true 10.0.0.2, 10.0.1.2",
                "web → db ping 10.0.1.3 on nf-a-back: answer true —",
            ]
        );
    }

    #[test]
    fn another_scopes_container_is_reachable_only_over_a_cross_scope_network() {
        let scope = Scope::Run("a".into());
        let mut observed = clean(&scope);
        let mut stranger = ctr(
            "b-web-1",
            "container b-web-1",
            &[("nf-a-front", "10.0.0.9", &[])],
        );
        stranger.tcp_ports = vec![80];
        observed.others.push(stranger);
        let about_stranger: Vec<String> = checks(&observed)
            .into_iter()
            .filter(|c| c.starts_with("web") && c.contains("b-web-1"))
            .collect();
        assert_eq!(
            about_stranger,
            vec![
                "web → name `b-web-1` (container b-web-1): resolve false —",
                "web → container b-web-1 tcp 10.0.0.9:80 on nf-a-front: answer false —",
            ]
        );
        // The same container on the proxy network is a peer there when it is a public
        // service; any other container there must not be reached.
        let mut proxy = net("", &[]);
        proxy.labels.insert(labels::ROLE.into(), "proxy".into());
        observed.nets.insert("nf-proxy".into(), proxy);
        for c in observed.ours.iter_mut().chain(observed.others.iter_mut()) {
            let ip = if c.holder == "web" {
                "10.9.0.2"
            } else {
                "10.9.0.9"
            };
            if c.holder != "db" {
                c.endpoints
                    .insert("nf-proxy".into(), (Some(ip.parse().unwrap()), Vec::new()));
            }
        }
        let expected = planned(&scope);
        let platform = Platform::default();
        let rules = rules(&scope, &platform, &expected);
        let mut want = compare::wanted(&rules, &expected, &observed.ours, &observed.nets);
        want.get_mut("web").unwrap().insert("nf-proxy".into());
        let reach = Reach {
            want: &want,
            nets: &observed.nets,
            rules: &rules,
        };
        let web = &observed.ours[1];
        let mut stranger = observed.others[0].clone();
        assert!(!reach.planned(&want["web"], &stranger, "nf-proxy"));
        stranger.labels = labelled("run:b", "nf-b-shop", "web");
        assert!(!reach.planned(&want["web"], &stranger, "nf-proxy"));
        stranger.labels.insert(
            crate::proxy_labels::TRAEFIK_DOCKER_NETWORK.into(),
            "nf-proxy".into(),
        );
        assert!(reach.planned(&want["web"], &stranger, "nf-proxy"));
        assert!(!reach.planned(&want["web"], &stranger, "nf-a-front"));
        assert!(!reach.planned(&want["db"], web, "nf-a-front"));
    }

    #[test]
    fn an_intruder_on_the_environment_network_must_not_be_reached() {
        let (scope, platform, expected, mut observed) = environment();
        let rules = rules(&scope, &platform, &expected);
        let about = |observed: &Observed, who: &str| -> Vec<String> {
            checks_under(&rules, &expected, observed)
                .into_iter()
                .filter(|c| c.starts_with("nf-staging-shop/web →") && c.contains(who))
                .filter(|c| c.contains(" ping "))
                .collect()
        };
        // Another project of the environment is a peer there.
        assert_eq!(
            about(&observed, "nf-staging-blog/api"),
            vec!["nf-staging-shop/web → nf-staging-blog/api ping 10.9.0.9 on nf-env-staging: answer true —"]
        );
        // Production's container on staging's environment network is not.
        let mut intruder = of_env("env:prod", "intruder", "x", &["nf-env-staging"]);
        intruder.holder = format!("container {}", intruder.name);
        observed.others.push(intruder);
        assert_eq!(
            about(&observed, "intruder-x-1"),
            vec!["nf-staging-shop/web → container intruder-x-1 ping 10.9.0.9 on nf-env-staging: answer false —"]
        );
    }

    fn probe(check: Check, expected: &[&str], recorded: &[&str]) -> Probe {
        let set = |v: &[&str]| v.iter().map(|i| i.parse().unwrap()).collect();
        Probe {
            subject: "s".into(),
            check,
            expected: set(expected),
            recorded: set(recorded),
        }
    }

    fn dns(must_resolve: bool) -> Check {
        Check::Dns {
            name: "db".into(),
            must_resolve,
        }
    }

    fn tcp(must_answer: bool) -> Check {
        Check::Tcp {
            ip: "10.0.1.3".parse().unwrap(),
            port: 5432,
            must_answer,
        }
    }

    fn judged(p: Probe, seen: Seen) -> (String, bool) {
        let r = probe_row(p, seen);
        (r.observed, r.ok)
    }

    #[test]
    fn what_a_probe_saw_is_judged_against_the_plan() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let planned = || probe(dns(true), &["10.0.1.3"], &["10.0.1.3"]);
        // DNS may leave one holder out, never add one.
        assert_eq!(
            judged(planned(), Seen::Resolved(vec![ip("10.0.1.3")])),
            ("resolves to 10.0.1.3".into(), true)
        );
        assert_eq!(
            judged(
                planned(),
                Seen::Resolved(vec![ip("10.0.1.3"), ip("10.0.2.7")])
            ),
            ("resolves to 10.0.1.3, 10.0.2.7".into(), false)
        );
        assert_eq!(
            judged(planned(), Seen::NotResolved),
            ("does not resolve".into(), false)
        );
        assert_eq!(
            judged(probe(dns(false), &[], &[]), Seen::NotResolved),
            ("does not resolve".into(), true)
        );
        // A name not looked up is judged by the engine's records.
        let skipped = Seen::Skipped("internal only".into());
        assert_eq!(
            judged(probe(dns(false), &[], &["10.0.2.7"]), skipped),
            (
                "engine records: resolves to 10.0.2.7 (not probed: internal only)".into(),
                false
            )
        );
        assert_eq!(
            judged(probe(tcp(true), &[], &[]), Seen::NoAnswer),
            ("no answer".into(), false)
        );
        assert_eq!(
            judged(probe(tcp(false), &[], &[]), Seen::Answered),
            ("answers".into(), false)
        );
        assert_eq!(
            judged(probe(tcp(false), &[], &[]), Seen::NoAnswer),
            ("no answer".into(), true)
        );
        // A refused connection and a ping where TCP is silent prove the path is open:
        // answers where the plan wants them, differences where it does not.
        let refused = "answers (connection refused: nothing listens there)";
        assert_eq!(
            judged(probe(tcp(true), &[], &[]), Seen::Refused),
            (refused.into(), true)
        );
        assert_eq!(
            judged(probe(tcp(false), &[], &[]), Seen::Refused),
            (refused.into(), false)
        );
        assert_eq!(
            judged(probe(tcp(false), &[], &[]), Seen::Pinged),
            ("answers (ping; tcp silent)".into(), false)
        );
        // What is neither an answer nor silence passes for nothing.
        for must in [true, false] {
            let (_, ok) = judged(probe(tcp(must), &[], &[]), Seen::Unclear("?".into()));
            assert!(!ok);
            let (_, ok) = judged(
                probe(dns(must), &["10.0.1.3"], &[]),
                Seen::Unclear("?".into()),
            );
            assert!(!ok);
        }
        // A target that went away proves nothing either way.
        assert_eq!(
            judged(probe(tcp(true), &[], &[]), Seen::Skipped("gone".into())),
            ("not probed: gone".into(), true)
        );
    }

    #[test]
    fn traffic_goes_only_to_networks_the_engine_has() {
        let checks = vec![
            probe(tcp(true), &[], &[]),
            probe(
                Check::Ping {
                    ip: "192.0.2.1".parse().unwrap(),
                    must_answer: false,
                },
                &[],
                &[],
            ),
            probe(dns(true), &[], &[]),
        ];
        let live: Vec<IpNet> = vec!["10.0.1.0/24".parse().unwrap()];
        let sent = on_engine(&checks, &live);
        assert_eq!(sent, vec![0, 2]);
        let got = vec![Seen::Answered, Seen::NotResolved];
        let seen = settle(&checks, &sent, got.clone(), &live);
        assert_eq!(seen[0], Seen::Answered);
        assert!(matches!(&seen[1], Seen::Skipped(why) if why.contains("no longer on this engine")));
        assert_eq!(seen[2], Seen::NotResolved);
        // The network went away while the probe ran: the answer is not judged.
        let seen = settle(&checks, &sent, got, &[]);
        assert!(matches!(&seen[0], Seen::Skipped(why) if why.contains("went away")));
        assert_eq!(seen[2], Seen::NotResolved);
    }
}
