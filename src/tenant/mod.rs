//! Trust: what a tenant's compose file may not do on a shared platform. Every
//! way a file can reach past its own fence is found here, pure, from the file, the
//! policy and what is known of the engine's networks. In tenant mode the plan refuses
//! each one the policy does not grant; `audit` reports them in any mode.

mod close;
mod files;
mod host_paths;
mod images;
mod inline;
mod judged;
mod keys;
mod names;
mod networks;
mod ports;
mod proxy_routes;
mod services;
mod templates;
mod volumes;

use std::collections::BTreeMap;
use std::path::Path;

use crate::yaml::Value;
use serde::Serialize;

use crate::load::host::Host;
use crate::naming::{
    ENV_NETWORK_OF_PROJECT_TEMPLATE, ENV_NETWORK_TEMPLATE, PROXY_NETWORK_TEMPLATE,
    RUN_NETWORK_TEMPLATE,
};
use crate::policy::Policy;
use crate::scope::Scope;
use crate::unfence::Record;

pub use close::{close, CloseError, Closed, Inputs as CloseInputs};
pub use keys::{key_table, render_key_table, Class, Grant, Key, KeyFormat};
pub use templates::{glob_matches, NamePattern};

/// One way out of the fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An external network that is another scope's or another project's.
    ForeignNetwork,
    /// `network_mode`, `pid` or `ipc` joining a namespace outside the project.
    ForeignNamespace,
    /// `io.netfence.*` labels written by the file itself.
    OwnLabels,
    /// An `x-netfence` record naming another project or scope.
    ForgedRecord,
    /// `include:` or `extends.file` reading a file outside the project's directory.
    OutsideFile,
    HostNetwork,
    Privileged,
    DockerSocket,
    HostNamespace,
    Capability,
    NetworkDriver,
    /// A volume driver other than `local`: a plugin whose options (a host mountpoint,
    /// a remote share) netfence cannot judge.
    VolumeDriver,
    /// An image name outside the project: a build tagged with it, or another
    /// project's build read by it.
    ImageName,
    /// A host port below 1024: the host's own services' and the proxy's.
    HostPort,
    /// The host's scheduler and OOM killer turned against the other projects.
    HostResources,
    /// A proxy route to a service this container does not define: another project's
    /// container, the proxy's own API, the platform's file-defined services.
    ProxyRoute,
    /// A router, service or middleware named outside the project's own names in the
    /// proxy every project shares.
    ProxyName,
    ExternalNetwork,
    /// `${VAR}` in a setting that reaches the host: the tenant may set the variable.
    Interpolated,
    /// Compose's own settings (`COMPOSE_PROJECT_NAME`, …) in the project's `.env`.
    ComposeSetting,
    /// A host path outside the project directory (bind source, volume device, build).
    HostPath,
    ExternalVolume,
    /// A named volume whose fixed `name:` could be another project's.
    ForeignVolume,
    /// `provider:` runs a program on the deploying host.
    Provider,
    Device,
    Gpu,
    Runtime,
    /// A key tenant mode does not know: a newer Compose may give it any meaning.
    UnknownKey,
    /// A YAML tag whose meaning netfence does not read as Compose does.
    Tag,
    /// A service name or alias shaped like another project's qualified DNS name.
    QualifiedName,
}

