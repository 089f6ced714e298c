//! The audit rules. Ids are stable: a rule may be retired, never renumbered.
//! Each check reads the compose document as written and returns drafts; `audit::audit`
//! places them in the files and decides whether rewrite fixes them.

use std::collections::{BTreeMap, BTreeSet};

use crate::yaml::{Mapping, Value};
use indexmap::IndexMap;
use ipnet::IpNet;

use super::escapes::{
    NF017, NF018, NF019, NF020, NF021, NF022, NF023, NF024, NF025, NF026, NF027, NF028, NF029,
    NF030, NF031, NF032, NF034,
};
use super::lines::{key, Seg};
use super::{Occupied, Severity};
use crate::compose::{self, DEFAULT_NETWORK};
use crate::plan::{Plan, Role, ENV_KEY, PROXY_KEY, SHARED_KEY_PREFIX};
use crate::port_spec::ShortPort;
use crate::unfence::INJECTED_PREFIX;
use crate::yaml::{scalar_string, untag};
use crate::Project;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    /// A short kebab-case name, for people.
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// Why it matters.
    pub description: &'static str,
    /// How to fix it, in general (findings may say it more precisely).
    pub fix: &'static str,
    /// Whether, and under which policy, `netfence rewrite` fixes it (for the docs; each
    /// finding's `fixed_by_rewrite` is measured, not taken from here).
    pub rewrite: &'static str,
}

