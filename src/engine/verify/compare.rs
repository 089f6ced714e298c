//! The report's rows from what was expected and what the engine shows: pure, so every
//! rule can be pinned with a hand-built picture of the engine. Who may be where is
//! [`fence`](super::fence)'s to say.

use std::collections::{BTreeMap, BTreeSet};

use super::fence::{self, Kind, Rules};
use super::{join, row, Ctr, Expected, Net, Observed, Row};
use crate::labels;
use crate::plan::Role;

/// Every row but the probes', in report order.
pub(super) fn rows(rules: &Rules, expected: &Expected, observed: &Observed) -> Vec<Row> {
    let scope = rules.scope;
    let Observed {
        scope_networks,
        ours,
        others,
        nets,
        by_priority,
        ..
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
    compare_networks(expected, nets, &scope.to_string(), &mut rows);
    let want = wanted(rules, expected, ours, nets);
    compare_attachments(expected, &want, ours, &mut rows);
    compare_external(rules, expected, &want, observed, &mut rows);
    compare_members(rules, expected, observed, &mut rows);
    compare_escapes(rules, observed, &mut rows);
    compare_sharers(rules, observed, &mut rows);
    compare_pairs(ours, &want, &mut rows);
    compare_names(rules, ours, others, nets, &mut rows);
    rows.extend(super::names::rows(ours, others, nets, *by_priority));
    rows.extend(super::names::answered_rows(ours, others, &observed.answers));
    rows.extend(super::host_rules::rows(rules, &observed.host_rules, nets));
    rows.extend(super::host_rules::direct_rows(
        &observed.host_rules,
        ours,
        nets,
    ));
    rows
}

fn compare_networks(
    expected: &Expected,
    nets: &BTreeMap<String, Net>,
    scope: &str,
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
                    || n.labels.get(labels::SCOPE).map(String::as_str) == Some(scope);
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

/// The networks a container is attached to (`host` and `none` are namespace modes,
/// judged as escapes, not attachments).
fn attached(c: &Ctr) -> impl Iterator<Item = &String> {
    c.endpoints.keys().filter(|n| !fence::is_mode(n))
}

/// What each of our holders is expected to be attached to: the plan's attachments, or
/// without a plan the networks the fence allows it (its own project's, its
/// environment's, a proxy network when it is public there, a shared network the policy
/// sends its service to).
pub(super) fn wanted(
    rules: &Rules,
    expected: &Expected,
    ours: &[Ctr],
    nets: &BTreeMap<String, Net>,
) -> BTreeMap<String, BTreeSet<String>> {
    if let Some(services) = &expected.services {
        return services
            .iter()
            .map(|(svc, att)| (svc.clone(), att.keys().cloned().collect()))
            .collect();
    }
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in ours {
        let allowed = attached(c).filter(|n| {
            nets.get(*n)
                .is_some_and(|net| rules.may_use(n, net, &c.labels))
        });
        want.entry(c.holder.clone())
            .or_default()
            .extend(allowed.cloned());
    }
    want
}

/// Attachment rows: a planned service without a container, each container's networks
/// against `want`, and (with a plan, while it runs) its aliases on each. A container that
/// finished cleanly (a one-shot job) is judged by the networks it is configured with; one
/// that failed is a difference.
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
        if !c.running && c.exit_code != 0 {
            rows.push(Row {
                check: "attachments",
                subject: format!("{} ({})", c.holder, c.name),
                expected: "running, or finished with exit 0".into(),
                observed: format!("not running (exit {})", c.exit_code),
                ok: false,
            });
            continue;
        }
        let subject = if c.running {
            format!("{} ({})", c.holder, c.name)
        } else {
            format!("{} ({}, finished: exit 0)", c.holder, c.name)
        };
        let expected_nets = want.get(&c.holder).cloned().unwrap_or_default();
        rows.push(row(
            "attachments",
            subject.clone(),
            join(&expected_nets),
            join(attached(c)),
        ));
        if let (Some(services), true) = (&expected.services, c.running) {
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

/// Each network outside the fence that one of our containers is on (another
/// environment's, another scope's, one netfence does not label), unless the plan
/// declares it or, without a plan, the policy grants it: named with whose it is.
fn compare_external(
    rules: &Rules,
    expected: &Expected,
    want: &BTreeMap<String, BTreeSet<String>>,
    observed: &Observed,
    rows: &mut Vec<Row>,
) {
    let mut users: BTreeMap<&String, Vec<String>> = BTreeMap::new();
    for c in &observed.ours {
        for n in attached(c) {
            users
                .entry(n)
                .or_default()
                .push(format!("{} ({})", c.holder, c.name));
        }
    }
    for (name, users) in users {
        let Some(net) = observed.nets.get(name) else {
            continue;
        };
        let Kind::Foreign(whose) = rules.kind(name, net) else {
            continue;
        };
        let planned = match &expected.services {
            Some(_) => expected.networks.contains_key(name),
            None => want.values().any(|w| w.contains(name)),
        };
        if planned {
            continue;
        }
        rows.push(Row {
            check: "external",
            subject: name.clone(),
            expected: format!("no container of {}", rules.scope),
            observed: format!("{} on it: {whose}", join(&users)),
            ok: false,
        });
    }
}

/// Who is on the networks whose members are the scope's to judge: its own, its
/// environment's, and the proxy and shared networks it uses. Each container there that
/// the fence does not allow is named, with why.
fn compare_members(rules: &Rules, expected: &Expected, observed: &Observed, rows: &mut Vec<Row>) {
    // With a plan, only its project's own networks are judged: another project of the
    // same environment has its own, with its own containers on them.
    let planned_own: Option<BTreeSet<String>> = expected.services.as_ref().map(|_| {
        expected
            .networks
            .iter()
            .filter(|(_, (role, _))| *role == Role::Managed)
            .map(|(n, _)| n.clone())
            .collect()
    });
    let ours: BTreeSet<&str> = observed.ours.iter().map(|c| c.id.as_str()).collect();
    for (name, n) in &observed.nets {
        if fence::is_mode(name) {
            continue;
        }
        let kind = rules.kind(name, n);
        let used = expected.networks.contains_key(name)
            || observed.ours.iter().any(|c| c.endpoints.contains_key(name));
        if !fence::judges_members(&kind, planned_own.as_ref(), name, used) {
            continue;
        }
        let mine: BTreeSet<String> = observed
            .ours
            .iter()
            .filter(|c| n.members.contains(&c.id))
            .map(|c| c.holder.clone())
            .collect();
        let mut intruders: BTreeSet<String> = BTreeSet::new();
        for id in n.members.iter().filter(|id| !ours.contains(id.as_str())) {
            // Not listed: it went away between the two reads.
            let Some((cname, labels)) = observed.labels_of(id) else {
                continue;
            };
            if is_own_probe(rules, labels) {
                continue;
            }
            if let Some(why) = rules.intrusion(name, n, labels) {
                intruders.insert(format!("container {cname} ({why})"));
            }
        }
        let who = match kind {
            Kind::Proxy => "public services and the proxy".to_owned(),
            Kind::Shared => "the services the policy sends here".to_owned(),
            _ => rules.scope.to_string(),
        };
        let allowed = format!("only {who}: {}", join(&mine));
        rows.push(Row {
            check: "members",
            subject: name.clone(),
            expected: allowed.clone(),
            observed: if intruders.is_empty() {
                allowed
            } else {
                format!("{}; also {}", join(&mine), join(&intruders))
            },
            ok: intruders.is_empty(),
        });
    }
}

/// A probe of this scope's own `verify` (this one or one running beside it).
fn is_own_probe(rules: &Rules, labels: &std::collections::HashMap<String, String>) -> bool {
    labels.get(labels::ROLE).map(String::as_str) == Some("probe")
        && labels.get(labels::MANAGED).map(String::as_str) == Some("true")
        && labels.get(labels::SCOPE) == Some(&rules.scope.to_string())
}

/// What our containers do live beyond their networks: one row per escape.
fn compare_escapes(rules: &Rules, observed: &Observed, rows: &mut Vec<Row>) {
    for c in &observed.ours {
        for f in rules.escapes(c, |id| observed.other(id)) {
            rows.push(Row {
                check: "escape",
                subject: format!("{} ({})", c.holder, c.name),
                expected: f.expected,
                observed: match f.note {
                    Some(note) => format!("{} ({note})", f.observed),
                    None => f.observed,
                },
                ok: f.ok,
            });
        }
    }
}

/// Containers that are not ours running in the network namespace of one of ours: they
/// are on every network it is on, without being on any network's list. Our own probes
/// aside, each is a difference.
fn compare_sharers(rules: &Rules, observed: &Observed, rows: &mut Vec<Row>) {
    let ours: BTreeSet<&str> = observed.ours.iter().map(|c| c.id.as_str()).collect();
    for c in &observed.ours {
        let mode = format!("container:{}", c.id);
        let sharers: Vec<String> = observed
            .listed
            .values()
            .filter(|l| l.network_mode == mode && !ours.contains(l.id.as_str()))
            .filter(|l| !is_own_probe(rules, &l.labels))
            .map(|l| {
                let o = fence::Other::of(&l.name, &l.labels);
                format!("container {} ({})", o.name, o.whose())
            })
            .collect();
        if sharers.is_empty() {
            continue;
        }
        rows.push(Row {
            check: "namespace",
            subject: format!("{} ({})", c.holder, c.name),
            expected: format!("its network namespace shared with {} only", rules.scope),
            observed: format!("joined by {}", join(&sharers)),
            ok: false,
        });
    }
}

/// Who shares a network with whom: every pair of the scope's services, by the networks
/// each is attached to (a finished job by those it is configured with).
fn compare_pairs(ours: &[Ctr], want: &BTreeMap<String, BTreeSet<String>>, rows: &mut Vec<Row>) {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in ours {
        seen.entry(c.holder.clone())
            .or_default()
            .extend(attached(c).cloned());
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

/// Every name on a network of the scope's own resolves to one holder. On networks other
/// projects share, one name has a holder in each project that joins with it: what counts
/// there is where each container's lookups are answered from (`names::rows`).
fn compare_names(
    rules: &Rules,
    ours: &[Ctr],
    others: &[Ctr],
    nets: &BTreeMap<String, Net>,
    rows: &mut Vec<Row>,
) {
    let used: BTreeSet<&String> = ours.iter().flat_map(|c| c.endpoints.keys()).collect();
    for net in used {
        let Some(n) = nets.get(net) else { continue };
        let scoped = n.labels.contains_key(labels::SCOPE);
        match rules.kind(net, n) {
            Kind::Own => {}
            Kind::Foreign(_) if scoped => {}
            _ => continue,
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
    use super::super::Platform;
    use super::*;
    use crate::scope::Scope;
    use std::collections::HashMap;

    #[test]
    fn a_foreign_member_and_a_shared_name_are_differences() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        assert_eq!(
            differences(&scope, &expected, &observed),
            Vec::<String>::new()
        );
        let stranger = ctr(
            "stranger",
            "container stranger",
            &[("nf-a-front", "10.0.0.9", &["web"])],
        );
        observed
            .nets
            .get_mut("nf-a-front")
            .unwrap()
            .members
            .push(stranger.id.clone());
        observed.others.push(stranger);
        assert_eq!(
            differences(&scope, &expected, &observed),
            vec![
                "members nf-a-front: expected only run:a: web, observed web; also container stranger (no netfence labels)",
                "names `web` on nf-a-front: expected one holder, observed 2 holders: container stranger, web",
            ]
        );
    }

    #[test]
    fn with_a_plan_another_project_of_the_scope_on_its_network_is_named() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        let mut blog = ctr("a-blog-1", "container a-blog-1", &[]);
        blog.labels = labelled("run:a", "nf-a-blog", "cms");
        observed
            .nets
            .get_mut("nf-a-back")
            .unwrap()
            .members
            .push(blog.id.clone());
        observed.others.push(blog);
        assert_eq!(
            differences(&scope, &expected, &observed),
            vec!["members nf-a-back: expected only run:a: db, web, observed db, web; also container a-blog-1 (project nf-a-blog)"]
        );
    }

    #[test]
    fn an_environment_without_a_plan_is_clean_with_its_legitimate_neighbours() {
        let (scope, platform, expected, observed) = environment();
        assert_eq!(
            judged(&scope, &platform, &expected, &observed),
            Vec::<String>::new()
        );
    }

    /// Puts `c` on `nets` (members and endpoints) as one of the others.
    fn add_other(observed: &mut Observed, mut c: Ctr, nets: &[&str]) {
        c.holder = format!("container {}", c.name);
        for n in nets {
            observed
                .nets
                .get_mut(*n)
                .unwrap()
                .members
                .push(c.id.clone());
            c.endpoints.insert(n.to_string(), (None, Vec::new()));
        }
        observed.others.push(c);
    }

    #[test]
    fn whoever_the_fence_does_not_let_onto_the_environments_networks_is_named_with_why() {
        let (scope, platform, expected, mut observed) = environment();
        // Production's container on staging's environment network (deployed around
        // netfence), a private one of production and an unlabelled one on the proxy
        // network, and production's `cache` on the shared network the policy keeps for `db`.
        add_other(
            &mut observed,
            of_env("env:prod", "nf-prod-x", "intruder", &[]),
            &["nf-env-staging"],
        );
        add_other(
            &mut observed,
            of_env("env:prod", "nf-prod-shop", "db", &[]),
            &["nf-proxy"],
        );
        add_other(&mut observed, ctr("sidecar", "sidecar", &[]), &["nf-proxy"]);
        add_other(
            &mut observed,
            of_env("env:prod", "nf-prod-shop", "cache", &[]),
            &["nf-shared-infra"],
        );
        assert_eq!(
            judged(&scope, &platform, &expected, &observed),
            vec![
                "members nf-env-staging: expected only env:staging: nf-staging-blog/api, nf-staging-shop/db, nf-staging-shop/web, \
                 observed nf-staging-blog/api, nf-staging-shop/db, nf-staging-shop/web; also container nf-prod-x-intruder-1 (env:prod)",
                "members nf-proxy: expected only public services and the proxy: nf-staging-shop/web, \
                 observed nf-staging-shop/web; also container nf-prod-shop-db-1 (env:prod, not a public service), \
                 container sidecar (no netfence labels, not the proxy (io.netfence.role=proxy))",
                "members nf-shared-infra: expected only the services the policy sends here: nf-staging-shop/db, \
                 observed nf-staging-shop/db; also container nf-prod-shop-cache-1 (env:prod, service cache: not one the policy sends here)",
            ]
        );
    }

    #[test]
    fn a_container_on_another_environments_network_is_named_from_its_own_side() {
        // Production's view of the same breach: its container on staging's network.
        let scope = Scope::Env("prod".into());
        let platform = Platform {
            tenant: true,
            ..Platform::default()
        };
        let intruder = of_env("env:prod", "nf-prod-x", "intruder", &["nf-env-staging"]);
        let staging = net_with(
            &[
                (labels::SCOPE, "env:staging"),
                (labels::ROLE, "environment"),
            ],
            &[&intruder],
        );
        let expected = super::super::expectations(&scope, None, &BTreeSet::new());
        let observed = Observed {
            nets: BTreeMap::from([("nf-env-staging".to_owned(), staging)]),
            ours: vec![intruder],
            ..Observed::default()
        };
        let (ours, _) = super::super::observe::split(&expected, observed.ours);
        let observed = Observed { ours, ..observed };
        assert_eq!(
            judged(&scope, &platform, &expected, &observed),
            vec![
                "attachments intruder (nf-prod-x-intruder-1): expected —, observed nf-env-staging",
                "external nf-env-staging: expected no container of env:prod, \
                 observed intruder (nf-prod-x-intruder-1) on it: the environment network of env:staging",
            ]
        );
    }

    #[test]
    fn escapes_are_named_in_tenant_mode_unless_granted_and_shown_in_a_trusted_scope() {
        let (scope, mut platform, expected, mut observed) = environment();
        let web = observed
            .ours
            .iter_mut()
            .find(|c| c.name.contains("web"))
            .unwrap();
        web.confinement.privileged = true;
        web.confinement.pid_mode = "host".into();
        web.confinement.cap_add = vec!["CHOWN".into(), "cap_net_admin".into()];
        web.confinement.binds = vec![crate::engine::client::docker::BindMount {
            source: "/var/run/docker.sock".into(),
            destination: "/sock".into(),
        }];
        let escapes = |platform: &Platform| -> Vec<String> {
            let rules = rules(&scope, platform, &expected);
            rows(&rules, &expected, &observed)
                .into_iter()
                .filter(|r| r.check == "escape")
                .map(|r| {
                    format!(
                        "{} {}: {}",
                        if r.ok { "ok" } else { "✗" },
                        r.expected,
                        r.observed
                    )
                })
                .collect()
        };
        assert_eq!(
            escapes(&platform),
            vec![
                "✗ its own namespaces: pid: host (tenant mode; the policy can allow it with `tenant.allow.host_namespaces: true`)",
                "✗ not privileged: privileged (tenant mode; the policy can allow it with `tenant.allow.privileged: true`)",
                "✗ no Docker socket: bind mount /var/run/docker.sock → /sock: the Docker API (tenant mode; the policy can allow it with `tenant.allow.docker_socket: true`)",
                "✗ Docker's default capabilities: cap_add NET_ADMIN (tenant mode; the policy can allow it with `tenant.allow.capabilities: [NET_ADMIN]`)",
            ]
        );
        platform.allow.privileged = true;
        platform.allow.capabilities = vec!["NET_ADMIN".into()];
        let granted = escapes(&platform);
        assert!(
            granted[1]
                .starts_with("ok not privileged: privileged (granted by tenant.allow.privileged)"),
            "{granted:?}"
        );
        assert!(granted[3].starts_with("ok "), "{granted:?}");
        assert!(granted[0].starts_with("✗ "), "{granted:?}");
        platform.tenant = false;
        assert!(escapes(&platform)
            .iter()
            .all(|e| e.starts_with("ok ") && e.contains("trusted")));
    }

    #[test]
    fn a_namespace_is_the_projects_own_and_another_scopes_is_never_joined() {
        let (scope, platform, expected, mut observed) = environment();
        let db_id = observed
            .ours
            .iter()
            .find(|c| c.name.contains("shop-db"))
            .unwrap()
            .id
            .clone();
        let prod_db_id = observed
            .others
            .iter()
            .find(|c| c.name == "nf-prod-shop-db-1")
            .unwrap()
            .id
            .clone();
        // web runs in db's namespace: its own project's, fine.
        let web = observed
            .ours
            .iter_mut()
            .find(|c| c.name.contains("shop-web"))
            .unwrap();
        web.confinement.network_mode = format!("container:{db_id}");
        assert_eq!(
            judged(&scope, &platform, &expected, &observed),
            Vec::<String>::new()
        );
        // In production's database's: another scope's, a difference even when trusted.
        let web = observed
            .ours
            .iter_mut()
            .find(|c| c.name.contains("shop-web"))
            .unwrap();
        web.confinement.network_mode = format!("container:{prod_db_id}");
        let trusted = Platform {
            tenant: false,
            ..platform.clone()
        };
        for p in [&platform, &trusted] {
            assert_eq!(
                judged(&scope, p, &expected, &observed),
                vec!["escape nf-staging-shop/web (nf-staging-shop-web-1): expected its own namespaces (or its project's), \
                      observed network namespace of container nf-prod-shop-db-1 (env:prod, project nf-prod-shop) \
                      (another scope's: env:staging reaches into it)"]
            );
        }
    }

    #[test]
    fn a_container_in_one_of_ours_network_namespace_is_named_and_our_probes_are_not() {
        let (scope, platform, expected, mut observed) = environment();
        let db = observed
            .ours
            .iter()
            .find(|c| c.name.contains("shop-db"))
            .unwrap()
            .clone();
        let listed = |id: &str, name: &str, labels: HashMap<String, String>| {
            crate::engine::client::docker::ContainerSummary {
                id: id.into(),
                name: name.into(),
                labels,
                network_mode: format!("container:{}", db.id),
                ..Default::default()
            }
        };
        let mut probe = labelled("env:staging", "nf-staging-shop", "probe");
        probe.insert(labels::ROLE.into(), "probe".into());
        observed
            .listed
            .insert("p".into(), listed("p", "probe", probe));
        assert_eq!(
            judged(&scope, &platform, &expected, &observed),
            Vec::<String>::new()
        );
        observed.listed.insert(
            "x".into(),
            listed("x", "spy", labelled("env:prod", "nf-prod-x", "spy")),
        );
        assert_eq!(
            judged(&scope, &platform, &expected, &observed),
            vec!["namespace nf-staging-shop/db (nf-staging-shop-db-1): expected its network namespace shared with env:staging only, \
                  observed joined by container spy (env:prod, project nf-prod-x)"]
        );
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
    fn a_one_shot_job_that_finished_is_judged_by_its_networks_and_a_crashed_one_is_named() {
        let scope = Scope::Run("a".into());
        let expected = planned(&scope);
        let mut observed = clean(&scope);
        observed.ours[0].running = false;
        assert_eq!(
            differences(&scope, &expected, &observed),
            Vec::<String>::new()
        );
        // Its pair is what its configured networks make it, as for a running one.
        let platform = Platform::default();
        let rows = rows(&rules(&scope, &platform, &expected), &expected, &observed);
        let pair = rows.iter().find(|r| r.check == "pair").unwrap();
        assert_eq!(
            (pair.subject.as_str(), pair.observed.as_str()),
            ("db ↔ web", "via nf-a-back")
        );
        observed.ours[0].exit_code = 2;
        assert_eq!(
            differences(&scope, &expected, &observed),
            vec!["attachments db (a-db-1): expected running, or finished with exit 0, observed not running (exit 2)"]
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
        env.labels
            .insert(labels::SCOPE.into(), "env:production".into());
        nets.insert("nf-env-production".to_owned(), env);
        web.endpoints
            .insert("nf-env-production".into(), (None, Vec::new()));
        let expected = Expected::default();
        let platform = Platform::default();
        let rules = rules(&scope, &platform, &expected);
        let want = wanted(&rules, &expected, std::slice::from_ref(&web), &nets);
        assert_eq!(
            want["web"],
            BTreeSet::from(["nf-env-production".to_owned(), "shop-net".to_owned()])
        );
        // Another project's network of the same environment is not this one's.
        web.endpoints.insert("blog-net".into(), (None, Vec::new()));
        let want = wanted(&rules, &expected, std::slice::from_ref(&web), &nets);
        assert!(!want["web"].contains("blog-net"));
    }
}
