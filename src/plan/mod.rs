//! The plan: the pure result of compose + policy + scope. Every command is a view of it:
//! `rewrite` applies it to the YAML, `plan` prints it, `run`/`ensure`/`reconcile` apply
//! it to an engine, `audit` and `verify` judge against it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use indexmap::IndexMap;
use ipnet::IpNet;
use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

use crate::compose::{self, DEFAULT_NETWORK};
use crate::error::{Error, Result, Source};
use crate::labels;
use crate::naming::{self, Vars};
use crate::policy::{ContainerNameMode, Policy, PortsMode, ProxyServices};
use crate::scope::Scope;
use crate::subnet::{self, AllocError, Pool, Request};
use crate::unfence::{Record, INJECTED_PREFIX};
use crate::yaml::scalar_string;

pub const PROXY_KEY: &str = "netfence-proxy";
pub const ENV_KEY: &str = "netfence-env";
pub const SHARED_KEY_PREFIX: &str = "netfence-shared-";

/// Used only for networks that need a subnet (static addresses) when the policy has no
/// pool: Docker refuses static addresses on networks without a configured subnet.
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
    /// Subnets in use on the engine, which allocation avoids.
    pub occupied: Vec<IpNet>,
    /// Emit managed networks as `external` (they are created by `run` beforehand).
    pub managed_external: bool,
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
    #[serde(skip)]
    pub(crate) original_top_name: Option<String>,
    /// `ipam:` values as written, of the managed networks whose subnets the plan changes.
    #[serde(skip)]
    pub(crate) written_ipam: BTreeMap<String, Value>,
    #[serde(skip)]
    pub(crate) no_project_name: bool,
    #[serde(skip)]
    pub(crate) managed_external: bool,
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
                        s.written_networks.clone().unwrap_or(Value::Null),
                    )
                })
                .collect(),
            ipam: self.written_ipam.clone(),
        }
    }
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
}

struct Ctx<'a> {
    inputs: &'a Inputs<'a>,
    changes: Vec<Change>,
    warnings: Vec<Warning>,
}

impl Ctx<'_> {
    fn change(
        &mut self,
        subject: impl Into<String>,
        change: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.changes.push(Change {
            subject: subject.into(),
            change: change.into(),
            reason: reason.into(),
        });
    }

    fn policy_err(&self, pointer: impl Into<String>, message: impl Into<String>) -> Error {
        Error::policy(self.inputs.policy_source, pointer, message)
    }

    fn compose_err(&self, message: impl Into<String>) -> Error {
        Error::compose(self.inputs.source, message)
    }
}

/// The project name as Compose would choose it, before scoping.
fn original_project(inputs: &Inputs<'_>, opts: &Options) -> String {
    if let Some(p) = &opts.project {
        return naming::project_name(p);
    }
    if let Some(r) = inputs.record {
        return r.project.clone();
    }
    if let Some(p) = opts
        .environ
        .get("COMPOSE_PROJECT_NAME")
        .filter(|p| !p.is_empty())
    {
        return naming::project_name(p);
    }
    if let Some(n) = inputs.doc.get("name").and_then(scalar_string) {
        if !n.contains('$') {
            return naming::project_name(&n);
        }
    }
    let dir = inputs
        .project_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    naming::project_name(&dir)
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// Attachments as written: each network key with its per-attachment config.
type Written = Vec<(String, Option<Mapping>)>;

/// Raw attachments of a service after following same-file `extends`.
fn written_attachments(
    name: &str,
    services: &IndexMap<String, &Mapping>,
) -> (Option<Written>, Option<String>) {
    let mut current = name.to_owned();
    let mut seen = BTreeSet::new();
    loop {
        let Some(svc) = services.get(&current) else {
            return (None, None);
        };
        if let Some(mode) = compose::network_mode(svc) {
            return (None, Some(mode));
        }
        if let Some(a) = compose::attachments(svc) {
            return (Some(a), None);
        }
        match compose::extends_base(svc) {
            Some(base) if seen.insert(base.clone()) => current = base,
            _ => return (None, None),
        }
    }
}

fn render(ctx: &Ctx<'_>, template: &str, vars: &Vars<'_>, pointer: &str) -> Result<String> {
    naming::render(template, vars).map_err(|m| ctx.policy_err(pointer, m))
}

/// A name a user chose for a cross-scope network must already be a valid Docker name:
/// quietly changing it would break whatever else uses that name.
fn checked_external_name(ctx: &Ctx<'_>, raw: String, pointer: &str) -> Result<String> {
    let valid = raw
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(raw)
    } else {
        Err(ctx.policy_err(
            pointer,
            format!("`{raw}` is not a name Docker accepts for a network: expected [a-zA-Z0-9][a-zA-Z0-9_.-]*"),
        ))
    }
}

