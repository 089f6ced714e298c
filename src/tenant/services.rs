//! Escapes through services: the host's or another project's namespaces, privileges,
//! the Docker socket, capabilities; and `io.netfence.*` labels a file writes itself.

use std::collections::BTreeSet;

use crate::yaml::{Mapping, Value};

use super::{host_paths, Context, Escape, Kind};
use crate::compose;
use crate::yaml::{is_truthy, scalar_string, untag};

/// The capabilities Docker gives every container (moby's default set).
const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// A capability as Docker reads it: upper-case, without `CAP_`.
pub(super) fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_owned()
}

pub(super) fn check(doc: &Value, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let services = compose::services_ref(doc);
    let names: BTreeSet<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
    let own = Own { services: &names };
    for (name, svc) in &services {
        namespaces(name, svc, &own, out);
        if svc.get("privileged").is_some_and(is_truthy) {
            out.push(Escape::new(
                Kind::Privileged,
                format!("service {name}"),
                super::path(&["services", name, "privileged"], None),
                "a privileged container can reconfigure the host's network and leave its namespace",
                None,
            ));
        }
        capabilities(name, svc, out);
        privileges(name, svc, out);
        volumes_from(name, svc, &own, out);
        socket(name, svc, ctx, out);
        log_options(name, svc, out);
        host_resources(name, svc, out);
    }
}

/// What turns the host's OOM killer or scheduler against the other projects: a
/// container the killer spares (so it kills theirs first), or one that runs real-time
/// (a busy loop at SCHED_FIFO starves every other on its CPU).
fn host_resources(name: &str, svc: &Mapping, out: &mut Vec<Escape>) {
    let number = |v: &Value| scalar_string(v).and_then(|s| s.trim().parse::<i64>().ok());
    let mut found: Vec<(Vec<&str>, String)> = Vec::new();
    if svc.get("oom_kill_disable").is_some_and(is_truthy) {
        found.push((
            vec!["oom_kill_disable"],
            "the OOM killer never takes it".into(),
        ));
    }
    if let Some(adj) = svc.get("oom_score_adj").and_then(number).filter(|a| *a < 0) {
        found.push((
            vec!["oom_score_adj"],
            format!("`oom_score_adj: {adj}` makes the OOM killer take others first"),
        ));
    }
    for key in ["cpu_rt_runtime", "cpu_rt_period"] {
        if svc.get(key).and_then(number).is_some_and(|v| v != 0) {
            found.push((vec![key], "real-time CPU time".into()));
        }
    }
    // The engine upper-cases the name (`RLIMIT_` + name): `RTPRIO` is `rtprio`.
    let rtprio = svc
        .get("ulimits")
        .map(untag)
        .and_then(Value::as_mapping)
        .and_then(|u| {
            u.iter().find(|(k, _)| {
                scalar_string(k).is_some_and(|k| k.trim().eq_ignore_ascii_case("rtprio"))
            })
        })
        .map(|(_, v)| untag(v));
    let limits = match rtprio {
        Some(Value::Mapping(m)) => m.values().filter_map(number).collect(),
        Some(v) => number(v).into_iter().collect(),
        None => Vec::new(),
    };
    if limits.iter().any(|l| *l != 0) {
        found.push((
            vec!["ulimits", "rtprio"],
            "real-time priority for any process in it".into(),
        ));
    }
    for (keys, what) in found {
        let mut at = super::path(&["services", name], None);
        at.extend(super::path(&keys, None));
        out.push(Escape::new(
            Kind::HostResources,
            format!("service {name}"),
            at,
            format!("{what}: the host's OOM killer and scheduler serve every project, and this turns them against the others"),
            None,
        ));
    }
}

/// The options of the log drivers that keep logs on the host (`json-file`, `local`,
/// `journald`).
const LOCAL_LOG_OPTIONS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "mode",
    "max-buffer-size",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Log options with no driver named go to the engine's default driver, which may be one
/// that ships logs from the host (`syslog-address`, `gelf-address`: a connection from
/// outside every fence to wherever the file says). A driver named is judged by its own
/// grant; only the local drivers' options are free.
fn log_options(name: &str, svc: &Mapping, out: &mut Vec<Escape>) {
    let Some(logging) = svc.get("logging").map(untag).and_then(Value::as_mapping) else {
        return;
    };
    // An empty driver is none: the engine's default takes the options.
    let driver = logging
        .get("driver")
        .and_then(scalar_string)
        .filter(|d| !d.trim().is_empty());
    if driver.is_some_and(|d| !super::keys::is_local_log_driver(&d)) {
        return;
    }
    let Some(options) = logging
        .get("options")
        .map(untag)
        .and_then(Value::as_mapping)
    else {
        return;
    };
    for option in options.keys().filter_map(scalar_string) {
        if LOCAL_LOG_OPTIONS.contains(&option.as_str()) {
            continue;
        }
        let mut at = super::path(&["services", name, "logging", "options"], None);
        at.push(super::Part::Key(option.clone()));
        out.push(Escape::new(
            Kind::HostNetwork,
            format!("service {name}"),
            at,
            format!("log option `{option}` is no option of the drivers that keep logs on the host (json-file, local, journald): with no driver named it goes to the engine's default one, which may ship logs from the host's own network to wherever the option says"),
            None,
        ));
    }
}

