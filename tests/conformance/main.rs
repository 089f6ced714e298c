//! Conformance over the real-world corpus in `../shared/corpus/`, judged by the real Docker Compose v2.
//!
//! What "Compose accepts" means here, fairly:
//!
//! * **strict** — `docker compose -f FILE --project-directory DIR config -q` exits 0 in an
//!   empty environment (no `.env`, no variables: an unset `${VAR}` becomes "" with a
//!   warning, `${VAR:?msg}` is an error). This is the full check: schema, interpolation,
//!   typing, extends/include, env files, consistency (undefined networks or volumes).
//! * **raw** — rejected strictly, but accepted with `--no-interpolate`. Compose then still
//!   parses, applies extends/include and validates the schema, but skips interpolation and
//!   the consistency pass. PaaS templates (Coolify, Dokploy) land here: the platform sets
//!   their variables and declares their volumes before Compose sees them.
//! * **invalid** — rejected both ways (missing env files or extended files in the
//!   flattened corpus, YAML errors, cycles): nothing to conform to.
//!
//! For every accepted file and each scope (`run:conf`, `env:staging`) the rewrite must:
//! be accepted by Compose at the same level as the original; pass the Compose JSON Schema
//! (`../shared/compose-spec.json`) — or, when the original already fails it, add no new
//! schema error; be idempotent (rewriting the output with the same scope gives the same
//! bytes); and re-scope cleanly (rewriting the output with another scope of the same kind,
//! `run:other` or `env:production`, gives the bytes a direct rewrite of the original with
//! that scope gives). Re-scoping across kinds (a run's output fenced for an environment,
//! and back) is tried too and reported in the doc, not required: a run drops published
//! ports, which an environment keeps, so the original cannot always be recovered. A refusal of an
//! accepted file is allowed only when it is listed, with the reason a human agrees with, in
//! `REVIEWED_REFUSALS`. No file of the corpus, accepted or not, may make netfence panic.
//!
//! `NETFENCE_WRITE_DOCS=1` regenerates `docs/CONFORMANCE.md` from the run.
//! `NETFENCE_CONFORMANCE_ONLY=substring` limits the run to matching files (for debugging).
//! `NETFENCE_COMPOSE=/path/to/docker-compose` picks the Compose binary (standalone form).
//!
//! `load` holds the include and extends fixtures against Compose the same way.

mod closed;
mod generated;
mod load;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod overlay;
mod scalars;

use netfence::load::ComposeInput;
use netfence::{Options, Project, Scope, Source};
use serde_yaml_ng::Value;

/// Compose processes run at once: the machine has 2 cores and each `config` call is
/// mostly process start-up, so a little more than the core count keeps both busy.
const POOL: usize = 4;
/// One `docker compose config` never takes long; a hung one is killed and reported.
const COMPOSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Refusals of Compose-accepted files that a human has reviewed and agrees with.
/// Empty today: every Compose-accepted file of the corpus must rewrite.
const REVIEWED_REFUSALS: &[(&str, &str)] = &[];

