//! The allowlist of tenant mode: every key of the Compose specification,
//! classified in one table — free, judged by a rule named (in this module's siblings or
//! the plan), or refused unless the platform grants it under `tenant.allow`. A key the
//! table does not know is refused: a newer Compose may give it any meaning
//! (`use_api_socket` and `provider` were such keys once), and a list of known-bad keys
//! would let it through.
//!
//! The table is also what `netfence tenant keys` prints and what docs/TENANT.md is
//! generated from; a test holds it to the Compose schema (fixtures/compose-spec.json).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use super::{Escape, Kind, Part};
use crate::yaml::{scalar_string, untag, Mapping, Resolved, Value};

/// One key of a compose file, by its place: `*` is any name (a service's, a network's),
/// `[]` any item of a list.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub path: &'static str,
    pub class: Class,
}

#[derive(Debug, Clone, Copy)]
pub enum Class {
    /// Harmless whatever it says (what it says may still be data other rules read).
    Free,
    /// Judged by the rules named (`file::function` under src/tenant, or the plan's).
    Judged(&'static str),
    /// Refused unless granted: a value that is there at all (not null, false or empty)
    /// is the escape, and this module reports it.
    Grant(Grant),
}

#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub kind: Kind,
    read: Read,
    why: &'static str,
}

