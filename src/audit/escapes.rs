//! Audit rules for the ways out of a fence, NF017–NF032 and NF034: the escapes
//! tenant mode refuses, reported in any mode. `network_mode: host` is NF013's.

use super::lines::{key, Seg};
use super::rules::{Draft, Rule};
use super::Severity;
use crate::plan::{Options, Plan};
use crate::tenant::{self, Context, Escape, Kind, Part};
use crate::Project;

macro_rules! rule {
    ($id:ident, $name:literal, $severity:ident, $summary:literal, $description:literal, $fix:literal) => {
        pub const $id: Rule = Rule {
            id: stringify!($id),
            name: $name,
            severity: Severity::$severity,
            summary: $summary,
            description: $description,
            fix: $fix,
            rewrite: "No: in tenant mode (env scope by default) rewrite refuses the file instead; a platform's policy can grant it under `tenant.allow` where a key is named.",
        };
    };
}

rule!(NF017, "foreign-network", Error,
    "An external network that is another scope's or another project's",
    "The file joins a network netfence made for another environment, run or project (known by its labels on the engine, or by the policy's naming templates): its containers reach what that fence keeps in.",
    "Remove the network; reach other projects through a `shared:` network of the policy or the environment network, as `<service>.<project>`.");
rule!(NF018, "foreign-namespace", Error,
    "A service joins the namespace of a container outside the project",
    "`network_mode`, `pid` or `ipc` set to `container:X` or `service:X` of another project shares that container's network stack (or processes): its localhost is the other container's.",
    "Use networks instead; share namespaces only between services of the same file.");
rule!(NF019, "own-labels", Error,
    "The file sets netfence's own `io.netfence.*` labels",
    "Those labels say who owns an object: `down`, `gc` and `verify` act on them. A file that sets them can make another scope's clean-up take its containers, or hide its own.",
    "Remove every `io.netfence.*` label: netfence sets them.");
rule!(NF020, "forged-record", Error,
    "The file carries a fencing record of another project or scope",
    "netfence's output records the project and scope it was made for; re-fencing it into another would let the file pick whose stack it replaces.",
    "Fence the original file, not another deploy's output.");
rule!(NF021, "privileged", Warning,
    "A service runs privileged",
    "A privileged container holds every capability and the host's devices: it can change the host's network configuration and leave its own namespace. Its pieces count too: host `devices`, `device_cgroup_rules`, any `security_opt` but `no-new-privileges`, a privileged or `security.insecure` build.",
    "Drop `privileged`; add only the capabilities the service needs.");
rule!(NF022, "docker-socket", Error,
    "A service mounts the Docker socket (or a directory that holds it)",
    "Whoever reaches the Docker API commands the engine: it can start containers on any network, privileged, with the host's file system — no fence holds.",
    "Remove the bind mount; a reverse proxy that needs the API should be the platform's, not a tenant's.");
rule!(NF023, "host-namespace", Warning,
    "A service shares a host namespace (pid, ipc, uts or userns_mode: host)",
    "The container sees and can signal the host's processes (pid), reach its shared memory (ipc), or runs without user-namespace remapping.",
    "Remove the setting.");
rule!(NF024, "capability", Warning,
    "A service adds a capability beyond Docker's defaults",
    "NET_ADMIN rewrites the container's routes and firewall; SYS_ADMIN and ALL come close to privileged.",
    "Remove `cap_add` entries the service does not need.");
rule!(NF025, "network-driver", Warning,
    "A network uses a driver that reaches past a bridge (macvlan, ipvlan, host, a plugin), or bridge options that change how it meets the host",
    "macvlan and ipvlan put containers directly on the host's LAN; no bridge netfence fences stands in between. Bridge options such as `com.docker.network.bridge.name` or a `gateway_mode_ipv4` of `routed`/`nat-unprotected` change the bridge netfence fences.",
    "Use the bridge driver (overlay under Swarm).");
rule!(NF026, "external-network", Note,
    "A service joins an external network the policy does not assign",
    "Every container on an external network can reach every other one on it, across projects: it is a way around the project's own fence.",
    "Join only the networks the policy assigns (proxy, shared, environment), or have the platform grant the network under `tenant.allow.external_networks`.");
rule!(NF027, "outside-file", Error,
    "The file makes Compose read a file outside the project's directory",
    "`include:` (and its `env_file`), `extends.file`, `env_file`, `label_file`, a secret's or config's `file`, `develop.watch` paths and build contexts are read by Compose or the build from the host: another tenant's compose file deploys its services and secrets as this one's, `/proc/self/environ` is the deploying process's environment, `/etc` copied into an image is the host's. Symbolic links are followed to where they lead. A build given the deploying user's SSH agent (`build.ssh`) counts too.",
    "Keep every file the project reads inside the project's directory; no `build.ssh`.");

rule!(NF028, "interpolated-escape", Note,
    "A setting that reaches past the fence is filled in by `${VAR}` at deploy",
    "`network_mode`, `privileged`, a namespace, `cap_add`, `devices`, `security_opt`, a volume's source, `volumes_from`, a network's `external`, `driver` or `name`, or a local volume's bind device written with a variable becomes what the deploy's environment (and the project's `.env`) says: `${MODE:-host}` is the host's network for whoever sets MODE, or nobody. What the file says cannot be judged before then.",
    "Write the value itself; or, where the platform alone sets the variables, grant `tenant.allow.interpolation` (netfence then judges the values it can know).");