/// What Compose keeps of the environment in [`isolated`].
const KEPT: [&str; 5] = ["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "TMPDIR"];

/// An empty environment, so that the verdict does not depend on who runs the test.
/// GOMAXPROCS/GOGC only make the short-lived Go process cheaper (about 2x here).
fn isolated(cmd: &mut Command) {
    cmd.env_clear();
    for keep in KEPT {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.env("GOMAXPROCS", "1").env("GOGC", "off");
}

/// The variables Compose sees in [`isolated`]: a tenant's output closed with these (the
/// policy naming them in `tenant.environment`) must read as the open one does.
fn kept_environment() -> BTreeMap<String, String> {
    KEPT.iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect()
}

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn required() -> bool {
    std::env::var("NETFENCE_E2E").is_ok_and(|v| v == "require")
}

/// Says loudly why the test cannot run; fails instead when CI requires it.
fn unavailable(what: &str) {
    let msg = format!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! conformance: NOT RUN: {what}\n\
         !! (set NETFENCE_E2E=require to make this a failure, as CI does)\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    if required() {
        panic!("{msg}");
    }
    eprintln!("{msg}");
}

// ---------------------------------------------------------------------------------------
// Docker Compose
// ---------------------------------------------------------------------------------------

/// How to start Compose: the program and the arguments before Compose's own.
#[derive(Debug, Clone)]
struct ComposeCmd {
    program: PathBuf,
    prefix: Vec<OsString>,
    version: String,
}

impl ComposeCmd {
    /// `$NETFENCE_COMPOSE`; else the v2 CLI plugin binary run standalone (the same binary
    /// `docker compose` runs, without the docker CLI's ~50 ms start-up per call); else
    /// `docker compose`; else `docker-compose`.
    fn find() -> Option<ComposeCmd> {
        let mut candidates: Vec<(PathBuf, Vec<OsString>)> = Vec::new();
        if let Some(p) = std::env::var_os("NETFENCE_COMPOSE").filter(|p| !p.is_empty()) {
            candidates.push((p.into(), vec![]));
        } else {
            let mut dirs: Vec<PathBuf> = Vec::new();
            if let Some(cfg) = std::env::var_os("DOCKER_CONFIG") {
                dirs.push(PathBuf::from(cfg).join("cli-plugins"));
            }
            if let Some(home) = std::env::var_os("HOME") {
                dirs.push(PathBuf::from(home).join(".docker/cli-plugins"));
            }
            for d in [
                "/usr/local/lib/docker/cli-plugins",
                "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins",
                "/usr/libexec/docker/cli-plugins",
            ] {
                dirs.push(d.into());
            }
            for d in dirs {
                let p = d.join("docker-compose");
                if p.is_file() {
                    candidates.push((p, vec![]));
                }
            }
            candidates.push(("docker".into(), vec!["compose".into()]));
            candidates.push(("docker-compose".into(), vec![]));
        }
        for (program, prefix) in candidates {
            let out = Command::new(&program)
                .args(&prefix)
                .args(["version", "--short"])
                .stdin(Stdio::null())
                .output();
            if let Ok(out) = out {
                let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                // Compose v1 (Python) has no `--short` and another loader: not the reference.
                if out.status.success() && (v.starts_with('2') || v.starts_with("v2")) {
                    return Some(ComposeCmd {
                        program,
                        prefix,
                        version: v,
                    });
                }
            }
        }
        None
    }

    /// `compose -f FILE… [-f -] --project-directory DIR ARGS…` in an empty environment,
    /// `stdin` (when given) on its standard input; what it printed and how it ended.
    fn run(
        &self,
        dir: &Path,
        files: &[PathBuf],
        stdin: Option<&str>,
        args: &[&str],
    ) -> Result<std::process::Output, String> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.prefix);
        for f in files {
            cmd.arg("-f").arg(f);
        }
        if stdin.is_some() {
            cmd.args(["-f", "-"]);
        }
        cmd.arg("--project-directory").arg(dir).args(args);
        isolated(&mut cmd);
        cmd.current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start compose: {e}"))?;
        {
            use std::io::Write as _;
            let mut input = child.stdin.take().expect("piped stdin");
            let _ = input.write_all(stdin.unwrap_or_default().as_bytes());
        }
        child.wait_with_output().map_err(|e| e.to_string())
    }

    /// Runs `config -q` on a file, or on `text` through stdin; `Err` holds Compose's
    /// error lines (its warnings left out).
    fn config(&self, dir: &Path, file: Option<&Path>, text: &str, raw: bool) -> Result<(), String> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.prefix);
        cmd.arg("-f");
        match file {
            Some(f) => cmd.arg(f),
            None => cmd.arg("-"),
        };
        cmd.arg("--project-directory").arg(dir);
        cmd.args(["config", "-q"]);
        if raw {
            cmd.arg("--no-interpolate");
        }
        isolated(&mut cmd);
        cmd.current_dir(dir);
        let stderr = tempfile::tempfile().map_err(|e| format!("temp file: {e}"))?;
        let stderr_read = stderr.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(if file.is_some() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::null())
        .stderr(stderr);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        if file.is_none() {
            let mut stdin = child.stdin.take().expect("piped stdin");
            // Compose may stop reading early on a bad file; its exit status says why.
            let _ = stdin.write_all(text.as_bytes());
        }
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > COMPOSE_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("compose timed out after {COMPOSE_TIMEOUT:?}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(format!("waiting for compose: {e}")),
            }
        };
        if status.success() {
            return Ok(());
        }
        let mut msg = String::new();
        {
            use std::io::{Read, Seek};
            let mut f = stderr_read;
            let _ = f.rewind();
            let _ = f.read_to_string(&mut msg);
        }
        let lines: Vec<&str> = msg
            .lines()
            .filter(|l| !l.contains("level=warning") && !l.trim().is_empty())
            .collect();
        Err(if lines.is_empty() {
            format!("exit status {status}")
        } else {
            lines.join(" / ")
        })
    }
}

// ---------------------------------------------------------------------------------------
// netfence
// ---------------------------------------------------------------------------------------

/// What went wrong in netfence for one input.
enum FenceError {
    Refused(String),
    Panicked(String),
}

/// Rewrites compose text as `netfence rewrite -f PATH` would, with a fixed scope, the
/// built-in policy and an empty process environment (so `environ` is deterministic).
/// The file is the user's own (tenant mode off): this run judges fidelity; what tenant
/// mode refuses is counted apart (see [`tenant_refusal`]).
fn fence(
    path: &Path,
    text: &str,
    scope: &Scope,
    no_policy_dir: &Path,
) -> Result<String, FenceError> {
    fence_as(path, text, scope, no_policy_dir, false)
}

/// What tenant mode, the default in env scope, refuses in the file: the kinds of escape
/// (the audit rule names) it names, for the doc; `None` when it accepts the file.
fn tenant_refusal(path: &Path, text: &str, no_policy_dir: &Path) -> Option<Vec<String>> {
    let source = Source::File(path.to_path_buf());
    let value = netfence::load::parse_document(&source, text).ok()?;
    let input = ComposeInput {
        sources: vec![source],
        value,
        project_dir: path.parent()?.to_path_buf(),
        notes: Vec::new(),
        references: Vec::new(),
        host: Default::default(),
    };
    let project = Project::new(input, None, no_policy_dir).ok()?;
    let opts = Options {
        scope: Some(Scope::Env("staging".into())),
        ..Options::default()
    };
    match project.plan(&opts) {
        Err(netfence::Error::Tenant { refusals, .. }) => Some(refusals),
        // Closing reads what Compose reads at deploy (env files): one it cannot read
        // refuses the file as Compose would, before any escape is judged.
        Err(netfence::Error::Compose { .. }) => Some(vec![CLOSING_ERROR.to_owned()]),
        _ => None,
    }
}

/// How the doc counts a file whose closing fails with Compose's own error.
const CLOSING_ERROR: &str = "`Compose error while closing (a missing env file, say)`";