impl Kind {
    /// The `tenant.allow` key that grants it; `None` for what is always refused.
    pub fn grant_key(self) -> Option<&'static str> {
        match self {
            Kind::HostNetwork => Some("host_network"),
            Kind::Privileged => Some("privileged"),
            Kind::DockerSocket => Some("docker_socket"),
            Kind::HostNamespace => Some("host_namespaces"),
            Kind::Capability => Some("capabilities"),
            Kind::NetworkDriver => Some("network_drivers"),
            Kind::VolumeDriver => Some("volume_drivers"),
            Kind::ImageName => Some("image_names"),
            Kind::HostPort => Some("host_ports"),
            Kind::HostResources => Some("host_resources"),
            Kind::ProxyRoute => Some("proxy_services"),
            Kind::ExternalNetwork => Some("external_networks"),
            Kind::Interpolated => Some("interpolation"),
            Kind::HostPath => Some("host_paths"),
            Kind::ExternalVolume => Some("external_volumes"),
            Kind::Provider => Some("providers"),
            Kind::Device => Some("devices"),
            Kind::Gpu => Some("gpus"),
            Kind::Runtime => Some("runtime"),
            Kind::ForeignVolume
            | Kind::UnknownKey
            | Kind::Tag
            | Kind::QualifiedName
            | Kind::ForeignNetwork
            | Kind::ComposeSetting
            | Kind::ForeignNamespace
            | Kind::OwnLabels
            | Kind::ProxyName
            | Kind::ForgedRecord
            | Kind::OutsideFile => None,
        }
    }

    /// Granted by naming the item in a list rather than by `true`.
    fn is_list(self) -> bool {
        matches!(
            self,
            Kind::Capability
                | Kind::NetworkDriver
                | Kind::VolumeDriver
                | Kind::ImageName
                | Kind::HostPort
                | Kind::ProxyRoute
                | Kind::ExternalNetwork
                | Kind::ExternalVolume
                | Kind::HostPath
                | Kind::Provider
                | Kind::Runtime
        )
    }
}

/// One escape found in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escape {
    pub kind: Kind,
    /// `service api`, `network shared`, `volume data`, `x-netfence`.
    pub subject: String,
    /// Where in the file, as a path of keys: `services.api.network_mode`.
    pub key: String,
    /// The same path, part by part (for line numbers).
    #[serde(skip)]
    pub path: Vec<Part>,
    /// What the file asks for and why that leaves the fence.
    pub why: String,
    /// What a list grant must name: the capability, driver or network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The policy text that would grant it (`tenant.allow.host_network: true`), if any.
    pub grant: Option<String>,
    /// Whether the policy grants it already.
    pub granted: bool,
}

impl Escape {
    pub(crate) fn new(
        kind: Kind,
        subject: impl Into<String>,
        path: Vec<Part>,
        why: impl Into<String>,
        item: Option<String>,
    ) -> Escape {
        let grant = kind.grant_key().map(|k| match &item {
            Some(i) if kind.is_list() => format!("tenant.allow.{k}: [{i}]"),
            _ => format!("tenant.allow.{k}: true"),
        });
        Escape {
            kind,
            subject: subject.into(),
            key: dotted(&path),
            path,
            why: why.into(),
            item,
            grant,
            granted: false,
        }
    }

    /// `service api: services.api.network_mode: why (grant with ...)`.
    pub fn describe(&self) -> String {
        let remedy = match &self.grant {
            Some(g) => format!("; the platform's policy can allow it with `{g}`"),
            None => "; no policy key allows it".into(),
        };
        format!("{}: `{}`: {}{remedy}", self.subject, self.key, self.why)
    }
}

/// One step of a path into the compose document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Key(String),
    Index(usize),
}

/// `["services", "a", "cap_add"]` followed by an optional list index.
pub(crate) fn path(keys: &[&str], index: Option<usize>) -> Vec<Part> {
    let mut p: Vec<Part> = keys.iter().map(|k| Part::Key((*k).to_owned())).collect();
    p.extend(index.map(Part::Index));
    p
}

/// The inverse of [`dotted`]: `include[0].path` → include, 0, path.
fn parse_dotted(key: &str) -> Vec<Part> {
    let mut out = Vec::new();
    for piece in key.split('.') {
        let mut rest = piece;
        if let Some(i) = rest.find('[') {
            out.push(Part::Key(rest[..i].to_owned()));
            rest = &rest[i..];
            while let Some(inner) = rest.strip_prefix('[') {
                let Some((n, after)) = inner.split_once(']') else {
                    break;
                };
                if let Ok(n) = n.parse() {
                    out.push(Part::Index(n));
                }
                rest = after;
            }
        } else {
            out.push(Part::Key(rest.to_owned()));
        }
    }
    out
}