/// What `privileged` is made of, asked for piece by piece: host devices (by path or by
/// cgroup rule), and the kernel's confinement changed (any `security_opt` but
/// `no-new-privileges`: a seccomp profile file or an SELinux type can unconfine too).
fn privileges(name: &str, svc: &Mapping, out: &mut Vec<Escape>) {
    let items = |field: &str| -> Vec<String> {
        match svc.get(field).map(untag) {
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|i| scalar_string(i).unwrap_or_else(|| i.kind().to_owned()))
                .collect(),
            Some(v) if !v.is_null() => vec![scalar_string(v).unwrap_or_default()],
            _ => Vec::new(),
        }
    };
    let pieces = [
        (
            "devices",
            "gives the container the host's hardware directly",
        ),
        (
            "device_cgroup_rules",
            "lets the container open host devices it creates (MKNOD is a default capability)",
        ),
        (
            "security_opt",
            "changes the kernel's confinement of the container",
        ),
    ];
    for (field, what) in pieces {
        for (i, item) in items(field).iter().enumerate() {
            let lower = item.to_ascii_lowercase();
            if field == "security_opt" && only_tightens(&lower) {
                continue;
            }
            let kind = if field == "security_opt" {
                Kind::Privileged
            } else {
                Kind::Device
            };
            out.push(Escape::new(
                kind,
                format!("service {name}"),
                super::path(&["services", name, field], Some(i)),
                format!("`{field}: {item}` {what} (part of what `privileged` gives)"),
                None,
            ));
        }
    }
}

/// `no-new-privileges` and Docker's own AppArmor profile only tighten what a container
/// may do; every other option (a seccomp file, an SELinux type, `label=disable`) can
/// loosen it.
fn only_tightens(opt: &str) -> bool {
    let opt: String = opt.chars().filter(|c| !c.is_whitespace()).collect();
    let profile = |sep: char| opt == format!("apparmor{sep}docker-default");
    // The engine reads the value with Go's `strconv.ParseBool`: only its true spellings
    // tighten; `f`, `F`, `0`, `False`... switch a daemon-wide default off.
    let no_new_privileges = match opt.strip_prefix("no-new-privileges") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix(['=', ':'])
            .is_some_and(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")),
        None => false,
    };
    no_new_privileges || profile('=') || profile(':')
}

/// `volumes_from: [container:X]` mounts every volume of a container outside the project.
fn volumes_from(name: &str, svc: &Mapping, own: &Own<'_>, out: &mut Vec<Escape>) {
    let Some(Value::Sequence(items)) = svc.get("volumes_from").map(untag) else {
        return;
    };
    for (i, item) in items.iter().filter_map(scalar_string).enumerate() {
        let source = item
            .rsplit_once(':')
            .filter(|(_, m)| matches!(*m, "ro" | "rw"));
        let source = source.map_or(item.as_str(), |(s, _)| s);
        if let Some(whose) = own.outside(source) {
            out.push(Escape::new(
                Kind::ForeignNamespace,
                format!("service {name}"),
                super::path(&["services", name, "volumes_from"], Some(i)),
                format!("`volumes_from: {item}` mounts the volumes of {whose}"),
                None,
            ));
        }
    }
}

/// What belongs to the project: its services. Never the container names it declares:
/// the rewrite strips them, so `container:X` lands on whatever container the engine
/// holds under that name — a decoy `container_name` would otherwise vouch for another
/// project's.
struct Own<'a> {
    services: &'a BTreeSet<&'a str>,
}

impl Own<'_> {
    /// `service:X` outside the project, or any `container:X`, described.
    fn outside(&self, mode: &str) -> Option<String> {
        if let Some(s) = mode.strip_prefix("service:") {
            return (!self.services.contains(s))
                .then(|| format!("service `{s}`, which is not one of this project's"));
        }
        if let Some(c) = mode.strip_prefix("container:") {
            return Some(format!(
                "container `{c}`: a container is whatever the engine holds under that name, never vouched for as this project's (use `service:NAME` for the project's own)"
            ));
        }
        None
    }
}