/// Proxy names as the tenant wrote them: tenant mode ends every name its labels define,
/// and every bare name they refer to, with `-<project>` (see `plan/proxy_names.rs`).
fn unsuffix_proxy_names(closed: &mut serde_json::Value) {
    let suffix = format!("-{}", closed["name"].as_str().unwrap_or_default());
    let Some(services) = closed["services"].as_object_mut() else {
        return;
    };
    for svc in services.values_mut() {
        let Some(labels) = svc.get_mut("labels").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        let renamed: serde_json::Map<String, serde_json::Value> = std::mem::take(labels)
            .into_iter()
            .map(|(k, v)| {
                let parts: Vec<&str> = k.split('.').collect();
                let key = if parts.len() > 4 && k.starts_with("traefik.") {
                    let mut p: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
                    if let Some(name) = p[3].strip_suffix(&suffix) {
                        p[3] = name.to_owned();
                    }
                    p.join(".")
                } else {
                    k
                };
                let v = match v.as_str() {
                    Some(text) if netfence::proxy_labels::traefik_refers(&key) => {
                        let refs: Vec<&str> = text
                            .split(',')
                            .map(|r| r.trim().strip_suffix(&suffix).unwrap_or(r.trim()))
                            .collect();
                        serde_json::Value::from(refs.join(","))
                    }
                    _ => v,
                };
                (key, v)
            })
            .collect();
        *labels = renamed;
    }
}

/// The names tenant mode gives builds Compose would name ambiguously
/// (`<project>/<service>`, see `plan/build_name.rs`): netfence's, like the networks.
fn drop_build_names(open: &serde_json::Value, closed: &mut serde_json::Value) {
    let project = closed["name"].as_str().unwrap_or_default().to_owned();
    let Some(services) = closed["services"].as_object_mut() else {
        return;
    };
    for (name, svc) in services.iter_mut() {
        let ours = format!("{project}/{name}");
        let named_by_netfence = open["services"][name.as_str()].get("image").is_none()
            && svc.get("image").and_then(|i| i.as_str()) == Some(ours.as_str());
        if named_by_netfence {
            svc.as_object_mut().map(|o| o.remove("image"));
        }
    }
}

/// The tenant's closed output (every `${VAR}` resolved, tags decoded, paths absolute)
/// read by Compose exactly as the open output of the same plan, in the same empty
/// environment: closing changes what netfence can judge, never what Compose runs.
/// Both are fenced for one project, as a platform gives it (`-p`): a `name:` with
/// variables is otherwise read from the file only once it is closed.
fn closed_reads_as_open(ctx: &Ctx, path: &Path, text: &str) -> Result<(), String> {
    let scope = Scope::Env("staging".into());
    let fence = |tenant: bool| match fence_for(
        path,
        text,
        &scope,
        &ctx.no_policy_dir,
        tenant,
        Some("conf"),
    ) {
        Ok(out) => Ok(out),
        Err(FenceError::Refused(e)) => Err(format!("refused (tenant mode {tenant}): {e}")),
        Err(FenceError::Panicked(p)) => Err(format!("netfence panicked: {p}")),
    };
    let (open, closed) = (fence(false)?, fence(true)?);
    let dir = path.parent().expect("corpus file has a directory");
    // The record's policy digest differs: the two policies differ in `tenant`.
    let read = |text: &str| {
        ctx.compose
            .config_of(dir, &[], Some(text), false)
            .map(|mut j| {
                if let Some(f) = j.pointer_mut("/x-netfence/fenced") {
                    f.as_object_mut().map(|o| o.remove("policy"));
                }
                drop_unset_environment(&mut j);
                j
            })
    };
    let mut open = read(&open)?;
    let mut closed =
        read(&closed).map_err(|e| format!("Compose refuses the closed output: {e}"))?;
    // Known, and the open output's: a same-file `extends` kept as written makes Compose
    // merge the base's netfence aliases (`init.<project>` on the environment network)
    // into the extending service; the closed output merges before fencing. Their
    // networks are left out of the comparison.
    for name in same_file_extends(text) {
        for config in [&mut open, &mut closed] {
            if let Some(svc) = config.pointer_mut(&format!("/services/{name}")) {
                svc.as_object_mut().map(|o| o.remove("networks"));
            }
        }
    }
    drop_build_names(&open, &mut closed);
    unsuffix_proxy_names(&mut closed);
    if let Some(f) = closed.pointer_mut("/x-netfence/fenced") {
        f.as_object_mut().map(|o| o.remove("proxy_names"));
    }
    if open == closed {
        return Ok(());
    }
    Err(format!(
        "Compose reads the closed output differently: {}",
        overlay::first_difference(&open, &closed, String::new())
    ))
}

/// The services of `text` that extend another service of the same file.
fn same_file_extends(text: &str) -> Vec<String> {
    let Ok(doc) = netfence::yaml::from_str(text) else {
        return Vec::new();
    };
    netfence::compose::services_ref(&doc)
        .into_iter()
        .filter(|(_, svc)| {
            svc.get("extends")
                .is_some_and(|e| e.as_mapping().is_none_or(|m| m.get("file").is_none()))
        })
        .map(|(name, _)| name)
        .collect()
}

/// `environment: {NAME: null}` (a variable the deploy does not set) sets nothing in the
/// container; the closed output leaves such a name out instead.
pub(crate) fn drop_unset_environment(config: &mut serde_json::Value) {
    let Some(services) = config.get_mut("services").and_then(|s| s.as_object_mut()) else {
        return;
    };
    for svc in services.values_mut().filter_map(|s| s.as_object_mut()) {
        if let Some(env) = svc.get_mut("environment").and_then(|e| e.as_object_mut()) {
            env.retain(|_, v| !v.is_null());
            if env.is_empty() {
                svc.remove("environment");
            }
        }
    }
}

fn fence_as(
    path: &Path,
    text: &str,
    scope: &Scope,
    no_policy_dir: &Path,
    tenant: bool,
) -> Result<String, FenceError> {
    fence_for(path, text, scope, no_policy_dir, tenant, None)
}