pub const NF001: Rule = Rule {
    id: "NF001",
    name: "container-name",
    severity: Severity::Warning,
    summary: "A service has a fixed container_name",
    description: "Docker container names are unique per host: a second copy of the stack (a parallel test run, another environment) fails with \"name already in use\". Compose already names containers `<project>-<service>-<n>`.",
    fix: "Remove `container_name`; reach the service by its service name, or keep the old name as a network alias (what `netfence rewrite` does).",
    rewrite: "Yes with policy `container_name: alias` (the default) or `strip`; not with `keep`.",
};
pub const NF002: Rule = Rule {
    id: "NF002",
    name: "container-name-replicas",
    severity: Severity::Error,
    summary: "A service with a fixed container_name asks for more than one replica",
    description: "Compose cannot create two containers with one name: `up` fails as soon as the second replica starts.",
    fix: "Remove `container_name` (or run one replica).",
    rewrite: "Yes, with NF001's fix.",
};
pub const NF003: Rule = Rule {
    id: "NF003",
    name: "network-name-fixed",
    severity: Severity::Warning,
    summary: "A network of the stack has a fixed `name:`",
    description: "A fixed name escapes Compose's per-project namespacing: every copy of the stack joins the same Docker network and sees the others' containers.",
    fix: "Remove `name:` so Compose scopes the network by project, or declare it `external` if it really is shared; `netfence rewrite` gives it a scoped name.",
    rewrite: "Yes: the network gets a scoped name; the original goes into a label.",
};
pub const NF004: Rule = Rule {
    id: "NF004",
    name: "host-port-fixed",
    severity: Severity::Warning,
    summary: "A service publishes a fixed host port",
    description: "A fixed host port (also `${VAR:-8080}` with its default) can be bound once per host: a second copy fails with \"port is already allocated\".",
    fix: "Publish only the container port (`\"80\"`) and let Docker choose the host port; `netfence run` exports where it went. `netfence rewrite` (policy `loopback`, the default in run scope, or `ephemeral`) does this.",
    rewrite: "Yes with `ports: loopback` (the default in run scope) or `ephemeral`; not with `keep` (the default in env scope).",
};
pub const NF005: Rule = Rule {
    id: "NF005",
    name: "subnet-hard-coded",
    severity: Severity::Warning,
    summary: "A network has a hard-coded subnet",
    description: "A fixed subnet can exist once per host: a second copy of the stack, or any other network that happens to hold the range, makes `docker network create` fail with \"Pool overlaps with other one on this address space\".",
    fix: "Remove `ipam.config[].subnet` and let Docker allocate, or let netfence allocate from a pool (policy `subnets: {pool, prefix_length}`).",
    rewrite: "Yes in run scope (dropped, or allocated from the policy's pool); in env scope only with a `subnets:` pool.",
};
pub const NF006: Rule = Rule {
    id: "NF006",
    name: "subnet-overlap",
    severity: Severity::Error,
    summary: "Two networks of the file have overlapping subnets",
    description: "Docker refuses to create a network whose subnet overlaps an existing one: the stack cannot start.",
    fix: "Give the networks disjoint subnets, or drop the subnets and let Docker (or netfence's pool) allocate.",
    rewrite: "Yes when the subnets are dropped or re-allocated (see NF005).",
};
pub const NF007: Rule = Rule {
    id: "NF007",
    name: "subnet-in-use",
    severity: Severity::Error,
    summary: "A network's subnet overlaps a network that already exists on the engine",
    description: "Docker refuses to create a network whose subnet overlaps an existing one: the stack cannot start on this engine.",
    fix: "Choose a free range, or drop the subnet and let Docker (or netfence's pool, which avoids subnets in use) allocate.",
    rewrite: "Yes when the subnet is dropped or re-allocated: the pool avoids subnets in use.",
};
pub const NF008: Rule = Rule {
    id: "NF008",
    name: "subnet-oversized",
    severity: Severity::Warning,
    summary: "An IPv4 subnet of /16 or larger",
    description: "A /16 holds 65,536 addresses for a handful of containers; a few such networks use up the private ranges and collide with VPNs, LANs and other stacks.",
    fix: "Use a /24 (or smaller) subnet, or let Docker allocate.",
    rewrite: "Yes when the subnet is dropped or re-allocated (the pool's `prefix_length`, /24 by default).",
};
pub const NF009: Rule = Rule {
    id: "NF009",
    name: "flat-shared-network",
    severity: Severity::Warning,
    summary: "Every service of the stack joins one external network",
    description: "An external network is shared with other stacks: putting every service on it (the PaaS pattern of one `coolify` / `dokploy-network` for all) lets every stack reach every other stack's databases and internal services.",
    fix: "Attach only the services that must be reached from outside (usually the public ones, for the reverse proxy) and keep the rest on the stack's own networks; with netfence, use a `proxy:` or `shared:` policy instead.",
    rewrite: "No: external networks are left as they are (policy `services:` can reassign attachments).",
};
pub const NF010: Rule = Rule {
    id: "NF010",
    name: "flat-network",
    severity: Severity::Note,
    summary: "All services share one network, exposed services and data services alike",
    description: "With one flat network, a compromised exposed service reaches every database and cache of the stack directly.",
    fix: "Put data services on a backend network (ideally `internal: true`) shared only with the services that use them.",
    rewrite: "No: rewrite keeps the segmentation the file has (policy `services:` and `networks: {x: {internal: true}}` can change it).",
};
pub const NF011: Rule = Rule {
    id: "NF011",
    name: "proxy-network-label-missing",
    severity: Severity::Warning,
    summary: "A Traefik-enabled service on several networks without `traefik.docker.network`",
    description: "Traefik picks one of the container's networks at random when the label is missing: requests go to an address the proxy cannot reach, and fail intermittently (504/502).",
    fix: "Add the label `traefik.docker.network=<real name of the network Traefik shares with the service>`; netfence sets it when the policy has a `proxy:`.",
    rewrite: "Yes with a `proxy:` policy: public services get the label, naming the proxy network's real name.",
};
pub const NF012: Rule = Rule {
    id: "NF012",
    name: "proxy-network-label-wrong",
    severity: Severity::Error,
    summary: "A proxy network label names a network that does not exist under that name",
    description: "`traefik.docker.network` (and `traefik.swarm.network`, `caddy_ingress_network`) takes the real Docker network name, not the compose key: Compose names a network `<project>_<key>`. A label naming a key, or a network the service does not join, leaves the proxy without a route.",
    fix: "Set the label to the network's real name (its `name:`, or `<project>_<key>`), of a network the service joins; `netfence rewrite` corrects labels that name a key.",
    rewrite: "Yes when the label names the compose key of a network the service joins; otherwise no.",
};
pub const NF013: Rule = Rule {
    id: "NF013",
    name: "network-mode-host",
    severity: Severity::Warning,
    summary: "A service uses `network_mode: host`",
    description: "The container shares the host's network stack: no network isolation at all, every port it opens is open on the host, and a second copy collides on those ports. netfence cannot fence it.",
    fix: "Use a bridge network with published ports; keep `network_mode: host` only where it is truly needed (and accept that the stack is not isolatable).",
    rewrite: "No: netfence never gives networks to `network_mode` services.",
};
pub const NF014: Rule = Rule {
    id: "NF014",
    name: "data-service-published",
    severity: Severity::Warning,
    summary: "A database, cache or broker publishes a port on the host's interfaces",
    description: "Data services are reached by the stack's own services over the network; publishing them on all host interfaces exposes them to everything that reaches the host (Docker's port forwarding bypasses host firewalls such as ufw).",
    fix: "Remove the `ports:` entry (use `expose:` or nothing), or bind it to loopback (`127.0.0.1::5432`); netfence policy `ports: loopback` does that.",
    rewrite: "Yes in run and dev scope, where published ports are bound to 127.0.0.1 unless the policy says `ports: ephemeral`; in env scope only with policy `ports: loopback`.",
};
pub const NF015: Rule = Rule {
    id: "NF015",
    name: "ambiguous-bare-name",
    severity: Severity::Warning,
    summary: "A service answers to a bare name on a network other stacks share",
    description: "Compose registers every service's name (and its bare aliases and container name) on every network it joins. On a network shared with other stacks, another stack's `db` or `api` answers to the same name: a stack that asks that network first (without netfence's priorities, or on an engine before Docker 28: NF033) gets either at random, and a stack that has no service of that name gets this one.",
    fix: "Keep the service off the shared network if it does not need it, and refer to shared services by a qualified alias (`db.myproject`); netfence's environment network adds `<service>.<project>` aliases.",
    rewrite: "No: Compose always registers service names; the policy can keep a service off shared networks.",
};
pub const NF016: Rule = Rule {
    id: "NF016",
    name: "duplicate-alias",
    severity: Severity::Warning,
    summary: "One name resolves to several services on one network",
    description: "When two services answer to one name (service name, alias or container name) on a network, Docker's DNS returns either: requests go to the wrong service at random.",
    fix: "Give each service its own aliases on each network.",
    rewrite: "No.",
};
pub const NF033: Rule = Rule {
    id: "NF033",
    name: "name-order",
    severity: Severity::Note,
    summary: "On engines before Docker 28, a bare name may be answered from a network other projects share",
    description: "A container asks its networks for a name one after another. netfence puts every network other projects share below the service's own by endpoint priority (`gw_priority`), which Docker 28 and later honour; older engines order a container's networks by internal flag and name in a heap, so that only the first is sure to be asked first. Where that first network is not one of the service's own, a bare name of the project (`db`) can be answered by another project's service on a shared, environment or proxy network.",
    fix: "Deploy on Docker Engine 28 or later; on an older engine, give the service one network of its own whose name sorts before every shared one and that is not internal, and put every service it calls there, or call them by their qualified names.",
    rewrite: "No: the priorities it writes are what engines since 28 need; older ones ignore them.",
};

