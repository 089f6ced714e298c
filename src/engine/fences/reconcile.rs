//! `netfence reconcile -p PROJECT`: for platforms that deploy first and fence afterwards.
//! Reads the running containers of a Compose project (by Compose's own labels), compares
//! each one's networks and aliases with what the plan gives its service, and connects or
//! disconnects through the API until they match. A second run finds nothing to do.
//!
//! Networks are matched to the plan's logical keys, not only by name: a project started
//! from the unfenced file has Compose's own networks (`shop_default`), which Compose labels
//! with the project and the key; those stand for the plan's managed networks. The
//! environment, proxy and shared networks are the plan's real names (created when
//! missing, as `ensure` does). On those cross-project networks a container gets only the
//! plan's aliases (`web.shop`), not its bare service name, so two projects' `db` never
//! answer to one name there.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::engine::client::docker::{done_if_gone, found, ApiError, Container, LiveNetwork};
use crate::engine::{fences::ensure, Engine, EngineResult};
use crate::labels::{self, compose};
use crate::plan::{role_name, Attachment, NetworkPlan, Plan, Role, ServicePlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create a missing network of the plan.
    Create,
    Connect,
    Disconnect,
}

/// One change to the engine.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub network: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub reason: String,
    /// Ids to act on (the names above are for people).
    #[serde(skip)]
    container_id: String,
    #[serde(skip)]
    network_id: Option<String>,
    #[serde(skip)]
    plan: Option<NetworkPlan>,
}

impl Step {
    /// The id of the container the step is about (none for creating a network).
    pub fn container_id(&self) -> Option<&str> {
        (!self.container_id.is_empty()).then_some(self.container_id.as_str())
    }
}

/// `connect    shop-web-1  nf-env-production  [web.shop]  # reason`
pub fn describe(s: &Step) -> String {
    let action = match s.action {
        Action::Create => "create",
        Action::Connect => "connect",
        Action::Disconnect => "disconnect",
    };
    let aliases = if s.aliases.is_empty() {
        String::new()
    } else {
        format!("  [{}]", s.aliases.join(", "))
    };
    format!(
        "{action:<10} {:<24} {}{aliases}  # {}",
        s.container.as_deref().unwrap_or("-"),
        s.network,
        s.reason
    )
}

/// What reconcile reads from the engine.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Every network on the engine.
    pub networks: Vec<LiveNetwork>,
    /// The project's running containers, inspected, by name.
    pub containers: Vec<Container>,
}

/// Something reconcile tells the user instead of doing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A diagnostic line.
    Log(String),
    /// A line on stderr, `netfence: warning: …`, whatever the verbosity.
    Loud(String),
}

/// The steps that make the project's running containers match the plan: the engine
/// read, the warnings given, the steps decided.
pub async fn compute(
    engine: &Engine,
    plan: &Plan,
    strict: bool,
    flat: &[String],
) -> EngineResult<Vec<Step>> {
    let observed = observe(engine, plan).await?;
    for w in warnings(plan, &observed, strict, flat) {
        match w {
            Warning::Log(m) => tracing::warn!("{m}"),
            Warning::Loud(m) => eprintln!("netfence: warning: {m}"),
        }
    }
    Ok(steps(plan, &observed, strict, flat))
}

/// The project names a plan's containers may run under: as given, and as scoped.
fn projects(plan: &Plan) -> BTreeSet<String> {
    [plan.project.clone(), plan.project_name.clone()]
        .into_iter()
        .collect()
}

/// Every network, and the running containers of the plan's project.
pub async fn observe(engine: &Engine, plan: &Plan) -> EngineResult<Observed> {
    let networks = engine.networks().await?;
    let mut ids = Vec::new();
    for p in projects(plan) {
        let list = engine.project_containers(&p, false).await?;
        ids.extend(list.into_iter().map(|c| c.id));
    }
    let mut containers = Vec::new();
    for id in ids {
        // One that stopped meanwhile is not reconciled.
        let inspected = found(engine.inspect_container(&id).await)
            .map_err(|e| e.doing(format!("inspecting container {id}")))?;
        containers.extend(inspected);
    }
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Observed {
        networks,
        containers,
    })
}