fn dotted(path: &[Part]) -> String {
    let mut out = String::new();
    for part in path {
        match part {
            Part::Key(k) if out.is_empty() => out.push_str(k),
            Part::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Part::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// What the platform says about the deploy, beyond the file and the policy.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The scope the platform deploys into.
    pub scope: Option<&'a Scope>,
    /// The project name as the platform gives it (`-p` or `COMPOSE_PROJECT_NAME`).
    pub project: Option<&'a str>,
    /// The Compose project name the plan gives the project (its builds are
    /// `<project_name>-<service>`).
    pub project_name: Option<&'a str>,
    /// The names of the real networks the plan itself assigns (environment, proxy,
    /// shared, and the file's own managed networks): joining those is the plan's doing.
    pub assigned: Vec<String>,
    /// Networks of the engine that netfence labels, when one is reachable.
    pub known: &'a [KnownNetwork],
    /// Patterns of names that netfence gives other scopes' and projects' networks.
    pub foreign_patterns: Vec<NamePattern>,
    /// For `${VAR}` in bind-mount sources, as Compose will resolve them.
    pub environ: Option<&'a BTreeMap<String, String>>,
    pub project_dir: Option<&'a Path>,
    /// The input's own fencing record, if it had one.
    pub record: Option<&'a Record>,
    /// Files `include:` and `extends.file` made the loader read.
    pub references: &'a [crate::load::Reference],
    /// Where host paths lead and the project's `.env` is read: the only way the
    /// checks see the host's files.
    pub host: &'a dyn Host,
}

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            scope: None,
            project: None,
            project_name: None,
            assigned: Vec::new(),
            known: &[],
            foreign_patterns: Vec::new(),
            environ: None,
            project_dir: None,
            record: None,
            references: &[],
            host: &crate::load::host::Disk,
        }
    }
}

/// A network on the engine with netfence's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownNetwork {
    pub name: String,
    /// `io.netfence.scope`, when set.
    pub scope: Option<String>,
    /// `io.netfence.project`, when set.
    pub project: Option<String>,
    /// `io.netfence.role`, when set.
    pub role: Option<String>,
}

/// Patterns of the names the policy gives networks of any scope and project: what a
/// file's external network must not be, unless the plan assigns it.
pub fn foreign_patterns(policy: &Policy) -> Vec<NamePattern> {
    let prefix = policy.prefix();
    let mut templates: Vec<(&str, &str)> = vec![(
        "environment network",
        policy
            .environment
            .network
            .as_deref()
            .unwrap_or(ENV_NETWORK_TEMPLATE),
    )];
    let proxy = policy.proxy.as_ref().and_then(|p| p.network.as_deref());
    templates.push(("proxy network", proxy.unwrap_or(PROXY_NETWORK_TEMPLATE)));
    for shared in policy.shared.values() {
        templates.push(("shared network", &shared.name));
    }
    match policy.naming.network.as_deref() {
        Some(t) => templates.push(("network", t)),
        None => {
            templates.push(("network", RUN_NETWORK_TEMPLATE));
            templates.push(("network", ENV_NETWORK_OF_PROJECT_TEMPLATE));
        }
    }
    templates
        .into_iter()
        .filter_map(|(what, t)| NamePattern::new(what, t, prefix))
        .collect()
}

