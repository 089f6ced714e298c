//! `netfence verify --run-id ID | --env NAME`: the reachability a scope promises, checked
//! against the engine's real state — which networks exist and which are internal, which
//! services share a network, which names resolve to exactly one holder — and, with
//! `--probe-image`, proved with real DNS and TCP/ICMP from inside each container.
//!
//! Expectations come from one of two places:
//! - with `-f FILE…` (or `$COMPOSE_FILE`), the plan recomputed for the scope: every
//!   network with its `internal` flag, every service's attachments and aliases;
//! - without, the engine's labels alone: the scope's networks (`io.netfence.scope`) and
//!   containers (plus Compose's service label). Then a container may be attached only to
//!   its scope's networks and netfence's cross-scope ones (proxy, shared, environment);
//!   whether a network should be internal, and which aliases a service should have, is
//!   only known from the file, so those are shown but not judged.
//!
//! Either way, a container that is not of the scope on one of the scope's own networks,
//! and a name held by two different services (or a foreign container) on one network, are
//! differences. Any difference exits 1.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::probe::{self, Check, Seen};
use super::{api_message, is_not_found, scope_filter, Engine, EngineError, EngineResult};
use crate::labels;
use crate::plan::{Plan, Role};
use crate::scope::Scope;

const COMPOSE_SERVICE: &str = "com.docker.compose.service";
const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// Probe containers started at once (each runs many checks itself).
const PROBES_AT_ONCE: usize = 2;
/// At most this many other scopes' containers are probed as "must not reach".
const MAX_OUTSIDERS: usize = 6;
/// At most this many foreign containers on the scope's networks are inspected.
const MAX_FOREIGN: usize = 50;

/// One row of the report: what the plan (or the labels) expect, and what the engine shows.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub check: &'static str,
    pub subject: String,
    pub expected: String,
    pub observed: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scope: String,
    /// Where the expectations came from.
    pub expectations: String,
    pub ok: bool,
    pub rows: Vec<Row>,
    /// One line per difference, naming it.
    pub differences: Vec<String>,
}

/// A container as the engine shows it.
#[derive(Debug, Clone)]
struct Ctr {
    id: String,
    name: String,
    /// The service it belongs to (ours), or the container name (foreign).
    holder: String,
    running: bool,
    exit_code: i64,
    /// Network name → (IPv4 address, aliases).
    endpoints: BTreeMap<String, (Option<IpAddr>, Vec<String>)>,
    tcp_ports: Vec<u16>,
    labels: HashMap<String, String>,
}

impl Ctr {
    fn names_on(&self, net: &str) -> BTreeSet<String> {
        let mut n = BTreeSet::new();
        n.insert(self.name.clone());
        if let Some((_, aliases)) = self.endpoints.get(net) {
            for a in aliases {
                // Docker adds the short container id as an alias: unique by construction.
                if !self.id.starts_with(a.as_str()) {
                    n.insert(a.clone());
                }
            }
        }
        n
    }
}

#[derive(Debug, Clone)]
struct Net {
    internal: bool,
    labels: HashMap<String, String>,
    /// Container ids attached.
    members: Vec<String>,
}

impl Net {
    fn persistent(&self) -> bool {
        self.labels
            .get(labels::ROLE)
            .is_some_and(|r| matches!(r.as_str(), "proxy" | "shared" | "environment"))
    }
}

/// What the scope should look like.
#[derive(Debug, Default)]
struct Expected {
    source: String,
    /// Network name → (role, internal if known).
    networks: BTreeMap<String, (Role, Option<bool>)>,
    /// Service → network name → aliases (None: attachments judged from labels only).
    services: Option<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
    /// With a plan: the Compose project whose containers are ours.
    project: Option<String>,
}