pub fn plan(inputs: &Inputs<'_>, opts: &Options) -> Result<Plan> {
    let policy = inputs.policy;
    let scope = opts
        .scope
        .clone()
        .or_else(|| inputs.record.and_then(|r| Scope::parse(&r.scope)))
        .unwrap_or_else(Scope::random_run);
    let project = original_project(inputs, opts);
    let mut ctx = Ctx {
        inputs,
        changes: Vec::new(),
        warnings: Vec::new(),
    };
    let swarm = opts.target == Target::Swarm;
    let prefix = policy.prefix();
    let vars = Vars::new(prefix, &scope, &project, &opts.environ);
    let base_vars = vars.clone();

    let project_template = policy
        .naming
        .project
        .clone()
        .unwrap_or_else(|| "{{ prefix }}-{{ scope_id }}-{{ project }}".into());
    let project_name =
        naming::project_name(&render(&ctx, &project_template, &vars, "/naming/project")?);

    let mut ownership = IndexMap::new();
    ownership.insert(labels::MANAGED.to_owned(), "true".to_owned());
    ownership.insert(labels::SCOPE.to_owned(), scope.to_string());
    ownership.insert(labels::PROJECT.to_owned(), project_name.clone());
    // Labels the user can see as theirs first, netfence's own last (see rewrite.rs).
    let mut owned_labels: IndexMap<String, String> = policy.labels.clone();
    for (k, v) in &ownership {
        owned_labels.insert(k.clone(), v.clone());
    }

    // ---- services as written -------------------------------------------------------
    let services: IndexMap<String, &Mapping> =
        compose::services_ref(inputs.doc).into_iter().collect();
    let declared_nets: IndexMap<String, Mapping> = compose::section(inputs.doc, "networks")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some((
                        scalar_string(k)?,
                        crate::yaml::untag(v)
                            .as_mapping()
                            .cloned()
                            .unwrap_or_default(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for k in declared_nets.keys() {
        if k.starts_with(INJECTED_PREFIX) {
            return Err(ctx.compose_err(format!(
                "network key `{k}` uses the prefix `{INJECTED_PREFIX}`, which netfence reserves for the networks it adds: rename it"
            )));
        }
    }
    let service_names: Vec<&String> = services.keys().collect();
    let check_service = |ctx: &Ctx<'_>, name: &str, pointer: String| -> Result<()> {
        if services.contains_key(name) {
            return Ok(());
        }
        let names: Vec<String> = service_names.iter().map(|s| s.to_string()).collect();
        let hint = crate::policy::did_you_mean(name, &names)
            .map(|b| format!(" (did you mean `{b}`?)"))
            .unwrap_or_default();
        Err(ctx.policy_err(
            pointer,
            format!(
                "unknown service `{name}`{hint}: the compose file has {}",
                list(&names)
            ),
        ))
    };
    let mut valid_net_keys: Vec<String> = declared_nets.keys().cloned().collect();
    if !valid_net_keys.iter().any(|k| k == DEFAULT_NETWORK) {
        valid_net_keys.push(DEFAULT_NETWORK.to_owned());
    }
    let check_network = |ctx: &Ctx<'_>, name: &str, pointer: String| -> Result<()> {
        if valid_net_keys.iter().any(|k| k == name) {
            return Ok(());
        }
        let hint = crate::policy::did_you_mean(name, &valid_net_keys)
            .map(|b| format!(" (did you mean `{b}`?)"))
            .unwrap_or_default();
        Err(ctx.policy_err(
            pointer,
            format!(
                "unknown network `{name}`{hint}: the compose file has {}",
                list(&valid_net_keys)
            ),
        ))
    };
    for (name, s) in &policy.services {
        let p = crate::policy::escape_pointer(name);
        check_service(&ctx, name, format!("/services/{p}"))?;
        for (i, n) in s.networks.iter().flatten().enumerate() {
            check_network(&ctx, n, format!("/services/{p}/networks/{i}"))?;
        }
    }
    for name in policy.networks.keys() {
        check_network(
            &ctx,
            name,
            format!("/networks/{}", crate::policy::escape_pointer(name)),
        )?;
    }
    if let Some(ProxyServices::List(l)) = policy.proxy.as_ref().map(|p| &p.services) {
        for (i, s) in l.iter().enumerate() {
            check_service(&ctx, s, format!("/proxy/services/{i}"))?;
        }
    }
    for (k, sh) in &policy.shared {
        for (i, (s, _)) in sh.services.members().iter().enumerate() {
            let p = match &sh.services {
                crate::policy::SharedServices::List(_) => {
                    format!("/shared/{}/services/{i}", crate::policy::escape_pointer(k))
                }
                _ => format!(
                    "/shared/{}/services/{}",
                    crate::policy::escape_pointer(k),
                    crate::policy::escape_pointer(s)
                ),
            };
            check_service(&ctx, s, p)?;
        }
    }
    for (i, s) in policy.environment.exclude.iter().enumerate() {
        check_service(&ctx, s, format!("/environment/exclude/{i}"))?;
    }

    // ---- attachments ------------------------------------------------------------------
    struct Draft {
        name: String,
        network_mode: Option<String>,
        written: Option<Written>,
        attachments: Vec<Attachment>,
        public: bool,
        container_name: Option<String>,
    }
    let mut drafts: Vec<Draft> = Vec::new();
    for (name, svc) in &services {
        let (written, network_mode) = written_attachments(name, &services);
        let mut keys: Vec<(String, Option<Mapping>)> = match (&network_mode, &written) {
            (Some(_), _) => Vec::new(),
            (None, Some(w)) => w.clone(),
            (None, None) => vec![(DEFAULT_NETWORK.to_owned(), None)],
        };
        if let Some(explicit) = policy.services.get(name).and_then(|s| s.networks.clone()) {
            if network_mode.is_some() {
                return Err(ctx.policy_err(
                    format!("/services/{}/networks", crate::policy::escape_pointer(name)),
                    format!("service `{name}` has `network_mode`, so it cannot join networks"),
                ));
            }
            let before: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
            keys = explicit
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        keys.iter()
                            .find(|(e, _)| e == k)
                            .and_then(|(_, c)| c.clone()),
                    )
                })
                .collect();
            if before != explicit {
                ctx.change(
                    format!("service {name}"),
                    format!("networks {} → {}", list(&before), list(&explicit)),
                    "policy services.networks",
                );
            }
        }
        for (k, _) in &keys {
            if !valid_net_keys.contains(k) {
                return Err(ctx.compose_err(format!(
                    "service `{name}` refers to network `{k}`, which is not declared under `networks:` (declared: {})",
                    list(declared_nets.keys())
                )));
            }
        }
        let attachments = keys
            .iter()
            .map(|(k, cfg)| {
                let cfg = cfg.as_ref();
                Attachment {
                    network: k.clone(),
                    aliases: cfg
                        .and_then(|c| c.get("aliases"))
                        .and_then(Value::as_sequence)
                        .map(|s| s.iter().filter_map(scalar_string).collect())
                        .unwrap_or_default(),
                    ipv4_address: cfg
                        .and_then(|c| c.get("ipv4_address"))
                        .and_then(scalar_string),
                    ipv6_address: cfg
                        .and_then(|c| c.get("ipv6_address"))
                        .and_then(scalar_string),
                }
            })
            .collect();
        let public = network_mode.is_none()
            && match policy.services.get(name).and_then(|s| s.public) {
                Some(p) => p,
                None => match policy.proxy.as_ref().map(|p| &p.services) {
                    Some(ProxyServices::List(l)) => l.contains(name),
                    _ => crate::proxy::is_public(svc),
                },
            };
        drafts.push(Draft {
            name: name.clone(),
            network_mode,
            written,
            attachments,
            public,
            container_name: svc.get("container_name").and_then(scalar_string),
        });
    }

    // ---- networks -------------------------------------------------------------------
    let used: BTreeSet<String> = drafts
        .iter()
        .flat_map(|d| d.attachments.iter().map(|a| a.network.clone()))
        .collect();
    let mut net_keys: Vec<String> = declared_nets.keys().cloned().collect();
    if used.contains(DEFAULT_NETWORK) && !declared_nets.contains_key(DEFAULT_NETWORK) {
        net_keys.push(DEFAULT_NETWORK.to_owned());
        ctx.change(
            "network default",
            "made explicit",
            "services use Compose's implicit default network; it needs a scoped name like the rest",
        );
    }
    let network_template = policy.naming.network.clone().unwrap_or_else(|| {
        if scope.is_env() {
            "{{ prefix }}-{{ scope_id }}-{{ project }}-{{ network }}".into()
        } else {
            "{{ prefix }}-{{ scope_id }}-{{ network }}".into()
        }
    });
    let mut networks: Vec<NetworkPlan> = Vec::new();
    // Networks with static addresses need a configured subnet (a Docker rule).
    let static_nets: BTreeSet<String> = drafts
        .iter()
        .flat_map(|d| {
            d.attachments
                .iter()
                .filter(|a| a.ipv4_address.is_some() || a.ipv6_address.is_some())
                .map(|a| a.network.clone())
        })
        .collect();
    for key in &net_keys {
        let decl = declared_nets.get(key).cloned().unwrap_or_default();
        let settings = policy.networks.get(key).cloned().unwrap_or_default();
        if compose::is_external(&decl) {
            networks.push(NetworkPlan {
                key: key.clone(),
                name: compose::external_name(key, &decl),
                role: Role::External,
                driver: decl.get("driver").and_then(scalar_string),
                internal: false,
                attachable: false,
                enable_ipv6: false,
                subnet: None,
                gateway: None,
                labels: IndexMap::new(),
                driver_opts: IndexMap::new(),
                original_name: None,
                original_subnet: None,
                subnet6: None,
                original_subnet6: None,
            });
            continue;
        }
        let raw = render(
            &ctx,
            &network_template,
            &base_vars.network(key),
            "/naming/network",
        )?;
        let name = naming::sanitise(&raw);
        let original_name = decl.get("name").and_then(scalar_string);
        if let Some(orig) = &original_name {
            ctx.change(
                format!("network {key}"),
                format!("name `{orig}` → `{name}`"),
                "a fixed network name is shared by every copy of the stack",
            );
        }
        let mut net_labels = settings.labels.clone();
        for (k, v) in &owned_labels {
            net_labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        net_labels.insert(labels::NETWORK.to_owned(), key.clone());
        if let Some(orig) = &original_name {
            net_labels.insert(labels::ORIGINAL_NAME.to_owned(), orig.clone());
        }
        let mut driver = settings
            .driver
            .clone()
            .or_else(|| decl.get("driver").and_then(scalar_string));
        let mut attachable = settings
            .attachable
            .or_else(|| decl.get("attachable").map(crate::yaml::is_truthy))
            .unwrap_or(false);
        let mut driver_opts = settings.driver_opts.clone();
        if swarm {
            if driver.as_deref() != Some("overlay") {
                ctx.change(
                    format!("network {key}"),
                    "driver overlay, attachable",
                    "swarm target",
                );
            }
            driver = Some("overlay".into());
            attachable = true;
            if settings.encrypted == Some(true) {
                driver_opts.insert("encrypted".into(), String::new());
            }
        }
        let internal = settings
            .internal
            .or_else(|| decl.get("internal").map(crate::yaml::is_truthy))
            .unwrap_or(false);
        if settings.internal == Some(true)
            && !decl.get("internal").is_some_and(crate::yaml::is_truthy)
        {
            ctx.change(
                format!("network {key}"),
                "internal: true",
                "policy networks.internal",
            );
        }
        let enable_ipv6 = settings
            .enable_ipv6
            .or_else(|| decl.get("enable_ipv6").map(crate::yaml::is_truthy))
            .unwrap_or(false);
        networks.push(NetworkPlan {
            key: key.clone(),
            name,
            role: Role::Managed,
            driver,
            internal,
            attachable,
            enable_ipv6,
            subnet: None,
            gateway: None,
            labels: net_labels,
            driver_opts,
            original_name,
            original_subnet: first_subnet(&decl, false),
            subnet6: None,
            original_subnet6: first_subnet(&decl, true),
        });
    }

    // ---- subnets ----------------------------------------------------------------------
    let pool = match &policy.subnets {
        Some(s) => Some(Pool {
            net: crate::policy::parse_cidr(&s.pool)
                .map_err(|m| ctx.policy_err("/subnets/pool", m))?,
            prefix_len: s.prefix_length.unwrap_or(24),
        }),
        None => None,
    };
    let mut requests = Vec::new();
    let mut request_idx = Vec::new();
    #[allow(clippy::needless_range_loop)] // entries are updated while iterating
    for i in 0..networks.len() {
        let n = networks[i].clone();
        if n.role != Role::Managed {
            continue;
        }
        let fixed = match policy
            .networks
            .get(&n.key)
            .and_then(|s| s.subnet.as_deref())
        {
            Some(s) => Some(
                crate::policy::parse_cidr(s)
                    .map_err(|m| ctx.policy_err(format!("/networks/{}/subnet", n.key), m))?,
            ),
            None => None,
        };
        let keep_input = pool.is_none() && scope.is_env();
        let input_subnet = n
            .original_subnet
            .as_deref()
            .and_then(|s| s.parse::<IpNet>().ok());
        let needs =
            fixed.is_some() || pool.is_some() || (static_nets.contains(&n.key) && !keep_input);
        if keep_input {
            if let (None, Some(s)) = (fixed, input_subnet) {
                networks[i].subnet = Some(s);
                continue;
            }
        }
        if needs {
            requests.push(Request {
                seed: n.name.clone(),
                fixed,
            });
            request_idx.push(i);
        } else if let Some(orig) = &n.original_subnet {
            ctx.change(
                format!("network {}", n.key),
                format!("subnet {orig} dropped"),
                "a fixed subnet collides across copies; Docker allocates one (set subnets.pool to choose)",
            );
        }
    }
    let any_pooled = requests.iter().any(|r| r.fixed.is_none());
    let effective_pool = match (pool, any_pooled) {
        (Some(p), _) => Some(p),
        (None, true) => Some(Pool {
            net: FALLBACK_POOL.parse().expect("constant CIDR"),
            prefix_len: 24,
        }),
        (None, false) => None,
    };
    let allocated =
        subnet::allocate(effective_pool, &requests, &opts.occupied).map_err(|e| match e {
            AllocError::Exhausted { .. } | AllocError::BadPrefix { .. } if pool.is_some() => {
                ctx.policy_err("/subnets", e.to_string())
            }
            AllocError::Overlap { .. } => ctx.policy_err("/networks", e.to_string()),
            other => ctx.compose_err(other.to_string()),
        })?;
    // Static addresses move with their network.
    let mut moved: BTreeMap<String, Vec<(Option<IpNet>, IpNet)>> = BTreeMap::new();
    for (slot, i) in request_idx.iter().enumerate() {
        let Some(new) = allocated[slot] else { continue };
        let n = &mut networks[*i];
        n.subnet = Some(new);
        let old: Option<IpNet> = n.original_subnet.as_deref().and_then(|s| s.parse().ok());
        let decl = declared_nets.get(&n.key);
        if let Some(gw) = decl
            .and_then(|d| d.get("ipam"))
            .and_then(|i| i.get("config"))
            .and_then(Value::as_sequence)
            .and_then(|c| c.first())
            .and_then(|c| c.get("gateway"))
            .and_then(scalar_string)
            .and_then(|g| g.parse::<IpAddr>().ok())
        {
            n.gateway = subnet::move_address(gw, old.as_ref(), &new).ok();
        }
        let why = if pool.is_none() && !static_nets.is_empty() && requests[slot].fixed.is_none() {
            format!("services have static addresses here, which need a configured subnet; taken from {FALLBACK_POOL}")
        } else if requests[slot].fixed.is_some() {
            "policy networks.subnet".to_owned()
        } else {
            "allocated from the policy's subnet pool".to_owned()
        };
        let was = n.original_subnet.clone().unwrap_or_else(|| "(none)".into());
        ctx.change(
            format!("network {}", n.key),
            format!("subnet {was} → {new}"),
            why,
        );
        moved.entry(n.key.clone()).or_default().push((old, new));
    }
    // IPv6: a fixed subnet collides across copies like an IPv4 one, but Docker has no
    // IPv6 pool to fall back on unless the daemon is configured with one, so a run gets a
    // deterministic ULA /64 instead. Environments keep theirs.
    let v6_idx: Vec<usize> = (0..networks.len())
        .filter(|&i| networks[i].role == Role::Managed && networks[i].original_subnet6.is_some())
        .collect();
    if scope.is_env() {
        for &i in &v6_idx {
            networks[i].subnet6 = networks[i]
                .original_subnet6
                .as_deref()
                .and_then(|s| s.parse().ok());
        }
    } else if !v6_idx.is_empty() {
        let reqs: Vec<Request> = v6_idx
            .iter()
            .map(|&i| Request {
                seed: networks[i].name.clone(),
                fixed: None,
            })
            .collect();
        let pool6 = Pool {
            net: FALLBACK_POOL6.parse().expect("constant CIDR"),
            prefix_len: 64,
        };
        let got = subnet::allocate(Some(pool6), &reqs, &opts.occupied)
            .map_err(|e| ctx.compose_err(e.to_string()))?;
        for (slot, &i) in v6_idx.iter().enumerate() {
            let Some(new) = got[slot] else { continue };
            let n = &mut networks[i];
            n.subnet6 = Some(new);
            let old: Option<IpNet> = n.original_subnet6.as_deref().and_then(|s| s.parse().ok());
            ctx.change(
                format!("network {}", n.key),
                format!(
                    "subnet {} → {new}",
                    n.original_subnet6.as_deref().unwrap_or("(none)")
                ),
                "a fixed IPv6 subnet collides across copies; a run gets a deterministic ULA /64",
            );
            moved.entry(n.key.clone()).or_default().push((old, new));
        }
    }

    // ---- proxy, shared, environment networks ---------------------------------------------
    let mut extra_attach: Vec<(String, String, Vec<String>)> = Vec::new(); // (service, key, aliases)
    let mut proxy_name = None;
    if let Some(proxy) = &policy.proxy {
        let template = proxy
            .network
            .clone()
            .unwrap_or_else(|| "{{ prefix }}-proxy".into());
        let raw = render(&ctx, &template, &base_vars, "/proxy/network")?;
        let name = checked_external_name(&ctx, raw, "/proxy/network")?;
        // The usual Traefik setup declares the proxy's network as external in the file:
        // that key is then the proxy network, rather than a second key for one name.
        let declared = networks
            .iter()
            .position(|n| n.role == Role::External && n.name == name);
        let proxy_key = match declared {
            Some(i) => {
                let key = networks[i].key.clone();
                let mut p = persistent(&key, &name, Role::Proxy, swarm, &ownership, &policy.labels);
                p.driver = networks[i].driver.clone().or(p.driver);
                networks[i] = p;
                key
            }
            None => {
                networks.push(persistent(
                    PROXY_KEY,
                    &name,
                    Role::Proxy,
                    swarm,
                    &ownership,
                    &policy.labels,
                ));
                PROXY_KEY.to_owned()
            }
        };
        for d in drafts.iter().filter(|d| d.public) {
            if d.attachments.iter().any(|a| a.network == proxy_key) {
                continue;
            }
            extra_attach.push((d.name.clone(), proxy_key.clone(), Vec::new()));
            ctx.change(
                format!("service {}", d.name),
                format!("joins the proxy network `{name}`"),
                "public: routed by the reverse proxy",
            );
        }
        for d in drafts.iter().filter(|d| !d.public) {
            if d.attachments.iter().any(|a| a.network == proxy_key) {
                ctx.warnings.push(Warning {
                    subject: format!("service {}", d.name),
                    message: format!(
                        "is on the proxy network `{name}` but not public: the proxy (and every public service of other projects) can reach it; remove it from `{proxy_key}` or mark it public"
                    ),
                });
            }
        }
        proxy_name = Some(name);
    }
    for (k, sh) in &policy.shared {
        let pointer = format!("/shared/{}/name", crate::policy::escape_pointer(k));
        let raw = render(&ctx, &sh.name, &base_vars.network(k), &pointer)?;
        let name = checked_external_name(&ctx, raw, &pointer)?;
        let key = format!("{SHARED_KEY_PREFIX}{k}");
        networks.push(persistent(
            &key,
            &name,
            Role::Shared,
            swarm,
            &ownership,
            &policy.labels,
        ));
        for (svc, aliases) in sh.services.members() {
            if drafts
                .iter()
                .any(|d| d.name == svc && d.network_mode.is_some())
            {
                return Err(ctx.policy_err(
                    pointer.replace("/name", "/services"),
                    format!("service `{svc}` has `network_mode`, so it cannot join networks"),
                ));
            }
            extra_attach.push((svc.clone(), key.clone(), aliases));
            ctx.change(
                format!("service {svc}"),
                format!("joins shared network `{name}`"),
                "policy shared",
            );
        }
    }
    if let Scope::Env(_) = &scope {
        let template = policy
            .environment
            .network
            .clone()
            .unwrap_or_else(|| "{{ prefix }}-env-{{ env }}".into());
        let raw = render(&ctx, &template, &base_vars, "/environment/network")?;
        let name = checked_external_name(&ctx, raw, "/environment/network")?;
        networks.push(persistent(
            ENV_KEY,
            &name,
            Role::Environment,
            swarm,
            &ownership,
            &policy.labels,
        ));
        let alias_template = policy
            .environment
            .alias
            .clone()
            .unwrap_or_else(|| "{{ service }}.{{ project }}".into());
        for d in &drafts {
            let excluded = policy.environment.exclude.contains(&d.name)
                || policy.services.get(&d.name).and_then(|s| s.environment) == Some(false);
            if d.network_mode.is_some() || excluded {
                continue;
            }
            let alias = render(
                &ctx,
                &alias_template,
                &base_vars.service(&d.name),
                "/environment/alias",
            )?;
            extra_attach.push((d.name.clone(), ENV_KEY.to_owned(), vec![alias]));
        }
        ctx.change(
            "environment",
            format!("every service joins `{name}` as <service>.{project}"),
            "resources of one environment reach each other and nothing else",
        );
    }

    // Two logical networks must never map to one real name.
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for n in &networks {
        if let Some(other) = seen.insert(&n.name, &n.key) {
            if other != n.key {
                return Err(ctx.compose_err(format!(
                    "networks `{other}` and `{}` would both be named `{}`: change naming.network or the keys",
                    n.key, n.name
                )));
            }
        }
    }
    let limit = policy.max_networks() as usize;
    let managed_count = networks.iter().filter(|n| n.role != Role::External).count();
    if managed_count > limit {
        return Err(ctx.policy_err(
            "/limits/max_networks",
            format!(
                "the plan needs {managed_count} managed networks, more than the limit of {limit}"
            ),
        ));
    }

    // ---- per-service edits ----------------------------------------------------------------
    let mode = policy.container_name_mode();
    let ports_mode = policy.ports.unwrap_or(if scope.is_env() {
        PortsMode::Keep
    } else {
        PortsMode::Ephemeral
    });
    let policy_aliases = |name: &str| -> Vec<String> {
        policy
            .services
            .get(name)
            .map(|s| s.aliases.clone())
            .unwrap_or_default()
    };
    let real_name = |key: &str| {
        networks
            .iter()
            .find(|n| n.key == key)
            .map(|n| n.name.clone())
    };
    let mut plans: Vec<ServicePlan> = Vec::new();
    for d in drafts {
        let svc = &services[&d.name];
        let mut attachments = d.attachments.clone();
        let mut container_name = None;
        if let Some(cn) = &d.container_name {
            match mode {
                ContainerNameMode::Keep => {}
                ContainerNameMode::Strip => {
                    container_name = Some(cn.clone());
                    ctx.change(
                        format!("service {}", d.name),
                        format!("container_name `{cn}` removed"),
                        "a fixed container name allows one copy per host (policy: strip)",
                    );
                }
                ContainerNameMode::Alias => {
                    container_name = Some(cn.clone());
                    if d.network_mode.is_some() {
                        ctx.change(format!("service {}", d.name), format!("container_name `{cn}` removed"), "a fixed container name allows one copy per host; the service has network_mode, so it has no network to alias on");
                    } else {
                        for a in &mut attachments {
                            push_unique(&mut a.aliases, cn);
                        }
                        ctx.change(
                            format!("service {}", d.name),
                            format!("container_name `{cn}` removed, kept as a network alias"),
                            "a fixed container name allows one copy per host; the alias keeps the old name resolving",
                        );
                    }
                }
            }
        }
        for a in &mut attachments {
            for alias in policy_aliases(&d.name) {
                push_unique(&mut a.aliases, &alias);
            }
            for (old, new) in moved.get(&a.network).into_iter().flatten() {
                for (field, addr) in [
                    ("ipv4_address", &mut a.ipv4_address),
                    ("ipv6_address", &mut a.ipv6_address),
                ] {
                    if let Some(text) = addr.clone() {
                        let Ok(ip) = text.parse::<IpAddr>() else {
                            continue;
                        };
                        if ip.is_ipv4() != new.addr().is_ipv4() {
                            continue;
                        }
                        let moved_ip =
                            subnet::move_address(ip, old.as_ref(), new).map_err(|m| {
                                ctx.compose_err(format!(
                                    "service `{}` network `{}`: {m}",
                                    d.name, a.network
                                ))
                            })?;
                        if moved_ip != ip {
                            ctx.change(
                                format!("service {}", d.name),
                                format!("{field} {ip} → {moved_ip} on {}", a.network),
                                "static addresses move with their network's subnet",
                            );
                        }
                        *addr = Some(moved_ip.to_string());
                    }
                }
            }
        }
        for (svc_name, key, aliases) in &extra_attach {
            if *svc_name != d.name {
                continue;
            }
            // Only the aliases made for the shared network go on it: the old container_name
            // and policy aliases stay inside the stack, where other projects cannot
            // answer to them too (across projects, `<service>.<project>` is the name).
            let aliases = aliases.clone();
            match attachments.iter_mut().find(|a| a.network == *key) {
                Some(a) => {
                    for al in aliases {
                        push_unique(&mut a.aliases, &al);
                    }
                }
                None => attachments.push(Attachment {
                    network: key.clone(),
                    aliases,
                    ipv4_address: None,
                    ipv6_address: None,
                }),
            }
        }
        let written_form: Vec<Attachment> = match &d.written {
            Some(w) => w
                .iter()
                .map(|(k, c)| Attachment {
                    network: k.clone(),
                    aliases: c
                        .as_ref()
                        .and_then(|c| c.get("aliases"))
                        .and_then(Value::as_sequence)
                        .map(|s| s.iter().filter_map(scalar_string).collect())
                        .unwrap_or_default(),
                    ipv4_address: c
                        .as_ref()
                        .and_then(|c| c.get("ipv4_address"))
                        .and_then(scalar_string),
                    ipv6_address: c
                        .as_ref()
                        .and_then(|c| c.get("ipv6_address"))
                        .and_then(scalar_string),
                })
                .collect(),
            None => vec![Attachment {
                network: DEFAULT_NETWORK.into(),
                aliases: vec![],
                ipv4_address: None,
                ipv6_address: None,
            }],
        };
        let rewrite_networks = d.network_mode.is_none() && attachments != written_form;

        // Ports.
        let mut ports = Vec::new();
        let effective_ports_mode = if swarm && ports_mode == PortsMode::Loopback {
            PortsMode::Ephemeral
        } else {
            ports_mode
        };
        if let Some(Value::Sequence(list)) = svc.get("ports").map(crate::yaml::untag) {
            for p in list {
                let mut after = crate::ports::rewrite(p, effective_ports_mode);
                if swarm {
                    after = swarm_port(after.as_ref().unwrap_or(p)).or(after);
                }
                if let Some(after) = after {
                    ports.push(PortChange {
                        before: p.clone(),
                        after,
                    });
                }
            }
            if !ports.is_empty() {
                let why = match effective_ports_mode {
                    PortsMode::Loopback => "fixed host ports collide across copies; Docker picks a free one, bound to 127.0.0.1 (policy ports: loopback)",
                    _ if swarm => "swarm publishes on every node: fixed host ports and host IPs are dropped",
                    _ => "fixed host ports collide across copies; Docker picks a free one (see `netfence run` for where)",
                };
                let desc: Vec<String> = ports
                    .iter()
                    .map(|p| format!("{} → {}", show(&p.before), show(&p.after)))
                    .collect();
                ctx.change(
                    format!("service {}", d.name),
                    format!("ports {}", desc.join(", ")),
                    why,
                );
            }
        }

        let container_proxy_labels = crate::labels::entries(svc.get("labels"))
            .iter()
            .any(|(k, _)| crate::proxy::is_proxy_label(k));
        if swarm && container_proxy_labels {
            ctx.change(
                format!("service {}", d.name),
                "proxy labels moved to deploy.labels",
                "Traefik's and caddy's Swarm providers read the service's labels, not the container's",
            );
        }
        // Proxy labels.
        let mut proxy_labels = Vec::new();
        if let (Some(name), Some(proxy)) = (&proxy_name, &policy.proxy) {
            if d.public {
                let label =
                    crate::proxy::network_label(proxy.provider, swarm, proxy.traefik_version);
                proxy_labels.push((label.to_owned(), name.clone()));
            }
        }
        // A proxy label naming a logical key is a silent misrouting bug: fix it.
        for (k, v) in compose::service_labels(svc) {
            if !crate::proxy::NETWORK_LABELS.contains(&k.as_str())
                || proxy_labels.iter().any(|(l, _)| *l == k)
            {
                continue;
            }
            if let Some(real) = declared_nets
                .contains_key(&v)
                .then(|| real_name(&v))
                .flatten()
            {
                if real != v {
                    proxy_labels.push((k.clone(), real.clone()));
                    ctx.change(
                        format!("service {}", d.name),
                        format!("label {k}: `{v}` → `{real}`"),
                        "the label names a logical network key; the proxy needs the real network name",
                    );
                }
            }
        }
        plans.push(ServicePlan {
            name: d.name.clone(),
            fenced: d.network_mode.is_none(),
            network_mode: d.network_mode.clone(),
            public: d.public && proxy_name.is_some(),
            attachments,
            container_name,
            ports,
            proxy_labels,
            rewrite_networks,
            written_networks: svc.get("networks").cloned(),
            written_ports: svc.get("ports").cloned(),
        });
    }

    // ---- volumes ------------------------------------------------------------------------
    let mut volumes = Vec::new();
    if let Some(vols) = compose::section(inputs.doc, "volumes") {
        for (k, v) in vols {
            let Some(key) = scalar_string(k) else {
                continue;
            };
            let decl = crate::yaml::untag(v)
                .as_mapping()
                .cloned()
                .unwrap_or_default();
            if compose::is_external(&decl) {
                continue;
            }
            let mut vlabels = owned_labels.clone();
            let mut dropped_name = None;
            if let Some(n) = decl.get("name").and_then(scalar_string) {
                if !scope.is_env() {
                    vlabels.insert(labels::ORIGINAL_NAME.to_owned(), n.clone());
                    ctx.change(format!("volume {key}"), format!("name `{n}` dropped"), "parallel runs would share one volume; Compose scopes it by project instead");
                    dropped_name = Some(n);
                }
            }
            volumes.push(VolumePlan {
                key,
                labels: vlabels,
                dropped_name,
            });
        }
    }

    // ---- ambiguous aliases -----------------------------------------------------------------
    let mut by_network: BTreeMap<&str, BTreeMap<String, Vec<&str>>> = BTreeMap::new();
    for s in &plans {
        for a in &s.attachments {
            let names = by_network.entry(a.network.as_str()).or_default();
            names.entry(s.name.clone()).or_default().push(&s.name);
            for al in &a.aliases {
                let v = names.entry(al.clone()).or_default();
                if !v.contains(&s.name.as_str()) {
                    v.push(&s.name);
                }
            }
        }
    }
    let mut warnings = std::mem::take(&mut ctx.warnings);
    for (net, names) in &by_network {
        let Some(n) = networks.iter().find(|n| n.key == *net) else {
            continue;
        };
        for (alias, holders) in names {
            if holders.len() > 1 {
                warnings.push(Warning {
                    subject: format!("network {}", n.name),
                    message: format!(
                        "name `{alias}` resolves to several services ({}): DNS answers at random",
                        holders.join(", ")
                    ),
                });
            }
        }
        if n.role.is_persistent() || n.role == Role::External {
            let scoped = format!(".{project}");
            for (alias, holders) in names {
                if holders.len() != 1 || alias.ends_with(&scoped) {
                    continue;
                }
                let holder = holders[0];
                let what = if alias == holder {
                    format!("service `{alias}` answers to its bare name")
                } else {
                    format!("service `{holder}` answers to `{alias}`")
                };
                let hint = if n.role == Role::Environment {
                    format!(" — use `{holder}.{project}`")
                } else {
                    String::new()
                };
                warnings.push(Warning {
                    subject: format!("network {}", n.name),
                    message: format!(
                        "{what} on this network, which other projects share: if another project answers to `{alias}` here, DNS picks one at random{hint}"
                    ),
                });
            }
        }
    }

    let written_ipam: BTreeMap<String, Value> = networks
        .iter()
        .filter(|n| n.role == Role::Managed)
        .filter(|n| {
            let v4_same = n.subnet.map(|s| s.to_string()) == n.original_subnet;
            let v6_same = n.subnet6.map(|s| s.to_string()) == n.original_subnet6;
            !(v4_same && v6_same)
        })
        .map(|n| {
            let ipam = declared_nets
                .get(&n.key)
                .and_then(|d| d.get("ipam"))
                .cloned();
            (n.key.clone(), ipam.unwrap_or(Value::Null))
        })
        .collect();

    Ok(Plan {
        scope,
        project,
        project_name,
        target: opts.target,
        policy_source: inputs.policy_source.to_string(),
        policy_digest: policy.digest(),
        container_name_mode: mode,
        ports_mode,
        ownership,
        labels: policy.labels.clone(),
        networks,
        services: plans,
        volumes,
        changes: ctx.changes,
        warnings,
        written_ipam,
        original_top_name: inputs.record.map_or_else(
            || inputs.doc.get("name").and_then(scalar_string),
            |r| r.name.clone(),
        ),
        no_project_name: opts.no_project_name || swarm,
        managed_external: opts.managed_external,
    })
}

