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

use bollard::models::{ContainerInspectResponse, Network};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use serde::Serialize;

use super::ensure::{self, all_networks, network_labels};
use super::{api_message, is_not_found, Engine, EngineError, EngineResult};
use crate::labels;
use crate::plan::{role_name, NetworkPlan, Plan, Role};

const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
const COMPOSE_NETWORK: &str = "com.docker.compose.network";

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

/// A network of the engine, as far as reconcile cares.
#[derive(Debug, Clone)]
struct Live {
    id: String,
    name: String,
    labels: HashMap<String, String>,
}

impl Live {
    fn of(n: &Network) -> Live {
        Live {
            id: n.id.clone().unwrap_or_default(),
            name: n.name.clone().unwrap_or_default(),
            labels: network_labels(n),
        }
    }

    fn label(&self, k: &str) -> Option<&str> {
        self.labels.get(k).map(String::as_str)
    }
}

/// Where a logical network of the plan lives on the engine, or that it must be created.
#[derive(Debug, Clone)]
enum Target {
    Live(Live),
    Missing(Box<NetworkPlan>),
    /// Declared external and not there: Compose could not have started the project.
    Absent,
}

/// The steps that make the project's running containers match the plan.
pub async fn compute(
    engine: &Engine,
    plan: &Plan,
    strict: bool,
    flat: &[String],
) -> EngineResult<Vec<Step>> {
    let projects: BTreeSet<String> = [plan.project.clone(), plan.project_name.clone()]
        .into_iter()
        .collect();
    let networks: Vec<Live> = all_networks(engine).await?.iter().map(Live::of).collect();
    let ours = |n: &Live| {
        n.label(COMPOSE_PROJECT)
            .is_some_and(|p| projects.contains(p))
    };

    // ---- each logical network's counterpart -----------------------------------------------
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    for np in &plan.networks {
        let by_name = || {
            let mut same: Vec<&Live> = networks.iter().filter(|n| n.name == np.name).collect();
            same.sort_by(|a, b| a.id.cmp(&b.id));
            same.first().map(|n| (*n).clone())
        };
        let target = match np.role {
            Role::Managed => networks
                .iter()
                .filter(|n| ours(n) && n.label(COMPOSE_NETWORK) == Some(np.key.as_str()))
                .min_by(|a, b| a.id.cmp(&b.id))
                .cloned()
                .or_else(by_name)
                .map_or_else(|| Target::Missing(Box::new(np.clone())), Target::Live),
            Role::External => by_name().map_or(Target::Absent, Target::Live),
            _ => by_name().map_or_else(|| Target::Missing(Box::new(np.clone())), Target::Live),
        };
        targets.insert(np.key.clone(), target);
    }

    let mut steps = Vec::new();
    let mut creating = BTreeSet::new();

    // ---- containers ---------------------------------------------------------------------
    let mut containers = Vec::new();
    for p in &projects {
        let f = Engine::label_filter(&[format!("{COMPOSE_PROJECT}={p}")]);
        let list = engine
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default().filters(&f).build(),
            ))
            .await
            .map_err(|e| EngineError(format!("listing containers: {}", api_message(&e))))?;
        containers.extend(list.into_iter().filter_map(|c| c.id));
    }
    if containers.is_empty() {
        tracing::warn!(
            "no running containers of project {} (Compose label {COMPOSE_PROJECT})",
            projects.iter().cloned().collect::<Vec<_>>().join(" or ")
        );
    }
    let mut inspected: Vec<ContainerInspectResponse> = Vec::new();
    for id in containers {
        match engine
            .docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => inspected.push(c),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(EngineError(format!(
                    "inspecting container {id}: {}",
                    api_message(&e)
                )))
            }
        }
    }
    inspected.sort_by(|a, b| a.name.cmp(&b.name));

    let mut disconnects = Vec::new();
    for c in &inspected {
        let cid = c.id.clone().unwrap_or_default();
        let cname = c
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned();
        let clabels = c
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let Some(service) = clabels.get(COMPOSE_SERVICE).cloned() else {
            continue;
        };
        let Some(sp) = plan.service(&service) else {
            tracing::warn!(
                "{cname}: service `{service}` is not in the compose file; left as it is"
            );
            continue;
        };
        if !sp.fenced {
            continue;
        }
        let attached: BTreeMap<String, (String, Vec<String>)> = c
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, ep)| {
                (
                    ep.network_id.clone().unwrap_or_default(),
                    (name, ep.aliases.unwrap_or_default()),
                )
            })
            .collect();
        let step = |action, network: &str, aliases: Vec<String>, reason: String| Step {
            action,
            container: Some(cname.clone()),
            service: Some(service.clone()),
            network: network.to_owned(),
            aliases,
            reason,
            container_id: cid.clone(),
            network_id: None,
            plan: None,
        };

        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for a in &sp.attachments {
            let Some(np) = plan.network(&a.network) else {
                continue;
            };
            if strict && np.role == Role::External && flat.contains(&np.name) {
                // --strict wins over a flat network the file itself declares.
                continue;
            }
            let mut aliases = a.aliases.clone();
            if np.role == Role::Managed && !aliases.contains(&service) {
                // What Compose gives every service on its project's networks.
                aliases.insert(0, service.clone());
            }
            let why = reason_for(np, &service);
            match &targets[&a.network] {
                Target::Absent => {
                    tracing::warn!(
                        "{cname}: external network {} does not exist; not connected",
                        np.name
                    );
                }
                Target::Missing(np) => {
                    if creating.insert(np.name.clone()) {
                        steps.push(Step {
                            action: Action::Create,
                            container: None,
                            service: None,
                            network: np.name.clone(),
                            aliases: Vec::new(),
                            reason: format!(
                                "{} network of the plan is missing",
                                role_name(np.role)
                            ),
                            container_id: String::new(),
                            network_id: None,
                            plan: Some((**np).clone()),
                        });
                    }
                    steps.push(step(Action::Connect, &np.name, aliases, why));
                }
                Target::Live(live) => {
                    wanted.insert(live.id.clone());
                    match attached.get(&live.id) {
                        None => {
                            let mut s = step(Action::Connect, &live.name, aliases, why);
                            s.network_id = Some(live.id.clone());
                            steps.push(s);
                        }
                        Some((_, have)) => {
                            let missing: Vec<&String> = aliases
                                .iter()
                                .filter(|al| !have.contains(al) && **al != cname)
                                .collect();
                            if !missing.is_empty() {
                                let list: Vec<String> =
                                    missing.iter().map(|s| format!("`{s}`")).collect();
                                let mut d = step(
                                    Action::Disconnect,
                                    &live.name,
                                    Vec::new(),
                                    format!(
                                        "aliases {} missing: reconnect (an endpoint's aliases cannot change in place)",
                                        list.join(", ")
                                    ),
                                );
                                d.network_id = Some(live.id.clone());
                                let mut s = step(Action::Connect, &live.name, aliases, why);
                                s.network_id = Some(live.id.clone());
                                steps.push(d);
                                steps.push(s);
                            }
                        }
                    }
                }
            }
        }
        if sp.public {
            warn_proxy_label(plan, sp, &cname, &clabels);
        }

        for (nid, (nname, _)) in &attached {
            if wanted.contains(nid) {
                continue;
            }
            let live = networks.iter().find(|n| n.id == *nid);
            let managed = live.is_some_and(|n| n.label(labels::MANAGED) == Some("true"));
            let project_net = live.is_some_and(&ours);
            let reason = if project_net {
                Some(format!(
                    "the plan does not attach `{service}` to the project's network `{}`",
                    live.and_then(|n| n.label(COMPOSE_NETWORK)).unwrap_or("?")
                ))
            } else if managed {
                Some(format!(
                    "netfence {} network the plan does not give `{service}`",
                    live.and_then(|n| n.label(labels::ROLE))
                        .unwrap_or("managed")
                ))
            } else if strict && flat.iter().any(|f| f == nname) {
                Some("flat network (policy flat_networks, --strict)".to_owned())
            } else {
                None
            };
            if let Some(reason) = reason {
                let mut d = step(Action::Disconnect, nname, Vec::new(), reason);
                d.network_id = Some(nid.clone());
                disconnects.push(d);
            }
        }
    }
    // Connect everything first: a container is never left without a network mid-way.
    steps.extend(disconnects);
    Ok(steps)
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