/// Builds the report for a scope (expectations from `plan` when given, else labels).
pub async fn verify(
    engine: &Engine,
    scope: &Scope,
    plan: Option<&Plan>,
    probe_image: Option<&str>,
) -> EngineResult<Report> {
    // ---- observe -----------------------------------------------------------------------
    let filter = scope_filter(scope);
    let scoped = list_ids(engine, &Engine::label_filter(&filter)).await?;
    let mut containers: Vec<Ctr> = inspect_all(engine, &scoped).await?;
    containers.retain(|c| c.labels.get(labels::ROLE).map(String::as_str) != Some("probe"));
    let scope_nets = engine
        .docker
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::default()
                .filters(&Engine::label_filter(&filter))
                .build(),
        ))
        .await
        .map_err(|e| EngineError(format!("listing networks: {}", api_message(&e))))?;
    let scope_net_names: BTreeSet<String> =
        scope_nets.iter().filter_map(|n| n.name.clone()).collect();

    let expected = expectations(scope, plan, &scope_net_names);
    let (ours, mut others): (Vec<Ctr>, Vec<Ctr>) =
        containers
            .into_iter()
            .partition(|c| match &expected.project {
                Some(p) => c.labels.get(COMPOSE_PROJECT) == Some(p),
                None => true,
            });
    let multi_project = expected.project.is_none()
        && ours
            .iter()
            .filter_map(|c| c.labels.get(COMPOSE_PROJECT))
            .collect::<BTreeSet<_>>()
            .len()
            > 1;
    let ours: Vec<Ctr> = ours
        .into_iter()
        .map(|mut c| {
            let svc = c.labels.get(COMPOSE_SERVICE).cloned();
            c.holder = match (svc, multi_project) {
                (Some(s), false) => s,
                (Some(s), true) => format!(
                    "{}/{s}",
                    c.labels.get(COMPOSE_PROJECT).cloned().unwrap_or_default()
                ),
                (None, _) => c.name.clone(),
            };
            c
        })
        .collect();

    let mut relevant: BTreeSet<String> = scope_net_names.clone();
    relevant.extend(expected.networks.keys().cloned());
    for c in &ours {
        relevant.extend(c.endpoints.keys().cloned());
    }
    let mut nets: BTreeMap<String, Net> = BTreeMap::new();
    for name in &relevant {
        match engine.docker.inspect_network(name, None).await {
            Ok(n) => {
                nets.insert(
                    name.clone(),
                    Net {
                        internal: n.internal.unwrap_or(false),
                        labels: n.labels.unwrap_or_default(),
                        members: n.containers.unwrap_or_default().into_keys().collect(),
                    },
                );
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(EngineError(format!(
                    "inspecting network {name}: {}",
                    api_message(&e)
                )))
            }
        }
    }
    // Containers on these networks that are not ours: foreign, or another project's.
    let known: BTreeSet<&str> = ours.iter().chain(&others).map(|c| c.id.as_str()).collect();
    let foreign_ids: Vec<String> = nets
        .values()
        .flat_map(|n| n.members.iter())
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(MAX_FOREIGN)
        .collect();
    others.extend(inspect_all(engine, &foreign_ids).await?);
    for o in &mut others {
        o.holder = format!("container {}", o.name);
    }

    // ---- compare -----------------------------------------------------------------------
    let mut rows: Vec<Row> = Vec::new();
    if ours.is_empty() && scope_net_names.is_empty() {
        // A mistyped scope must not pass as "nothing differs".
        rows.push(row(
            "scope",
            scope.to_string(),
            "containers and networks on the engine".into(),
            "nothing".into(),
        ));
    }
    compare_networks(&expected, &nets, scope, &mut rows);
    let expected_att = compare_attachments(&expected, &ours, &nets, scope, &mut rows);
    // With a plan, only its project's networks are judged: another project of the same
    // environment has its own, with its own containers on them.
    let own_nets: BTreeSet<String> = match plan {
        Some(_) => expected
            .networks
            .iter()
            .filter(|(_, (role, _))| *role == Role::Managed)
            .map(|(n, _)| n.clone())
            .collect(),
        None => scope_net_names.clone(),
    };
    compare_members(scope, &nets, &own_nets, &ours, &others, &mut rows);
    compare_pairs(&ours, &expected_att, &mut rows);
    compare_names(&ours, &others, &nets, &mut rows);

    // ---- probe -------------------------------------------------------------------------
    if let Some(image) = probe_image {
        let outsiders = outsiders(
            engine,
            scope,
            &ours,
            &others,
            plan.map(|p| p.project.as_str()),
        )
        .await?;
        let mut all_others = others.clone();
        for o in outsiders {
            if !all_others.iter().any(|c| c.id == o.id) {
                all_others.push(o);
            }
        }
        rows.extend(
            probe_rows(
                engine,
                image,
                scope,
                &ours,
                &all_others,
                &expected_att,
                &nets,
            )
            .await?,
        );
    }

    let differences: Vec<String> = rows
        .iter()
        .filter(|r| !r.ok)
        .map(|r| {
            format!(
                "{} {}: expected {}, observed {}",
                r.check, r.subject, r.expected, r.observed
            )
        })
        .collect();
    Ok(Report {
        scope: scope.to_string(),
        expectations: expected.source,
        ok: differences.is_empty(),
        rows,
        differences,
    })
}