/// Where a logical network of the plan lives on the engine, or that it must be created.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Live(&'a LiveNetwork),
    Missing(&'a NetworkPlan),
    /// Declared external and not there: Compose could not have started the project.
    Absent,
}

/// The plan and the engine's networks, matched up.
struct Context<'a> {
    plan: &'a Plan,
    networks: &'a [LiveNetwork],
    projects: BTreeSet<String>,
    /// Logical key → where it is on the engine.
    targets: BTreeMap<&'a str, Target<'a>>,
    strict: bool,
    flat: &'a [String],
}

impl<'a> Context<'a> {
    fn new(plan: &'a Plan, observed: &'a Observed, strict: bool, flat: &'a [String]) -> Self {
        let mut cx = Context {
            plan,
            networks: &observed.networks,
            projects: projects(plan),
            targets: BTreeMap::new(),
            strict,
            flat,
        };
        cx.targets = plan
            .networks
            .iter()
            .map(|np| (np.key.as_str(), cx.target(np)))
            .collect();
        cx
    }

    /// A network Compose made for the plan's project.
    fn ours(&self, n: &LiveNetwork) -> bool {
        n.label(compose::PROJECT)
            .is_some_and(|p| self.projects.contains(p))
    }

    /// A managed network is the project's own one for its key (Compose's labels say
    /// which), else the one of its planned name; others go by name alone. Of several
    /// of one name, the lowest id: every reconcile picks the same.
    fn target(&self, np: &'a NetworkPlan) -> Target<'a> {
        let by_name = || {
            self.networks
                .iter()
                .filter(|n| n.name == np.name)
                .min_by(|a, b| a.id.cmp(&b.id))
        };
        let live = match np.role {
            Role::Managed => self
                .networks
                .iter()
                .filter(|n| self.ours(n) && n.label(compose::NETWORK) == Some(np.key.as_str()))
                .min_by(|a, b| a.id.cmp(&b.id))
                .or_else(by_name),
            _ => by_name(),
        };
        match (live, np.role) {
            (Some(n), _) => Target::Live(n),
            (None, Role::External) => Target::Absent,
            (None, _) => Target::Missing(np),
        }
    }

    /// The project's containers netfence fences, with their service's plan.
    fn fenced(
        &self,
        observed: &'a Observed,
    ) -> impl Iterator<Item = (&'a Container, &'a str, &'a ServicePlan)> + '_ {
        observed.containers.iter().filter_map(|c| {
            let service = c.service()?;
            let sp = self.plan.service(service)?;
            sp.fenced.then_some((c, service, sp))
        })
    }

    /// The planned attachments a container should have, each with its network's plan.
    fn attachments(
        &self,
        sp: &'a ServicePlan,
    ) -> impl Iterator<Item = (&'a Attachment, &'a NetworkPlan)> + '_ {
        sp.attachments.iter().filter_map(|a| {
            let np = self.plan.network(&a.network)?;
            // --strict wins over a flat network the file itself declares.
            let flat = self.strict && np.role == Role::External && self.flat.contains(&np.name);
            (!flat).then_some((a, np))
        })
    }
}

/// The steps that make the observed containers match the plan (pure: the engine was
/// read before). Connects and creates come first, in container order, then every
/// disconnect: a container is never left without a network mid-way.
pub fn steps(plan: &Plan, observed: &Observed, strict: bool, flat: &[String]) -> Vec<Step> {
    let cx = Context::new(plan, observed, strict, flat);
    let mut steps = Vec::new();
    let mut disconnects = Vec::new();
    let mut creating = BTreeSet::new();
    for (c, service, sp) in cx.fenced(observed) {
        let mut wanted = BTreeSet::new();
        for (a, np) in cx.attachments(sp) {
            steps.extend(attach(&cx, c, service, a, np, &mut creating, &mut wanted));
        }
        disconnects.extend(strays(&cx, c, service, &wanted));
    }
    steps.extend(disconnects);
    steps
}

/// A step about one container, for people (names) and for the engine (ids).
fn step(c: &Container, service: &str, action: Action, network: &str, reason: String) -> Step {
    Step {
        action,
        container: Some(c.name.clone()),
        service: Some(service.to_owned()),
        network: network.to_owned(),
        aliases: Vec::new(),
        reason,
        container_id: c.id.clone(),
        network_id: None,
        plan: None,
    }
}

/// What one planned attachment needs: nothing, a connect (after creating a missing
/// network once), or a reconnect when aliases are missing. `wanted` collects the live
/// networks the container should be on.
fn attach<'a>(
    cx: &Context<'a>,
    c: &Container,
    service: &str,
    a: &Attachment,
    np: &NetworkPlan,
    creating: &mut BTreeSet<String>,
    wanted: &mut BTreeSet<&'a str>,
) -> Vec<Step> {
    let mut aliases = a.aliases.clone();
    if np.role == Role::Managed && !aliases.contains(&service.to_owned()) {
        // What Compose gives every service on its project's networks.
        aliases.insert(0, service.to_owned());
    }
    let connect = |network: &str, id: Option<&str>| Step {
        aliases: aliases.clone(),
        network_id: id.map(str::to_owned),
        ..step(
            c,
            service,
            Action::Connect,
            network,
            reason_for(np, service),
        )
    };
    match cx.targets[a.network.as_str()] {
        Target::Absent => Vec::new(),
        Target::Missing(np) => {
            let mut out = Vec::new();
            if creating.insert(np.name.clone()) {
                out.push(create(np));
            }
            out.push(connect(&np.name, None));
            out
        }
        Target::Live(live) => {
            wanted.insert(&live.id);
            let have = c.networks.values().find(|e| e.network_id == live.id);
            let Some(have) = have else {
                return vec![connect(&live.name, Some(&live.id))];
            };
            let missing: Vec<String> = aliases
                .iter()
                .filter(|al| !have.aliases.contains(al) && **al != c.name)
                .map(|al| format!("`{al}`"))
                .collect();
            if missing.is_empty() {
                return Vec::new();
            }
            let reason = format!(
                "aliases {} missing: reconnect (an endpoint's aliases cannot change in place)",
                missing.join(", ")
            );
            let disconnect = Step {
                network_id: Some(live.id.clone()),
                ..step(c, service, Action::Disconnect, &live.name, reason)
            };
            vec![disconnect, connect(&live.name, Some(&live.id))]
        }
    }
}