/// Labels cannot change on a running container: say so when the proxy label is wrong.
fn warn_proxy_label(
    plan: &Plan,
    sp: &crate::plan::ServicePlan,
    cname: &str,
    have: &HashMap<String, String>,
) {
    for (label, value) in &sp.proxy_labels {
        if plan.target == crate::plan::Target::Swarm {
            continue;
        }
        if have.get(label) != Some(value) {
            eprintln!(
                "netfence: warning: {cname}: label {label}={value} is {} — labels cannot change on a running container; deploy the rewritten file so the proxy routes over {value}",
                match have.get(label) {
                    Some(v) => format!("`{v}`"),
                    None => "missing".to_owned(),
                }
            );
        }
    }
}

/// Applies the steps in order. Stops at the first failure, saying what was done.
pub async fn apply(engine: &Engine, steps: &[Step], limit: u32) -> EngineResult<()> {
    let creates: Vec<&NetworkPlan> = steps.iter().filter_map(|s| s.plan.as_ref()).collect();
    ensure::check_limit(engine, &creates, limit).await?;
    let mut created: HashMap<String, String> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        let fail = |m: String| {
            EngineError(format!(
                "step {} of {} ({}) failed: {m}",
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
                ensure::connect(
                    engine,
                    &net,
                    &s.container_id,
                    ensure::endpoint(&s.aliases, None),
                )
                .await
                .map_err(fail)?;
            }
            Action::Disconnect => {
                let net = s.network_id.clone().unwrap_or_else(|| s.network.clone());
                match engine
                    .docker
                    .disconnect_network(
                        &net,
                        bollard::models::NetworkDisconnectRequest {
                            container: s.container_id.clone(),
                            force: Some(false),
                        },
                    )
                    .await
                {
                    Ok(()) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        let m = api_message(&e);
                        if !m.contains("is not connected") {
                            return Err(fail(m));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
