//! The plan: the pure result of compose + policy + scope. Every command is a view of it:
//! `rewrite` applies it to the YAML, `plan` prints it, `run`/`ensure`/`reconcile` apply
//! it to an engine, `audit` and `verify` judge against it.
//!
//! [`plan()`] is a sequence of stages, one per rewrite rule (or a tight pair), each in
//! the file named after its rule. Each stage reads what the earlier ones decided, and
//! their order is the order of the plan's change list and warnings, which users see.

mod ambiguity;
mod assignment;
mod build_name;
mod container_name;
mod ctx;
mod dev_ports;
mod environment;
pub mod name_order;
mod networks;
mod persistent;
mod ports;
mod project;
mod proxy;
mod proxy_names;
mod references;
mod shared;
mod subnets;
mod swarm;
mod trust;
mod volumes;
mod written;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::yaml::Value;
use indexmap::IndexMap;
use ipnet::IpNet;
use serde::Serialize;

use crate::avoid::Avoid;
use crate::error::{Result, Source};
use crate::policy::{ContainerNameMode, Policy, PortsMode};
use crate::profiles::ProfilePlan;
use crate::scope::Scope;
use crate::unfence::Record;

use assignment::Draft;
use ctx::Ctx;
use persistent::Join;
use subnets::Moved;
use written::Written;

pub use dev_ports::{port_key, HostPorts};

pub const PROXY_KEY: &str = "netfence-proxy";
pub const ENV_KEY: &str = "netfence-env";
pub const SHARED_KEY_PREFIX: &str = "netfence-shared-";

/// Where a network's subnet comes from when the policy has no pool but the network needs
/// one: Docker refuses static addresses on a network without a configured subnet, and
/// networks netfence creates itself (`run`) take theirs here because Docker's default
/// address pools hold only about thirty networks (ten copies of a stack exhaust them).
pub const FALLBACK_POOL: &str = "10.213.0.0/16";
/// Where runs take IPv6 subnets from (a unique-local range).
pub const FALLBACK_POOL6: &str = "fd6e:6600::/48";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    #[default]
    Compose,
    Swarm,
}

/// What the caller decides; everything else comes from the files and the policy.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub scope: Option<Scope>,
    /// `-p`: overrides every other source of the project name.
    pub project: Option<String>,
    pub target: Target,
    /// Leave out the top-level `name:` (`--no-project-name`).
    pub no_project_name: bool,
    /// The process environment, for templates (`environ`) and `COMPOSE_PROJECT_NAME`.
    pub environ: BTreeMap<String, String>,
    /// Subnets in use, which allocation avoids, each with what holds it (the engine's
    /// networks; where the engine is local, the host's routes and the daemon's pools).
    pub occupied: Vec<Avoid>,
    /// netfence creates the managed networks itself (`run`, before Compose starts): the
    /// output declares them `external`, and each gets its subnet here (the policy's pool,
    /// else [`FALLBACK_POOL`]), so the plan is exactly what will be created.
    pub managed_external: bool,
    /// netfence's networks on the engine, when one answers: tenant mode knows another
    /// scope's network by them.
    pub known_networks: Vec<crate::tenant::KnownNetwork>,
    /// In dev scope: the host ports taken by others and held by the stack (see
    /// [`HostPorts`]), which its stable ports avoid and keep.
    pub host_ports: HostPorts,
    /// `--profile` values. Every service is fenced whatever its profiles; these (else
    /// `COMPOSE_PROFILES`) only say which ones `run` and `up` start.
    pub profiles: Vec<String>,
    /// Labels the command that brings the stack up puts on everything it owns, beside
    /// the ownership labels: `run`'s owning process, `up`'s checkout. In the plan, so
    /// the written file is the plan's alone.
    pub bring_up_labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A network of the file, fenced: scoped name, ownership labels.
    Managed,
    /// Declared `external` in the file: left as it is.
    External,
    Proxy,
    Shared,
    Environment,
}