/// Every rule, in id order.
pub const RULES: &[Rule] = &[
    NF001, NF002, NF003, NF004, NF005, NF006, NF007, NF008, NF009, NF010, NF011, NF012, NF013,
    NF014, NF015, NF016, NF017, NF018, NF019, NF020, NF021, NF022, NF023, NF024, NF025, NF026,
    NF027, NF028, NF029, NF030, NF031, NF032, NF033, NF034,
];

/// A finding before it is placed in a file.
pub(crate) struct Draft {
    pub rule: &'static Rule,
    pub severity: Option<Severity>,
    pub path: Vec<Seg>,
    pub subject: String,
    pub message: String,
    pub fix: Option<String>,
    /// Identity across a rewrite: must not depend on what rewrite changes.
    pub key: String,
}

fn draft(
    rule: &'static Rule,
    path: Vec<Seg>,
    subject: String,
    message: String,
    key: String,
) -> Draft {
    Draft {
        rule,
        severity: None,
        path,
        subject,
        message,
        fix: None,
        key: format!("{}|{key}", rule.id),
    }
}

fn svc_path(name: &str, rest: &[&str]) -> Vec<Seg> {
    let mut p = vec![key("services"), key(name)];
    p.extend(rest.iter().map(|s| key(s)));
    p
}

fn net_path(name: &str, rest: &[&str]) -> Vec<Seg> {
    let mut p = vec![key("networks"), key(name)];
    p.extend(rest.iter().map(|s| key(s)));
    p
}

/// What the rules need to know about the document, computed once.
struct Doc<'a> {
    services: Vec<(String, Mapping)>,
    networks: IndexMap<String, Mapping>,
    plan: &'a Plan,
    project: &'a Project,
    /// The document is netfence's output (it carries an `x-netfence.fenced` record).
    fenced: bool,
    /// The scope that record names.
    record_scope: Option<String>,
    /// The name Compose runs the project under (for `<project>_<key>` network names).
    compose_project: String,
}

impl Doc<'_> {
    /// A network netfence named itself, as the plan says it would.
    ///
    /// Its name is the plan's, or it carries the ownership labels of the scope the file's
    /// record names (the file was fenced with another policy than the one audit sees).
    fn is_fenced_network(&self, key: &str, decl: &Mapping) -> bool {
        let labels = decl.get("labels");
        let managed = crate::labels::get(labels, crate::labels::MANAGED).as_deref() == Some("true");
        let planned_name = self
            .plan
            .network(key)
            .is_some_and(|n| decl.get("name").and_then(scalar_string).as_deref() == Some(&n.name));
        let own_scope = self.record_scope.is_some()
            && crate::labels::get(labels, crate::labels::SCOPE) == self.record_scope;
        self.fenced && managed && (planned_name || own_scope)
    }

    /// Did netfence allocate this subnet from a pool (the policy's, or the fallback a run
    /// uses for static addresses), rather than keep one that was written by hand (in the
    /// compose file, or as a policy `networks.<key>.subnet`)?
    fn subnet_from_pool(&self, key: &str, decl: &Mapping, subnet: &IpNet) -> bool {
        let policy = &self.project.policy.policy;
        let fixed_in_policy = policy.networks.get(key).is_some_and(|s| s.subnet.is_some());
        let pooled = policy.subnets.is_some() || !self.plan.scope.is_env();
        self.is_fenced_network(key, decl)
            && !fixed_in_policy
            && pooled
            && self.plan.network(key).and_then(|n| n.subnet) == Some(*subnet)
    }

    /// Netfence's own proxy / shared / environment networks in fenced output.
    /// Known from the key alone (netfence reserves the prefix), so that the output of a
    /// rewrite with another policy than the one audit sees is still recognised.
    fn injected_role(&self, key: &str) -> Option<Role> {
        if !self.fenced || !key.starts_with(INJECTED_PREFIX) {
            return None;
        }
        if let Some(n) = self.plan.network(key) {
            return Some(n.role);
        }
        if key == PROXY_KEY {
            Some(Role::Proxy)
        } else if key == ENV_KEY {
            Some(Role::Environment)
        } else if key.starts_with(SHARED_KEY_PREFIX) {
            Some(Role::Shared)
        } else {
            None
        }
    }

    fn is_external(&self, key: &str) -> bool {
        self.networks.get(key).is_some_and(compose::is_external)
    }

    /// The Docker name of a network key.
    fn real_name(&self, key: &str) -> String {
        match self.networks.get(key) {
            Some(decl) if compose::is_external(decl) => compose::external_name(key, decl),
            Some(decl) => decl
                .get("name")
                .and_then(scalar_string)
                .unwrap_or_else(|| format!("{}_{key}", self.compose_project)),
            None => format!("{}_{key}", self.compose_project),
        }
    }

    /// Does a reverse proxy reach the service over network `key`: its proxy network label
    /// names it, or it is Traefik-enabled and has no other network?
    fn routes_over(&self, name: &str, key: &str) -> bool {
        let Some(svc) = self.service(name) else {
            return false;
        };
        let real = self.real_name(key);
        let labelled = compose::service_labels(svc)
            .iter()
            .any(|(k, v)| crate::proxy_labels::NETWORK_LABELS.contains(&k.as_str()) && *v == real);
        labelled || {
            let (mode, att) = self.networking(name);
            mode.is_none() && traefik_enabled(svc) && att.len() == 1 && att[0].0 == key
        }
    }

    fn service(&self, name: &str) -> Option<&Mapping> {
        self.services
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// `network_mode` and written attachments, following same-file `extends` like Compose.
    fn networking(&self, name: &str) -> (Option<String>, Vec<(String, Option<Mapping>)>) {
        let mut current = name.to_owned();
        let mut seen = BTreeSet::new();
        while let Some(svc) = self.service(&current) {
            if let Some(mode) = compose::network_mode(svc) {
                return (Some(mode), Vec::new());
            }
            if let Some(a) = compose::attachments(svc) {
                return (None, a);
            }
            match compose::extends_base(svc) {
                Some(base) if seen.insert(base.clone()) => current = base,
                _ => break,
            }
        }
        (None, vec![(DEFAULT_NETWORK.to_owned(), None)])
    }
}