/// Every escape in `doc` (the unfenced compose document), in file order, each marked
/// granted or not by `policy`.
pub fn escapes(doc: &Value, policy: &Policy, ctx: &Context<'_>) -> Vec<Escape> {
    let mut out = Vec::new();
    let environ = ctx.environ.cloned().unwrap_or_default();
    keys::check(doc, &mut out);
    let home = ctx.project_dir.map(|d| (d, ctx.host));
    let judged = judged::view(doc, &environ, home, &mut out);
    networks::check(&judged, ctx, &mut out);
    services::check(&judged, ctx, &mut out);
    services::volume_devices(&judged, ctx, &mut out);
    volumes::bind_sources(&judged, ctx, &mut out);
    volumes::scoped(&judged, ctx, &mut out);
    names::qualified(&judged, ctx, &mut out);
    files::check(&judged, ctx, &mut out);
    images::check(&judged, policy, ctx, &mut out);
    ports::privileged(&judged, policy, &mut out);
    services::check_labels(doc, ctx.project_name, &mut out);
    judged::check_dotenv(ctx.host, ctx.project_dir, &mut out);
    check_record(ctx, &mut out);
    check_references(ctx, &mut out);
    // Two rules may find the very same escape (labels are judged as written and as
    // Compose reads them): one refusal is enough. Different ones at one key all stay.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|e| seen.insert((e.kind, e.describe())));
    for e in &mut out {
        e.granted = granted(e, policy);
    }
    out
}

/// The escapes tenant mode refuses: everything not granted.
pub fn refused(escapes: &[Escape]) -> Vec<&Escape> {
    escapes.iter().filter(|e| !e.granted).collect()
}

/// Whether the policy grants this escape.
pub fn is_granted(e: &Escape, policy: &Policy) -> bool {
    granted(e, policy)
}

fn granted(e: &Escape, policy: &Policy) -> bool {
    // The platform's own flat networks are its to name (`reconcile --strict` takes
    // containers off them).
    let flat = e.kind == Kind::ExternalNetwork
        && policy
            .flat_networks
            .iter()
            .any(|f| Some(f.as_str()) == e.item.as_deref());
    // A variable the platform hands its tenants (`tenant.environment`) is theirs to read,
    // by `${VAR}` or by a secret's or config's `environment: VAR`.
    let handed = e.kind == Kind::Interpolated
        && e.item.as_deref().is_some_and(|name| {
            policy
                .tenant
                .environment
                .iter()
                .any(|g| templates::glob_matches(g, name))
        });
    flat || handed || grants(&policy.tenant.allow, e.kind, e.item.as_deref())
}

/// Does `tenant.allow` grant this kind of escape (for list grants: this `item`)? For
/// `verify`, which finds escapes on live containers rather than in a file.
pub fn grants(allow: &crate::policy::TenantAllow, kind: Kind, item: Option<&str>) -> bool {
    let item = item.unwrap_or_default();
    match kind {
        Kind::HostNetwork => allow.host_network,
        Kind::Privileged => allow.privileged,
        Kind::DockerSocket => allow.docker_socket,
        Kind::HostNamespace => allow.host_namespaces,
        Kind::Interpolated => allow.interpolation,
        Kind::Capability => allow
            .capabilities
            .iter()
            .any(|c| c == "ALL" || services::capability(c) == item),
        Kind::NetworkDriver => allow
            .network_drivers
            .iter()
            .any(|d| d.eq_ignore_ascii_case(item)),
        Kind::VolumeDriver => allow.volume_drivers.iter().any(|d| d == item),
        Kind::ImageName => images::granted(&allow.image_names, item),
        Kind::HostPort => ports::granted(&allow.host_ports, item),
        Kind::ExternalNetwork => allow
            .external_networks
            .iter()
            .any(|g| templates::glob_matches(g, item)),
        Kind::ExternalVolume => allow
            .external_volumes
            .iter()
            .any(|g| templates::glob_matches(g, item)),
        Kind::HostPath => allow
            .host_paths
            .iter()
            .any(|g| templates::glob_matches(g, item)),
        Kind::Provider => allow.providers.iter().any(|p| p == item),
        Kind::Runtime => allow.runtime.iter().any(|r| r == item),
        Kind::Device => allow.devices,
        Kind::HostResources => allow.host_resources,
        Kind::ProxyRoute => allow
            .proxy_services
            .iter()
            .any(|g| templates::glob_matches(g, item)),
        Kind::Gpu => allow.gpus,
        _ => false,
    }
}