/// The step that creates a missing network of the plan.
pub fn create(np: &NetworkPlan) -> Step {
    Step {
        action: Action::Create,
        container: None,
        service: None,
        network: np.name.clone(),
        aliases: Vec::new(),
        reason: format!("{} network of the plan is missing", role_name(np.role)),
        container_id: String::new(),
        network_id: None,
        plan: Some(np.clone()),
    }
}

/// Disconnects from networks the plan does not give the container: the project's own,
/// netfence's, and with --strict the policy's flat ones. Anything else it is on is the
/// platform's business.
fn strays(cx: &Context, c: &Container, service: &str, wanted: &BTreeSet<&str>) -> Vec<Step> {
    // By network id, as the engine keys a container's endpoints.
    let attached: BTreeMap<&str, &str> = c
        .networks
        .iter()
        .map(|(name, ep)| (ep.network_id.as_str(), name.as_str()))
        .collect();
    let mut out = Vec::new();
    for (nid, nname) in attached {
        if wanted.contains(nid) {
            continue;
        }
        let live = cx.networks.iter().find(|n| n.id == nid);
        let reason = if live.is_some_and(|n| cx.ours(n)) {
            format!(
                "the plan does not attach `{service}` to the project's network `{}`",
                live.and_then(|n| n.label(compose::NETWORK)).unwrap_or("?")
            )
        } else if live.is_some_and(|n| n.label(labels::MANAGED) == Some("true")) {
            format!(
                "netfence {} network the plan does not give `{service}`",
                live.and_then(|n| n.label(labels::ROLE))
                    .unwrap_or("managed")
            )
        } else if cx.strict && cx.flat.iter().any(|f| f == nname) {
            "flat network (policy flat_networks, --strict)".to_owned()
        } else {
            continue;
        };
        out.push(Step {
            network_id: Some(nid.to_owned()),
            ..step(c, service, Action::Disconnect, nname, reason)
        });
    }
    out
}

