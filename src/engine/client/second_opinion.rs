//! The second opinion: in tenant mode netfence's output is also
//! read by Docker Compose itself (`config --format json`, in an empty environment) and
//! that reading is judged again by the same tenant table. Netfence and Compose are two
//! parsers of one text; where they could read it differently (a tag, a YAML 1.1 scalar,
//! a key a newer Compose gives a meaning), the file Compose runs is Compose's reading,
//! so that is the one a tenant must not escape with. An escape in Compose's reading, or
//! a disagreement between the two readings on what decides the fence, refuses.
//!
//! It runs a process, so it lives here and not in the pure core. Compose is found and
//! started as every other engine command starts it ([`Compose::detect`],
//! [`Compose::command`]: `NETFENCE_COMPOSE`, the plugin, `docker-compose`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::compose;
use crate::tenant::{self, Context};
use crate::yaml::{is_truthy, scalar_string, untag, Mapping, Value};
use crate::{Error, Options, Plan, Project, Result, Source};

use crate::engine::client::compose_cli::Compose;

/// `config` reads a file and exits; one that hangs is not an answer.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The variables Compose keeps: enough to find the binary, its plugins and the Docker
/// configuration. Nothing else of the deploying environment may change its reading.
const KEPT_ENV: &[&str] = &["PATH", "HOME", "DOCKER_CONFIG"];

/// How every disagreement between the readings begins.
const DIFFERENT: &str = "Compose reads the output differently from netfence";

/// How the second opinion ended, when it did not refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondOpinion {
    /// Compose read the output as netfence did, and its reading escapes nowhere.
    Agrees,
    /// Not a tenant's file (tenant mode is off for the plan's scope): nothing to judge.
    Trusted,
    /// Neither `docker compose` nor `docker-compose` runs here: nothing was checked.
    ComposeNotFound,
}

/// Does the second opinion apply to this plan: was it made in tenant mode (and so
/// closed)?
pub fn applies(plan: &Plan) -> bool {
    plan.closed.is_some()
}

/// Judges `output` (netfence's fenced file for `plan`, YAML or JSON text) as Compose
/// reads it. Refuses with [`Error::Tenant`] (exit 2) on an escape in Compose's reading,
/// on a disagreement between the readings, or when Compose cannot read the output.
/// `opts` are the options the plan was made with (the engine's known networks). Blocks
/// on its own runtime: not for use inside an async context.
pub fn judge_with_compose(
    output: &str,
    plan: &Plan,
    project: &Project,
    opts: &Options,
) -> Result<SecondOpinion> {
    if !applies(plan) {
        return Ok(SecondOpinion::Trusted);
    }
    let dir = project.input.project_dir.clone();
    let read = crate::engine::block_on(read_with_compose(output, dir, &plan.project_name))?;
    let (json, compose) = match read {
        Read::NotFound => return Ok(SecondOpinion::ComposeNotFound),
        Read::Failed(stderr) => {
            return Err(refusal(
                project,
                vec![format!(
                    "Compose cannot read netfence's output (`config` fails), so what it would run cannot be judged: {stderr}"
                )],
            ));
        }
        Read::Json(json, compose) => (json, compose),
    };
    let ours = crate::load::parse_document(project.input.first_source(), output)?;
    let theirs = crate::load::parse_document(&Source::Stdin, &json).map_err(|e| {
        let message = format!("reading Compose's `config --format json`: {e}");
        compose.failed("config", Some(0), message)
    })?;
    let refusals = judge(ours, theirs, plan, project, opts);
    if refusals.is_empty() {
        return Ok(SecondOpinion::Agrees);
    }
    Err(refusal(project, refusals))
}

fn refusal(project: &Project, refusals: Vec<String>) -> Error {
    Error::Tenant {
        source_name: project.input.first_source().clone(),
        refusals,
    }
}

/// Every refusal: the disagreements first (they explain an escape that follows).
fn judge(
    mut ours: Value,
    mut theirs: Value,
    plan: &Plan,
    project: &Project,
    opts: &Options,
) -> Vec<String> {
    let mut refusals = disagreements(&ours, &theirs, &plan.project_name);
    strip_own_labels(&mut ours, &mut theirs);
    strip_own_aliases(&mut theirs, plan);
    strip_default_names(&mut theirs, &plan.project_name);
    blkio_keys_as_written(&mut theirs);
    refusals.extend(escapes(&theirs, plan, project, opts));
    refusals
}