/// Is this host path the Docker socket, or a directory that holds it?
pub fn exposes_docker_socket(host_path: &str) -> bool {
    host_paths::exposes_docker_socket(&crate::load::host::Disk, Path::new(host_path))
}

/// A capability as Docker reads it (`NET_ADMIN`), when it is beyond Docker's defaults.
pub fn added_capability(name: &str) -> Option<String> {
    services::beyond_defaults(name)
}

/// A tenant's file reads only its own directory: `include:` or `extends.file` of another
/// tenant's file (or the host's) would deploy their services, secrets and all, as this
/// tenant's. Symbolic links are followed to where they lead.
fn check_references(ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(dir) = ctx.project_dir else {
        return;
    };
    let home = ctx.host.canonical(dir).unwrap_or_else(|| dir.to_path_buf());
    for r in ctx.references {
        let real = host_paths::real(ctx.host, &r.path);
        if real.starts_with(&home) {
            include_env_reads_the_deploy(ctx, r, &home, out);
            continue;
        }
        out.push(Escape::new(
            Kind::OutsideFile,
            format!("file {}", r.by),
            parse_dotted(&r.key),
            format!(
                "reads `{}` (from the project's directory, links followed), outside it: a tenant's file reads only its own",
                crate::load::rebase::relative(&home, &real).display()
            ),
            None,
        ));
    }
}

/// An include's env file (its own `.env` too) is read while loading with the deploying
/// process's whole environment, and what it makes of it is written into the closed
/// file: `T=${PLATFORM_TOKEN}` there would copy the platform's secret into the tenant's
/// services, past `tenant.environment`. The project's own `.env` is closed apart.
fn include_env_reads_the_deploy(
    ctx: &Context<'_>,
    r: &crate::load::Reference,
    home: &Path,
    out: &mut Vec<Escape>,
) {
    let own_dotenv = ctx.project_dir.map(|d| d.join(".env"));
    if !r.key.ends_with(".env_file") || own_dotenv.as_deref() == Some(r.path.as_path()) {
        return;
    }
    let Ok(text) = ctx.host.read(&r.path) else {
        return;
    };
    if !crate::load::interpolate::has_variables(&text) {
        return;
    }
    out.push(Escape::new(
        Kind::Interpolated,
        format!("file {}", r.by),
        parse_dotted(&r.key),
        format!(
            "the included project's env file `{}` uses `$`: it is read with the deploying process's whole environment, so the platform's variables would be copied into this project's services; write the values out, or move them to the project's own .env",
            crate::load::rebase::relative(home, &r.path).display()
        ),
        None,
    ));
}

/// A record (netfence's own, in `x-netfence.fenced`) that names another project or scope
/// than the platform's would deploy the tenant over someone else's stack.
fn check_record(ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(record) = ctx.record else {
        return;
    };
    let mut wrong = Vec::new();
    if let Some(project) = ctx.project {
        if crate::naming::project_name(&record.project) != crate::naming::project_name(project) {
            wrong.push(format!(
                "project `{}` (the platform's is `{project}`)",
                record.project
            ));
        }
    }
    if let Some(scope) = ctx.scope {
        if record.scope != scope.to_string() {
            wrong.push(format!(
                "scope `{}` (the platform's is `{scope}`)",
                record.scope
            ));
        }
    }
    if wrong.is_empty() {
        return;
    }
    out.push(Escape::new(
        Kind::ForgedRecord,
        "x-netfence",
        path(&["x-netfence", "fenced"], None),
        format!(
            "the file carries a fencing record for {}: a tenant's file is fenced only into the platform's scope and project",
            wrong.join(" and ")
        ),
        None,
    ));
}

#[cfg(test)]
mod tests;