fn reason_for(np: &NetworkPlan, service: &str) -> String {
    match np.role {
        Role::Managed => format!("the plan attaches `{service}` to `{}`", np.key),
        Role::External => format!("the plan attaches `{service}` to external `{}`", np.name),
        Role::Proxy => "public service: the proxy reaches it here".to_owned(),
        Role::Shared => format!("policy shared: `{service}` joins it"),
        Role::Environment => {
            "environment network: the environment's projects reach it as <service>.<project>"
                .to_owned()
        }
    }
}

/// What reconcile should say about the observed state besides its steps, in the order
/// it meets it: no containers at all, a service the file does not know, an external
/// network that does not exist, a proxy label a running container cannot get.
pub fn warnings(plan: &Plan, observed: &Observed, strict: bool, flat: &[String]) -> Vec<Warning> {
    let cx = Context::new(plan, observed, strict, flat);
    let mut out = Vec::new();
    if observed.containers.is_empty() {
        out.push(Warning::Log(format!(
            "no running containers of project {} (Compose label {})",
            cx.projects.iter().cloned().collect::<Vec<_>>().join(" or "),
            compose::PROJECT
        )));
    }
    for c in &observed.containers {
        let Some(service) = c.service() else {
            continue;
        };
        let Some(sp) = plan.service(service) else {
            out.push(Warning::Log(format!(
                "{}: service `{service}` is not in the compose file; left as it is",
                c.name
            )));
            continue;
        };
        if !sp.fenced {
            continue;
        }
        for (a, np) in cx.attachments(sp) {
            if let Target::Absent = cx.targets[a.network.as_str()] {
                out.push(Warning::Log(format!(
                    "{}: external network {} does not exist; not connected",
                    c.name, np.name
                )));
            }
        }
        if sp.public {
            out.extend(proxy_label_warnings(plan, sp, c).map(Warning::Loud));
        }
    }
    out
}

/// Labels cannot change on a running container: say so when the proxy label is wrong.
fn proxy_label_warnings<'a>(
    plan: &'a Plan,
    sp: &'a ServicePlan,
    c: &'a Container,
) -> impl Iterator<Item = String> + 'a {
    let have: &HashMap<String, String> = &c.labels;
    sp.proxy_labels
        .iter()
        .filter(move |_| plan.target != crate::plan::Target::Swarm)
        .filter(move |(label, value)| have.get(label) != Some(value))
        .map(move |(label, value)| {
            format!(
                "{}: label {label}={value} is {} — labels cannot change on a running container; deploy the rewritten file so the proxy routes over {value}",
                c.name,
                match have.get(label) {
                    Some(v) => format!("`{v}`"),
                    None => "missing".to_owned(),
                }
            )
        })
}