impl Role {
    /// Networks that live beyond one scope and are created by `run`/`ensure` when missing.
    pub fn is_persistent(self) -> bool {
        matches!(self, Role::Proxy | Role::Shared | Role::Environment)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkPlan {
    /// The logical key in the output's `networks:`.
    pub key: String,
    /// The real Docker name.
    pub name: String,
    pub role: Role,
    pub driver: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<IpNet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Labels netfence puts on the network (ownership and policy labels).
    pub labels: IndexMap<String, String>,
    pub driver_opts: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_name: Option<String>,
    /// The input's subnet, when the plan moved or dropped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_subnet: Option<String>,
    /// The IPv6 subnet, when the network has one netfence must set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<IpNet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_subnet6: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub network: String,
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// The engine's endpoint priority (Compose's `gw_priority`): engines since 28 pick
    /// the default gateway by it and ask a container's networks for a name in its order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw_priority: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortChange {
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    /// False for `network_mode` services: they are never given networks.
    pub fenced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    pub public: bool,
    pub attachments: Vec<Attachment>,
    /// The `container_name` removed from the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    pub ports: Vec<PortChange>,
    /// Proxy network labels to set: (label, real network name).
    pub proxy_labels: Vec<(String, String)>,
    /// The name netfence gives the service's build (see `build_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Proxy labels renamed in tenant mode (see `proxy_names`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxy_renames: Vec<LabelRename>,
    /// Whether `networks:` must be written (attachments differ from the input's).
    #[serde(skip)]
    pub rewrite_networks: bool,
    /// The `networks:` value as written, kept for the record.
    #[serde(skip)]
    pub(crate) written_networks: Option<Value>,
    /// The `ports:` value as written, kept for the record.
    #[serde(skip)]
    pub(crate) written_ports: Option<Value>,
}

/// A label whose key and value the plan rewrites: `from` becomes `to=value`, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelRename {
    pub from: String,
    pub to: String,
    pub value: String,
    /// The value as written, for the record.
    pub original: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumePlan {
    pub key: String,
    pub labels: IndexMap<String, String>,
    /// A fixed `name:` dropped in run scope (parallel runs would share the data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub subject: String,
    pub change: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub scope: Scope,
    /// The project name before scoping.
    pub project: String,
    /// The scoped project name Compose runs the stack under.
    pub project_name: String,
    pub target: Target,
    pub policy_source: String,
    pub policy_digest: String,
    pub container_name_mode: ContainerNameMode,
    pub ports_mode: PortsMode,
    pub ownership: IndexMap<String, String>,
    /// The policy's extra labels, set wherever ownership labels are.
    pub labels: IndexMap<String, String>,
    pub networks: Vec<NetworkPlan>,
    pub services: Vec<ServicePlan>,
    pub volumes: Vec<VolumePlan>,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    /// What allocation steered around in the pools it took subnets from, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub avoided: Vec<Avoid>,
    /// Compose's active profiles, and the services they leave unstarted (all fenced).
    #[serde(skip_serializing_if = "ProfilePlan::is_empty")]
    pub profiles: ProfilePlan,
    #[serde(skip)]
    pub(crate) original_top_name: Option<String>,
    /// `ipam:` values as written, of the managed networks whose subnets the plan changes.
    #[serde(skip)]
    pub(crate) written_ipam: BTreeMap<String, Value>,
    #[serde(skip)]
    pub(crate) no_project_name: bool,
    #[serde(skip)]
    pub(crate) managed_external: bool,
    /// In tenant mode, the closed document the plan was made from (see
    /// `tenant::close`): the rewrite applies the plan to it, not to the input as read.
    #[serde(skip)]
    pub closed: Option<Value>,
}

/// The real names of the networks a plan makes or assigns itself (not the file's own
/// external ones): joining those is the plan's doing, never a tenant's escape.
pub fn assigned_names(networks: &[NetworkPlan]) -> Vec<String> {
    networks
        .iter()
        .filter(|n| n.role != Role::External)
        .map(|n| n.name.clone())
        .collect()
}

impl Plan {
    pub fn network(&self, key: &str) -> Option<&NetworkPlan> {
        self.networks.iter().find(|n| n.key == key)
    }

    pub fn service(&self, name: &str) -> Option<&ServicePlan> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn record(&self) -> Record {
        Record {
            scope: self.scope.to_string(),
            project: self.project.clone(),
            name: self.original_top_name.clone(),
            policy: self.policy_digest.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            container_names: self
                .services
                .iter()
                .filter_map(|s| Some((s.name.clone(), s.container_name.clone()?)))
                .collect(),
            ports: self
                .services
                .iter()
                .filter(|s| !s.ports.is_empty())
                .filter_map(|s| Some((s.name.clone(), s.written_ports.clone()?)))
                .collect(),
            networks: self
                .services
                .iter()
                .filter(|s| s.rewrite_networks)
                .map(|s| {
                    (
                        s.name.clone(),
                        s.written_networks.clone().unwrap_or_else(Value::null),
                    )
                })
                .collect(),
            ipam: self.written_ipam.clone(),
            proxy_names: self
                .services
                .iter()
                .filter(|s| !s.proxy_renames.is_empty())
                .map(|s| (s.name.clone(), renamed_back(&s.proxy_renames)))
                .collect(),
        }
    }
}

/// What the record keeps of a service's renamed proxy labels: each new key with the key
/// and value it had.
fn renamed_back(renames: &[LabelRename]) -> Value {
    let mut m = crate::yaml::Mapping::new();
    for r in renames {
        let was = vec![
            Value::from(r.from.as_str()),
            Value::from(r.original.as_str()),
        ];
        m.insert(crate::yaml::key(&r.to), Value::Sequence(was));
    }
    Value::Mapping(m)
}

/// Everything the planner reads.
pub struct Inputs<'a> {
    /// The unfenced document (see `unfence`).
    pub doc: &'a Value,
    pub record: Option<&'a Record>,
    pub source: &'a Source,
    pub project_dir: &'a std::path::Path,
    pub policy: &'a Policy,
    pub policy_source: &'a Source,
    /// The files `include:` and `extends.file` made the loader read.
    pub references: &'a [crate::load::Reference],
    /// The host's files as loading hands them over: planning reads none itself.
    pub host: &'a dyn crate::load::host::Host,
}

/// Plans the fence for one compose file, policy and scope.
pub fn plan(inputs: &Inputs<'_>, opts: &Options) -> Result<Plan> {
    let scope = opts.scope.clone().ok_or_else(|| {
        crate::error::Error::Usage(
            "planning needs a scope: choose one with `netfence::scope::choose` (`Project::plan` does)"
                .into(),
        )
    })?;
    let Some(closed) = trust::close(&Ctx::new(inputs, opts, &scope))? else {
        return plan_from(inputs, opts, &scope, Vec::new());
    };
    let closed_inputs = Inputs {
        doc: &closed.doc,
        ..*inputs
    };
    let mut plan = plan_from(&closed_inputs, opts, &scope, closed.escapes)?;
    plan.closed = Some(closed.doc);
    Ok(plan)
}

/// [`plan`] of a document as it is; `closing` holds what closing it found.
fn plan_from(
    inputs: &Inputs<'_>,
    opts: &Options,
    scope: &Scope,
    closing: Vec<crate::tenant::Escape>,
) -> Result<Plan> {
    let mut ctx = Ctx::new(inputs, opts, scope);
    ctx.closing = closing;
    let id = project::identify(&ctx)?;
    let written = written::read(&ctx)?;
    references::check(&ctx, &written)?;
    let mut drafts = assignment::assign(&mut ctx, &written)?;
    proxy::keep_private_off(&mut ctx, &id, &written, &mut drafts)?;

    let mut networks = networks::plan(&mut ctx, &id, &written, &drafts)?;
    let (moved, avoided) =
        subnets::allocate(&mut ctx, &id.scope, &written, &drafts, &mut networks)?;
    let mut joins = Vec::new();
    let proxy = proxy::network(&mut ctx, &id, &drafts, &mut networks, &mut joins)?;
    shared::networks(&mut ctx, &id, &drafts, &mut networks, &mut joins)?;
    environment::network(&mut ctx, &id, &drafts, &mut networks, &mut joins)?;
    networks::check(&ctx, &networks)?;
    trust::enforce(&ctx, &id, &networks)?;

    let ports_mode = ports::mode(&ctx, &id.scope);
    let mut stable_ports = dev_ports::Allocator::new(&ctx, &id.scope, ports_mode);
    let topology = Topology {
        written: &written,
        networks: &networks,
        moved,
        joins: by_service(joins),
        proxy,
        ports_mode,
        project_name: &id.project_name,
    };
    let mut services = drafts
        .into_iter()
        .map(|d| service(&mut ctx, &topology, stable_ports.as_mut(), d))
        .collect::<Result<Vec<_>>>()?;
    name_order::apply(&mut ctx, &networks, &mut services);
    let volumes = volumes::plan(&mut ctx, &id);
    ambiguity::warn(&mut ctx, &id.project, &networks, &services);
    let written_ipam = subnets::written_ipam(&written, &networks);

    Ok(Plan {
        scope: id.scope,
        project: id.project,
        project_name: id.project_name,
        target: opts.target,
        policy_source: inputs.policy_source.to_string(),
        policy_digest: inputs.policy.digest(),
        container_name_mode: inputs.policy.container_name_mode(),
        ports_mode,
        ownership: id.ownership,
        labels: inputs.policy.labels.clone(),
        networks,
        services,
        volumes,
        changes: ctx.changes,
        warnings: ctx.warnings,
        avoided,
        profiles: crate::profiles::plan(
            inputs.doc,
            &opts.profiles,
            &opts.environ,
            inputs.project_dir,
        ),
        written_ipam,
        original_top_name: id.original_top_name,
        no_project_name: opts.no_project_name || opts.target == Target::Swarm,
        managed_external: opts.managed_external,
        closed: None,
    })
}

/// What each service's edits read once the networks are planned.
struct Topology<'a> {
    written: &'a Written<'a>,
    networks: &'a [NetworkPlan],
    moved: Moved,
    /// The joins of each service, in the order the stages made them (looked up once a
    /// service: a scan of every join for every service was quadratic in the file).
    joins: HashMap<String, Vec<Join>>,
    /// The proxy network's real name, when the policy has a proxy.
    proxy: Option<String>,
    ports_mode: PortsMode,
    project_name: &'a str,
}