/// How a granted key's value is read into escapes.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// One escape when the value is there.
    Present,
    /// Like `Present`, with the value as the item a list grant names (`runtime: runsc`).
    Named,
    /// Like `Present`, the item read from a field of the value (`provider.type`).
    Field(&'static str),
    /// Each entry of a mapping (each model) one escape, all with this item.
    EachEntry(&'static str),
    /// Each device reserved: a GPU or another device, each with its own grant.
    Reservation,
    /// A log driver that ships logs itself, from the host.
    LogDriver,
}

/// Levels where Compose allows no `x-` key: there an `x-` key is as unknown as any.
const NO_EXTENSIONS: &[&str] = &[
    "include[]",
    "services.*.blkio_config",
    "services.*.blkio_config.device_read_bps[]",
    "services.*.blkio_config.device_read_iops[]",
    "services.*.blkio_config.device_write_bps[]",
    "services.*.blkio_config.device_write_iops[]",
    "services.*.blkio_config.weight_device[]",
    "services.*.env_file[]",
    "services.*.extends",
];

/// Log drivers that keep logs on the host itself; every other one makes the engine send
/// them over the network (or to a cloud service, with the host's credentials).
const LOCAL_LOG_DRIVERS: &[&str] = &["json-file", "local", "journald", "none"];

pub(super) fn is_local_log_driver(driver: &str) -> bool {
    LOCAL_LOG_DRIVERS.contains(&driver)
}

const API_SOCKET: Grant = Grant {
    kind: Kind::DockerSocket,
    read: Read::Present,
    why: "mounts the engine's API socket into the container (with the deploying user's registry credentials): whoever holds it commands the engine, every fence included",
};
const PROVIDER: Grant = Grant {
    kind: Kind::Provider,
    read: Read::Field("type"),
    why: "makes Compose run the provider's `type` as a program on the deploying host, as the deploying user: outside every container and every fence",
};
const MODELS: Grant = Grant {
    kind: Kind::Provider,
    read: Read::EachEntry("model"),
    why: "is pulled and served by the host's model runner, a program outside every container that every project shares (`runtime_flags` reach it raw)",
};
const HOOK_PRIVILEGED: Grant = Grant {
    kind: Kind::Privileged,
    read: Read::Present,
    why: "runs the hook's command privileged in the container: every capability and the host's devices, whatever the service itself may do",
};
const GPUS: Grant = Grant {
    kind: Kind::Gpu,
    read: Read::Present,
    why: "gives the container the host's GPUs, devices of the host shared by every project",
};
const RESERVED_DEVICES: Grant = Grant {
    kind: Kind::Device,
    read: Read::Reservation,
    why: "reserves devices of the host for the container",
};
const GENERIC_RESOURCES: Grant = Grant {
    kind: Kind::Device,
    read: Read::Present,
    why: "reserves a node's generic resources (the GPUs and other devices a Swarm node advertises) for the container",
};
const RUNTIME: Grant = Grant {
    kind: Kind::Runtime,
    read: Read::Named,
    why: "runs the container under another OCI runtime than the engine's default: its isolation is that runtime's, not the one the platform chose (`runc` undoes a gVisor or Kata default)",
};
const CGROUP_PARENT: Grant = Grant {
    kind: Kind::HostNamespace,
    read: Read::Present,
    why: "puts the container's cgroup under a parent the file names instead of the one the engine gives every container: outside the platform's limits for all of them, or inside another project's",
};
const LOG_DRIVER: Grant = Grant {
    kind: Kind::HostNetwork,
    read: Read::LogDriver,
    why: "makes the engine ship the container's logs itself, from the host's own network (with the host's credentials, for a cloud's driver): a connection from outside every fence to wherever the options say",
};
const FROM_ENVIRONMENT: Grant = Grant {
    kind: Kind::Interpolated,
    read: Read::Named,
    why: "makes Compose copy a variable of the deploying process into the container: the platform's environment (its tokens, say) is not the tenant's to read",
};

const fn free(path: &'static str) -> Key {
    Key {
        path,
        class: Class::Free,
    }
}

const fn judged(path: &'static str, rule: &'static str) -> Key {
    Key {
        path,
        class: Class::Judged(rule),
    }
}

const fn grant(path: &'static str, grant: Grant) -> Key {
    Key {
        path,
        class: Class::Grant(grant),
    }
}

/// Every key of the Compose specification (as the vendored schema has it), and netfence's
/// own `x-netfence`.
static TABLE: &[Key] = &[
    judged("name", "plan::project"),
    free("version"),
    judged("include", "tenant::check_references"),
    judged("services", "names::qualified"),
    free("networks"),
    free("volumes"),
    free("secrets"),
    free("configs"),
    grant("models", MODELS),
    judged("x-netfence", "tenant::check_record"),
    judged("include[].env_file", "tenant::check_references"),
    judged("include[].path", "tenant::check_references"),
    judged(
        "include[].project_directory",
        "files::check, volumes::bind_sources",
    ),
    free("services.*.annotations"),
    free("services.*.attach"),
    free("services.*.blkio_config"),
    free("services.*.blkio_config.device_read_bps"),
    free("services.*.blkio_config.device_read_bps[].path"),
    free("services.*.blkio_config.device_read_bps[].rate"),
    free("services.*.blkio_config.device_read_iops"),
    free("services.*.blkio_config.device_read_iops[].path"),
    free("services.*.blkio_config.device_read_iops[].rate"),
    free("services.*.blkio_config.device_write_bps"),
    free("services.*.blkio_config.device_write_bps[].path"),
    free("services.*.blkio_config.device_write_bps[].rate"),
    free("services.*.blkio_config.device_write_iops"),
    free("services.*.blkio_config.device_write_iops[].path"),
    free("services.*.blkio_config.device_write_iops[].rate"),
    free("services.*.blkio_config.weight"),
    free("services.*.blkio_config.weight_device"),
    free("services.*.blkio_config.weight_device[].path"),
    free("services.*.blkio_config.weight_device[].weight"),
    judged("services.*.build", "files::check"),
    judged(
        "services.*.build.additional_contexts",
        "files::check, images::check",
    ),
    free("services.*.build.args"),
    judged("services.*.build.cache_from", "files::check"),
    judged("services.*.build.cache_to", "files::check"),
    judged("services.*.build.context", "files::check"),
    judged("services.*.build.dockerfile", "files::check"),
    free("services.*.build.dockerfile_inline"),
    judged("services.*.build.entitlements", "files::build_privileges"),
    free("services.*.build.extra_hosts"),
    free("services.*.build.isolation"),
    judged("services.*.build.labels", "services::check_labels"),
    judged("services.*.build.network", "files::build_privileges"),
    free("services.*.build.no_cache"),
    free("services.*.build.platforms"),
    judged("services.*.build.privileged", "files::build_privileges"),
    free("services.*.build.provenance"),
    free("services.*.build.pull"),
    free("services.*.build.sbom"),
    free("services.*.build.secrets"),
    free("services.*.build.secrets[].gid"),
    free("services.*.build.secrets[].mode"),
    free("services.*.build.secrets[].source"),
    free("services.*.build.secrets[].target"),
    free("services.*.build.secrets[].uid"),
    free("services.*.build.shm_size"),
    judged("services.*.build.ssh", "files::build_privileges"),
    judged("services.*.build.tags", "images::check"),
    free("services.*.build.target"),
    free("services.*.build.ulimits"),
    free("services.*.build.ulimits.*.hard"),
    free("services.*.build.ulimits.*.soft"),
    judged("services.*.cap_add", "services::capabilities"),
    free("services.*.cap_drop"),
    judged("services.*.cgroup", "services::namespaces"),
    grant("services.*.cgroup_parent", CGROUP_PARENT),
    free("services.*.command"),
    free("services.*.configs"),
    free("services.*.configs[].gid"),
    free("services.*.configs[].mode"),
    free("services.*.configs[].source"),
    free("services.*.configs[].target"),
    free("services.*.configs[].uid"),
    judged(
        "services.*.container_name",
        "plan::container_name, names::qualified",
    ),
    free("services.*.cpu_count"),
    free("services.*.cpu_percent"),
    free("services.*.cpu_period"),
    free("services.*.cpu_quota"),
    judged("services.*.cpu_rt_period", "services::host_resources"),
    judged("services.*.cpu_rt_runtime", "services::host_resources"),
    free("services.*.cpu_shares"),
    free("services.*.cpus"),
    free("services.*.cpuset"),
    free("services.*.credential_spec"),
    free("services.*.credential_spec.config"),
    judged("services.*.credential_spec.file", "files::check"),
    free("services.*.credential_spec.registry"),
    free("services.*.depends_on"),
    free("services.*.depends_on.*.condition"),
    free("services.*.depends_on.*.required"),
    free("services.*.depends_on.*.restart"),
    free("services.*.deploy"),
    free("services.*.deploy.endpoint_mode"),
    judged("services.*.deploy.labels", "services::check_labels"),
    free("services.*.deploy.mode"),
    free("services.*.deploy.placement"),
    free("services.*.deploy.placement.constraints"),
    free("services.*.deploy.placement.max_replicas_per_node"),
    free("services.*.deploy.placement.preferences"),
    free("services.*.deploy.placement.preferences[].spread"),
    free("services.*.deploy.replicas"),
    free("services.*.deploy.resources"),
    free("services.*.deploy.resources.limits"),
    free("services.*.deploy.resources.limits.cpus"),
    free("services.*.deploy.resources.limits.memory"),
    free("services.*.deploy.resources.limits.pids"),
    free("services.*.deploy.resources.reservations"),
    free("services.*.deploy.resources.reservations.cpus"),
    grant(
        "services.*.deploy.resources.reservations.devices",
        RESERVED_DEVICES,
    ),
    free("services.*.deploy.resources.reservations.devices[].capabilities"),
    free("services.*.deploy.resources.reservations.devices[].count"),
    free("services.*.deploy.resources.reservations.devices[].device_ids"),
    free("services.*.deploy.resources.reservations.devices[].driver"),
    free("services.*.deploy.resources.reservations.devices[].options"),
    grant(
        "services.*.deploy.resources.reservations.generic_resources",
        GENERIC_RESOURCES,
    ),
    free("services.*.deploy.resources.reservations.generic_resources[].discrete_resource_spec"),
    free(
        "services.*.deploy.resources.reservations.generic_resources[].discrete_resource_spec.kind",
    ),
    free(
        "services.*.deploy.resources.reservations.generic_resources[].discrete_resource_spec.value",
    ),
    free("services.*.deploy.resources.reservations.memory"),
    free("services.*.deploy.restart_policy"),
    free("services.*.deploy.restart_policy.condition"),
    free("services.*.deploy.restart_policy.delay"),
    free("services.*.deploy.restart_policy.max_attempts"),
    free("services.*.deploy.restart_policy.window"),
    free("services.*.deploy.rollback_config"),
    free("services.*.deploy.rollback_config.delay"),
    free("services.*.deploy.rollback_config.failure_action"),
    free("services.*.deploy.rollback_config.max_failure_ratio"),
    free("services.*.deploy.rollback_config.monitor"),
    free("services.*.deploy.rollback_config.order"),
    free("services.*.deploy.rollback_config.parallelism"),
    free("services.*.deploy.update_config"),
    free("services.*.deploy.update_config.delay"),
    free("services.*.deploy.update_config.failure_action"),
    free("services.*.deploy.update_config.max_failure_ratio"),
    free("services.*.deploy.update_config.monitor"),
    free("services.*.deploy.update_config.order"),
    free("services.*.deploy.update_config.parallelism"),
    free("services.*.develop"),
    free("services.*.develop.watch"),
    free("services.*.develop.watch[].action"),
    free("services.*.develop.watch[].exec"),
    free("services.*.develop.watch[].exec.command"),
    free("services.*.develop.watch[].exec.environment"),
    grant(
        "services.*.develop.watch[].exec.privileged",
        HOOK_PRIVILEGED,
    ),
    free("services.*.develop.watch[].exec.user"),
    free("services.*.develop.watch[].exec.working_dir"),
    free("services.*.develop.watch[].ignore"),
    free("services.*.develop.watch[].include"),
    free("services.*.develop.watch[].initial_sync"),
    judged("services.*.develop.watch[].path", "files::check"),
    free("services.*.develop.watch[].target"),
    judged("services.*.device_cgroup_rules", "services::privileges"),
    judged("services.*.devices", "services::privileges"),
    free("services.*.devices[].permissions"),
    free("services.*.devices[].source"),
    free("services.*.devices[].target"),
    free("services.*.dns"),
    free("services.*.dns_opt"),
    free("services.*.dns_search"),
    free("services.*.domainname"),
    free("services.*.entrypoint"),
    judged("services.*.env_file", "files::check"),
    free("services.*.env_file[].format"),
    judged("services.*.env_file[].path", "files::check"),
    free("services.*.env_file[].required"),
    free("services.*.environment"),
    free("services.*.expose"),
    judged("services.*.extends", "tenant::check_references"),
    judged("services.*.extends.file", "tenant::check_references"),
    free("services.*.extends.service"),
    free("services.*.external_links"),
    free("services.*.extra_hosts"),
    grant("services.*.gpus", GPUS),
    free("services.*.gpus[].capabilities"),
    free("services.*.gpus[].count"),
    free("services.*.gpus[].device_ids"),
    free("services.*.gpus[].driver"),
    free("services.*.gpus[].options"),
    free("services.*.group_add"),
    free("services.*.healthcheck"),
    free("services.*.healthcheck.disable"),
    free("services.*.healthcheck.interval"),
    free("services.*.healthcheck.retries"),
    free("services.*.healthcheck.start_interval"),
    free("services.*.healthcheck.start_period"),
    free("services.*.healthcheck.test"),
    free("services.*.healthcheck.timeout"),
    free("services.*.hostname"),
    judged("services.*.image", "images::check"),
    free("services.*.init"),
    judged("services.*.ipc", "services::namespaces"),
    free("services.*.isolation"),
    judged("services.*.label_file", "files::check"),
    judged("services.*.labels", "services::check_labels"),
    free("services.*.links"),
    free("services.*.logging"),
    grant("services.*.logging.driver", LOG_DRIVER),
    judged("services.*.logging.options", "services::log_options"),
    judged("services.*.mac_address", "names::qualified"),
    free("services.*.mem_limit"),
    free("services.*.mem_reservation"),
    free("services.*.mem_swappiness"),
    free("services.*.memswap_limit"),
    free("services.*.models"),
    free("services.*.models.*.endpoint_var"),
    free("services.*.models.*.model_var"),
    judged("services.*.network_mode", "services::namespaces"),
    free("services.*.networks"),
    judged("services.*.networks.*.aliases", "names::qualified"),
    free("services.*.networks.*.driver_opts"),
    free("services.*.networks.*.gw_priority"),
    free("services.*.networks.*.interface_name"),
    judged(
        "services.*.networks.*.ipv4_address",
        "plan::subnets, names::qualified",
    ),
    judged(
        "services.*.networks.*.ipv6_address",
        "plan::subnets, names::qualified",
    ),
    judged("services.*.networks.*.link_local_ips", "names::qualified"),
    judged("services.*.networks.*.mac_address", "names::qualified"),
    free("services.*.networks.*.priority"),
    judged("services.*.oom_kill_disable", "services::host_resources"),
    judged("services.*.oom_score_adj", "services::host_resources"),
    judged("services.*.pid", "services::namespaces"),
    free("services.*.pids_limit"),
    free("services.*.platform"),
    judged("services.*.ports", "plan::ports, ports::privileged"),
    free("services.*.ports[].app_protocol"),
    free("services.*.ports[].host_ip"),
    free("services.*.ports[].mode"),
    free("services.*.ports[].name"),
    free("services.*.ports[].protocol"),
    free("services.*.ports[].published"),
    free("services.*.ports[].target"),
    free("services.*.post_start"),
    free("services.*.post_start[].command"),
    free("services.*.post_start[].environment"),
    grant("services.*.post_start[].privileged", HOOK_PRIVILEGED),
    free("services.*.post_start[].user"),
    free("services.*.post_start[].working_dir"),
    free("services.*.pre_stop"),
    free("services.*.pre_stop[].command"),
    free("services.*.pre_stop[].environment"),
    grant("services.*.pre_stop[].privileged", HOOK_PRIVILEGED),
    free("services.*.pre_stop[].user"),
    free("services.*.pre_stop[].working_dir"),
    judged("services.*.privileged", "services::check"),
    free("services.*.profiles"),
    grant("services.*.provider", PROVIDER),
    free("services.*.provider.options"),
    free("services.*.provider.type"),
    free("services.*.pull_policy"),
    free("services.*.pull_refresh_after"),
    free("services.*.read_only"),
    free("services.*.restart"),
    grant("services.*.runtime", RUNTIME),
    free("services.*.scale"),
    free("services.*.secrets"),
    free("services.*.secrets[].gid"),
    free("services.*.secrets[].mode"),
    free("services.*.secrets[].source"),
    free("services.*.secrets[].target"),
    free("services.*.secrets[].uid"),
    judged("services.*.security_opt", "services::privileges"),
    free("services.*.shm_size"),
    free("services.*.stdin_open"),
    free("services.*.stop_grace_period"),
    free("services.*.stop_signal"),
    free("services.*.storage_opt"),
    free("services.*.sysctls"),
    free("services.*.tmpfs"),
    free("services.*.tty"),
    judged("services.*.ulimits", "services::host_resources"),
    free("services.*.ulimits.*.hard"),
    free("services.*.ulimits.*.soft"),
    grant("services.*.use_api_socket", API_SOCKET),
    free("services.*.user"),
    judged("services.*.userns_mode", "services::namespaces"),
    judged("services.*.uts", "services::namespaces"),
    judged(
        "services.*.volumes",
        "services::socket, volumes::bind_sources, volumes::scoped",
    ),
    free("services.*.volumes[].bind"),
    free("services.*.volumes[].bind.create_host_path"),
    free("services.*.volumes[].bind.propagation"),
    free("services.*.volumes[].bind.recursive"),
    free("services.*.volumes[].bind.selinux"),
    free("services.*.volumes[].consistency"),
    free("services.*.volumes[].image"),
    free("services.*.volumes[].image.subpath"),
    free("services.*.volumes[].read_only"),
    judged(
        "services.*.volumes[].source",
        "services::socket, volumes::bind_sources, volumes::scoped, images::check",
    ),
    free("services.*.volumes[].target"),
    free("services.*.volumes[].tmpfs"),
    free("services.*.volumes[].tmpfs.mode"),
    free("services.*.volumes[].tmpfs.size"),
    judged("services.*.volumes[].type", "volumes::bind_sources"),
    free("services.*.volumes[].volume"),
    judged(
        "services.*.volumes[].volume.labels",
        "services::check_labels",
    ),
    free("services.*.volumes[].volume.nocopy"),
    free("services.*.volumes[].volume.subpath"),
    judged("services.*.volumes_from", "services::volumes_from"),
    free("services.*.working_dir"),
    free("networks.*.attachable"),
    judged("networks.*.driver", "networks::check"),
    judged("networks.*.driver_opts", "networks::check"),
    free("networks.*.enable_ipv4"),
    free("networks.*.enable_ipv6"),
    judged("networks.*.external", "networks::check"),
    judged("networks.*.external.name", "networks::check"),
    free("networks.*.internal"),
    free("networks.*.ipam"),
    free("networks.*.ipam.config"),
    free("networks.*.ipam.config[].aux_addresses"),
    judged("networks.*.ipam.config[].gateway", "plan::subnets"),
    judged("networks.*.ipam.config[].ip_range", "plan::subnets"),
    judged("networks.*.ipam.config[].subnet", "plan::subnets"),
    free("networks.*.ipam.driver"),
    free("networks.*.ipam.options"),
    judged("networks.*.labels", "services::check_labels"),
    judged("networks.*.name", "networks::check"),
    judged("volumes.*.driver", "volumes::scoped"),
    judged(
        "volumes.*.driver_opts",
        "services::volume_devices, volumes::scoped",
    ),
    judged("volumes.*.external", "volumes::scoped"),
    judged("volumes.*.external.name", "volumes::scoped"),
    judged("volumes.*.labels", "services::check_labels"),
    judged("volumes.*.name", "volumes::scoped"),
    free("secrets.*.driver"),
    free("secrets.*.driver_opts"),
    grant("secrets.*.environment", FROM_ENVIRONMENT),
    free("secrets.*.external"),
    free("secrets.*.external.name"),
    judged("secrets.*.file", "files::check"),
    free("secrets.*.labels"),
    free("secrets.*.name"),
    free("secrets.*.template_driver"),
    free("configs.*.content"),
    grant("configs.*.environment", FROM_ENVIRONMENT),
    free("configs.*.external"),
    free("configs.*.external.name"),
    judged("configs.*.file", "files::check"),
    free("configs.*.labels"),
    free("configs.*.name"),
    free("configs.*.template_driver"),
    free("models.*.context_size"),
    free("models.*.model"),
    free("models.*.name"),
    free("models.*.runtime_flags"),
];

/// Every key of the Compose specification, classified, in the order the docs print it.
pub fn key_table() -> &'static [Key] {
    TABLE
}