fn namespaces(name: &str, svc: &Mapping, own: &Own<'_>, out: &mut Vec<Escape>) {
    let subject = format!("service {name}");
    for field in ["network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup"] {
        let Some(mode) = svc.get(field).and_then(scalar_string) else {
            continue;
        };
        let key = super::path(&["services", name, field], None);
        let (kind, why, item) = if mode == "host" && field == "network_mode" {
            (Kind::HostNetwork, "the container uses the host's network stack: every port and interface of the host, no fence at all".to_owned(), None)
        } else if mode == "host" {
            (
                Kind::HostNamespace,
                format!("`{field}: host` shares the host's {field} namespace with the container"),
                None,
            )
        } else if field == "network_mode" && matches!(mode.as_str(), "bridge" | "default") {
            (Kind::ExternalNetwork, format!("`network_mode: {mode}` puts the container on Docker's default bridge, shared by every unfenced container of the host"), Some("bridge".to_owned()))
        } else if let Some(whose) = own.outside(&mode) {
            (
                Kind::ForeignNamespace,
                format!("`{field}: {mode}` joins the namespace of {whose}"),
                None,
            )
        } else if field == "network_mode" && !is_own_network_mode(&mode) {
            (
                Kind::ForeignNamespace,
                format!("`network_mode: {mode}` hands the engine a network by name (another project's or environment's, say): only `none` and `service:NAME` of this project stay inside the fence; join networks under `networks:`"),
                None,
            )
        } else {
            continue;
        };
        out.push(Escape::new(kind, subject.clone(), key, why, item));
    }
}

/// `none`, or `service:X` (an own service: `outside` judged it already).
fn is_own_network_mode(mode: &str) -> bool {
    mode == "none" || mode.starts_with("service:")
}

/// The capability as Docker reads it, when it is not one Docker gives every container.
pub(super) fn beyond_defaults(name: &str) -> Option<String> {
    let cap = capability(name);
    (!DEFAULT_CAPS.contains(&cap.as_str())).then_some(cap)
}

fn capabilities(name: &str, svc: &Mapping, out: &mut Vec<Escape>) {
    let Some(Value::Sequence(caps)) = svc.get("cap_add").map(untag) else {
        return;
    };
    for (i, c) in caps.iter().filter_map(scalar_string).enumerate() {
        let Some(cap) = beyond_defaults(&c) else {
            continue;
        };
        let why = if cap == "ALL" {
            "`cap_add: ALL` gives the container every capability, NET_ADMIN and SYS_ADMIN among them".to_owned()
        } else {
            format!("capability {cap} is beyond Docker's defaults (NET_ADMIN alone rewrites the container's routes and firewall)")
        };
        out.push(Escape::new(
            Kind::Capability,
            format!("service {name}"),
            super::path(&["services", name, "cap_add"], Some(i)),
            why,
            Some(cap),
        ));
    }
}

/// Bind mounts of the Docker socket: whoever holds it commands the engine, fences included.
fn socket(name: &str, svc: &Mapping, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(Value::Sequence(vols)) = svc.get("volumes").map(untag) else {
        return;
    };
    for (i, v) in vols.iter().enumerate() {
        let Some(source) = super::volumes::bind_source(untag(v)) else {
            continue;
        };
        let resolved = host_paths::resolve(ctx.host, &source, ctx.project_dir);
        if host_paths::exposes_docker_socket(ctx.host, &resolved) {
            out.push(Escape::new(
                Kind::DockerSocket,
                format!("service {name}"),
                super::path(&["services", name, "volumes"], Some(i)),
                format!("bind mount of `{source}` (resolves to {}) gives the container an engine's API (or the host's whole file system), which can undo every fence", resolved.display()),
                None,
            ));
        }
    }
}

/// A named volume of the `local` driver bound to a host path (`driver_opts: {type: none,
/// o: bind, device: /var/run}`): mounted by a service, it is a bind mount by another name.
pub(super) fn volume_devices(doc: &Value, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(volumes) = compose::section(doc, "volumes") else {
        return;
    };
    for (k, v) in volumes {
        let (Some(name), Some(opts)) = (
            scalar_string(k),
            untag(v)
                .as_mapping()
                .and_then(|m| m.get("driver_opts"))
                .map(untag)
                .and_then(Value::as_mapping),
        ) else {
            continue;
        };
        let opt = |key: &str| opts.get(key).and_then(scalar_string).unwrap_or_default();
        let bind = opt("o")
            .split(',')
            .any(|o| matches!(o.trim(), "bind" | "rbind"))
            || opt("type").eq_ignore_ascii_case("none");
        let device = opt("device");
        if !bind || device.is_empty() {
            continue;
        }
        let resolved = host_paths::resolve(ctx.host, &device, ctx.project_dir);
        if host_paths::exposes_docker_socket(ctx.host, &resolved) {
            out.push(Escape::new(
                Kind::DockerSocket,
                format!("volume {name}"),
                super::path(&["volumes", &name, "driver_opts", "device"], None),
                format!("a local volume bound to `{device}` (resolves to {}) gives whoever mounts it the Docker API, which can undo every fence", resolved.display()),
                None,
            ));
        }
    }
}