pub(crate) fn check(
    doc_value: &Value,
    project: &Project,
    plan: &Plan,
    occupied: &[Occupied],
) -> Vec<Draft> {
    let networks: IndexMap<String, Mapping> = compose::section(doc_value, "networks")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some((
                        scalar_string(k)?,
                        untag(v).as_mapping().cloned().unwrap_or_default(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let fenced = project.record.is_some();
    let compose_project = doc_value
        .get("name")
        .and_then(scalar_string)
        .filter(|n| !n.contains('$'))
        .unwrap_or_else(|| plan.project.clone());
    let doc = Doc {
        services: compose::services(doc_value),
        networks,
        plan,
        project,
        fenced,
        record_scope: project.record.as_ref().map(|r| r.scope.clone()),
        compose_project,
    };
    let mut out = Vec::new();
    container_names(&doc, &mut out);
    network_names(&doc, &mut out);
    ports(&doc, &mut out);
    subnets(&doc, occupied, &mut out);
    flat(&doc, &mut out);
    proxy_labels(&doc, &mut out);
    names_on_networks(&doc, &mut out);
    name_order(&doc, &mut out);
    out
}

// ---- NF033 ---------------------------------------------------------------------------

fn name_order(doc: &Doc<'_>, out: &mut Vec<Draft>) {
    let plan = doc.plan;
    for (service, shared, own) in crate::plan::name_order::unordered(&plan.networks, &plan.services)
    {
        out.push(draft(
            &NF033,
            svc_path(service, &["networks"]),
            format!("service {service}"),
            format!(
                "on an engine before Docker 28, `{service}` may ask `{shared}` for a name before its own `{own}`: a bare name its project holds only there can be answered by another project's service"
            ),
            format!("{service}|{shared}|{own}"),
        ));
    }
}

// ---- NF001, NF002 -------------------------------------------------------------------

fn container_names(doc: &Doc<'_>, out: &mut Vec<Draft>) {
    for (name, svc) in &doc.services {
        let Some(cn) = svc.get("container_name").and_then(scalar_string) else {
            continue;
        };
        out.push(draft(
            &NF001,
            svc_path(name, &["container_name"]),
            format!("service {name}"),
            format!(
                "service `{name}` has a fixed container_name `{cn}`: only one copy of the stack can run on a host"
            ),
            name.clone(),
        ));
        let deploy = svc.get("deploy").map(untag);
        let (replicas, path) = match deploy.and_then(|d| d.get("replicas")).and_then(count) {
            Some(n) => (Some(n), svc_path(name, &["deploy", "replicas"])),
            None => (svc.get("scale").and_then(count), svc_path(name, &["scale"])),
        };
        if let Some(n) = replicas.filter(|n| *n > 1) {
            out.push(draft(
                &NF002,
                path,
                format!("service {name}"),
                format!(
                    "service `{name}` asks for {n} replicas but has the fixed container_name `{cn}`: Compose cannot create a second container with that name"
                ),
                name.clone(),
            ));
        }
    }
}

/// A count as written: a number, or a `${VAR:-n}` default.
fn count(v: &Value) -> Option<u64> {
    let s = scalar_string(v)?;
    let s = variable_default(&s).unwrap_or(s);
    s.trim().parse().ok()
}

/// The default of a lone `${VAR:-x}` / `${VAR-x}`, if the text is exactly that.
fn variable_default(s: &str) -> Option<String> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    let (_, default) = inner.split_once(":-").or_else(|| inner.split_once('-'))?;
    Some(default.to_owned())
}

// ---- NF003 ----------------------------------------------------------------------------

fn network_names(doc: &Doc<'_>, out: &mut Vec<Draft>) {
    for (k, decl) in &doc.networks {
        if compose::is_external(decl) || doc.is_fenced_network(k, decl) {
            continue;
        }
        let Some(name) = decl.get("name").and_then(scalar_string) else {
            continue;
        };
        out.push(draft(
            &NF003,
            net_path(k, &["name"]),
            format!("network {k}"),
            format!(
                "network `{k}` has the fixed name `{name}`: every copy of the stack joins the same Docker network"
            ),
            k.clone(),
        ));
    }
}

// ---- NF004, NF013, NF014 -----------------------------------------------------------------

/// The published host port text, its host IP, and the container port, of a port entry.
struct Published {
    host_port: Option<String>,
    host_ip: Option<String>,
    target: String,
    path: Seg,
}

fn published(i: usize, p: &Value) -> Option<Published> {
    let p = untag(p);
    match p {
        Value::Scalar(_) if p.is_string() => {
            let s = p.as_str().unwrap_or_default();
            let sp = ShortPort::parse(s);
            Some(Published {
                host_port: sp.published,
                host_ip: sp.host_ip,
                target: sp.target,
                path: Seg::Item(s.to_owned()),
            })
        }
        Value::Scalar(_) if p.is_number() => Some(Published {
            host_port: None,
            host_ip: None,
            target: scalar_string(p).unwrap_or_default(),
            path: Seg::Index(i),
        }),
        Value::Mapping(m) => Some(Published {
            host_port: m.get("published").and_then(scalar_string),
            host_ip: m.get("host_ip").and_then(scalar_string),
            target: m.get("target").and_then(scalar_string).unwrap_or_default(),
            path: Seg::Index(i),
        }),
        _ => None,
    }
}

fn ports(doc: &Doc<'_>, out: &mut Vec<Draft>) {
    for (name, svc) in &doc.services {
        let (mode, _) = doc.networking(name);
        if mode.as_deref() == Some("host") {
            out.push(draft(
                &NF013,
                svc_path(name, &["network_mode"]),
                format!("service {name}"),
                format!("service `{name}` uses `network_mode: host`: it shares the host's network stack and cannot be fenced"),
                name.clone(),
            ));
        }
        let image = svc.get("image").and_then(scalar_string).unwrap_or_default();
        let data_kind = data_service(&image);
        let Some(Value::Sequence(list)) = svc.get("ports").map(untag) else {
            continue;
        };
        for (i, p) in list.iter().enumerate() {
            let Some(pb) = published(i, p) else { continue };
            let mut path = svc_path(name, &["ports"]);
            path.push(pb.path.clone());
            if let Some(hp) = &pb.host_port {
                let shown = match variable_default(hp) {
                    Some(d) => format!("`{hp}` ({d} unless the variable is set)"),
                    None => format!("`{hp}`"),
                };
                let mut d = draft(
                    &NF004,
                    path.clone(),
                    format!("service {name}"),
                    format!(
                        "service `{name}` publishes container port {} on the fixed host port {shown}: a second copy fails with \"port is already allocated\"",
                        pb.target
                    ),
                    format!("{name}|{}|{i}", pb.target),
                );
                d.fix = Some(format!(
                    "Publish only the container port (`{}`) and let Docker choose the host port; `netfence run` exports where it went. `netfence rewrite` does this with policy `ports: loopback` (the default in run scope) or `ephemeral`.",
                    crate::port_spec::ShortPort {
                        host_ip: pb.host_ip.clone(),
                        published: None,
                        target: pb.target.clone(),
                    }
                    .render()
                ));
                out.push(d);
            }
            let loopback = pb.host_ip.as_deref().is_some_and(|ip| {
                crate::port_spec::is_loopback(
                    &variable_default(ip).unwrap_or_else(|| ip.to_owned()),
                )
            });
            if let (Some(kind), false) = (data_kind, loopback) {
                let mut d = draft(
                    &NF014,
                    path,
                    format!("service {name}"),
                    format!(
                        "{kind} service `{name}` (image `{image}`) publishes port {} on {}: anything that reaches the host reaches it",
                        pb.target,
                        match pb.host_ip.as_deref() {
                            Some(ip) => format!("host address {ip}"),
                            None => "all host interfaces".to_owned(),
                        }
                    ),
                    format!("{name}|{}|{i}", pb.target),
                );
                d.fix = Some(format!(
                    "Remove the `ports:` entry (services of the stack reach it over the network), or bind it to loopback (`127.0.0.1::{}`); netfence policy `ports: loopback` does that.",
                    pb.target
                ));
                out.push(d);
            }
        }
    }
}

/// Image names (any path component, split at `-`, `_`, `.`) that are data services.
const DATA_IMAGES: &[(&str, &str)] = &[
    ("postgres", "database"),
    ("postgresql", "database"),
    ("postgis", "database"),
    ("timescaledb", "database"),
    ("mysql", "database"),
    ("mariadb", "database"),
    ("percona", "database"),
    ("mongo", "database"),
    ("mongodb", "database"),
    ("mssql", "database"),
    ("cockroach", "database"),
    ("cassandra", "database"),
    ("scylla", "database"),
    ("couchdb", "database"),
    ("couchbase", "database"),
    ("influxdb", "database"),
    ("clickhouse", "database"),
    ("neo4j", "database"),
    ("questdb", "database"),
    ("redis", "cache"),
    ("valkey", "cache"),
    ("keydb", "cache"),
    ("dragonfly", "cache"),
    ("memcached", "cache"),
    ("elasticsearch", "search"),
    ("opensearch", "search"),
    ("meilisearch", "search"),
    ("typesense", "search"),
    ("rabbitmq", "message broker"),
    ("kafka", "message broker"),
    ("zookeeper", "coordination"),
    ("etcd", "coordination"),
    ("nats", "message broker"),
    ("redpanda", "message broker"),
];

/// Words that make an image a tool around a data service, not the service itself
/// (`mongo-express`, `postgres-exporter`, `redis-commander`, `opensearch-dashboards`).
const TOOL_WORDS: &[&str] = &[
    "exporter",
    "express",
    "commander",
    "insight",
    "ui",
    "admin",
    "dashboards",
    "meta",
    "studio",
    "gui",
    "web",
    "backup",
    "proxy",
    "operator",
    "client",
    "cli",
    "exporter",
];

/// Prefixes vendors put before a data service's name (`confluentinc/cp-kafka`).
const VENDOR_PREFIXES: &[&str] = &["cp"];

/// Image names so generic that the path component before them names the product
/// (`mcr.microsoft.com/mssql/server`).
const GENERIC_NAMES: &[&str] = &["server"];

/// What kind of data service an image is, if it is one. Judged by the first word of the
/// image's name (`postgres`, `redis-stack`, `bitnami/postgresql`), so that applications
/// named after their database (`etl-kafka-mysql`, `supertokens-postgresql`) and tools
/// around one (`mongo-express`, `postgres-exporter`) are not taken for it.
pub(crate) fn data_service(image: &str) -> Option<&'static str> {
    let image = variable_default(image).unwrap_or_else(|| image.to_owned());
    let image = image.split('@').next().unwrap_or_default();
    let mut parts: Vec<&str> = image.split('/').collect();
    // A registry host: a first component with a dot or a port.
    if parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':')) {
        parts.remove(0);
    }
    if let Some(last) = parts.last_mut() {
        *last = last.split(':').next().unwrap_or_default();
    }
    let words = |part: &str| -> Vec<String> {
        part.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let mut name = words(parts.last().copied().unwrap_or_default());
    if name.iter().any(|w| TOOL_WORDS.contains(&w.as_str())) {
        return None;
    }
    if name.len() > 1 && VENDOR_PREFIXES.contains(&name[0].as_str()) {
        name.remove(0);
    }
    if name.len() == 1 && GENERIC_NAMES.contains(&name[0].as_str()) && parts.len() > 1 {
        name = words(parts[parts.len() - 2]);
    }
    let first = name.first()?;
    DATA_IMAGES
        .iter()
        .find(|(n, _)| n == first)
        .map(|(_, k)| *k)
}

