//! `netfence verify --run-id ID | --env NAME`: the reachability a scope promises, checked
//! against the engine's real state — which networks exist and which are internal, which
//! services share a network, which names resolve to exactly one holder, who else is on
//! the scope's networks, what its containers do beyond them — and, with `--probe-image`,
//! proved with real DNS and TCP/ICMP from inside each container.
//!
//! Expectations come from one of two places:
//! - with `-f FILE…` (or `$COMPOSE_FILE`), the plan recomputed for the scope: every
//!   network with its `internal` flag, every service's attachments and aliases;
//! - without, the engine's labels alone: the scope's networks (`io.netfence.scope`) and
//!   containers (plus Compose's service label). Then a container may be attached only to
//!   the networks [`fence`] allows it; whether a network should be internal, and which
//!   aliases a service should have, is only known from the file, so those are shown but
//!   not judged.
//!
//! Either way the platform's policy (`--policy`, `netfence.yml`, else the built-in one)
//! says whether the scope is in tenant mode, what it grants, and which services each
//! shared network takes. Differences, each a row (exit 1):
//! - a container that may not be on one of the scope's networks — its own, its
//!   environment's, a proxy or shared network it uses (the rules are [`fence`]'s);
//! - a network outside the fence that one of its containers is on (another environment's,
//!   another scope's, one netfence does not label), unless planned or granted;
//! - what its containers do live (from their inspect): the host's network or namespaces,
//!   another container's namespace outside the project, privileged, the Docker socket
//!   bind-mounted, capabilities beyond Docker's defaults — in tenant mode unless the policy
//!   grants it; another scope's namespace in any mode. Another container in one of the
//!   scope's containers' network namespace (the engine's list shows every container's
//!   network mode) is named too. PID and IPC namespaces are read from the scope's own
//!   containers only: seeing who joins theirs would take an inspect of every container;
//! - a name held by two different services (or a foreign container) on one network.

mod compare;
mod dns;
mod fence;
mod host_rules;
mod names;
mod observe;
pub mod probe_container;
mod probes;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use super::docker::{Confinement, Container, ContainerSummary, GatewayModes, LiveNetwork};
use super::{Engine, EngineResult};
use crate::plan::{Plan, Role, SHARED_KEY_PREFIX};
use crate::policy::{Policy, TenantAllow};
use crate::scope::Scope;

/// What the platform's policy says beyond a plan: whether the scope's files are a
/// tenant's, what the policy grants them, and which services each shared network takes.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    /// Tenant mode: escapes are differences unless granted.
    pub tenant: bool,
    pub allow: TenantAllow,
    /// Real name of each shared network → the services the policy sends there.
    pub shared: BTreeMap<String, BTreeSet<String>>,
}

impl Platform {
    /// From the policy and a plan of it for the scope (the compose input's, or the
    /// policy's alone): the plan knows the shared networks' real names.
    pub fn of(policy: &Policy, plan: &Plan) -> Platform {
        let shared = policy
            .shared
            .iter()
            .filter_map(|(key, sh)| {
                let real = plan.network(&format!("{SHARED_KEY_PREFIX}{key}"))?;
                let services = sh.services.members().into_iter().map(|(s, _)| s);
                Some((real.name.clone(), services.collect()))
            })
            .collect();
        Platform {
            tenant: policy.tenant_mode(&plan.scope),
            allow: policy.tenant.allow.clone(),
            shared,
        }
    }
}

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
    /// Network name → its IPv6 address there, where it has one (see `host_rules`).
    ipv6: BTreeMap<String, IpAddr>,
    /// Network name → the endpoint's priority there (see `names`).
    priority: BTreeMap<String, i64>,
    /// The host's process id of its main process while running (0 otherwise).
    pid: i64,
    tcp_ports: Vec<u16>,
    labels: HashMap<String, String>,
    confinement: Confinement,
}

impl Ctr {
    fn of(c: Container) -> Ctr {
        let priority = c
            .networks
            .iter()
            .map(|(name, ep)| (name.clone(), ep.gw_priority))
            .collect();
        let ipv6 = c
            .networks
            .iter()
            .filter_map(|(name, ep)| Some((name.clone(), ep.ipv6.as_deref()?.parse().ok()?)))
            .collect();
        let endpoints = c
            .networks
            .into_iter()
            .map(|(name, ep)| (name, (ep.ip.and_then(|s| s.parse().ok()), ep.aliases)))
            .collect();
        Ctr {
            id: c.id,
            holder: c.name.clone(),
            name: c.name,
            running: c.running,
            exit_code: c.exit_code,
            endpoints,
            ipv6,
            priority,
            pid: c.pid,
            tcp_ports: c.tcp_ports,
            labels: c.labels,
            confinement: c.confinement,
        }
    }

