//! The policy: how to fence. Found (first match wins) from `--policy FILE`, the compose
//! file's `x-netfence:` key, `netfence.yml` in the working directory, or built in.
//! Validated against the JSON Schema shipped in `schemas/`, then read into types.

use std::path::{Path, PathBuf};

use crate::yaml::Value;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{Error, Result, Source};

pub const SCHEMA: &str = include_str!("../schemas/netfence-policy.schema.json");
pub const DEFAULT_PREFIX: &str = "nf";
pub const DEFAULT_MAX_NETWORKS: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ContainerNameMode {
    #[default]
    Alias,
    Strip,
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortsMode {
    Ephemeral,
    Keep,
    Loopback,
}

/// The host ports of dev stacks (`netfence up`, scope `dev:<slug>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DevPorts {
    /// `FIRST-LAST`: where each published port's stable host port is taken from.
    pub range: Option<String>,
}

/// Where dev stacks' host ports come from unless `dev_ports.range` says: below Linux's
/// ephemeral range (32768-60999), so Docker's and the kernel's own picks rarely meet it.
pub const DEFAULT_DEV_PORTS: std::ops::RangeInclusive<u16> = 20000..=29999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProvider {
    #[default]
    Traefik,
    Caddy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TraefikVersion {
    V2,
    #[default]
    V3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Naming {
    pub network: Option<String>,
    pub project: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnets {
    pub pool: String,
    pub prefix_length: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    pub internal: Option<bool>,
    pub driver: Option<String>,
    pub attachable: Option<bool>,
    pub enable_ipv6: Option<bool>,
    pub encrypted: Option<bool>,
    pub subnet: Option<String>,
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    #[serde(default)]
    pub driver_opts: IndexMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub networks: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub public: Option<bool>,
    pub environment: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProxyServices {
    Auto(AutoKeyword),
    List(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoKeyword {
    Auto,
}

impl Default for ProxyServices {
    fn default() -> Self {
        ProxyServices::Auto(AutoKeyword::Auto)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    pub network: Option<String>,
    #[serde(default)]
    pub provider: ProxyProvider,
    #[serde(default)]
    pub traefik_version: TraefikVersion,
    #[serde(default)]
    pub services: ProxyServices,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SharedServices {
    List(Vec<String>),
    WithAliases(IndexMap<String, Vec<String>>),
}

impl Default for SharedServices {
    fn default() -> Self {
        SharedServices::List(Vec::new())
    }
}

impl SharedServices {
    /// Each member with its aliases on the shared network, in the written order.
    pub fn members(&self) -> Vec<(String, Vec<String>)> {
        match self {
            SharedServices::List(l) => l.iter().map(|s| (s.clone(), Vec::new())).collect(),
            SharedServices::WithAliases(m) => {
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shared {
    pub name: String,
    #[serde(default)]
    pub services: SharedServices,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub network: Option<String>,
    pub alias: Option<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_networks: Option<u32>,
}

/// Trust: whether the compose file is a tenant's, and what a tenant may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub enabled: Option<bool>,
    /// Process variables (names or globs) a tenant's `${VAR}` may read, beside the
    /// project's `.env`; every other variable reads as unset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
    #[serde(default)]
    pub allow: TenantAllow,
}

/// Escapes a platform grants its tenants (`tenant.allow`); each is refused otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TenantAllow {
    #[serde(default)]
    pub host_network: bool,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub docker_socket: bool,
    #[serde(default)]
    pub host_namespaces: bool,
    /// The platform, not the tenant, sets the variables Compose interpolates at deploy.
    #[serde(default)]
    pub interpolation: bool,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub network_drivers: Vec<String>,
    /// Proxy services (globs, `name@provider`) a tenant's router may send traffic to
    /// beyond those its own labels define.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxy_services: Vec<String>,
    /// Host ports below 1024 a service may publish: ports `N` or ranges `A-B`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "ports_as_text"
    )]
    pub host_ports: Vec<String>,
    /// Image names (globs) a build may tag or an image be read by, outside the
    /// project's own (a registry the platform trusts, a shared base image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_names: Vec<String>,
    /// Volume drivers beyond `local` (plugins), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_drivers: Vec<String>,
    /// Names or globs (`*`, `?`).
    #[serde(default)]
    pub external_networks: Vec<String>,
    /// External volumes by name or glob.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_volumes: Vec<String>,
    /// Host paths (globs) bind mounts and local volume devices may use outside the
    /// project directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_paths: Vec<String>,
    /// `provider.type` values a service may run on the deploying host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// `devices`, `device_cgroup_rules` and device reservations.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub devices: bool,
    /// `oom_kill_disable`, a negative `oom_score_adj`, real-time scheduling
    /// (`cpu_rt_*`, `ulimits.rtprio`): the host's OOM killer and scheduler.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_resources: bool,
    /// `gpus` and GPU device reservations.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpus: bool,
    /// Container runtimes (`runtime:`) beyond the engine's default, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime: Vec<String>,
}

impl Tenant {
    fn is_unset(&self) -> bool {
        *self == Tenant::default()
    }
}

/// `reconcile --watch`: the projects it follows besides those named with `-p`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// A container label, `KEY` or `KEY=VALUE`: every Compose project with a container
    /// carrying it is fenced (e.g. `coolify.managed=true`).
    pub label: Option<String>,
}

impl Watch {
    fn is_unset(&self) -> bool {
        *self == Watch::default()
    }
}

/// A policy as written. Every key is optional; `Resolved` values come from the accessors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: Option<u32>,
    pub prefix: Option<String>,
    #[serde(default)]
    pub naming: Naming,
    pub container_name: Option<ContainerNameMode>,
    pub ports: Option<PortsMode>,
    /// Left out of the digest while unset, so policies written before it keep theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_ports: Option<DevPorts>,
    pub subnets: Option<Subnets>,
    #[serde(default)]
    pub networks: IndexMap<String, NetworkSettings>,
    #[serde(default)]
    pub services: IndexMap<String, ServiceSettings>,
    pub proxy: Option<Proxy>,
    #[serde(default)]
    pub shared: IndexMap<String, Shared>,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub flat_networks: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    /// Left out of the digest while unset, so policies written before it keep theirs.
    #[serde(default, skip_serializing_if = "Tenant::is_unset")]
    pub tenant: Tenant,
    /// Which projects `reconcile --watch` fences besides those named with `-p`. Left out
    /// of the digest while unset, like `tenant`.
    #[serde(default, skip_serializing_if = "Watch::is_unset")]
    pub watch: Watch,
    /// netfence's own record in its output; carried, never read as policy.
    #[serde(default, skip_serializing)]
    pub fenced: Option<Json>,
}

/// A policy together with where it was found.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
    pub source: Source,
}

impl Policy {
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    pub fn container_name_mode(&self) -> ContainerNameMode {
        self.container_name.unwrap_or_default()
    }

    /// The range dev stacks' host ports come from (checked when the policy was read).
    pub fn dev_port_range(&self) -> std::ops::RangeInclusive<u16> {
        self.dev_ports
            .as_ref()
            .and_then(|d| d.range.as_deref())
            .and_then(|r| parse_port_range(r).ok())
            .unwrap_or(DEFAULT_DEV_PORTS)
    }

    pub fn max_networks(&self) -> u32 {
        self.limits.max_networks.unwrap_or(DEFAULT_MAX_NETWORKS)
    }

    /// Is the compose file a tenant's? By default in env scope only.
    pub fn tenant_mode(&self, scope: &crate::Scope) -> bool {
        self.tenant.enabled.unwrap_or(scope.is_env())
    }

    /// A short, stable digest of the policy's meaning, recorded in rewritten output.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let canonical = serde_json::to_string(self).unwrap_or_default();
        let hash = Sha256::digest(canonical.as_bytes());
        let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// Parses and validates a policy document (YAML or JSON text).
    pub fn from_text(source: &Source, text: &str) -> Result<Policy> {
        let value = crate::yaml::parse(source, text)?;
        Self::from_value(source, &value)
    }

    /// Validates an already parsed document against the schema, then reads it.
    pub fn from_value(source: &Source, value: &Value) -> Result<Policy> {
        let errors = validate_value(value);
        if let Some(first) = errors.into_iter().next() {
            return Err(Error::policy(source, first.pointer, first.message));
        }
        let json = to_json(value).map_err(|m| Error::policy(source, "", m))?;
        let policy: Policy =
            serde_json::from_value(json).map_err(|e| Error::policy(source, "", e.to_string()))?;
        policy.check(source)?;
        Ok(policy)
    }

    /// Checks what the schema cannot express: CIDRs, template syntax.
    fn check(&self, source: &Source) -> Result<()> {
        if let Some(s) = &self.subnets {
            let pool = parse_cidr(&s.pool)
                .map_err(|m| Error::policy(source, "/subnets/pool", m.to_string()))?;
            if let Some(len) = s.prefix_length {
                if len < pool.prefix_len() || len > pool.max_prefix_len() {
                    return Err(Error::policy(
                        source,
                        "/subnets/prefix_length",
                        format!(
                            "prefix_length {len} does not fit the pool {pool}: expected a length from {} to {}",
                            pool.prefix_len(),
                            pool.max_prefix_len()
                        ),
                    ));
                }
            }
        }
        if let Some(r) = self.dev_ports.as_ref().and_then(|d| d.range.as_deref()) {
            parse_port_range(r)
                .map_err(|m| Error::policy(source, "/dev_ports/range", m.to_string()))?;
        }
        for (name, n) in &self.networks {
            if let Some(sub) = &n.subnet {
                parse_cidr(sub).map_err(|m| {
                    Error::policy(
                        source,
                        format!("/networks/{}/subnet", escape_pointer(name)),
                        m.to_string(),
                    )
                })?;
            }
        }
        let mut templates: Vec<(String, &str)> = Vec::new();
        if let Some(t) = &self.naming.network {
            templates.push(("/naming/network".into(), t));
        }
        if let Some(t) = &self.naming.project {
            templates.push(("/naming/project".into(), t));
        }
        if let Some(t) = self.proxy.as_ref().and_then(|p| p.network.as_deref()) {
            templates.push(("/proxy/network".into(), t));
        }
        for (k, s) in &self.shared {
            templates.push((format!("/shared/{}/name", escape_pointer(k)), &s.name));
        }
        if let Some(t) = &self.environment.network {
            templates.push(("/environment/network".into(), t));
        }
        if let Some(t) = &self.environment.alias {
            templates.push(("/environment/alias".into(), t));
        }
        for (pointer, t) in templates {
            crate::naming::check_template(t)
                .map_err(|m| Error::policy(source, pointer, m.to_string()))?;
        }
        Ok(())
    }
}

/// A policy value written as text (a subnet, a port range) that does not read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("`{0}` is not a CIDR: expected an address and a prefix length such as 10.213.0.0/16")]
    NotCidr(String),
    #[error("`{written}` has host bits set: did you mean {network}?")]
    HostBits {
        written: String,
        network: ipnet::IpNet,
    },
    #[error(
        "`{0}` is not a port range: expected FIRST-LAST such as 20000-29999, both from 1 to 65535"
    )]
    NotPortRange(String),
}

/// `[25, "110-143"]`: a port is written as a number as often as a range as text.
fn ports_as_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    let ports: Vec<Port> = Deserialize::deserialize(d)?;
    Ok(ports
        .into_iter()
        .map(|p| match p {
            Port::Number(n) => n.to_string(),
            Port::Text(t) => t,
        })
        .collect())
}

pub fn parse_cidr(s: &str) -> std::result::Result<ipnet::IpNet, ValueError> {
    let net: ipnet::IpNet = s.parse().map_err(|_| ValueError::NotCidr(s.to_owned()))?;
    if net.network() != net.addr() {
        return Err(ValueError::HostBits {
            written: s.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

/// `FIRST-LAST`: host ports, both from 1 to 65535, FIRST not above LAST.
pub fn parse_port_range(s: &str) -> std::result::Result<std::ops::RangeInclusive<u16>, ValueError> {
    let bad = || ValueError::NotPortRange(s.to_owned());
    let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
    let first: u16 = a.trim().parse().map_err(|_| bad())?;
    let last: u16 = b.trim().parse().map_err(|_| bad())?;
    if first == 0 || first > last {
        return Err(bad());
    }
    Ok(first..=last)
}

pub fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// One schema violation: the JSON pointer of the value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub pointer: String,
    pub message: String,
}

fn schema_json() -> &'static Json {
    static SCHEMA_JSON: std::sync::OnceLock<Json> = std::sync::OnceLock::new();
    SCHEMA_JSON.get_or_init(|| serde_json::from_str(SCHEMA).expect("embedded schema is JSON"))
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::validator_for(schema_json()).expect("embedded schema is a valid JSON Schema")
    })
}

fn to_json(value: &Value) -> std::result::Result<Json, String> {
    serde_json::to_value(value).map_err(|e| format!("not representable as JSON: {e}"))
}

/// Every schema violation of a policy document, each with a did-you-mean for unknown keys.
pub fn validate_value(value: &Value) -> Vec<Violation> {
    let json = match to_json(value) {
        Ok(j) => j,
        Err(m) => {
            return vec![Violation {
                pointer: String::new(),
                message: m,
            }]
        }
    };
    let mut out = Vec::new();
    for e in validator().iter_errors(&json) {
        let pointer = e.instance_path().as_str().to_owned();
        match e.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_keys(e.schema_path().as_str());
                for key in unexpected {
                    let mut message = format!("unknown key `{key}`");
                    if let Some(best) = did_you_mean(key, &known) {
                        message.push_str(&format!(": did you mean `{best}`?"));
                    } else if !known.is_empty() {
                        message.push_str(&format!("; expected one of: {}", known.join(", ")));
                    }
                    out.push(Violation {
                        pointer: format!("{pointer}/{}", escape_pointer(key)),
                        message,
                    });
                }
            }
            _ => out.push(Violation {
                pointer,
                message: describe(&e),
            }),
        }
    }
    out
}