/// The table by path, and the patterns whose mappings hold classified keys.
struct Index {
    keys: BTreeMap<&'static str, &'static Key>,
    levels: BTreeSet<&'static str>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| Index {
        keys: TABLE.iter().map(|k| (k.path, k)).collect(),
        levels: TABLE
            .iter()
            .map(|k| k.path.rsplit_once('.').map_or("", |(parent, _)| parent))
            .collect(),
    })
}

/// Escapes for keys the table does not know and keys refused unless granted.
pub(super) fn check(doc: &Value, out: &mut Vec<Escape>) {
    if let Value::Mapping(top) = untag(doc) {
        level(top, "", &mut Vec::new(), out);
    }
}

/// A mapping whose keys the table classifies: each is known, an allowed `x-` key, or
/// refused; known ones are read for grants and walked into.
fn level(m: &Mapping, pattern: &str, at: &mut Vec<Part>, out: &mut Vec<Escape>) {
    for (k, v) in m {
        let name = scalar_string(k).unwrap_or_else(|| k.kind().to_owned());
        at.push(Part::Key(name.clone()));
        // A key with the table's own punctuation (`build.context` as one key) would
        // otherwise read as a known path.
        let plain = !name.contains(['.', '*', '[', ']']);
        let path = join(pattern, &name);
        match index().keys.get(path.as_str()).filter(|_| plain) {
            Some(key) => {
                if let Class::Grant(g) = key.class {
                    g.judge(v, at, out);
                }
                descend(v, key.path, at, out);
            }
            None if name.starts_with("x-") && !NO_EXTENSIONS.contains(&pattern) => {}
            None => out.push(unknown(at, &name)),
        }
        at.pop();
    }
}