/// `io.netfence.*` labels are netfence's word on who owns an object: a file that writes
/// them could claim another scope's clean-up, or hide from it.
pub(super) fn check_labels(doc: &Value, project: Option<&str>, out: &mut Vec<Escape>) {
    for (name, svc) in compose::services_ref(doc) {
        let mut holders = vec![(
            super::path(&["services", &name, "labels"], None),
            svc.get("labels"),
        )];
        for holder in ["deploy", "build"] {
            if let Some(d) = svc.get(holder).map(untag).and_then(Value::as_mapping) {
                // An image's labels are its containers' too, for every key the
                // container does not set itself.
                holders.push((
                    super::path(&["services", &name, holder, "labels"], None),
                    d.get("labels"),
                ));
            }
        }
        if let Some(Value::Sequence(mounts)) = svc.get("volumes").map(untag) {
            for (i, m) in mounts.iter().enumerate() {
                let labels = untag(m).get("volume").and_then(|v| v.get("labels"));
                let mut at = super::path(&["services", &name, "volumes"], Some(i));
                at.extend(super::path(&["volume", "labels"], None));
                holders.push((at, labels));
            }
        }
        let subject = format!("service {name}");
        for (key, labels) in &holders {
            own_labels(&subject, key, *labels, out);
        }
        if let Some(project) = project {
            super::proxy_routes::check(&subject, project, &holders, out);
        }
        inline_image_labels(&subject, &name, svc, out);
    }
    for section in ["networks", "volumes"] {
        let Some(items) = compose::section(doc, section) else {
            continue;
        };
        let singular = section.trim_end_matches('s');
        for (k, v) in items {
            let (Some(key), Some(m)) = (scalar_string(k), untag(v).as_mapping()) else {
                continue;
            };
            let field = super::path(&[section, &key, "labels"], None);
            own_labels(&format!("{singular} {key}"), &field, m.get("labels"), out);
        }
    }
}

/// A `LABEL` in an inline Dockerfile is a label of every container of the image: the
/// proxy reads `traefik.*` there, `gc` and `verify` read `io.netfence.*`, past every
/// judgement of the compose file's own labels.
fn inline_image_labels(subject: &str, name: &str, svc: &Mapping, out: &mut Vec<Escape>) {
    let Some(text) = svc
        .get("build")
        .map(untag)
        .and_then(|b| b.get("dockerfile_inline"))
        .and_then(scalar_string)
    else {
        return;
    };
    let labels = text.lines().map(str::trim_start).filter(|l| {
        l.get(..6)
            .is_some_and(|w| w.eq_ignore_ascii_case("label ") || w.eq_ignore_ascii_case("label\t"))
    });
    let lowered: String = labels
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("\n");
    for (prefix, kind) in [
        (crate::labels::PREFIX, Kind::OwnLabels),
        ("traefik.", Kind::ProxyRoute),
    ] {
        if lowered.contains(prefix) {
            out.push(Escape::new(
                kind,
                subject,
                super::path(&["services", name, "build", "dockerfile_inline"], None),
                format!("the inline Dockerfile labels the image `{prefix}…`: its containers carry the label, which the compose file's own labels are judged for (netfence's ownership, the shared proxy's routes)"),
                None,
            ));
        }
    }
}

fn own_labels(subject: &str, key: &[super::Part], labels: Option<&Value>, out: &mut Vec<Escape>) {
    for (label, value) in crate::labels::entries(labels) {
        if super::judged::interpolates(&label) {
            out.push(Escape::new(
                Kind::OwnLabels,
                subject,
                key.to_vec(),
                format!("label key `{label}` is filled in at deploy, from variables the tenant may set: it could be one of netfence's own (`io.netfence.*`), whose ownership is netfence's to set"),
                None,
            ));
        } else if label.starts_with(crate::labels::PREFIX) {
            out.push(Escape::new(
                Kind::OwnLabels,
                subject,
                key.to_vec(),
                format!("label `{label}={value}` is netfence's own: ownership is netfence's to set, never the file's"),
                None,
            ));
        }
    }
}