rule!(NF029, "foreign-volume", Error,
    "A volume that can be another project's, or a plugin's",
    "An external volume, or a named volume with a fixed `name:`, mounts whatever volume of that name the engine holds: another project's database files, say. Volumes a project declares are scoped to it by Compose only when they have no fixed name. A volume driver other than `local` is a plugin whose options can mount any host path or remote share.",
    "Drop the volume's `name:` (Compose then scopes it to the project); mount an external volume, or use a volume plugin, only where the platform grants it under `tenant.allow.external_volumes` or `tenant.allow.volume_drivers`.");
rule!(NF030, "unjudged-key", Error,
    "A key or YAML tag tenant mode cannot judge",
    "Tenant mode judges a file by a table of every Compose key; a key the table does not know may mean anything in a newer Compose (`use_api_socket` binds the engine's socket, `provider` runs a program on the host). A YAML tag such as `!!binary` hides a value from every reader that does not decode it as Compose does.",
    "Remove the key or write the value without the tag; `netfence tenant keys` lists every key and what allows it.");
rule!(NF031, "qualified-name", Error,
    "A service name or alias shaped like another project's qualified name",
    "On an environment, shared or proxy network other projects reach a service as `<service>.<project>`; a service called `db.blog` in another project answers for blog's database.",
    "Name services without dots; reach others as `<service>.<project>`.");
rule!(NF032, "host-program", Error,
    "A service runs a program on the deploying host (`provider`)",
    "Compose runs a provider's `type` as a program on the machine that deploys, as the deploying user: outside every container and every fence.",
    "Remove `provider`, or have the platform grant its type under `tenant.allow.providers`.");
rule!(NF034, "proxy-route", Error,
    "A proxy router sends traffic to a service its container's labels do not define",
    "A Traefik router's `service` label with a provider (`name@docker`, `api@internal`, `name@file`) names a service defined elsewhere: `@docker` is another project's container, so the tenant's public route reaches into it; `@internal` is the proxy's own API and dashboard.",
    "Route to a service the container's own labels define (no `@`), or have the platform grant it under `tenant.allow.proxy_services`.");

fn rule_of(kind: Kind) -> Option<&'static Rule> {
    Some(match kind {
        Kind::ForeignNetwork => &NF017,
        Kind::ForeignNamespace => &NF018,
        Kind::OwnLabels => &NF019,
        Kind::ForgedRecord => &NF020,
        Kind::Privileged => &NF021,
        Kind::DockerSocket => &NF022,
        Kind::HostNamespace => &NF023,
        Kind::Capability => &NF024,
        Kind::NetworkDriver => &NF025,
        Kind::VolumeDriver => &NF029,
        Kind::ImageName => &NF029,
        Kind::ProxyRoute => &NF034,
        // NF004's (fixed host ports).
        Kind::HostPort => return None,
        // A proxy name is another project's only on a proxy projects share: a tenant's
        // concern, which tenant mode refuses; in a stack of one's own it is free.
        Kind::ProxyName => return None,
        Kind::ExternalNetwork => &NF026,
        Kind::OutsideFile => &NF027,
        Kind::Interpolated => &NF028,
        Kind::HostPath => &NF027,
        Kind::Device | Kind::Gpu | Kind::Runtime | Kind::HostResources => &NF021,
        Kind::ExternalVolume | Kind::ForeignVolume => &NF029,
        Kind::UnknownKey | Kind::Tag => &NF030,
        Kind::QualifiedName => &NF031,
        Kind::Provider => &NF032,
        // NF013's; and a `.env` setting is not in the compose file a finding points into.
        Kind::HostNetwork | Kind::ComposeSetting => return None,
    })
}

/// The escapes of the project's input, as audit findings.
pub(crate) fn check(project: &Project, plan: &Plan, opts: &Options) -> Vec<Draft> {
    let patterns = tenant::foreign_patterns(&project.policy.policy);
    let platform_project = opts
        .project
        .as_deref()
        .or_else(|| opts.environ.get("COMPOSE_PROJECT_NAME").map(String::as_str));
    let ctx = Context {
        scope: Some(&plan.scope),
        project: platform_project,
        project_name: Some(&plan.project_name),
        assigned: crate::plan::assigned_names(&plan.networks),
        known: &[],
        foreign_patterns: patterns,
        environ: Some(&opts.environ),
        project_dir: Some(&project.input.project_dir),
        record: project.record.as_ref(),
        references: &project.input.references,
        host: project.input.host.get(),
    };
    tenant::escapes(&project.unfenced, &project.policy.policy, &ctx)
        .into_iter()
        .filter_map(draft)
        .collect()
}

fn draft(e: Escape) -> Option<Draft> {
    let rule = rule_of(e.kind)?;
    let path: Vec<Seg> = e
        .path
        .iter()
        .map(|p| match p {
            Part::Key(k) => key(k),
            Part::Index(i) => Seg::Index(*i),
        })
        .collect();
    let fix = e.grant.as_ref().map(|g| {
        format!(
            "{} On a shared platform, its policy can allow it with `{g}`.",
            rule.fix
        )
    });
    Some(Draft {
        rule,
        severity: None,
        path,
        subject: e.subject,
        message: format!("`{}`: {}", e.key, e.why),
        fix,
        key: format!("{}|{}", rule.id, e.key),
    })
}