    fn names_on(&self, net: &str) -> BTreeSet<String> {
        let mut n = BTreeSet::new();
        n.insert(self.name.clone());
        if let Some((_, aliases)) = self.endpoints.get(net) {
            for a in aliases {
                // Docker adds the short container id (twelve characters) as an alias:
                // unique by construction. An alias such as `db` or `cafe` that merely
                // begins the id is a name like any other.
                if !(a.len() == 12 && self.id.starts_with(a.as_str())) {
                    n.insert(a.clone());
                }
            }
        }
        n
    }

    /// Another scope's container (or no scope's), named as such in the report.
    fn is_outsider(&self) -> bool {
        self.holder.starts_with("container ")
    }
}

#[derive(Debug, Clone, Default)]
struct Net {
    internal: bool,
    labels: HashMap<String, String>,
    /// The host interface of a bridge network (see `host_rules`).
    bridge: Option<String>,
    /// Its subnets, as the engine writes them.
    subnets: Vec<String>,
    /// Its gateway modes, which say whether the engine guards its containers' addresses
    /// (see `host_rules`).
    gateway_modes: GatewayModes,
    /// Container ids attached.
    members: Vec<String>,
}

impl Net {
    fn of(n: LiveNetwork) -> Net {
        Net {
            bridge: n.bridge(),
            subnets: n.subnets.clone(),
            gateway_modes: n.gateway_modes.clone(),
            internal: n.internal,
            labels: n.labels,
            members: n.containers.into_keys().collect(),
        }
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

/// What the engine shows of a scope.
#[derive(Debug, Default)]
struct Observed {
    /// Names of the networks labelled with the scope.
    scope_networks: BTreeSet<String>,
    /// The scope's containers that the expectations are about, each holder named.
    ours: Vec<Ctr>,
    /// Every other container met: the scope's of another project, and foreign ones on
    /// the networks below.
    others: Vec<Ctr>,
    /// Every network the scope, the expectations or our containers name, by name.
    nets: BTreeMap<String, Net>,
    /// Every container on the engine as its list shows it, by id: whose each member of a
    /// network is, and who runs in whose network namespace.
    listed: BTreeMap<String, ContainerSummary>,
    /// Whether the engine asks a container's networks for a name by priority (28+).
    by_priority: bool,
    /// The host's netfilter rules, when the engine runs here and they could be read.
    host_rules: host_rules::HostRules,
    /// Container id → what each name its project holds resolved to, asked from inside
    /// it (see `dns`), or why it was not asked.
    answers: BTreeMap<String, Result<Answers, String>>,
}

/// Name → the addresses the engine's DNS answered from inside one container.
type Answers = BTreeMap<String, Result<Vec<IpAddr>, String>>;

impl Observed {
    /// Another container by id, as far as the rules need it.
    fn other(&self, id: &str) -> Option<fence::Other> {
        if let Some(c) = self.ours.iter().chain(&self.others).find(|c| c.id == id) {
            return Some(fence::Other::of(&c.name, &c.labels));
        }
        self.listed
            .get(id)
            .map(|c| fence::Other::of(&c.name, &c.labels))
    }

    /// Labels and name of a container by id, where known.
    fn labels_of(&self, id: &str) -> Option<(&str, &HashMap<String, String>)> {
        if let Some(c) = self.ours.iter().chain(&self.others).find(|c| c.id == id) {
            return Some((&c.name, &c.labels));
        }
        self.listed.get(id).map(|c| (c.name.as_str(), &c.labels))
    }
}

/// Builds the report for a scope (expectations from `plan` when given, else labels),
/// judged under `platform`'s policy: the engine read, compared with the expectations,
/// and with `probe_image` probed.
pub async fn verify(
    engine: &Engine,
    scope: &Scope,
    plan: Option<&Plan>,
    platform: &Platform,
    probe_image: Option<&str>,
) -> EngineResult<Report> {
    let (containers, scope_networks) = observe::scope(engine, scope).await?;
    let expected = expectations(scope, plan, &scope_networks);
    let observed = observe::around(engine, &expected, containers, scope_networks).await?;
    let rules = fence::Rules {
        scope,
        platform,
        project: expected.project.as_deref(),
    };
    let mut rows = compare::rows(&rules, &expected, &observed);
    if let Some(image) = probe_image {
        let base_project = plan.map(|p| p.project.as_str());
        rows.extend(probes::rows(engine, image, &rules, &expected, &observed, base_project).await?);
    }
    Ok(report(scope, expected.source, rows))
}

fn report(scope: &Scope, expectations: String, rows: Vec<Row>) -> Report {
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
    Report {
        scope: scope.to_string(),
        expectations,
        ok: differences.is_empty(),
        rows,
        differences,
    }
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

/// Hand-built pictures of the engine for the pure parts' tests.
#[cfg(test)]
mod testing {
    use super::*;
    use crate::labels;
    use crate::plan::Options;

    /// `subject: observed` of every row that is a difference.
    pub fn failures(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .filter(|r| !r.ok)
            .map(|r| format!("{}: {}", r.subject, r.observed))
            .collect()
    }

    pub fn ctr(name: &str, holder: &str, nets: &[(&str, &str, &[&str])]) -> Ctr {
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
            ipv6: BTreeMap::new(),
            priority: BTreeMap::new(),
            pid: 0,
            tcp_ports: vec![],
            labels: HashMap::new(),
            confinement: Confinement::default(),
        }
    }

    pub fn net(scope: &str, members: &[&Ctr]) -> Net {
        let mut labels = HashMap::new();
        labels.insert(labels::SCOPE.to_owned(), scope.to_owned());
        Net {
            internal: false,
            labels,
            members: members.iter().map(|c| c.id.clone()).collect(),
            ..Net::default()
        }
    }

    /// netfence's labels on a container of `scope` and Compose `project`, service `service`.
    pub fn labelled(scope: &str, project: &str, service: &str) -> HashMap<String, String> {
        [
            (labels::MANAGED, "true"),
            (labels::SCOPE, scope),
            (labels::PROJECT, project),
            (labels::compose::PROJECT, project),
            (labels::compose::SERVICE, service),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// A network with these labels and members.
    pub fn net_with(labels: &[(&str, &str)], members: &[&Ctr]) -> Net {
        Net {
            internal: false,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            members: members.iter().map(|c| c.id.clone()).collect(),
            ..Net::default()
        }
    }

    /// A container of `scope`'s project `project`, on `nets` (addresses made up).
    pub fn of_env(scope: &str, project: &str, service: &str, nets: &[&str]) -> Ctr {
        let name = format!("{project}-{service}-1");
        let endpoints: Vec<(&str, &str, &[&str])> =
            nets.iter().map(|n| (*n, "10.9.0.9", &[][..])).collect();
        let mut c = ctr(&name, &name, &endpoints);
        c.labels = labelled(scope, project, service);
        c
    }

    /// Environment `staging` as its labels show it, without a plan: project `shop`'s public
    /// `web` (default, environment and proxy networks) and `db` (default, environment and
    /// the shared `infra`, which the policy gives `db`), project `blog`'s `api` on the
    /// environment network; beside them, the proxy (`io.netfence.role=proxy`), production's
    /// public `web` on the proxy network and its `db` on the shared one.
    pub fn environment() -> (Scope, Platform, Expected, Observed) {
        let scope = Scope::Env("staging".into());
        let platform = Platform {
            tenant: true,
            shared: BTreeMap::from([(
                "nf-shared-infra".to_owned(),
                BTreeSet::from(["db".to_owned()]),
            )]),
            ..Platform::default()
        };
        let own = "nf-staging-shop-default";
        let mut web = of_env(
            "env:staging",
            "nf-staging-shop",
            "web",
            &[own, "nf-env-staging", "nf-proxy"],
        );
        web.labels.insert(
            crate::proxy_labels::TRAEFIK_DOCKER_NETWORK.into(),
            "nf-proxy".into(),
        );
        let db = of_env(
            "env:staging",
            "nf-staging-shop",
            "db",
            &[own, "nf-env-staging", "nf-shared-infra"],
        );
        let api = of_env("env:staging", "nf-staging-blog", "api", &["nf-env-staging"]);
        let mut proxy = ctr(
            "traefik",
            "container traefik",
            &[("nf-proxy", "10.9.0.1", &[])],
        );
        proxy.labels.insert(labels::ROLE.into(), "proxy".into());
        let mut prod_web = of_env("env:prod", "nf-prod-shop", "web", &["nf-proxy"]);
        prod_web.holder = format!("container {}", prod_web.name);
        prod_web.labels.insert(
            crate::proxy_labels::TRAEFIK_DOCKER_NETWORK.into(),
            "nf-proxy".into(),
        );
        let mut prod_db = of_env("env:prod", "nf-prod-shop", "db", &["nf-shared-infra"]);
        prod_db.holder = format!("container {}", prod_db.name);
        let nets = BTreeMap::from([
            (
                own.to_owned(),
                net_with(
                    &[
                        (labels::SCOPE, "env:staging"),
                        (labels::PROJECT, "nf-staging-shop"),
                    ],
                    &[&web, &db],
                ),
            ),
            (
                "nf-env-staging".to_owned(),
                net_with(
                    &[
                        (labels::SCOPE, "env:staging"),
                        (labels::ROLE, "environment"),
                    ],
                    &[&web, &db, &api],
                ),
            ),
            (
                "nf-proxy".to_owned(),
                net_with(&[(labels::ROLE, "proxy")], &[&web, &proxy, &prod_web]),
            ),
            (
                "nf-shared-infra".to_owned(),
                net_with(&[(labels::ROLE, "shared")], &[&db, &prod_db]),
            ),
        ]);
        let scope_networks = BTreeSet::from([own.to_owned(), "nf-env-staging".to_owned()]);
        let expected = expectations(&scope, None, &scope_networks);
        let observed = Observed {
            scope_networks,
            ours: vec![api, db, web],
            others: vec![proxy, prod_web, prod_db],
            nets,
            listed: BTreeMap::new(),
            by_priority: true,
            host_rules: Default::default(),
            answers: BTreeMap::new(),
        };
        let (ours, others) = observe::split(&expected, observed.ours);
        let observed = Observed {
            ours,
            others: others.into_iter().chain(observed.others).collect(),
            ..observed
        };
        (scope, platform, expected, observed)
    }

    /// The rows' differences under `platform`.
    pub fn judged(
        scope: &Scope,
        platform: &Platform,
        expected: &Expected,
        observed: &Observed,
    ) -> Vec<String> {
        let rows = compare::rows(&rules(scope, platform, expected), expected, observed);
        report(scope, String::new(), rows).differences
    }

    /// Run `a` of a stack where `web` is on `front` and `back` (internal), `db` on `back`.
    pub fn planned(scope: &Scope) -> Expected {
        let compose = "services:\n  web: {image: x, networks: [front, back]}\n  db: {image: x, networks: [back]}\nnetworks:\n  front: {}\n  back: {internal: true}\n";
        let opts = Options {
            scope: Some(scope.clone()),
            project: Some("shop".into()),
            ..Options::default()
        };
        let plan = crate::fence_str(compose, None, &opts).unwrap().0;
        let scope_nets = BTreeSet::from(["nf-a-back".to_owned(), "nf-a-front".to_owned()]);
        expectations(scope, Some(&plan), &scope_nets)
    }

    /// The engine as [`planned`] promises it.
    pub fn clean(scope: &Scope) -> Observed {
        let db = ctr("a-db-1", "db", &[("nf-a-back", "10.0.1.3", &["db"])]);
        let web = ctr(
            "a-web-1",
            "web",
            &[
                ("nf-a-back", "10.0.1.2", &["web"]),
                ("nf-a-front", "10.0.0.2", &["web"]),
            ],
        );
        let mut back = net(&scope.to_string(), &[&db, &web]);
        back.internal = true;
        let front = net(&scope.to_string(), &[&web]);
        Observed {
            scope_networks: BTreeSet::from(["nf-a-back".to_owned(), "nf-a-front".to_owned()]),
            nets: BTreeMap::from([
                ("nf-a-back".to_owned(), back),
                ("nf-a-front".to_owned(), front),
            ]),
            ours: vec![db, web],
            others: Vec::new(),
            listed: BTreeMap::new(),
            by_priority: true,
            host_rules: Default::default(),
            answers: BTreeMap::new(),
        }
    }

    /// The rules for `scope` with `expected`'s project, under `platform`.
    pub fn rules<'a>(
        scope: &'a Scope,
        platform: &'a Platform,
        expected: &'a Expected,
    ) -> fence::Rules<'a> {
        fence::Rules {
            scope,
            platform,
            project: expected.project.as_deref(),
        }
    }

    /// The report's differences for this picture (probes aside), with the built-in
    /// policy's view of the scope (tenant mode for environments).
    pub fn differences(scope: &Scope, expected: &Expected, observed: &Observed) -> Vec<String> {
        let platform = Platform {
            tenant: scope.is_env(),
            ..Platform::default()
        };
        let rows = compare::rows(&rules(scope, &platform, expected), expected, observed);
        report(scope, String::new(), rows).differences
    }
}