fn fence_for(
    path: &Path,
    text: &str,
    scope: &Scope,
    no_policy_dir: &Path,
    tenant: bool,
    project_name: Option<&str>,
) -> Result<String, FenceError> {
    let run = || -> netfence::Result<String> {
        // Through the loader, as `netfence rewrite -f PATH` reads it: include and extends
        // resolved, with the empty environment Compose is judged in.
        let opts = netfence::load::LoadOptions {
            project_dir: Some(path.parent().expect("file has a directory").to_path_buf()),
            environ: Some(BTreeMap::new()),
        };
        let input = netfence::load::load_document(path, text, &opts)?;
        let mut project = Project::new(input, None, no_policy_dir)?;
        project.policy.policy.tenant.enabled = Some(tenant);
        let environ = if tenant {
            project.policy.policy.tenant.environment = KEPT.map(String::from).to_vec();
            kept_environment()
        } else {
            BTreeMap::new()
        };
        let opts = Options {
            scope: Some(scope.clone()),
            environ,
            project: project_name.map(str::to_owned),
            ..Options::default()
        };
        let plan = project.plan(&opts)?;
        Ok(netfence::yaml::to_string(&project.rewrite(&plan)))
    };
    match std::panic::catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(FenceError::Refused(e.to_string())),
        Err(p) => Err(FenceError::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into()),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Compose JSON Schema
// ---------------------------------------------------------------------------------------

/// YAML as Compose's loader hands it to its schema check: `!reset` entries gone,
/// `!override` values untagged, keys as strings.
fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(J::Null, J::Number)
            }
        }
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(items) => {
            J::Array(items.iter().filter(|i| !is_reset(i)).map(to_json).collect())
        }
        Value::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, val) in m {
                if is_reset(val) {
                    continue;
                }
                let key = match to_json(k) {
                    J::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(val));
            }
            J::Object(out)
        }
        Value::Tagged(t) => to_json(&t.value),
    }
}

/// Turns `!!merge <<` keys into plain `<<`; says whether any `<<` key is left to apply.
fn plain_merge_keys(v: &mut Value) -> bool {
    match v {
        Value::Mapping(m) => {
            let tagged: Vec<Value> = m
                .keys()
                .filter(|k| matches!(k, Value::Tagged(t) if t.value.as_str() == Some("<<")))
                .cloned()
                .collect();
            for k in tagged {
                if let Some(val) = m.shift_remove(&k) {
                    m.insert(Value::String("<<".into()), val);
                }
            }
            let mut any = m.contains_key("<<");
            for (_, val) in m.iter_mut() {
                any |= plain_merge_keys(val);
            }
            any
        }
        Value::Sequence(items) => items.iter_mut().fold(false, |a, i| plain_merge_keys(i) | a),
        Value::Tagged(t) => plain_merge_keys(&mut t.value),
        _ => false,
    }
}

fn is_reset(v: &Value) -> bool {
    matches!(v, Value::Tagged(t) if t.tag == "!reset" || t.tag == "reset")
}

/// Schema errors as "instance path: message", sorted and de-duplicated.
fn schema_errors(
    validator: &jsonschema::Validator,
    text: &str,
) -> Result<BTreeSet<String>, String> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let mut value = value;
    // Anchors and `<<` are Compose's to resolve before its schema check, as netfence does.
    // `!!merge <<` is the explicitly tagged form of the same key; merged mappings may bring
    // merge keys of their own, hence the few rounds.
    for _ in 0..8 {
        if !plain_merge_keys(&mut value) {
            break;
        }
        value
            .apply_merge()
            .map_err(|e| format!("merge keys: {e}"))?;
    }
    let json = to_json(&value);
    Ok(validator
        .iter_errors(&json)
        .map(|e| format!("{}: {}", e.instance_path(), e))
        .collect())
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Strict,
    Raw,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Raw => "raw",
        }
    }
}

#[derive(Debug, Default)]
struct FileReport {
    /// Path relative to the corpus root.
    rel: String,
    accepted: Option<Level>,
    /// Compose's reason when it rejects the original both ways.
    compose_error: Option<String>,
    schema_invalid_original: bool,
    /// The original's own errors against compose-spec.json, when it has any.
    original_schema_errors: Vec<String>,
    /// Scopes the file rewrote under with every check passing.
    ok_scopes: Vec<String>,
    refusal: Option<String>,
    failures: Vec<String>,
    /// Re-scoping across kinds that does not give the direct rewrite (informational).
    cross_kind: Vec<String>,
    /// What tenant mode refuses in the file (informational).
    tenant_refusals: Vec<String>,
    /// Scopes whose overlay Compose reads exactly as the full rewrite.
    overlay_equal: Vec<String>,
    /// Scopes netfence writes no overlay for, with its reason.
    overlay_refused: Vec<String>,
    /// Tenant mode accepted the file and Compose reads its closed output as the open one.
    closed_equal: bool,
}

struct Ctx {
    corpus: PathBuf,
    compose: ComposeCmd,
    validator: jsonschema::Validator,
    no_policy_dir: PathBuf,
}

/// The scopes every accepted file is fenced under, each with the scope it is re-scoped to.
fn scopes() -> Vec<(Scope, Scope)> {
    vec![
        (Scope::Run("conf".into()), Scope::Run("other".into())),
        (
            Scope::Env("staging".into()),
            Scope::Env("production".into()),
        ),
    ]
}

fn first_difference(a: &str, b: &str) -> String {
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    for i in 0..al.len().max(bl.len()) {
        let (x, y) = (al.get(i), bl.get(i));
        if x != y {
            return format!(
                "line {}: expected {:?}, got {:?}",
                i + 1,
                x.copied().unwrap_or("<end>"),
                y.copied().unwrap_or("<end>")
            );
        }
    }
    "same lines, different bytes (line endings?)".into()
}