/// Into a known key's value: a mapping of names (`services`), a mapping of keys
/// (`build`), a list of items (`volumes`); anything else is a value, not keys.
fn descend(v: &Value, pattern: &str, at: &mut Vec<Part>, out: &mut Vec<Escape>) {
    let levels = &index().levels;
    match untag(v) {
        Value::Mapping(m) => {
            let named = format!("{pattern}.*");
            if levels.contains(named.as_str()) {
                for (k, v) in m {
                    at.push(Part::Key(scalar_string(k).unwrap_or_default()));
                    descend(v, &named, at, out);
                    at.pop();
                }
            } else if levels.contains(pattern) {
                level(m, pattern, at, out);
            }
        }
        Value::Sequence(items) => {
            let item = format!("{pattern}[]");
            if levels.contains(item.as_str()) {
                for (i, v) in items.iter().enumerate() {
                    at.push(Part::Index(i));
                    descend(v, &item, at, out);
                    at.pop();
                }
            }
        }
        _ => {}
    }
}

fn join(pattern: &str, key: &str) -> String {
    if pattern.is_empty() {
        key.to_owned()
    } else {
        format!("{pattern}.{key}")
    }
}

/// `service api`, `network front`, … for what lives under a named entry; `top level`
/// for the rest of the file.
fn subject(at: &[Part]) -> String {
    let singular = |section: &str| match section {
        "services" => Some("service"),
        "networks" => Some("network"),
        "volumes" => Some("volume"),
        "secrets" => Some("secret"),
        "configs" => Some("config"),
        "models" => Some("model"),
        _ => None,
    };
    match at {
        [Part::Key(section), Part::Key(name), ..] if singular(section).is_some() => {
            format!("{} {name}", singular(section).unwrap_or_default())
        }
        [Part::Key(first), ..] if first == "include" => "include".to_owned(),
        _ => "top level".to_owned(),
    }
}