/// Compose's JSON writes a block-IO device entry with Go's field names (`Path`,
/// `Weight`, `Rate`): the keys the file writes `path`, `weight` and `rate`.
fn blkio_keys_as_written(theirs: &mut Value) {
    let Some(services) = theirs.get_mut("services").and_then(Value::as_mapping_mut) else {
        return;
    };
    for svc in services.values_mut() {
        let Some(blkio) = svc.get_mut("blkio_config").and_then(Value::as_mapping_mut) else {
            continue;
        };
        for list in blkio.values_mut() {
            let Some(entries) = list.as_sequence_mut() else {
                continue;
            };
            for entry in entries.iter_mut().filter_map(Value::as_mapping_mut) {
                let lowered: Mapping = std::mem::take(entry)
                    .into_iter()
                    .map(|(k, v)| match scalar_string(&k) {
                        Some(name) => (crate::yaml::key(&name.to_ascii_lowercase()), v),
                        None => (k, v),
                    })
                    .collect();
                *entry = lowered;
            }
        }
    }
}

/// The escapes the tenant table finds in Compose's reading, with what the platform's
/// side knows as the plan's own judgement has it.
fn escapes(theirs: &Value, plan: &Plan, project: &Project, opts: &Options) -> Vec<String> {
    let policy = &project.policy.policy;
    let record = crate::unfence::record(theirs);
    // Compose's reading is closed: it ran with no variables, so none are left to fill.
    let environ = BTreeMap::new();
    let ctx = Context {
        scope: Some(&plan.scope),
        project: Some(&plan.project),
        project_name: Some(&plan.project_name),
        assigned: crate::plan::assigned_names(&plan.networks),
        known: &opts.known_networks,
        foreign_patterns: tenant::foreign_patterns(policy),
        environ: Some(&environ),
        project_dir: Some(&project.input.project_dir),
        record: record.as_ref(),
        references: &[],
        host: project.input.host.get(),
    };
    let escapes = tenant::escapes(theirs, policy, &ctx);
    tenant::refused(&escapes)
        .into_iter()
        .map(|e| format!("Compose's reading of the output: {}", e.describe()))
        .collect()
}

/// What `docker compose config` made of the output.
enum Read {
    /// Its reading, and the Compose that read it (for an error about the reading).
    Json(String, Compose),
    /// It exited non-zero: its error output.
    Failed(String),
    NotFound,
}

/// `compose -f - --project-directory DIR -p PROJECT --profile '*' config --format json`
/// with the output on stdin, in an empty environment. Every profile is enabled so that
/// every service that could ever run is in the reading.
async fn read_with_compose(output: &str, dir: PathBuf, project: &str) -> Result<Read> {
    let Ok(compose) = Compose::detect().await else {
        return Ok(Read::NotFound);
    };
    let every = ["*".to_owned()];
    let mut cmd = compose.command(&[PathBuf::from("-")], &dir, project, &every);
    cmd.args(["config", "--format", "json"])
        .env_clear()
        .envs(
            KEPT_ENV
                .iter()
                .filter_map(|k| Some((k, std::env::var_os(k)?))),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        // The plugin file is there but `docker` is not on PATH: no Compose either.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::NotFound),
        Err(e) => {
            let message = format!("running {}: {e}", compose.display());
            return Err(compose.failed("config", None, message).into());
        }
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let text = output.as_bytes().to_vec();
    let write = async move {
        use tokio::io::AsyncWriteExt;
        // A Compose that stops reading early says why on stderr, with its exit status.
        let _ = stdin.write_all(&text).await;
    };
    let (_, out) = tokio::time::timeout(TIMEOUT, async {
        tokio::join!(write, child.wait_with_output())
    })
    .await
    .map_err(|_| {
        let message = format!("{} config did not answer in {TIMEOUT:?}", compose.display());
        compose.failed("config", None, message)
    })?;
    let out = out.map_err(|e| {
        let message = format!("running {}: {e}", compose.display());
        compose.failed("config", None, message)
    })?;
    if !out.status.success() {
        // One refusal line: Compose's lines joined.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let said = if lines.is_empty() {
            format!("exit status {}", out.status)
        } else {
            lines.join("; ")
        };
        return Ok(Read::Failed(said));
    }
    Ok(Read::Json(
        String::from_utf8_lossy(&out.stdout).into_owned(),
        compose,
    ))
}