fn describe(e: &jsonschema::ValidationError) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match e.kind() {
        K::Enum { options } => {
            format!("{} is not allowed: expected one of {options}", e.instance())
        }
        K::OneOfNotValid { .. } | K::AnyOf { .. } => {
            format!(
                "{} is not of an accepted form (see `netfence schema`)",
                e.instance()
            )
        }
        _ => e.to_string(),
    }
}

/// The property names the schema allows where an `additionalProperties` check failed.
fn known_keys(schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    let pointer = format!("{parent}/properties");
    schema_json()
        .pointer(&pointer)
        .and_then(Json::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

pub fn did_you_mean(word: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

/// Where to look for a policy: `--policy`, else an `x-netfence` policy embedded in the
/// compose file, else `./netfence.yml`, else the built-in one (a tenant's embedded policy
/// never outranks the platform's).
pub struct Discovery<'a> {
    pub explicit: Option<&'a Path>,
    pub embedded: Option<(&'a Path, &'a Value)>,
    pub working_dir: PathBuf,
    /// The scope the input is fenced into, when known already: it decides whether the
    /// file is a tenant's, and a tenant's policy never outranks the
    /// platform's.
    pub scope: Option<&'a crate::Scope>,
}

pub const WORKING_DIR_FILE: &str = "netfence.yml";

/// The policy found, with a note for the user when a tenant's embedded policy was
/// passed over.
pub fn discover(d: Discovery<'_>) -> Result<(LoadedPolicy, Option<String>)> {
    let platform = match d.explicit {
        Some(path) => Some(read_policy(path, Source::File(path.to_owned()))?),
        None => {
            let local = d.working_dir.join(WORKING_DIR_FILE);
            let source = Source::File(PathBuf::from(WORKING_DIR_FILE));
            local
                .is_file()
                .then(|| read_policy(&local, source))
                .transpose()?
        }
    };
    let tenant = match (d.scope, &platform) {
        (None, _) => false,
        (Some(scope), Some(p)) => p.policy.tenant_mode(scope),
        (Some(scope), None) => Policy::default().tenant_mode(scope),
    };
    let embedded = d.embedded.filter(|(_, v)| is_policy_document(v));
    let Some((path, value)) = embedded else {
        return Ok((platform.unwrap_or_else(built_in), None));
    };
    let source = Source::Embedded(path.to_owned());
    match platform {
        Some(p) if tenant || d.explicit.is_some() => {
            let note = tenant.then(|| {
                format!(
                    "{source} is ignored: the compose file is a tenant's (tenant mode), and the platform's policy {} decides",
                    p.source
                )
            });
            Ok((p, note))
        }
        _ => {
            let policy = Policy::from_value(&source, value)?;
            if tenant && policy.tenant != Tenant::default() {
                return Err(Error::policy(
                    &source,
                    "/tenant",
                    "a tenant's embedded policy cannot set `tenant`: what a tenant may do is the platform's to say (its --policy or ./netfence.yml)",
                ));
            }
            Ok((LoadedPolicy { policy, source }, None))
        }
    }
}

fn read_policy(path: &Path, source: Source) -> Result<LoadedPolicy> {
    let text = crate::load::read_file(path)?;
    let policy = Policy::from_text(&source, &text)?;
    Ok(LoadedPolicy { policy, source })
}

fn built_in() -> LoadedPolicy {
    LoadedPolicy {
        policy: Policy::default(),
        source: Source::BuiltIn,
    }
}

/// An `x-netfence:` key that holds only netfence's own `fenced` record is not a policy.
pub fn is_policy_document(v: &Value) -> bool {
    match v {
        Value::Mapping(m) => m.keys().any(|k| k.as_str() != Some("fenced")),
        v if v.is_null() => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(s: &str) -> Result<Policy> {
        Policy::from_text(&Source::File("p.yml".into()), s)
    }

    #[test]
    fn spec_example_policy_is_accepted() {
        let p = load(
            r#"
version: 1
prefix: nf
naming: { network: "{{ prefix }}-{{ scope_id }}-{{ network }}" }
container_name: alias
ports: ephemeral
subnets: { pool: 10.213.0.0/16, prefix_length: 24 }
networks:
  backend: { internal: true }
services:
  api: { networks: [frontend, backend], aliases: [api-internal] }
proxy: { network: "{{ prefix }}-proxy", provider: traefik, services: auto }
shared:
  infra: { name: "{{ prefix }}-shared-infra", services: [api] }
environment: { network: "{{ prefix }}-env-{{ env }}" }
limits: { max_networks: 200 }
labels: { com.example.team: payments }
"#,
        )
        .unwrap();
        assert_eq!(p.networks["backend"].internal, Some(true));
        assert_eq!(p.proxy.unwrap().services, ProxyServices::default());
    }

    #[test]
    fn unknown_key_has_pointer_and_did_you_mean() {
        let e = load("subnet: {pool: 10.0.0.0/8}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at /subnet"), "{e}");
        assert!(e.contains("did you mean `subnets`"), "{e}");
        let e = load("networks: {backend: {internl: true}}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/networks/backend/internl"), "{e}");
        assert!(e.contains("`internal`"), "{e}");
    }

    #[test]
    fn invalid_cidr_names_the_pointer() {
        let e = load("subnets: {pool: 10.300.0.0/16}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/subnets/pool"), "{e}");
        assert!(e.contains("not a CIDR"), "{e}");
        let e = load("subnets: {pool: 10.213.0.1/16}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean 10.213.0.0/16"), "{e}");
    }

    #[test]
    fn dev_ports_range_is_checked_and_defaulted() {
        assert_eq!(load("{}").unwrap().dev_port_range(), DEFAULT_DEV_PORTS);
        let p = load("dev_ports: {range: 41000-41099}").unwrap();
        assert_eq!(p.dev_port_range(), 41000..=41099);
        for bad in ["0-10", "30000-20000", "1-70000"] {
            let e = load(&format!("dev_ports: {{range: '{bad}'}}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("/dev_ports/range"), "{e}");
        }
        let e = load("dev_ports: {range: 20000}").unwrap_err().to_string();
        assert!(e.contains("/dev_ports/range"), "{e}");
        let e = load("dev_ports: {rnage: 1-2}").unwrap_err().to_string();
        assert!(e.contains("did you mean `range`"), "{e}");
        assert_eq!(
            load("prefix: a").unwrap().digest(),
            Policy {
                prefix: Some("a".into()),
                ..Policy::default()
            }
            .digest(),
            "an unset dev_ports leaves the digest as it was"
        );
    }

    #[test]
    fn wrong_enum_value_says_what_is_expected() {
        let e = load("ports: random\n").unwrap_err().to_string();
        assert!(e.contains("at /ports"), "{e}");
        assert!(e.contains("ephemeral"), "{e}");
    }

    fn discover_in(
        dir: &Path,
        explicit: Option<&Path>,
        embedded: &str,
        scope: Option<&crate::Scope>,
    ) -> Result<(LoadedPolicy, Option<String>)> {
        let value: Value = crate::yaml::from_str(embedded).unwrap();
        discover(Discovery {
            explicit,
            embedded: Some((Path::new("compose.yml"), &value)),
            working_dir: dir.to_path_buf(),
            scope,
        })
    }

    #[test]
    fn in_tenant_mode_the_platforms_policy_outranks_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(WORKING_DIR_FILE), "prefix: platform\n").unwrap();
        let prod = crate::Scope::Env("prod".into());
        let (p, note) = discover_in(dir.path(), None, "prefix: tenant", Some(&prod)).unwrap();
        assert_eq!(p.policy.prefix(), "platform");
        assert!(note
            .unwrap()
            .contains("compose.yml (x-netfence) is ignored"));
        // A run is the user's own stack: the file's policy comes first.
        let run = crate::Scope::Run("ci".into());
        let (p, note) = discover_in(dir.path(), None, "prefix: tenant", Some(&run)).unwrap();
        assert_eq!(p.policy.prefix(), "tenant");
        assert_eq!(note, None);
    }

    #[test]
    fn a_tenants_policy_cannot_grant_itself_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let prod = crate::Scope::Env("prod".into());
        let e = discover_in(
            dir.path(),
            None,
            "tenant: {allow: {host_network: true}}",
            Some(&prod),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/tenant") && e.contains("platform"), "{e}");
        let (p, _) = discover_in(dir.path(), None, "prefix: t", Some(&prod)).unwrap();
        assert_eq!(
            p.policy.prefix(),
            "t",
            "with no platform policy the file's is used"
        );
    }

    #[test]
    fn the_platform_can_turn_tenant_mode_off() {
        let dir = tempfile::tempdir().unwrap();
        let platform = dir.path().join("p.yml");
        std::fs::write(&platform, "tenant: {enabled: false}\n").unwrap();
        let prod = crate::Scope::Env("prod".into());
        let (p, note) =
            discover_in(dir.path(), Some(&platform), "prefix: tenant", Some(&prod)).unwrap();
        assert!(!p.policy.tenant_mode(&prod));
        assert_eq!(
            note, None,
            "--policy wins without a word when the file is trusted"
        );
    }

    #[test]
    fn the_digest_changes_with_meaning() {
        assert_ne!(
            load("prefix: a").unwrap().digest(),
            load("prefix: b").unwrap().digest()
        );
        assert_eq!(
            load("prefix: a").unwrap().digest(),
            load("prefix: 'a'").unwrap().digest()
        );
    }
}