fn unknown(at: &[Part], name: &str) -> Escape {
    Escape::new(
        Kind::UnknownKey,
        subject(at),
        at.to_vec(),
        format!("`{name}` is not a key tenant mode knows, and it refuses every key it does not know: a newer Compose may give it any meaning, one that reaches past the fence (`netfence tenant keys` lists the keys it knows)"),
        None,
    )
}

/// Whether a value is there at all: not null, not false (as Compose reads a boolean),
/// not empty.
fn present(v: &Value) -> bool {
    match untag(v) {
        Value::Scalar(s) => match s.resolve() {
            Resolved::Null | Resolved::Bool(false) => false,
            Resolved::Str(t) => {
                !t.is_empty()
                    && !["n", "no", "false", "off"]
                        .iter()
                        .any(|f| t.eq_ignore_ascii_case(f))
            }
            _ => true,
        },
        Value::Sequence(items) => !items.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::Tagged(t) => present(&t.value),
    }
}

/// The value as the file wrote it, for a message: `runtime: runsc`, or the key alone.
fn shown(at: &[Part], v: &Value) -> String {
    let key = match at.last() {
        Some(Part::Key(k)) => k.clone(),
        _ => super::dotted(at),
    };
    match scalar_string(v) {
        Some(s) => format!("`{key}: {s}`"),
        None => format!("`{key}`"),
    }
}

impl Grant {
    /// The escapes this key's value is, if any.
    fn judge(&self, v: &Value, at: &[Part], out: &mut Vec<Escape>) {
        let mut push = |kind: Kind, at: Vec<Part>, why: String, item: Option<String>| {
            out.push(Escape::new(kind, subject(&at), at, why, item));
        };
        let why = format!("{} {}", shown(at, v), self.why);
        match self.read {
            _ if !present(v) => {}
            Read::Present => push(self.kind, at.to_vec(), why, None),
            Read::Named => push(self.kind, at.to_vec(), why, scalar_string(v)),
            Read::Field(f) => {
                let item = untag(v).get(f).and_then(scalar_string);
                push(self.kind, at.to_vec(), why, item);
            }
            Read::EachEntry(item) => each_entry(self, v, at, &mut push, item),
            Read::Reservation => reservation(self, v, at, &mut push),
            Read::LogDriver => {
                let driver = scalar_string(v).unwrap_or_default().to_ascii_lowercase();
                if !LOCAL_LOG_DRIVERS.contains(&driver.as_str()) {
                    push(self.kind, at.to_vec(), why, None);
                }
            }
        }
    }

    /// The `tenant.allow` keys that grant it.
    pub fn grant_keys(&self) -> Vec<&'static str> {
        let kinds: &[Kind] = match self.read {
            Read::Reservation => &[Kind::Gpu, Kind::Device],
            _ => std::slice::from_ref(&self.kind),
        };
        kinds.iter().filter_map(|k| k.grant_key()).collect()
    }
}

type Push<'a> = dyn FnMut(Kind, Vec<Part>, String, Option<String>) + 'a;

fn each_entry(g: &Grant, v: &Value, at: &[Part], push: &mut Push<'_>, item: &str) {
    for (k, _) in untag(v).as_mapping().into_iter().flatten() {
        let name = scalar_string(k).unwrap_or_default();
        let mut here = at.to_vec();
        here.push(Part::Key(name.clone()));
        push(
            g.kind,
            here,
            format!("`{name}` {}", g.why),
            Some(item.to_owned()),
        );
    }
}

/// A reservation with the `gpu` capability or NVIDIA's driver is a GPU; any other
/// device is a device of the host all the same.
fn reservation(g: &Grant, v: &Value, at: &[Part], push: &mut Push<'_>) {
    let Value::Sequence(items) = untag(v) else {
        return push(g.kind, at.to_vec(), g.why.to_owned(), None);
    };
    for (i, d) in items.iter().enumerate() {
        let (kind, what) = if is_gpu(untag(d)) {
            (Kind::Gpu, "the host's GPUs")
        } else {
            (Kind::Device, "devices of the host")
        };
        let mut here = at.to_vec();
        here.push(Part::Index(i));
        push(
            kind,
            here,
            format!("the reservation gives the container {what}, shared by every project"),
            None,
        );
    }
}