fn expectations(scope: &Scope, plan: Option<&Plan>, scope_nets: &BTreeSet<String>) -> Expected {
    let Some(plan) = plan else {
        return Expected {
            source: format!(
                "engine labels of {scope} (give -f to judge internal flags and aliases)"
            ),
            networks: scope_nets
                .iter()
                .map(|n| (n.clone(), (Role::Managed, None)))
                .collect(),
            services: None,
            project: None,
        };
    };
    let real = |key: &str| plan.network(key).map(|n| n.name.clone());
    let mut services = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for s in plan.services.iter().filter(|s| s.fenced) {
        let mut att = BTreeMap::new();
        for a in &s.attachments {
            if let Some(name) = real(&a.network) {
                used.insert(name.clone());
                att.insert(name, a.aliases.clone());
            }
        }
        services.insert(s.name.clone(), att);
    }
    Expected {
        source: format!("plan of project {} ({})", plan.project, plan.policy_source),
        networks: plan
            .networks
            .iter()
            .filter(|n| n.role == Role::Managed || used.contains(&n.name))
            .map(|n| {
                let internal = (n.role == Role::Managed).then_some(n.internal);
                (n.name.clone(), (n.role, internal))
            })
            .collect(),
        services: Some(services),
        project: Some(plan.project_name.clone()),
    }
}

fn row(check: &'static str, subject: String, expected: String, observed: String) -> Row {
    let ok = expected == observed;
    Row {
        check,
        subject,
        expected,
        observed,
        ok,
    }
}