/// Applies the steps in order. Stops at the first failure, saying what was done.
pub async fn apply(engine: &Engine, steps: &[Step], limit: u32) -> EngineResult<()> {
    let creates: Vec<&NetworkPlan> = steps.iter().filter_map(|s| s.plan.as_ref()).collect();
    ensure::check_limit(engine, &creates, limit).await?;
    let mut created: HashMap<String, String> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        let fail = |e: ApiError| {
            e.doing(format!(
                "step {} of {} ({}) failed",
                i + 1,
                steps.len(),
                describe(s)
            ))
        };
        match s.action {
            Action::Create => {
                let np = s.plan.as_ref().expect("create steps carry their network");
                ensure::create_one(engine, np).await?;
                if let Some(id) = ensure::settle_duplicates(engine, &np.name).await? {
                    created.insert(np.name.clone(), id);
                }
            }
            Action::Connect => {
                let net = s
                    .network_id
                    .clone()
                    .or_else(|| created.get(&s.network).cloned())
                    .unwrap_or_else(|| s.network.clone());
                let endpoint = ensure::endpoint(&s.aliases, None);
                ensure::connect(engine, &net, &s.container_id, &endpoint)
                    .await
                    .map_err(fail)?;
            }
            Action::Disconnect => {
                let net = s.network_id.as_deref().unwrap_or(&s.network);
                match done_if_gone(engine.disconnect_network(net, &s.container_id, false).await) {
                    Err(e) if !e.is_not_attached() => return Err(fail(e)),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Options;
    use crate::Scope;

    /// A stack deployed by a platform from the unfenced file, fenced afterwards into
    /// environment `production` as project `shop`.
    const COMPOSE: &str = "services:\n  web: {image: x, networks: [front, back]}\n  db: {image: x, networks: [back]}\nnetworks:\n  front: {}\n  back: {}\n";

    fn plan() -> Plan {
        let opts = Options {
            scope: Some(Scope::Env("production".into())),
            project: Some("shop".into()),
            ..Options::default()
        };
        crate::fence_str(COMPOSE, None, &opts).unwrap().0
    }

    fn net(id: &str, name: &str, labels: &[(&str, &str)]) -> LiveNetwork {
        LiveNetwork {
            id: id.into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    /// Compose's own networks of project `shop`, and the environment's network.
    fn networks() -> Vec<LiveNetwork> {
        vec![
            net(
                "f1",
                "shop_front",
                &[(compose::PROJECT, "shop"), (compose::NETWORK, "front")],
            ),
            net(
                "b1",
                "shop_back",
                &[(compose::PROJECT, "shop"), (compose::NETWORK, "back")],
            ),
            net(
                "e1",
                "nf-env-production",
                &[(labels::MANAGED, "true"), (labels::ROLE, "environment")],
            ),
            net("c1", "coolify", &[]),
        ]
    }

    /// A running container of `shop`: (network name, network id, aliases) per attachment.
    fn container(service: &str, nets: &[(&str, &str, &[&str])]) -> Container {
        let name = format!("shop-{service}-1");
        Container {
            id: format!("{name}-id"),
            labels: [(compose::PROJECT, "shop"), (compose::SERVICE, service)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            running: true,
            networks: nets
                .iter()
                .map(|(n, id, aliases)| {
                    let ep = crate::engine::client::docker::Endpoint {
                        network_id: id.to_string(),
                        aliases: aliases.iter().map(|a| a.to_string()).collect(),
                        ..Default::default()
                    };
                    (n.to_string(), ep)
                })
                .collect(),
            name,
            ..Default::default()
        }
    }

    fn fenced_web() -> Container {
        container(
            "web",
            &[
                ("shop_front", "f1", &["web", "shop-web-1"]),
                ("shop_back", "b1", &["web"]),
                ("nf-env-production", "e1", &["web.shop"]),
            ],
        )
    }

    fn fenced_db() -> Container {
        container(
            "db",
            &[
                ("shop_back", "b1", &["db"]),
                ("nf-env-production", "e1", &["db.shop"]),
            ],
        )
    }

    /// `action container network [aliases] id`, one line per step.
    fn lines(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| {
                format!(
                    "{:?} {} {} {:?} {}",
                    s.action,
                    s.container.as_deref().unwrap_or("-"),
                    s.network,
                    s.aliases,
                    s.network_id.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }

    #[test]
    fn a_container_missing_from_a_planned_network_is_connected_with_the_plans_aliases() {
        let observed = Observed {
            networks: networks(),
            containers: vec![container(
                "web",
                &[
                    ("shop_front", "f1", &["web"]),
                    ("shop_back", "b1", &["web"]),
                ],
            )],
        };
        let steps = steps(&plan(), &observed, false, &[]);
        assert_eq!(
            lines(&steps),
            vec![r#"Connect shop-web-1 nf-env-production ["web.shop"] e1"#]
        );
        assert_eq!(steps[0].container_id, "shop-web-1-id");
    }

    #[test]
    fn a_missing_environment_network_is_created_once_then_joined_by_each_container() {
        let observed = Observed {
            networks: networks().into_iter().filter(|n| n.id != "e1").collect(),
            containers: vec![
                container("db", &[("shop_back", "b1", &["db"])]),
                container(
                    "web",
                    &[
                        ("shop_front", "f1", &["web"]),
                        ("shop_back", "b1", &["web"]),
                    ],
                ),
            ],
        };
        let steps = steps(&plan(), &observed, false, &[]);
        assert_eq!(
            lines(&steps),
            vec![
                "Create - nf-env-production [] -",
                r#"Connect shop-db-1 nf-env-production ["db.shop"] -"#,
                r#"Connect shop-web-1 nf-env-production ["web.shop"] -"#,
            ]
        );
        assert_eq!(
            steps[0].reason,
            "environment network of the plan is missing"
        );
        assert_eq!(
            steps[0].plan.as_ref().map(|p| p.role),
            Some(Role::Environment)
        );
    }

    #[test]
    fn a_second_reconcile_of_a_matching_project_has_no_steps() {
        let observed = Observed {
            networks: networks(),
            containers: vec![fenced_db(), fenced_web()],
        };
        assert!(steps(&plan(), &observed, false, &[]).is_empty());
        assert!(steps(&plan(), &observed, true, &["coolify".to_owned()]).is_empty());
    }

    #[test]
    fn strict_disconnects_from_the_policys_flat_networks_after_every_connect() {
        let web = container(
            "web",
            &[
                ("shop_front", "f1", &["web"]),
                ("shop_back", "b1", &["web"]),
                ("coolify", "c1", &["web"]),
            ],
        );
        let observed = Observed {
            networks: networks(),
            containers: vec![web],
        };
        let flat = ["coolify".to_owned()];
        // Without --strict the platform's flat network is the platform's business.
        assert_eq!(steps(&plan(), &observed, false, &flat).len(), 1);
        let steps = steps(&plan(), &observed, true, &flat);
        assert_eq!(
            lines(&steps),
            vec![
                r#"Connect shop-web-1 nf-env-production ["web.shop"] e1"#,
                "Disconnect shop-web-1 coolify [] c1",
            ]
        );
        assert_eq!(
            steps[1].reason,
            "flat network (policy flat_networks, --strict)"
        );
    }

    #[test]
    fn missing_aliases_are_fixed_by_reconnecting() {
        let mut web = fenced_web();
        web.networks
            .get_mut("nf-env-production")
            .unwrap()
            .aliases
            .clear();
        let observed = Observed {
            networks: networks(),
            containers: vec![fenced_db(), web],
        };
        let steps = steps(&plan(), &observed, false, &[]);
        assert_eq!(
            lines(&steps),
            vec![
                "Disconnect shop-web-1 nf-env-production [] e1",
                r#"Connect shop-web-1 nf-env-production ["web.shop"] e1"#,
            ]
        );
        assert!(steps[0].reason.starts_with("aliases `web.shop` missing"));
    }

    #[test]
    fn a_project_network_the_plan_does_not_give_the_service_is_left() {
        let mut db = fenced_db();
        db.networks.insert(
            "shop_front".into(),
            crate::engine::client::docker::Endpoint {
                network_id: "f1".into(),
                ..Default::default()
            },
        );
        let observed = Observed {
            networks: networks(),
            containers: vec![db],
        };
        let steps = steps(&plan(), &observed, false, &[]);
        assert_eq!(lines(&steps), vec!["Disconnect shop-db-1 shop_front [] f1"]);
        assert_eq!(
            steps[0].reason,
            "the plan does not attach `db` to the project's network `front`"
        );
    }

    #[test]
    fn unknown_services_and_an_empty_project_are_warned_about_not_touched() {
        let observed = Observed {
            networks: networks(),
            containers: vec![container("cron", &[("shop_back", "b1", &[])])],
        };
        assert!(steps(&plan(), &observed, false, &[]).is_empty());
        assert_eq!(
            warnings(&plan(), &observed, false, &[]),
            vec![Warning::Log(
                "shop-cron-1: service `cron` is not in the compose file; left as it is".into()
            )]
        );
        let nothing = Observed {
            networks: networks(),
            containers: Vec::new(),
        };
        assert_eq!(
            warnings(&plan(), &nothing, false, &[]),
            vec![Warning::Log(
                "no running containers of project nf-production-shop or shop (Compose label com.docker.compose.project)".into()
            )]
        );
    }

    #[test]
    fn steps_print_for_people_and_serialise_without_engine_ids() {
        let observed = Observed {
            networks: networks(),
            containers: vec![container("db", &[("shop_back", "b1", &["db"])])],
        };
        let steps = steps(&plan(), &observed, false, &[]);
        assert_eq!(
            describe(&steps[0]),
            "connect    shop-db-1                nf-env-production  [db.shop]  # environment network: the environment's projects reach it as <service>.<project>"
        );
        let json = serde_json::to_value(&steps).unwrap();
        assert_eq!(
            json[0],
            serde_json::json!({
                "action": "connect",
                "container": "shop-db-1",
                "service": "db",
                "network": "nf-env-production",
                "aliases": ["db.shop"],
                "reason": "environment network: the environment's projects reach it as <service>.<project>",
            })
        );
    }
}