fn check_file(ctx: &Ctx, path: &Path) -> FileReport {
    let rel = path
        .strip_prefix(&ctx.corpus)
        .unwrap_or(path)
        .display()
        .to_string();
    let mut r = FileReport {
        rel: rel.clone(),
        ..FileReport::default()
    };
    let dir = path.parent().expect("corpus file has a directory");
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            r.failures.push(format!("cannot read: {e}"));
            return r;
        }
    };
    let tidy = |s: String| s.replace(&format!("{}/", ctx.corpus.display()), "");

    // The original's verdict.
    r.accepted = match ctx.compose.config(dir, Some(path), &text, false) {
        Ok(()) => Some(Level::Strict),
        Err(strict) => match ctx.compose.config(dir, Some(path), &text, true) {
            Ok(()) => Some(Level::Raw),
            Err(_) => {
                r.compose_error = Some(tidy(strict));
                None
            }
        },
    };

    let Some(level) = r.accepted else {
        // Not Compose's to judge; netfence must still not panic on it.
        match fence(path, &text, &Scope::Run("conf".into()), &ctx.no_policy_dir) {
            Err(FenceError::Panicked(p)) => r.failures.push(format!("netfence panicked: {p}")),
            Err(FenceError::Refused(e)) => r.refusal = Some(tidy(e)),
            Ok(_) => {}
        }
        return r;
    };

    let original_schema = match schema_errors(&ctx.validator, &text) {
        Ok(errs) => errs,
        Err(e) => {
            r.failures.push(format!("original: {e}"));
            return r;
        }
    };
    r.schema_invalid_original = !original_schema.is_empty();
    r.original_schema_errors = original_schema.iter().cloned().collect();

    // Direct rewrites of the original, one per scope (also the re-scoping references).
    let mut direct: Vec<(Scope, String)> = Vec::new();
    let all_scopes: Vec<Scope> = scopes().into_iter().flat_map(|(a, b)| [a, b]).collect();
    for scope in &all_scopes {
        match fence(path, &text, scope, &ctx.no_policy_dir) {
            Ok(out) => direct.push((scope.clone(), out)),
            Err(FenceError::Panicked(p)) => {
                r.failures.push(format!("netfence panicked ({scope}): {p}"));
                return r;
            }
            Err(FenceError::Refused(e)) => {
                r.refusal = Some(tidy(e));
                return r;
            }
        }
    }
    let direct_for =
        |s: &Scope| -> &str { &direct.iter().find(|(d, _)| d == s).expect("rewritten").1 };
    r.tenant_refusals = tenant_refusal(path, &text, &ctx.no_policy_dir).unwrap_or_default();
    if r.tenant_refusals.is_empty() && level == Level::Strict {
        match closed_reads_as_open(ctx, path, &text) {
            Ok(()) => r.closed_equal = true,
            Err(why) => r.failures.push(format!("[tenant] {}", tidy(why))),
        }
    }

    for (scope, _) in scopes() {
        let out = direct_for(&scope);
        let before = r.failures.len();
        // (a) Compose accepts the rewrite at the original's level.
        if let Err(e) = ctx.compose.config(dir, None, out, level == Level::Raw) {
            r.failures.push(format!(
                "[{scope}] compose ({}) rejects the rewrite: {}",
                level.name(),
                tidy(e)
            ));
        }
        // (b) The Compose JSON Schema: valid, or no error the original did not have.
        match schema_errors(&ctx.validator, out) {
            Ok(errs) => {
                let new: Vec<&String> = errs.difference(&original_schema).collect();
                if !new.is_empty() {
                    r.failures.push(format!(
                        "[{scope}] the rewrite fails the Compose schema: {}",
                        new.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
            }
            Err(e) => r.failures.push(format!("[{scope}] the rewrite: {e}")),
        }
        // (c) Idempotence, and re-scoping to another scope of the same kind: both
        // required. Re-scoping across kinds (run <-> env) is recorded, not required.
        for target in &all_scopes {
            let expected = direct_for(target);
            let same_kind = target.kind() == scope.kind();
            let what = if target == &scope {
                "not idempotent: rewriting the output again changes it".to_string()
            } else {
                format!("re-scoping the output to {target} differs from rewriting the original for {target}")
            };
            let problem = match fence(path, out, target, &ctx.no_policy_dir) {
                Ok(again) if again == expected => None,
                Ok(again) => Some(format!("{what}: {}", first_difference(expected, &again))),
                Err(FenceError::Refused(e)) => Some(format!(
                    "rewriting the output for {target} is refused: {}",
                    tidy(e)
                )),
                Err(FenceError::Panicked(p)) => {
                    r.failures.push(format!(
                        "[{scope}] netfence panicked rewriting its own output for {target}: {p}"
                    ));
                    None
                }
            };
            match problem {
                Some(p) if same_kind => r.failures.push(format!("[{scope}] {p}")),
                Some(p) => r.cross_kind.push(format!("[{scope} -> {target}] {p}")),
                None => {}
            }
        }
        if r.failures.len() == before {
            r.ok_scopes.push(scope.to_string());
        }
        // (d) The overlay: input + overlay reads as the full rewrite, or is refused.
        let files = [path.to_path_buf()];
        let raw = level == Level::Raw;
        match overlay::check(
            &ctx.compose,
            &files,
            dir,
            &scope,
            raw,
            None,
            &ctx.no_policy_dir,
        ) {
            overlay::Verdict::Equal => r.overlay_equal.push(scope.to_string()),
            overlay::Verdict::Refused(why) => {
                r.overlay_refused.push(format!("[{scope}] {}", tidy(why)))
            }
            overlay::Verdict::Failed(why) => {
                r.failures.push(format!("[{scope}] overlay: {}", tidy(why)))
            }
        }
    }
    r
}

fn corpus_files(corpus: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![corpus.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    if let Ok(only) = std::env::var("NETFENCE_CONFORMANCE_ONLY") {
        files.retain(|f| f.to_string_lossy().contains(&only));
    }
    files
}

#[test]
fn corpus_conformance() {
    let shared = shared_dir();
    let corpus = shared.join("corpus");
    if !corpus.is_dir() {
        unavailable(&format!(
            "the compose corpus is missing at {} (it lives beside the repository, in shared/)",
            corpus.display()
        ));
        return;
    }
    let corpus = corpus.canonicalize().expect("corpus path");
    let Some(compose) = ComposeCmd::find() else {
        unavailable(
            "Docker Compose v2 not found (no cli-plugins/docker-compose, `docker compose` or \
             `docker-compose`); scripts/provision-engine.sh installs it",
        );
        return;
    };
    let schema_text = std::fs::read_to_string(shared.join("compose-spec.json"))
        .expect("../shared/compose-spec.json");
    let schema: serde_json::Value = serde_json::from_str(&schema_text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("compose-spec.json compiles");
    let no_policy = tempfile::tempdir().expect("temp dir");

    let files = corpus_files(&corpus);
    assert!(
        !files.is_empty(),
        "no compose files under {}",
        corpus.display()
    );
    let ctx = Ctx {
        corpus: corpus.clone(),
        compose,
        validator,
        no_policy_dir: no_policy.path().to_path_buf(),
    };

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<FileReport>> = Mutex::new(Vec::with_capacity(files.len()));
    std::thread::scope(|s| {
        for _ in 0..POOL {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let report = check_file(&ctx, path);
                reports.lock().unwrap().push(report);
            });
        }
    });
    let mut reports = reports.into_inner().unwrap();
    reports.sort_by(|a, b| a.rel.cmp(&b.rel));
    let elapsed = started.elapsed();

    let summary = Summary::of(&reports);
    eprintln!("{}", summary.text(&ctx.compose, elapsed));
    for r in reports.iter().filter(|r| !r.overlay_refused.is_empty()) {
        for why in &r.overlay_refused {
            eprintln!("conformance:   overlay refused: {}: {why}", r.rel);
        }
    }

    let reviewed: BTreeMap<&str, &str> = REVIEWED_REFUSALS.iter().copied().collect();
    let mut failures: Vec<String> = Vec::new();
    for r in &reports {
        for f in &r.failures {
            failures.push(format!("{}: {f}", r.rel));
        }
        if let (Some(level), Some(why)) = (r.accepted, &r.refusal) {
            if !reviewed.contains_key(r.rel.as_str()) {
                failures.push(format!(
                    "{}: Compose accepts it ({}) but netfence refuses it, and no human has \
                     reviewed that refusal (REVIEWED_REFUSALS): {why}",
                    r.rel,
                    level.name()
                ));
            }
        }
    }

    if std::env::var("NETFENCE_WRITE_DOCS").is_ok_and(|v| v == "1") {
        let doc = conformance_doc(&reports, &summary, &ctx.compose, &reviewed);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/CONFORMANCE.md");
        std::fs::write(&path, doc).expect("write docs/CONFORMANCE.md");
        eprintln!("conformance: wrote {}", path.display());
    }

    assert!(
        failures.is_empty(),
        "{} conformance failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

struct Summary {
    files: usize,
    strict: usize,
    raw: usize,
    invalid: usize,
    rewritten_ok: usize,
    refused_accepted: usize,
    refused_invalid: usize,
    schema_invalid_originals: usize,
    broken: usize,
    cross_kind: usize,
    /// Accepted files whose overlay reads as the full rewrite in both scopes.
    overlay_equal: usize,
    /// Accepted files netfence writes no overlay for in some scope.
    overlay_refused: usize,
}

impl Summary {
    fn of(reports: &[FileReport]) -> Summary {
        let accepted = |r: &&FileReport| r.accepted.is_some();
        Summary {
            files: reports.len(),
            strict: reports
                .iter()
                .filter(|r| r.accepted == Some(Level::Strict))
                .count(),
            raw: reports
                .iter()
                .filter(|r| r.accepted == Some(Level::Raw))
                .count(),
            invalid: reports.iter().filter(|r| r.accepted.is_none()).count(),
            rewritten_ok: reports
                .iter()
                .filter(accepted)
                .filter(|r| r.failures.is_empty() && r.refusal.is_none())
                .count(),
            refused_accepted: reports
                .iter()
                .filter(accepted)
                .filter(|r| r.refusal.is_some())
                .count(),
            refused_invalid: reports
                .iter()
                .filter(|r| r.accepted.is_none() && r.refusal.is_some())
                .count(),
            schema_invalid_originals: reports.iter().filter(|r| r.schema_invalid_original).count(),
            broken: reports.iter().filter(|r| !r.failures.is_empty()).count(),
            cross_kind: reports.iter().filter(|r| !r.cross_kind.is_empty()).count(),
            overlay_equal: reports
                .iter()
                .filter(|r| r.overlay_equal.len() == scopes().len())
                .count(),
            overlay_refused: reports
                .iter()
                .filter(|r| !r.overlay_refused.is_empty())
                .count(),
        }
    }

    fn text(&self, compose: &ComposeCmd, elapsed: Duration) -> String {
        format!(
            "conformance: {} corpus files, Docker Compose {} ({:.1}s, {POOL} at a time)\n\
             conformance:   accepted by compose:     {} ({} strict, {} only with --no-interpolate)\n\
             conformance:   rewritten OK (run+env):  {}\n\
             conformance:   refused by netfence:     {} of the accepted, {} of the invalid\n\
             conformance:   compose-invalid:         {}\n\
             conformance:   broken by netfence:      {}\n\
             conformance:   (accepted originals already failing compose-spec.json: {})\n\
             conformance:   (re-scoping across kinds differs for {} file(s); not required)\n\
             conformance:   overlay reads as the full rewrite (run+env): {} of the accepted; \
             refused for {}",
            self.files,
            compose.version,
            elapsed.as_secs_f64(),
            self.strict + self.raw,
            self.strict,
            self.raw,
            self.rewritten_ok,
            self.refused_accepted,
            self.refused_invalid,
            self.invalid,
            self.broken,
            self.schema_invalid_originals,
            self.cross_kind,
            self.overlay_equal,
            self.overlay_refused,
        )
    }
}

fn md_cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace('\n', " ");
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

/// How many accepted files tenant mode (env scope, built-in policy) refuses, by the key
/// each refusal names: the platform's view of the corpus, informational.
fn tenant_section(d: &mut String, reports: &[FileReport]) {
    // Each refused file with the keys its refusals name, once each.
    let refused: Vec<(&FileReport, BTreeSet<String>)> = reports
        .iter()
        .filter(|r| r.accepted.is_some() && !r.tenant_refusals.is_empty())
        .map(|r| {
            let keys = r.tenant_refusals.iter().filter_map(|l| refused_key(l));
            (r, keys.collect())
        })
        .collect();
    let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
    for k in refused.iter().flat_map(|(_, keys)| keys) {
        *by_key.entry(k).or_default() += 1;
    }
    let _ = writeln!(
        d,
        "## Tenant mode\n\n\
         The checks above fence each file as the user's own. As a tenant's file on a shared \
         platform (env scope, tenant mode, built-in policy) {} of the accepted files are refused \
         (exit 2) for reaching past their fence; by what the refusal names (files):\n",
        refused.len()
    );
    let _ = writeln!(d, "| key | files |\n|---|---:|");
    for (k, n) in &by_key {
        let _ = writeln!(d, "| `{k}` | {n} |");
    }
    let closed = reports.iter().filter(|r| r.closed_equal).count();
    let _ = writeln!(
        d,
        "\nOf the strictly accepted files tenant mode accepts, {closed} were fenced as a tenant's \
         and Compose read the closed output (every `${{VAR}}` resolved, tags decoded, paths \
         absolute) exactly as the open one, in the same empty environment; a difference fails \
         the test.\n\nEach refused file, with what its refusals name. A refusal is a reach \
         past the project (a host path, a host namespace or device, a capability, an external \
         network or volume, a program on the host, a file outside the project), except \
         `Compose error while closing`: a closed output reads env files in, and these \
         files' env files are not in the corpus (Compose refuses them strictly too).\n"
    );
    let _ = writeln!(d, "| file | keys |\n|---|---|");
    for (r, keys) in &refused {
        let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        let _ = writeln!(d, "| {} | {} |", md_cell(&r.rel), keys.join(", "));
    }
    let _ = writeln!(d);
}

/// `rewrite --overlay` over the accepted files: how many read as the full rewrite, and
/// every refusal with its reason.
fn overlay_section(d: &mut String, reports: &[FileReport], s: &Summary) {
    let _ = writeln!(
        d,
        "## Overlay\n\n\
         For each accepted file and both scopes, `docker compose -f FILE -f OVERLAY config \
         --format json` (the output of `rewrite --overlay` given after the file) must equal \
         `config --format json` of the full rewrite, whole. A difference is a failure \
         (listed under \"Broken by netfence\"); an input netfence cannot express as an \
         overlay must be refused with a reason, listed here.\n\n\
         | | files |\n|---|---:|\n\
         | overlay reads as the full rewrite in both scopes | {} |\n\
         | overlay refused in some scope | {} |\n",
        s.overlay_equal, s.overlay_refused
    );
    let refused: Vec<&FileReport> = reports
        .iter()
        .filter(|r| !r.overlay_refused.is_empty())
        .collect();
    if !refused.is_empty() {
        let _ = writeln!(d, "| file | netfence's reason |\n|---|---|");
        for r in refused {
            let _ = writeln!(
                d,
                "| `{}` | {} |",
                r.rel,
                md_cell(&r.overlay_refused.join("; "))
            );
        }
        let _ = writeln!(d);
    }
}

/// `network_mode` from "service x: `services.x.network_mode`: ...".
fn refused_key(line: &str) -> Option<String> {
    let key = line.split('`').nth(1)?;
    let last = key.rsplit('.').next()?;
    Some(last.split('[').next()?.to_owned())
}

fn conformance_doc(
    reports: &[FileReport],
    s: &Summary,
    compose: &ComposeCmd,
    reviewed: &BTreeMap<&str, &str>,
) -> String {
    let mut d = String::new();
    let _ = writeln!(
        d,
        "# Conformance over the compose corpus\n\n\
         Generated by `tests/conformance/main.rs` — do not edit by hand. Regenerate with:\n\n\
         ```sh\nNETFENCE_WRITE_DOCS=1 cargo test --test conformance -- --nocapture\n```\n\n\
         The corpus is `../shared/corpus/` (see its README and MANIFEST.tsv). Each file is judged \
         by the real Docker Compose ({version}), run as `docker compose -f FILE \
         --project-directory DIR config -q` in an empty environment, and rewritten by netfence \
         with the built-in policy in two scopes, `run:conf` and `env:staging`.\n\n\
         ## The rule\n\n\
         - **strict**: Compose accepts the file as it is, with interpolation (an unset `${{VAR}}` \
         becomes empty, `${{VAR:?}}` fails) and its consistency checks.\n\
         - **raw**: Compose rejects it strictly but accepts it with `--no-interpolate` (parsing, \
         extends/include and its schema, no consistency pass). Most PaaS templates: the \
         platform supplies their variables and volumes.\n\
         - **invalid**: Compose rejects it both ways; netfence must only not panic on it.\n\n\
         For every strict or raw file, each rewrite must be accepted by Compose at the same \
         level, validate against `../shared/compose-spec.json` (or add no error the original \
         already had), be idempotent (same scope again: identical bytes) and re-scope cleanly \
         (the `run:conf` output rewritten for `run:other`, and the `env:staging` output \
         rewritten for `env:production`, equal the original rewritten for that scope). \
         Re-scoping across kinds is tried and reported below, not required. A refusal of an \
         accepted file fails the test unless it is reviewed in `REVIEWED_REFUSALS`.\n",
        version = compose.version
    );
    let _ = writeln!(
        d,
        "## Counts\n\n\
         | | files |\n|---|---:|\n\
         | corpus files | {} |\n\
         | accepted by Compose, strict | {} |\n\
         | accepted by Compose, raw only | {} |\n\
         | rewritten OK in both scopes | {} |\n\
         | refused by netfence (accepted files) | {} |\n\
         | refused by netfence (invalid files) | {} |\n\
         | Compose-invalid | {} |\n\
         | **broken by netfence** | **{}** |\n\
         | accepted originals that already fail compose-spec.json | {} |\n\
         | re-scoping across kinds differs (informational) | {} |\n",
        s.files,
        s.strict,
        s.raw,
        s.rewritten_ok,
        s.refused_accepted,
        s.refused_invalid,
        s.invalid,
        s.broken,
        s.schema_invalid_originals,
        s.cross_kind
    );

    tenant_section(&mut d, reports);
    overlay_section(&mut d, reports, s);
    let _ = writeln!(d, "## Refusals\n");
    let refused: Vec<&FileReport> = reports.iter().filter(|r| r.refusal.is_some()).collect();
    if refused.is_empty() {
        let _ = writeln!(d, "None.\n");
    } else {
        let _ = writeln!(
            d,
            "| file | Compose | netfence's reason | reviewed |\n|---|---|---|---|"
        );
        for r in refused {
            let verdict = r.accepted.map_or("invalid", Level::name);
            let review = match (r.accepted, reviewed.get(r.rel.as_str())) {
                (None, _) => "Compose rejects it too".to_string(),
                (Some(_), Some(why)) => md_cell(why),
                (Some(_), None) => "**not reviewed: a failure**".to_string(),
            };
            let _ = writeln!(
                d,
                "| `{}` | {} | {} | {} |",
                r.rel,
                verdict,
                md_cell(r.refusal.as_deref().unwrap_or_default()),
                review
            );
        }
        let _ = writeln!(d);
    }

    let broken: Vec<&FileReport> = reports.iter().filter(|r| !r.failures.is_empty()).collect();
    let _ = writeln!(d, "## Broken by netfence\n");
    if broken.is_empty() {
        let _ = writeln!(d, "None.\n");
    } else {
        let _ = writeln!(
            d,
            "Each is a test failure until the core is fixed.\n\n| file | failure |\n|---|---|"
        );
        for r in broken {
            for f in &r.failures {
                let _ = writeln!(d, "| `{}` | {} |", r.rel, md_cell(f));
            }
        }
        let _ = writeln!(d);
    }

    // Across kinds the differences are few and repetitive: counted by direction, with a
    // few examples each, rather than one row per file.
    let _ = writeln!(
        d,
        "## Re-scoping across kinds (informational)\n\nThe output of one kind of scope \
         rewritten for the other kind, compared with the original rewritten for it directly. \
         Not required (see the rule above); the first difference of a few files per direction.\n"
    );
    let mut by_direction: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for r in reports {
        let mut seen = BTreeSet::new();
        for c in &r.cross_kind {
            let direction = c
                .split(']')
                .next()
                .unwrap_or_default()
                .trim_start_matches('[')
                .to_string();
            // One count per file and direction of kinds (run -> env, env -> run).
            let kinds: String = direction
                .split(" -> ")
                .map(|s| s.split(':').next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" -> ");
            if seen.insert(kinds.clone()) {
                let e = by_direction.entry(kinds).or_default();
                e.0 += 1;
                if e.1.len() < 5 {
                    e.1.push(format!("`{}` {}", r.rel, md_cell(c)));
                }
            }
        }
    }
    if by_direction.is_empty() {
        let _ = writeln!(d, "None differ.\n");
    } else {
        for (kinds, (count, examples)) in &by_direction {
            let _ = writeln!(d, "- **{kinds}**: {count} file(s) differ, e.g.");
            for e in examples {
                let _ = writeln!(d, "  - {e}");
            }
        }
        let _ = writeln!(d);
    }

    let _ = writeln!(
        d,
        "## Accepted originals that fail compose-spec.json\n\nCompose accepts them, so its \
         built-in schema is laxer or newer than `../shared/compose-spec.json`; their rewrites \
         must add no error of their own.\n"
    );
    let schema_invalid: Vec<&FileReport> = reports
        .iter()
        .filter(|r| r.schema_invalid_original)
        .collect();
    if schema_invalid.is_empty() {
        let _ = writeln!(d, "None.\n");
    } else {
        let _ = writeln!(d, "| file | schema errors |\n|---|---|");
        for r in schema_invalid {
            let _ = writeln!(
                d,
                "| `{}` | {} |",
                r.rel,
                md_cell(&r.original_schema_errors.join("; "))
            );
        }
        let _ = writeln!(d);
    }

    let _ = writeln!(
        d,
        "## Compose-invalid files\n\nRejected by Compose both ways; the reason is Compose's \
         strict one.\n\n| file | Compose's reason |\n|---|---|"
    );
    for r in reports.iter().filter(|r| r.accepted.is_none()) {
        let _ = writeln!(
            d,
            "| `{}` | {} |",
            r.rel,
            md_cell(r.compose_error.as_deref().unwrap_or_default())
        );
    }
    d
}