/// The first subnet of one family in a network's `ipam.config`, as written. A subnet
/// that does not parse (`${SUBNET}`) counts as IPv4.
fn first_subnet(decl: &Mapping, v6: bool) -> Option<String> {
    compose::ipam_subnets(decl).into_iter().find(|s| {
        s.parse::<IpNet>()
            .map(|n| n.addr().is_ipv6())
            .unwrap_or(false)
            == v6
    })
}

fn persistent(
    key: &str,
    name: &str,
    role: Role,
    swarm: bool,
    ownership: &IndexMap<String, String>,
    policy_labels: &IndexMap<String, String>,
) -> NetworkPlan {
    // Cross-scope networks carry no run's scope, so no run's clean-up removes them; the
    // environment network belongs to its environment, and `down --env` removes it.
    let mut labels = IndexMap::new();
    labels.insert(labels::MANAGED.to_owned(), "true".to_owned());
    labels.insert(labels::NETWORK.to_owned(), key.to_owned());
    labels.insert(labels::ROLE.to_owned(), role_name(role).to_owned());
    for (k, v) in policy_labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if role == Role::Environment {
        if let Some(scope) = ownership.get(labels::SCOPE) {
            labels.insert(labels::SCOPE.to_owned(), scope.clone());
        }
    }
    NetworkPlan {
        key: key.to_owned(),
        name: name.to_owned(),
        role,
        driver: Some(if swarm { "overlay" } else { "bridge" }.to_owned()),
        internal: false,
        attachable: swarm,
        enable_ipv6: false,
        subnet: None,
        gateway: None,
        labels,
        driver_opts: IndexMap::new(),
        original_name: None,
        original_subnet: None,
        subnet6: None,
        original_subnet6: None,
    }
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

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Swarm publishes through its routing mesh: a host IP is not allowed.
fn swarm_port(p: &Value) -> Option<Value> {
    match p {
        Value::String(s) => {
            let mut sp = crate::ports::ShortPort::parse(s);
            sp.host_ip.take()?;
            Some(Value::String(sp.render()))
        }
        Value::Mapping(m) if m.contains_key("host_ip") => {
            let mut m = m.clone();
            m.shift_remove("host_ip");
            Some(Value::Mapping(m))
        }
        _ => None,
    }
}