/// Where the two readings differ on what decides the fence, one line each, naming the
/// service and the key. Compose keeps only the networks and volumes some service uses,
/// so its top-level names must be among netfence's; what each service attaches and
/// mounts is compared service by service.
fn disagreements(ours: &Value, theirs: &Value, project: &str) -> Vec<String> {
    let mut out = Vec::new();
    let our_services: BTreeMap<String, &Mapping> =
        compose::services_ref(ours).into_iter().collect();
    let their_services: BTreeMap<String, &Mapping> =
        compose::services_ref(theirs).into_iter().collect();
    let names = |m: &BTreeMap<String, &Mapping>| m.keys().cloned().collect::<BTreeSet<_>>();
    differ_in_set(
        "services",
        &names(&our_services),
        &names(&their_services),
        &mut out,
    );
    for section in ["networks", "volumes"] {
        let extra: Vec<String> = real_names(theirs, section, project)
            .difference(&real_names(ours, section, project))
            .cloned()
            .collect();
        if !extra.is_empty() {
            out.push(format!(
                "{DIFFERENT}: Compose's reading has {section} netfence's does not declare: {}",
                extra.join(", ")
            ));
        }
    }
    for (name, mine) in &our_services {
        let Some(other) = their_services.get(name) else {
            continue;
        };
        let (a, b) = (
            meanings(ours, mine, project),
            meanings(theirs, other, project),
        );
        for ((key, ours_says), (_, compose_says)) in a.iter().zip(&b) {
            if ours_says != compose_says {
                out.push(format!(
                    "{DIFFERENT}: service {name}: `services.{name}.{key}`: netfence's reading is {ours_says}, Compose's is {compose_says}"
                ));
            }
        }
    }
    out
}

fn differ_in_set(
    what: &str,
    ours: &BTreeSet<String>,
    theirs: &BTreeSet<String>,
    out: &mut Vec<String>,
) {
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
        a.difference(b).cloned().collect::<Vec<_>>().join(", ")
    };
    if ours != theirs {
        out.push(format!(
            "{DIFFERENT}: the {what} differ: only in netfence's reading [{}], only in Compose's [{}]",
            only(ours, theirs),
            only(theirs, ours)
        ));
    }
}

/// The real names of a section's networks or volumes, as Compose names them.
fn real_names(doc: &Value, section: &str, project: &str) -> BTreeSet<String> {
    compose::section(doc, section)
        .map(|m| {
            m.keys()
                .filter_map(scalar_string)
                .map(|k| real_name(doc, section, &k, project))
                .collect()
        })
        .unwrap_or_default()
}

/// `name:`, else an external one's key (or legacy `external.name`), else Compose's
/// `<project>_<key>`.
fn real_name(doc: &Value, section: &str, key: &str, project: &str) -> String {
    let declared = compose::section(doc, section)
        .and_then(|m| m.get(key))
        .map(untag)
        .and_then(Value::as_mapping);
    match declared {
        Some(m) if m.get("name").and_then(scalar_string).is_some() || compose::is_external(m) => {
            compose::external_name(key, m)
        }
        _ => format!("{project}_{key}"),
    }
}

/// What each compared key of a service means, as comparable text, in a fixed order.
fn meanings(doc: &Value, svc: &Mapping, project: &str) -> [(&'static str, String); 8] {
    // An empty value is no value to Compose: `pid: ""` is left out of its reading.
    let scalar = |k: &str| match svc.get(k).and_then(scalar_string) {
        Some(v) if !v.is_empty() => format!("`{v}`"),
        _ => "nothing".to_owned(),
    };
    [
        (
            "privileged",
            format!("`{}`", svc.get("privileged").is_some_and(is_truthy)),
        ),
        ("network_mode", scalar("network_mode")),
        ("pid", scalar("pid")),
        ("ipc", scalar("ipc")),
        (
            "cap_add",
            listed(items(svc, "cap_add").filter_map(scalar_string)),
        ),
        (
            "volumes",
            listed(items(svc, "volumes").filter_map(volume_source)),
        ),
        ("devices", listed(items(svc, "devices").filter_map(device))),
        ("networks", listed(attached(doc, svc, project).into_iter())),
    ]
}

fn items<'a>(svc: &'a Mapping, key: &str) -> impl Iterator<Item = &'a Value> {
    svc.get(key)
        .map(untag)
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(untag)
}

/// A list whose order does not matter, as `[a, b]`.
fn listed(items: impl Iterator<Item = String>) -> String {
    let set: BTreeSet<String> = items.collect();
    format!("[{}]", set.into_iter().collect::<Vec<_>>().join(", "))
}

/// A mount's source: short form `SRC:DST[:MODE]` (none for an anonymous `DST`), or the
/// long form's `source`.
fn volume_source(v: &Value) -> Option<String> {
    match v {
        Value::Mapping(m) => m.get("source").and_then(scalar_string),
        _ => scalar_string(v)?.split_once(':').map(|(s, _)| s.to_owned()),
    }
}

/// A device as `SOURCE:TARGET:PERMISSIONS`, Compose's defaults filled in (the target is
/// the source, permissions `rwm`).
fn device(v: &Value) -> Option<String> {
    let (source, target, perms) = match v {
        Value::Mapping(m) => (
            m.get("source").and_then(scalar_string)?,
            m.get("target").and_then(scalar_string),
            m.get("permissions").and_then(scalar_string),
        ),
        _ => {
            let text = scalar_string(v)?;
            let mut parts = text.splitn(3, ':').map(str::to_owned);
            (parts.next()?, parts.next(), parts.next())
        }
    };
    let target = target.unwrap_or_else(|| source.clone());
    Some(format!(
        "{source}:{target}:{}",
        perms.unwrap_or_else(|| "rwm".into())
    ))
}