// ---- NF005 – NF008 ------------------------------------------------------------------------

fn subnets(doc: &Doc<'_>, occupied: &[Occupied], out: &mut Vec<Draft>) {
    // (network key, config index, text, parsed)
    let mut written: Vec<(String, usize, String, Option<IpNet>)> = Vec::new();
    for (k, decl) in &doc.networks {
        if compose::is_external(decl) {
            continue;
        }
        let configs = decl
            .get("ipam")
            .and_then(|i| i.get("config"))
            .map(untag)
            .and_then(Value::as_sequence);
        for (i, c) in configs.into_iter().flatten().enumerate() {
            if let Some(s) = c.get("subnet").and_then(scalar_string) {
                let parsed = s.parse::<IpNet>().ok();
                written.push((k.clone(), i, s, parsed));
            }
        }
    }
    for (j, (k, i, text, parsed)) in written.iter().enumerate() {
        let decl = &doc.networks[k];
        let path = {
            let mut p = net_path(k, &["ipam", "config"]);
            p.extend([Seg::Index(*i), key("subnet")]);
            p
        };
        let netfence_chose = parsed.is_some_and(|p| doc.subnet_from_pool(k, decl, &p));
        if !netfence_chose {
            out.push(draft(
                &NF005,
                path.clone(),
                format!("network {k}"),
                format!(
                    "network `{k}` has the hard-coded subnet {text}: it can exist once per host"
                ),
                format!("{k}|{i}"),
            ));
        }
        let Some(net) = parsed else { continue };
        if let IpNet::V4(v4) = net {
            if v4.prefix_len() <= 16 {
                out.push(draft(
                    &NF008,
                    path.clone(),
                    format!("network {k}"),
                    format!(
                        "network `{k}` has the subnet {text} ({} addresses) for a few containers",
                        group_thousands(1u64 << (32 - u32::from(v4.prefix_len())))
                    ),
                    format!("{k}|{i}"),
                ));
            }
        }
        for (k2, _, text2, parsed2) in &written[..j] {
            if k2 == k {
                continue;
            }
            if let Some(other) = parsed2 {
                if overlaps(net, other) {
                    out.push(draft(
                        &NF006,
                        path.clone(),
                        format!("network {k}"),
                        format!("the subnet {text} of network `{k}` overlaps {text2} of network `{k2}`: Docker refuses to create the second"),
                        format!("{k2}|{k}"),
                    ));
                }
            }
        }
        // The network itself may exist already: under Compose's name, or netfence's.
        let real = doc.real_name(k);
        let planned = doc.plan.network(k).map(|n| n.name.as_str());
        for o in occupied {
            if o.network == real || Some(o.network.as_str()) == planned || !overlaps(net, &o.subnet)
            {
                continue;
            }
            let holder = if o.network.is_empty() {
                String::new()
            } else {
                format!(" (network `{}`)", o.network)
            };
            out.push(draft(
                &NF007,
                path.clone(),
                format!("network {k}"),
                format!(
                    "the subnet {text} of network `{k}` overlaps {}{holder}, already in use on the engine",
                    o.subnet
                ),
                format!("{k}|{}", o.subnet),
            ));
        }
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---- NF009, NF010 -----------------------------------------------------------------------------

fn flat(doc: &Doc<'_>, out: &mut Vec<Draft>) {
    // Services that have networks, and the (non-injected) networks each joins.
    let members: Vec<(&str, BTreeSet<String>)> = doc
        .services
        .iter()
        .filter_map(|(name, _)| {
            let (mode, att) = doc.networking(name);
            if mode.is_some() {
                return None;
            }
            let nets = att
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| doc.injected_role(k).is_none())
                .collect();
            Some((name.as_str(), nets))
        })
        .collect();
    if members.len() < 2 {
        return;
    }
    let common: BTreeSet<String> = members
        .iter()
        .skip(1)
        .fold(members[0].1.clone(), |acc, (_, n)| {
            acc.intersection(n).cloned().collect()
        });
    for k in &common {
        // Public services on the proxy's network are where they belong.
        let all_routed = members.iter().all(|(n, _)| doc.routes_over(n, k));
        if doc.is_external(k) && !all_routed {
            out.push(draft(
                &NF009,
                net_path(k, &[]),
                format!("network {k}"),
                format!(
                    "all {} services join the external network `{}`: every other stack on it reaches all of them",
                    members.len(),
                    doc.real_name(k)
                ),
                k.clone(),
            ));
        }
    }
    // One network for everything, with something exposed and something holding data.
    let all_one = members
        .iter()
        .all(|(_, n)| n.len() == 1 && n == &members[0].1);
    if !all_one || members.len() < 3 {
        return;
    }
    let Some(k) = members[0].1.iter().next() else {
        return;
    };
    if doc.is_external(k) {
        return;
    }
    let data: Vec<&str> = members
        .iter()
        .filter(|(n, _)| {
            doc.service(n)
                .and_then(|s| s.get("image"))
                .and_then(scalar_string)
                .is_some_and(|i| data_service(&i).is_some())
        })
        .map(|(n, _)| *n)
        .collect();
    let exposed: Vec<&str> = members
        .iter()
        .filter(|(n, _)| {
            doc.service(n).is_some_and(|s| {
                crate::proxy_labels::is_public(s)
                    || s.get("ports")
                        .map(untag)
                        .and_then(Value::as_sequence)
                        .is_some_and(|p| !p.is_empty())
            })
        })
        .map(|(n, _)| *n)
        .filter(|n| !data.contains(n))
        .collect();
    if data.is_empty() || exposed.is_empty() {
        return;
    }
    let path = if doc.networks.contains_key(k) {
        net_path(k, &[])
    } else {
        vec![key("services")]
    };
    out.push(draft(
        &NF010,
        path,
        format!("network {k}"),
        format!(
            "all {} services share the one network `{k}`: {} reachable from the exposed {}",
            members.len(),
            match data.as_slice() {
                [one] => format!("the data service `{one}` is"),
                many => format!("the data services {} are", quoted(many)),
            },
            quoted(&exposed)
        ),
        k.clone(),
    ));
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- NF011, NF012 --------------------------------------------------------------------------------

fn traefik_enabled(svc: &Mapping) -> bool {
    let labels = compose::service_labels(svc);
    let enable = labels
        .iter()
        .find(|(k, _)| k == "traefik.enable")
        .map(|(_, v)| v.eq_ignore_ascii_case("true"));
    // With Traefik's default `exposedByDefault`, router labels alone enable a service.
    enable.unwrap_or_else(|| {
        labels
            .iter()
            .any(|(k, _)| k.starts_with("traefik.http.") || k.starts_with("traefik.tcp."))
    })
}

/// Where a label is written: `labels` or `deploy.labels`.
fn label_path(name: &str, svc: &Mapping, label: &str) -> Vec<Seg> {
    let in_deploy = !crate::labels::entries(svc.get("labels"))
        .iter()
        .any(|(k, _)| k == label)
        && svc.get("deploy").is_some_and(|d| {
            crate::labels::entries(untag(d).get("labels"))
                .iter()
                .any(|(k, _)| k == label)
        });
    let mut p = if in_deploy {
        svc_path(name, &["deploy", "labels"])
    } else {
        svc_path(name, &["labels"])
    };
    p.push(Seg::Label(label.to_owned()));
    p
}

fn proxy_labels(doc: &Doc<'_>, out: &mut Vec<Draft>) {
    for (name, svc) in &doc.services {
        let (mode, att) = doc.networking(name);
        if mode.is_some() {
            continue;
        }
        let labels = compose::service_labels(svc);
        let net_labels: Vec<&(String, String)> = labels
            .iter()
            .filter(|(k, _)| crate::proxy_labels::NETWORK_LABELS.contains(&k.as_str()))
            .collect();
        let has_traefik_label = net_labels.iter().any(|(k, _)| k.starts_with("traefik."));
        if traefik_enabled(svc) && att.len() > 1 && !has_traefik_label {
            let nets: Vec<String> = att.iter().map(|(k, _)| doc.real_name(k)).collect();
            let nets: Vec<&str> = nets.iter().map(String::as_str).collect();
            let mut d = draft(
                &NF011,
                label_path(name, svc, "traefik.enable"),
                format!("service {name}"),
                format!(
                    "Traefik-enabled service `{name}` joins {} networks ({}) but has no `traefik.docker.network` label: Traefik picks one at random",
                    att.len(),
                    quoted(&nets)
                ),
                name.clone(),
            );
            if labels.iter().all(|(k, _)| k != "traefik.enable") {
                d.path = svc_path(name, &["labels"]);
            }
            out.push(d);
        }
        let attached_real: Vec<String> = att.iter().map(|(k, _)| doc.real_name(k)).collect();
        for (label, value) in net_labels {
            if value.contains('$') || value.is_empty() || attached_real.contains(value) {
                continue;
            }
            let message = if att.iter().any(|(k, _)| k == value) {
                format!(
                    "label `{label}={value}` on service `{name}` names the compose key `{value}`; the network's real name is `{}`",
                    doc.real_name(value)
                )
            } else if let Some(k) = doc
                .networks
                .keys()
                .find(|k| *k == value || doc.real_name(k) == *value)
            {
                format!(
                    "label `{label}={value}` on service `{name}` names network `{}`, which the service does not join",
                    doc.real_name(k)
                )
            } else {
                format!(
                    "label `{label}={value}` on service `{name}` names no network of this file; the service joins {}",
                    quoted(&attached_real.iter().map(String::as_str).collect::<Vec<_>>())
                )
            };
            out.push(draft(
                &NF012,
                label_path(name, svc, label),
                format!("service {name}"),
                message,
                format!("{name}|{label}"),
            ));
        }
    }
}

// ---- NF015, NF016 -------------------------------------------------------------------------------

fn names_on_networks(doc: &Doc<'_>, out: &mut Vec<Draft>) {
    // network key → name → services answering to it
    let mut holders: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (name, svc) in &doc.services {
        let (mode, att) = doc.networking(name);
        if mode.is_some() {
            continue;
        }
        let cn = svc.get("container_name").and_then(scalar_string);
        for (k, cfg) in &att {
            let mut names = vec![name.clone()];
            names.extend(
                cfg.as_ref()
                    .and_then(|c| c.get("aliases"))
                    .map(untag)
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .filter_map(scalar_string),
            );
            names.extend(cn.clone());
            let per = holders.entry(k.clone()).or_default();
            for n in names {
                let v = per.entry(n).or_default();
                if !v.contains(name) {
                    v.push(name.clone());
                }
            }
            // NF015: bare names on a network other stacks share.
            let shared_kind = match doc.injected_role(k) {
                Some(Role::Proxy) => Some(("the reverse proxy's network", Severity::Note)),
                Some(Role::Environment) => Some(("the environment network", Severity::Note)),
                Some(Role::Shared) => Some(("a shared network", Severity::Warning)),
                Some(_) => None,
                None if doc.is_external(k) && doc.routes_over(name, k) => {
                    Some(("the reverse proxy's network", Severity::Note))
                }
                None if doc.is_external(k) => Some(("the external network", Severity::Warning)),
                None => None,
            };
            let Some((kind, severity)) = shared_kind else {
                continue;
            };
            let mut bare: Vec<String> = vec![name.clone()];
            for n in per.iter().filter(|(_, v)| v.contains(name)).map(|(n, _)| n) {
                if !n.contains('.') && !bare.contains(n) {
                    bare.push(n.clone());
                }
            }
            let shown: Vec<&str> = bare.iter().map(String::as_str).collect();
            let mut d = draft(
                &NF015,
                {
                    let mut p = svc_path(name, &["networks"]);
                    p.push(key(k));
                    p
                },
                format!("service {name}"),
                format!(
                    "service `{name}` answers to the bare name{} {} on {kind} `{}`, which other stacks share: another stack's lookup of that name can be answered by this service",
                    if bare.len() > 1 { "s" } else { "" },
                    quoted(&shown),
                    doc.real_name(k)
                ),
                format!("{name}|{k}"),
            );
            if severity == Severity::Note {
                d.severity = Some(Severity::Note);
                d.fix = Some(match doc.injected_role(k) {
                    Some(Role::Environment) => format!(
                        "Refer to services of this environment as `<service>.{}` (netfence adds that alias); keep a service off the environment network with policy `environment.exclude`.",
                        doc.plan.project
                    ),
                    _ => "Only the reverse proxy should talk on its network, and it routes by container address: refer to other services through the stack's own networks, never through the proxy's.".to_owned(),
                });
            }
            out.push(d);
        }
    }
    // NF016: one name, several services, one network.
    for (k, names) in &holders {
        for (n, services) in names {
            if services.len() < 2 {
                continue;
            }
            let second = &services[1];
            let shown: Vec<&str> = services.iter().map(String::as_str).collect();
            out.push(draft(
                &NF016,
                {
                    let mut p = svc_path(second, &["networks"]);
                    p.push(key(k));
                    p
                },
                format!("network {k}"),
                format!(
                    "on network `{k}` the name `{n}` belongs to {}: DNS answers with either at random",
                    quoted(&shown)
                ),
                format!("{k}|{n}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_services_are_known_by_image() {
        for (img, kind) in [
            ("postgres:16", Some("database")),
            ("docker.io/bitnami/postgresql:15", Some("database")),
            (
                "mcr.microsoft.com/mssql/server:2022-latest",
                Some("database"),
            ),
            ("redis:7-alpine", Some("cache")),
            ("confluentinc/cp-kafka:7.5.0", Some("message broker")),
            ("mongo-express", None),
            ("quay.io/prometheuscommunity/postgres-exporter", None),
            ("redislabs/redisinsight", None),
            ("nginx:alpine", None),
            ("ghcr.io/example/api:postgres", None),
            ("${DB_IMAGE:-mariadb:11}", Some("database")),
            ("juntaoyuan/etl-kafka-mysql", None),
            (
                "registry.supertokens.io/supertokens/supertokens-postgresql",
                None,
            ),
            ("redis/redis-stack-server:latest", Some("cache")),
            ("localhost:5000/postgres", Some("database")),
        ] {
            assert_eq!(data_service(img), kind, "{img}");
        }
    }

    #[test]
    fn defaults_of_variables_are_read() {
        assert_eq!(variable_default("${N:-3}").as_deref(), Some("3"));
        assert_eq!(count(&Value::from("${N:-3}")), Some(3));
        assert_eq!(count(&Value::from(2)), Some(2));
        assert_eq!(variable_default("8080"), None);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(65536), "65,536");
        assert_eq!(group_thousands(256), "256");
        assert_eq!(group_thousands(16777216), "16,777,216");
    }
}