fn is_gpu(device: &Value) -> bool {
    let nvidia = device
        .get("driver")
        .and_then(scalar_string)
        .is_some_and(|d| d.eq_ignore_ascii_case("nvidia"));
    let caps = match device.get("capabilities").map(untag) {
        Some(Value::Sequence(caps)) => caps.iter().filter_map(scalar_string).collect(),
        _ => Vec::new(),
    };
    nvidia || caps.iter().any(|c| c.eq_ignore_ascii_case("gpu"))
}

/// How `netfence tenant keys` prints the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    Text,
    Json,
    Markdown,
}

impl Class {
    pub fn name(&self) -> &'static str {
        match self {
            Class::Free => "free",
            Class::Judged(_) => "judged",
            Class::Grant(_) => "grant",
        }
    }

    /// The rules that judge the key, or the policy keys that grant it.
    pub fn detail(&self) -> String {
        match self {
            Class::Free => String::new(),
            Class::Judged(rules) => (*rules).to_owned(),
            Class::Grant(g) => g
                .grant_keys()
                .iter()
                .map(|k| format!("tenant.allow.{k}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

const PREAMBLE: &str = "\
In tenant mode every key of a compose file is free, judged by the rule named, or refused
unless the platform's policy grants it under `tenant.allow`. A key this table does not
know is refused, naming it; no policy key allows it. `*` is any name, `[]` any item of a
list; `x-` keys are free wherever Compose allows them.";

/// The table as `netfence tenant keys --format …` prints it.
pub fn render_key_table(format: KeyFormat) -> String {
    match format {
        KeyFormat::Text => text(),
        KeyFormat::Json => json(),
        KeyFormat::Markdown => markdown(),
    }
}

fn text() -> String {
    let width = TABLE.iter().map(|k| k.path.len()).max().unwrap_or(0);
    let mut out = format!(
        "{PREAMBLE}\n\n{:width$}  {:6}  RULE OR GRANT\n",
        "KEY", "CLASS"
    );
    for k in TABLE {
        let line = format!(
            "{:width$}  {:6}  {}",
            k.path,
            k.class.name(),
            k.class.detail()
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn json() -> String {
    let rows: Vec<serde_json::Value> = TABLE
        .iter()
        .map(|k| {
            let mut row = serde_json::json!({"key": k.path, "class": k.class.name()});
            match k.class {
                Class::Free => {}
                Class::Judged(rules) => row["rules"] = rules.split(", ").collect(),
                Class::Grant(g) => {
                    row["kind"] = serde_json::json!(g.kind);
                    row["grants"] = g
                        .grant_keys()
                        .iter()
                        .map(|k| format!("tenant.allow.{k}"))
                        .collect();
                }
            }
            row
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
}

/// docs/TENANT.md: one table per section of the file.
fn markdown() -> String {
    let mut out = format!(
        "# Tenant mode: the keys of a compose file\n\n<!-- Generated by `netfence tenant keys --format markdown > docs/TENANT.md` from src/tenant/keys.rs; edit the table there, not this file. -->\n\n{PREAMBLE}\n"
    );
    let mut current = "";
    for k in TABLE {
        let section = section(k.path);
        if section != current {
            current = section;
            out.push_str(&format!(
                "\n## {section}\n\n| Key | Class | Rule or grant |\n|---|---|---|\n"
            ));
        }
        let detail = k.class.detail();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            detail
                .split(", ")
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {detail} |\n",
            k.path,
            k.class.name()
        ));
    }
    out
}

fn section(path: &str) -> &'static str {
    match path.split_once('.').map(|(first, _)| first) {
        Some("services") => "Services",
        Some("networks") => "Networks",
        Some("volumes") => "Volumes",
        Some("secrets") => "Secrets",
        Some("configs") => "Configs",
        Some("models") => "Models",
        _ => "Top level",
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::policy::Policy;
    use crate::tenant::{escapes, refused, Context};

    fn doc(text: &str) -> Value {
        crate::yaml::from_str(text).unwrap()
    }

    fn found(text: &str, policy: &Policy) -> Vec<Escape> {
        escapes(&doc(text), policy, &Context::default())
    }

    fn unknown_keys(text: &str) -> Vec<String> {
        found(text, &Policy::default())
            .into_iter()
            .filter(|e| e.kind == Kind::UnknownKey)
            .map(|e| e.key)
            .collect()
    }

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The key paths of a Compose JSON schema, and the levels that allow no `x-` key.
    #[derive(Default)]
    struct Schema {
        paths: BTreeSet<String>,
        no_extensions: BTreeSet<String>,
    }

    impl Schema {
        fn read(schema: &serde_json::Value) -> Schema {
            let mut s = Schema::default();
            s.walk(schema, &schema["definitions"], "", 0);
            s
        }

        fn walk(
            &mut self,
            node: &serde_json::Value,
            defs: &serde_json::Value,
            at: &str,
            depth: u32,
        ) {
            assert!(
                depth < 40,
                "the schema nests deeper than any Compose key: {at}"
            );
            if let Some(r) = node["$ref"].as_str() {
                let name = r.rsplit('/').next().unwrap_or_default();
                return self.walk(&defs[name], defs, at, depth + 1);
            }
            for alt in ["oneOf", "anyOf", "allOf"] {
                for n in node[alt].as_array().into_iter().flatten() {
                    self.walk(n, defs, at, depth + 1);
                }
            }
            if node.get("items").is_some() {
                self.walk(&node["items"], defs, &format!("{at}[]"), depth + 1);
            }
            let patterns = node["patternProperties"].as_object();
            if let Some(props) = node["properties"].as_object() {
                let extensions = patterns.is_some_and(|p| p.contains_key("^x-"))
                    || node["additionalProperties"] != serde_json::Value::Bool(false);
                if !extensions {
                    self.no_extensions.insert(at.to_owned());
                }
                for (k, v) in props {
                    let path = join(at, k);
                    self.paths.insert(path.clone());
                    self.walk(v, defs, &path, depth + 1);
                }
            }
            // Named entries (`services`, `ulimits`); `.+` patterns are data maps.
            for (pattern, v) in patterns.into_iter().flatten() {
                if !matches!(pattern.as_str(), "^x-" | ".+" | "^.+$") {
                    self.walk(v, defs, &format!("{at}.*"), depth + 1);
                }
            }
        }
    }

    /// fixtures/compose-spec.json: the Compose specification's JSON schema, vendored from
    /// compose-spec/compose-spec (Apache-2.0, as netfence).
    fn vendored() -> serde_json::Value {
        let text = std::fs::read_to_string(root().join("fixtures/compose-spec.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_table_holds_every_key_of_the_compose_schema_and_no_other() {
        let schema = Schema::read(&vendored());
        let table: BTreeSet<String> = TABLE
            .iter()
            .map(|k| k.path.to_owned())
            .filter(|p| !p.starts_with("x-"))
            .collect();
        let missing: Vec<_> = schema.paths.difference(&table).collect();
        let extra: Vec<_> = table.difference(&schema.paths).collect();
        assert!(missing.is_empty(), "keys of fixtures/compose-spec.json that src/tenant/keys.rs does not classify (add each to TABLE: free, judged or grant): {missing:#?}");
        assert!(
            extra.is_empty(),
            "keys in TABLE that fixtures/compose-spec.json does not have: {extra:#?}"
        );
        let no_ext: BTreeSet<String> = NO_EXTENSIONS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            no_ext, schema.no_extensions,
            "NO_EXTENSIONS: the levels where Compose allows no `x-` key"
        );
    }

    #[test]
    fn the_shared_schema_is_the_vendored_one_when_it_is_there() {
        let shared = root().join("../shared/compose-spec.json");
        let Ok(text) = std::fs::read_to_string(&shared) else {
            eprintln!("SKIPPED: {} is not there; only the vendored fixtures/compose-spec.json was checked", shared.display());
            return;
        };
        let shared: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            shared == vendored(),
            "../shared/compose-spec.json differs from fixtures/compose-spec.json: copy it over, then run `cargo test --lib tenant::keys` and classify in src/tenant/keys.rs every key it names"
        );
    }

    #[test]
    fn unknown_keys_are_refused_by_path_and_x_keys_are_not() {
        let keys = unknown_keys(
            "x-foo: {anything: 1}\nnew_top: 1\nservices:\n  api:\n    image: x\n    new_thing: true\n    x-bar: 1\n    build: {context: ., new_build: 1, x-ok: 1}\n    build.context: .\n    blkio_config: {x-no: 1}\n    volumes: [{type: volume, source: v, target: /v, bogus: 1}]\n    networks: {front: {aliases: [a], new_attach: 1}}\nnetworks:\n  front: {x-baz: 1, ipam: {config: [{subnet: 10.0.0.0/24, new_pool: 1}]}}\nvolumes: {v: {}}\n",
        );
        assert_eq!(
            keys,
            [
                "new_top",
                "services.api.new_thing",
                "services.api.build.new_build",
                "services.api.build.context",
                "services.api.blkio_config.x-no",
                "services.api.volumes[0].bogus",
                "services.api.networks.front.new_attach",
                "networks.front.ipam.config[0].new_pool",
            ]
        );
        let e = found(
            "services:\n  api: {image: x, new_thing: 1}\n",
            &Policy::default(),
        );
        let said = e[0].describe();
        assert!(
            said.starts_with("service api: `services.api.new_thing`"),
            "{said}"
        );
        assert!(
            said.contains("a newer Compose may give it any meaning"),
            "{said}"
        );
        assert!(said.ends_with("no policy key allows it"), "{said}");
        assert_eq!(e[0].grant, None);
    }

    /// (compose file, grant under `tenant.allow`, the kind refused, where).
    const GRANTED: &[(&str, &str, Kind, &str)] = &[
        ("services: {a: {image: x, use_api_socket: true}}", "docker_socket: true", Kind::DockerSocket, "services.a.use_api_socket"),
        ("services: {a: {provider: {type: awesomecloud, options: {size: 1}}}}", "providers: [awesomecloud]", Kind::Provider, "services.a.provider"),
        ("services: {a: {image: x, post_start: [{command: id, privileged: true}]}}", "privileged: true", Kind::Privileged, "services.a.post_start[0].privileged"),
        ("services: {a: {image: x, pre_stop: [{command: id, privileged: 'yes'}]}}", "privileged: true", Kind::Privileged, "services.a.pre_stop[0].privileged"),
        ("services: {a: {image: x, develop: {watch: [{path: src, action: sync+exec, target: /app, exec: {command: id, privileged: true}}]}}}", "privileged: true", Kind::Privileged, "services.a.develop.watch[0].exec.privileged"),
        ("services: {a: {image: x, gpus: all}}", "gpus: true", Kind::Gpu, "services.a.gpus"),
        ("services: {a: {image: x, deploy: {resources: {reservations: {devices: [{capabilities: [gpu], count: 1}]}}}}}", "gpus: true", Kind::Gpu, "services.a.deploy.resources.reservations.devices[0]"),
        ("services: {a: {image: x, deploy: {resources: {reservations: {devices: [{driver: nvidia, count: all, capabilities: [compute]}]}}}}}", "gpus: true", Kind::Gpu, "services.a.deploy.resources.reservations.devices[0]"),
        ("services: {a: {image: x, deploy: {resources: {reservations: {devices: [{driver: cdi, device_ids: ['vendor.com/fpga=0'], capabilities: [fpga]}]}}}}}", "devices: true", Kind::Device, "services.a.deploy.resources.reservations.devices[0]"),
        ("services: {a: {image: x, deploy: {resources: {reservations: {generic_resources: [{discrete_resource_spec: {kind: gpu, value: 1}}]}}}}}", "devices: true", Kind::Device, "services.a.deploy.resources.reservations.generic_resources"),
        ("services: {a: {image: x, runtime: runsc}}", "runtime: [runsc]", Kind::Runtime, "services.a.runtime"),
        ("services: {a: {image: x, cgroup_parent: /system.slice}}", "host_namespaces: true", Kind::HostNamespace, "services.a.cgroup_parent"),
        ("services: {a: {image: x, logging: {driver: gelf, options: {gelf-address: 'udp://10.0.0.1:12201'}}}}", "host_network: true", Kind::HostNetwork, "services.a.logging.driver"),
        ("services: {a: {image: x, models: [llm]}}\nmodels: {llm: {model: ai/smollm2, runtime_flags: [--verbose]}}", "providers: [model]", Kind::Provider, "models.llm"),
        ("services: {a: {image: x, secrets: [s]}}\nsecrets: {s: {environment: DEPLOY_TOKEN}}", "interpolation: true", Kind::Interpolated, "secrets.s.environment"),
        ("services: {a: {image: x, configs: [c]}}\nconfigs: {c: {environment: DEPLOY_TOKEN}}", "interpolation: true", Kind::Interpolated, "configs.c.environment"),
    ];

    fn granting(grant: &str) -> Policy {
        let text = format!("tenant:\n  allow: {{{grant}}}\n");
        Policy::from_text(&crate::Source::File("p.yml".into()), &text).unwrap()
    }

    #[test]
    fn a_secret_from_a_variable_the_platform_hands_its_tenants_is_accepted() {
        let text = "services: {a: {image: x, secrets: [s]}}\nsecrets: {s: {environment: DEPLOY_TOKEN}}\nconfigs: {c: {environment: OTHER}}";
        let policy = Policy::from_text(
            &crate::Source::File("p.yml".into()),
            "tenant:\n  environment: [DEPLOY_*]\n",
        )
        .unwrap();
        let e = found(text, &policy);
        let judged: Vec<(&str, bool)> = e
            .iter()
            .filter(|e| e.kind == Kind::Interpolated)
            .map(|e| (e.key.as_str(), e.granted))
            .collect();
        assert_eq!(
            judged,
            [
                ("secrets.s.environment", true),
                ("configs.c.environment", false)
            ]
        );
    }

    #[test]
    fn each_granted_key_is_refused_without_its_grant_and_accepted_with_it() {
        for (compose, grant, kind, key) in GRANTED {
            let e = found(compose, &Policy::default());
            let here: Vec<&Escape> = e.iter().filter(|e| e.key == *key).collect();
            assert_eq!(here.len(), 1, "{compose}: {e:#?}");
            assert_eq!((here[0].kind, here[0].granted), (*kind, false), "{compose}");
            let policy_text = here[0].grant.clone().unwrap_or_default();
            assert!(
                policy_text.starts_with(&format!(
                    "tenant.allow.{}",
                    grant.split(':').next().unwrap()
                )),
                "{compose}: {policy_text}"
            );
            let e = found(compose, &granting(grant));
            assert!(
                refused(&e).is_empty(),
                "{compose} with {grant}: {:#?}",
                refused(&e)
            );
        }
    }

    #[test]
    fn a_granted_key_that_asks_for_nothing_is_no_escape() {
        let e = found(
            "services:\n  a:\n    image: x\n    use_api_socket: false\n    gpus: []\n    runtime: null\n    cgroup_parent: ''\n    logging: {driver: json-file, options: {max-size: 10m}}\n    post_start: [{command: id, privileged: false}]\n    build: {context: ., network: none, privileged: 'off', entitlements: []}\n    deploy: {resources: {reservations: {devices: []}}}\n  b: {image: y, logging: {driver: local}}\n",
            &Policy::default(),
        );
        assert_eq!(e, vec![]);
    }

    #[test]
    fn data_maps_are_values_however_their_keys_look() {
        let e = found(
            "services:\n  a:\n    image: x\n    environment: {new_thing: 1, x-y: 2, privileged: 'true', use_api_socket: 'true', a.b: c, '*': 1}\n    labels: {gpus: all, runtime: runsc, provider: x}\n    annotations: {cgroup_parent: /}\n    sysctls: {net.core.somaxconn: 1024}\n    extra_hosts: {somehost: 10.0.0.1}\n    storage_opt: {size: 1G}\n    logging: {driver: json-file, options: {tag: x}}\n    build: {context: ., args: {privileged: 'true', x.y: 1}, labels: {gpus: all}}\n    networks: {front: {driver_opts: {anything.at.all: 1}}}\n    deploy: {labels: {some.label: 1}}\n    healthcheck: {test: [CMD, 'true']}\nnetworks:\n  front: {driver_opts: {com.example.thing: 1}, ipam: {options: {foo: bar}, config: [{subnet: 10.1.0.0/24, aux_addresses: {host1: 10.1.0.5}}]}}\n",
            &Policy::default(),
        );
        assert_eq!(e, vec![]);
    }

    #[test]
    fn what_compose_config_writes_in_json_is_known() {
        let e = found(
            r#"{"name": "shop", "services": {"web": {"command": null, "entrypoint": null, "image": "nginx",
              "networks": {"default": null}, "ports": [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}],
              "volumes": [{"type": "bind", "source": "/srv/shop/html", "target": "/usr/share/nginx/html", "bind": {"create_host_path": true}},
                          {"type": "volume", "source": "data", "target": "/data", "volume": {}}],
              "depends_on": {"db": {"condition": "service_started", "required": true, "restart": true}},
              "env_file": [{"path": "/srv/shop/.env", "required": true}],
              "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
              "healthcheck": {"test": ["CMD", "true"], "interval": "30s"}},
              "db": {"command": ["postgres"], "entrypoint": null, "image": "postgres", "networks": {"default": null}}},
              "networks": {"default": {"name": "shop_default", "ipam": {}}},
              "volumes": {"data": {"name": "shop_data"}}, "x-netfence": {"fenced": {}}}"#,
            &Policy::default(),
        );
        assert!(e.iter().all(|e| e.kind != Kind::UnknownKey), "{e:#?}");
    }

    #[test]
    fn the_docs_are_generated_from_the_table() {
        let committed = std::fs::read_to_string(root().join("docs/TENANT.md")).unwrap_or_default();
        assert!(
            committed == render_key_table(KeyFormat::Markdown),
            "docs/TENANT.md is not what the table in src/tenant/keys.rs says: regenerate it with `cargo run -- tenant keys --format markdown > docs/TENANT.md`"
        );
    }

    #[test]
    fn every_grant_names_a_policy_key() {
        for k in TABLE {
            if let Class::Grant(g) = k.class {
                assert!(!g.grant_keys().is_empty(), "{}", k.path);
            }
        }
    }
}