fn join(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if v.is_empty() {
        "—".into()
    } else {
        v.join(", ")
    }
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

/// Attachment rows; returns what each of our holders is expected to be attached to.
fn compare_attachments(
    expected: &Expected,
    ours: &[Ctr],
    nets: &BTreeMap<String, Net>,
    scope: &Scope,
    rows: &mut Vec<Row>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    match &expected.services {
        Some(services) => {
            for (svc, att) in services {
                want.insert(svc.clone(), att.keys().cloned().collect());
                if !ours.iter().any(|c| &c.holder == svc) {
                    rows.push(row(
                        "attachments",
                        format!("service {svc}"),
                        join(att.keys()),
                        "no container".into(),
                    ));
                }
            }
        }
        None => {
            for c in ours {
                let allowed: BTreeSet<String> = c
                    .endpoints
                    .keys()
                    .filter(|n| {
                        nets.get(*n).is_some_and(|net| {
                            // Its own project's networks (an environment holds several
                            // projects, each with its own) or cross-scope ones.
                            net.persistent()
                                || (net.labels.get(labels::SCOPE).map(String::as_str)
                                    == Some(&scope.to_string())
                                    && net.labels.get(labels::PROJECT)
                                        == c.labels.get(labels::PROJECT))
                        })
                    })
                    .cloned()
                    .collect();
                want.entry(c.holder.clone()).or_default().extend(allowed);
            }
        }
    }
    for c in ours {
        let subject = format!("{} ({})", c.holder, c.name);
        if !c.running {
            let done = c.exit_code == 0;
            rows.push(Row {
                check: "attachments",
                subject,
                expected: "running".into(),
                observed: format!("not running (exit {})", c.exit_code),
                // A one-shot job that finished cleanly is not a fence problem.
                ok: done,
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
            for (net, aliases) in services.get(&c.holder).into_iter().flatten() {
                let Some((_, have)) = c.endpoints.get(net) else {
                    continue;
                };
                let mut need: Vec<String> = vec![c.holder.clone()];
                need.extend(aliases.iter().cloned());
                let missing: Vec<&String> = need.iter().filter(|a| !have.contains(a)).collect();
                let ok = missing.is_empty();
                rows.push(Row {
                    check: "aliases",
                    subject: format!("{subject} on {net}"),
                    expected: join(&need),
                    observed: if missing.is_empty() {
                        join(&need)
                    } else {
                        format!("missing {}", join(missing))
                    },
                    ok,
                });
            }
        }
    }
    want
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

/// Other scopes' containers to probe as "must not reach": the foreign ones already found,
/// then netfence-owned containers of other scopes, those with our service names first.
async fn outsiders(
    engine: &Engine,
    scope: &Scope,
    ours: &[Ctr],
    others: &[Ctr],
    base_project: Option<&str>,
) -> EngineResult<Vec<Ctr>> {
    let mut out: Vec<Ctr> = others
        .iter()
        .filter(|c| c.running)
        .take(MAX_OUTSIDERS)
        .cloned()
        .collect();
    if out.len() >= MAX_OUTSIDERS {
        return Ok(out);
    }
    let managed = list_summaries(
        engine,
        &Engine::label_filter(&[format!("{}=true", labels::MANAGED)]),
    )
    .await?;
    // Most telling first: another copy of the same stack (same project after the scope
    // part, same service names), then the newest.
    let our_services: BTreeSet<&String> = ours
        .iter()
        .filter_map(|c| c.labels.get(COMPOSE_SERVICE))
        .collect();
    let mut candidates: Vec<(bool, bool, i64, String)> = managed
        .into_iter()
        .filter(|(_, l, _)| {
            l.get(labels::SCOPE).map(String::as_str) != Some(&scope.to_string())
                && l.get(labels::ROLE).map(String::as_str) != Some("probe")
        })
        .map(|(id, l, created)| {
            let same_project = base_project.is_some_and(|p| {
                l.get(COMPOSE_PROJECT)
                    .is_some_and(|cp| cp.ends_with(&format!("-{p}")))
            });
            let same_service = l
                .get(COMPOSE_SERVICE)
                .is_some_and(|s| our_services.contains(s));
            (same_project, same_service, created, id)
        })
        .collect();
    candidates.sort_by(|a, b| b.cmp(a));
    let ids: Vec<String> = candidates
        .into_iter()
        .map(|(_, _, _, id)| id)
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

/// Builds each of our containers' checks, runs them in probe containers (a few at once),
/// and turns what they saw into rows.
async fn probe_rows(
    engine: &Engine,
    image: &str,
    scope: &Scope,
    ours: &[Ctr],
    others: &[Ctr],
    want: &BTreeMap<String, BTreeSet<String>>,
    nets: &BTreeMap<String, Net>,
) -> EngineResult<Vec<Row>> {
    let running: Vec<&Ctr> = ours.iter().filter(|c| c.running).collect();
    let allowed_outside = |n: &str| nets.get(n).is_some_and(Net::persistent);
    let mut plans: Vec<(&Ctr, Vec<Probe>)> = Vec::new();
    for s in &running {
        let my_nets = want.get(&s.holder).cloned().unwrap_or_default();
        let mut checks: Vec<Probe> = Vec::new();
        // Names: every name any container holds, ours (this one included: its own name
        // must reach only itself) and outsiders'. Expected: the addresses of holders on
        // networks this container shares with them by plan; recorded: the same from the
        // engine's attachments (what its DNS answers from).
        let mut names: BTreeMap<String, NameFacts> = BTreeMap::new();
        for t in running
            .iter()
            .copied()
            .chain(others.iter().filter(|o| o.running))
        {
            let outsider = t.holder.starts_with("container ");
            for (net, (ip, _)) in &t.endpoints {
                let expected_here = my_nets.contains(net)
                    && if outsider {
                        allowed_outside(net)
                    } else {
                        want.get(&t.holder).is_some_and(|x| x.contains(net))
                    };
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
        for (name, facts) in names {
            if !probe::safe_name(&name) {
                continue;
            }
            checks.push(Probe {
                subject: format!("{} → name `{name}` ({})", s.holder, join(&facts.holders)),
                // A lookup the engine's records cannot answer is forwarded to the host's
                // resolvers: such a name is asked only where that cannot leave the machine.
                check: Check::Dns {
                    name,
                    must_resolve: !facts.expected.is_empty() && !facts.recorded.is_empty(),
                },
                expected: facts.expected,
                recorded: facts.recorded,
            });
        }
        // Addresses: every address of every other container, ours and outsiders.
        for t in running
            .iter()
            .filter(|t| t.id != s.id)
            .copied()
            .chain(others.iter().filter(|o| o.running))
        {
            let ours_t = !t.holder.starts_with("container ");
            for (net, (ip, _)) in &t.endpoints {
                let Some(ip) = ip else { continue };
                let reach = my_nets.contains(net)
                    && if ours_t {
                        want.get(&t.holder).is_some_and(|x| x.contains(net))
                    } else {
                        allowed_outside(net)
                    };
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
        plans.push((s, checks));
    }
    let owner: Vec<(String, String)> = vec![
        (labels::MANAGED.to_owned(), "true".to_owned()),
        (labels::SCOPE.to_owned(), scope.to_string()),
    ];
    let results: Vec<EngineResult<Vec<Row>>> = stream::iter(plans)
        .map(|(s, checks)| {
            let owner = owner.clone();
            async move {
                let mut labels_for = owner;
                if let Some(p) = s.labels.get(labels::PROJECT) {
                    labels_for.push((labels::PROJECT.to_owned(), p.clone()));
                }
                // Traffic goes only to addresses inside a network the engine has right now:
                // the address of a container whose network is gone meanwhile would be routed
                // out of the machine's default route (and may well answer from out there).
                let live = engine.occupied_subnets().await?;
                let local = |c: &Check| match c {
                    Check::Tcp { ip, .. } | Check::Ping { ip, .. } => {
                        live.iter().any(|n| n.contains(ip))
                    }
                    Check::Dns { .. } => true,
                };
                let send: Vec<usize> = (0..checks.len())
                    .filter(|&i| local(&checks[i].check))
                    .collect();
                let just: Vec<Check> = send.iter().map(|&i| checks[i].check.clone()).collect();
                let isolated = s
                    .endpoints
                    .keys()
                    .all(|n| nets.get(n).is_some_and(|n| n.internal));
                let got = probe::run(engine, image, &s.id, &labels_for, &just, isolated).await?;
                let after = engine.occupied_subnets().await?;
                let mut seen: Vec<Seen> = vec![
                    Seen::Skipped(
                        "its network is gone: the address is no longer on this engine".into()
                    );
                    checks.len()
                ];
                for (&i, g) in send.iter().zip(got) {
                    let still = match &checks[i].check {
                        Check::Tcp { ip, .. } | Check::Ping { ip, .. } => {
                            after.iter().any(|n| n.contains(ip))
                        }
                        Check::Dns { .. } => true,
                    };
                    seen[i] = if still {
                        g
                    } else {
                        Seen::Skipped("its network went away while probing".into())
                    };
                }
                Ok(checks
                    .into_iter()
                    .zip(seen)
                    .map(|(p, seen)| probe_row(p, seen))
                    .collect())
            }
        })
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

async fn list_summaries(
    engine: &Engine,
    filters: &HashMap<String, Vec<String>>,
) -> EngineResult<Vec<(String, HashMap<String, String>, i64)>> {
    let list = engine
        .docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(filters)
                .build(),
        ))
        .await
        .map_err(|e| EngineError(format!("listing containers: {}", api_message(&e))))?;
    Ok(list
        .into_iter()
        .filter_map(|c| Some((c.id?, c.labels.unwrap_or_default(), c.created.unwrap_or(0))))
        .collect())
}

async fn list_ids(
    engine: &Engine,
    filters: &HashMap<String, Vec<String>>,
) -> EngineResult<Vec<String>> {
    Ok(list_summaries(engine, filters)
        .await?
        .into_iter()
        .map(|(id, _, _)| id)
        .collect())
}

/// Inspects containers, a few at once; one that vanished meanwhile is left out.
async fn inspect_all(engine: &Engine, ids: &[String]) -> EngineResult<Vec<Ctr>> {
    let got: Vec<Result<Option<Ctr>, EngineError>> = stream::iter(ids.iter().cloned())
        .map(|id| async move {
            match engine.docker.inspect_container(&id, None).await {
                Ok(c) => Ok(Some(ctr(c))),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(EngineError(format!(
                    "inspecting container {id}: {}",
                    api_message(&e)
                ))),
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut out = Vec::new();
    for g in got {
        if let Some(c) = g? {
            out.push(c);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn ctr(c: bollard::models::ContainerInspectResponse) -> Ctr {
    let config = c.config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let mut tcp_ports: Vec<u16> = config
        .exposed_ports
        .unwrap_or_default()
        .iter()
        .filter_map(|p| match p.split_once('/') {
            Some((port, "tcp")) => port.parse().ok(),
            Some(_) => None,
            None => p.parse().ok(),
        })
        .collect();
    tcp_ports.sort();
    let state = c.state.unwrap_or_default();
    let endpoints = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ep)| {
            let ip = ep
                .ip_address
                .filter(|s| !s.is_empty())
                .and_then(|s| s.parse().ok());
            (name, (ip, ep.aliases.unwrap_or_default()))
        })
        .collect();
    let name = c
        .name
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    Ctr {
        id: c.id.unwrap_or_default(),
        holder: name.clone(),
        name,
        running: state.running.unwrap_or(false),
        exit_code: state.exit_code.unwrap_or(0),
        endpoints,
        tcp_ports,
        labels,
    }
}

/// The report as a table: one row per check, differences marked.
pub fn table(r: &Report) -> String {
    let mut out = format!("verify {}  (expectations: {})\n\n", r.scope, r.expectations);
    let headers = ["", "CHECK", "SUBJECT", "EXPECTED", "OBSERVED"];
    let cells: Vec<[String; 5]> = r
        .rows
        .iter()
        .map(|row| {
            [
                if row.ok { " " } else { "✗" }.to_owned(),
                row.check.to_owned(),
                row.subject.clone(),
                row.expected.clone(),
                row.observed.clone(),
            ]
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            widths[i] = widths[i].max(v.chars().count());
        }
    }
    let line = |vals: [&str; 5]| -> String {
        let mut s = String::new();
        for (i, v) in vals.iter().enumerate() {
            if i == 4 {
                s.push_str(v);
            } else {
                s.push_str(v);
                s.push_str(&" ".repeat(widths[i] - v.chars().count() + 2));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(headers));
    for c in &cells {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4]]));
    }
    out.push('\n');
    if r.ok {
        out.push_str("as planned: no differences\n");
    } else {
        out.push_str(&format!("{} difference(s)\n", r.differences.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctr(name: &str, holder: &str, nets: &[(&str, &str, &[&str])]) -> Ctr {
        Ctr {
            id: format!("{name}-id"),
            name: name.into(),
            holder: holder.into(),
            running: true,
            exit_code: 0,
            endpoints: nets
                .iter()
                .map(|(n, ip, aliases)| {
                    (
                        n.to_string(),
                        (
                            Some(ip.parse().unwrap()),
                            aliases.iter().map(|a| a.to_string()).collect(),
                        ),
                    )
                })
                .collect(),
            tcp_ports: vec![],
            labels: HashMap::new(),
        }
    }

    fn net(scope: &str, members: &[&Ctr]) -> Net {
        let mut labels = HashMap::new();
        labels.insert(labels::SCOPE.to_owned(), scope.to_owned());
        Net {
            internal: false,
            labels,
            members: members.iter().map(|c| c.id.clone()).collect(),
        }
    }

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