fn by_service(joins: Vec<Join>) -> HashMap<String, Vec<Join>> {
    let mut out: HashMap<String, Vec<Join>> = HashMap::new();
    for j in joins {
        out.entry(j.service.clone()).or_default().push(j);
    }
    out
}

/// One service's edits, in the order its changes are recorded: container_name, aliases
/// and static addresses, the networks it joins, ports, proxy labels.
/// `stable_ports`: a dev stack's host ports (see `dev_ports`), else rule 5 as for runs.
fn service(
    ctx: &mut Ctx<'_>,
    t: &Topology<'_>,
    stable_ports: Option<&mut dev_ports::Allocator>,
    d: Draft<'_>,
) -> Result<ServicePlan> {
    let mut attachments = d.attachments.clone();
    let container_name = container_name::apply(ctx, &d, &mut attachments);
    for a in &mut attachments {
        assignment::add_policy_aliases(ctx, &d.name, a);
        subnets::move_addresses(ctx, &d.name, a, &t.moved)?;
    }
    let joins = t.joins.get(&d.name).map_or(&[][..], Vec::as_slice);
    persistent::join(&mut attachments, joins, &d.name);
    let rewrite_networks = d.network_mode.is_none() && attachments != d.as_written;
    let ports = match stable_ports {
        Some(alloc) => dev_ports::plan(ctx, alloc, &d.name, d.svc)?,
        None => ports::plan(ctx, &d.name, d.svc, t.ports_mode),
    };
    swarm::note_moved_labels(ctx, &d.name, d.svc);
    let proxy_labels = proxy::labels(ctx, &d, t.proxy.as_deref(), t.written, t.networks);
    let image = build_name::image(ctx, t.project_name, &d.name, d.svc);
    let proxy_renames = proxy_names::renames(ctx, t.project_name, &d.name, d.svc);
    Ok(ServicePlan {
        image,
        proxy_renames,
        fenced: d.network_mode.is_none(),
        public: d.public && t.proxy.is_some(),
        attachments,
        container_name,
        ports,
        proxy_labels,
        rewrite_networks,
        written_networks: d.svc.get("networks").cloned(),
        written_ports: d.svc.get("ports").cloned(),
        name: d.name,
        network_mode: d.network_mode,
    })
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Managed => "managed",
        Role::External => "external",
        Role::Proxy => "proxy",
        Role::Shared => "shared",
        Role::Environment => "environment",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    fn planned(w: &World) -> Plan {
        w.run(|ctx| plan(ctx.inputs, ctx.opts)).unwrap()
    }

    #[test]
    fn changes_read_stage_by_stage_and_a_services_own_stay_together() {
        let w = World::new(
            "services:\n  db:\n    container_name: pg\n    ports: ['5432:5432']\n    networks:\n      back: {ipv4_address: 172.20.0.5}\n  web:\n    ports: ['80:80']\nnetworks:\n  back:\n    ipam: {config: [{subnet: 172.20.0.0/16}]}\nvolumes:\n  data: {name: pgdata}",
            "",
        );
        let p = planned(&w);
        let got: Vec<(&str, &str)> = p
            .changes
            .iter()
            .map(|c| (c.subject.as_str(), c.change.split(' ').next().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("network default", "made"),
                ("network back", "subnet"),
                ("service db", "container_name"),
                ("service db", "ipv4_address"),
                ("service db", "ports"),
                ("service web", "ports"),
                ("volume data", "name"),
            ]
        );
    }

    #[test]
    fn networks_is_rewritten_only_when_the_attachments_change() {
        let w = World::new(
            "services:\n  db: {container_name: pg}\n  web: {networks: [default]}",
            "",
        );
        let p = planned(&w);
        assert!(
            p.service("db").unwrap().rewrite_networks,
            "pg became an alias"
        );
        assert!(!p.service("web").unwrap().rewrite_networks);
    }
}