/// The real names of the networks a service joins: none with a `network_mode`, the
/// project's `default` when it names none.
fn attached(doc: &Value, svc: &Mapping, project: &str) -> Vec<String> {
    let keys = match compose::attachments(svc) {
        Some(a) => a.into_iter().map(|(k, _)| k).collect(),
        None if svc.get("network_mode").is_some() => Vec::new(),
        None => vec![compose::DEFAULT_NETWORK.to_owned()],
    };
    keys.iter()
        .map(|k| real_name(doc, "networks", k, project))
        .collect()
}

/// Removes from Compose's reading the `io.netfence.*` labels netfence's reading holds
/// too, on the same object with the same value: those are netfence's own, which the
/// tenant table (made for a tenant's input) would refuse. Any other stays and is judged.
fn strip_own_labels(ours: &mut Value, theirs: &mut Value) {
    let mut own: BTreeSet<(String, String, String)> = BTreeSet::new();
    each_label_holder(ours, &mut |place, holder| {
        for (k, v) in crate::labels::entries(holder.get("labels")) {
            if k.starts_with(crate::labels::PREFIX) {
                own.insert((place.to_owned(), k, v));
            }
        }
    });
    each_label_holder(theirs, &mut |place, holder| {
        let drop: BTreeSet<String> = crate::labels::entries(holder.get("labels"))
            .into_iter()
            .filter(|(k, v)| own.contains(&(place.to_owned(), k.clone(), v.clone())))
            .map(|(k, _)| k)
            .collect();
        crate::labels::remove_where(holder, "labels", |k| drop.contains(k));
    });
}

/// Removes from Compose's reading the aliases the plan itself gives services on the
/// platform's networks (`<service>.<project>` on the environment's): the table refuses
/// a tenant's dotted alias there, and these are the platform's, not the tenant's.
fn strip_own_aliases(theirs: &mut Value, plan: &Plan) {
    let platform: BTreeSet<&str> = plan
        .networks
        .iter()
        .filter(|n| n.role.is_persistent())
        .map(|n| n.key.as_str())
        .collect();
    let Some(services) = theirs.get_mut("services").and_then(Value::as_mapping_mut) else {
        return;
    };
    for svc in &plan.services {
        let Some(nets) = services
            .get_mut(svc.name.as_str())
            .and_then(|s| s.get_mut("networks"))
            .and_then(Value::as_mapping_mut)
        else {
            continue;
        };
        for a in svc
            .attachments
            .iter()
            .filter(|a| platform.contains(a.network.as_str()))
        {
            let aliases = nets
                .get_mut(a.network.as_str())
                .and_then(|n| n.get_mut("aliases"))
                .and_then(Value::as_sequence_mut);
            if let Some(aliases) = aliases {
                aliases.retain(|v| !scalar_string(v).is_some_and(|v| a.aliases.contains(&v)));
            }
        }
    }
}

/// Compose writes out the name it gives an unnamed network or volume,
/// `<project>_<key>`; a written `name:` is the table's to judge, that one means nothing
/// more than its absence.
fn strip_default_names(theirs: &mut Value, project: &str) {
    for section in ["networks", "volumes"] {
        let Some(items) = theirs.get_mut(section).and_then(Value::as_mapping_mut) else {
            continue;
        };
        for (k, v) in items.iter_mut() {
            let (Some(key), Some(m)) = (scalar_string(k), v.as_mapping_mut()) else {
                continue;
            };
            let default = format!("{project}_{key}");
            if !compose::is_external(m) && m.get("name").and_then(scalar_string) == Some(default) {
                m.shift_remove("name");
            }
        }
    }
}

/// Calls `f` with every mapping that may hold `labels` (services, their `deploy`,
/// networks, volumes) and a name for where it is.
fn each_label_holder(doc: &mut Value, f: &mut dyn FnMut(&str, &mut Mapping)) {
    let Some(top) = doc.as_mapping_mut() else {
        return;
    };
    for section in ["services", "networks", "volumes"] {
        let Some(items) = top
            .get_mut(section)
            .map(crate::yaml::untag_mut)
            .and_then(Value::as_mapping_mut)
        else {
            continue;
        };
        for (k, v) in items.iter_mut() {
            let (Some(name), Some(m)) =
                (scalar_string(k), crate::yaml::untag_mut(v).as_mapping_mut())
            else {
                continue;
            };
            let place = format!("{section}.{name}");
            f(&place, m);
            let deploy = m
                .get_mut("deploy")
                .map(crate::yaml::untag_mut)
                .and_then(Value::as_mapping_mut);
            if let (Some(d), "services") = (deploy, section) {
                f(&format!("{place}.deploy"), d);
            }
        }
    }
}
