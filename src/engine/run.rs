//! `netfence run`: plan → networks through the API → `docker compose up -d` → wait until
//! ready → export coordinates → CMD → tear down → CMD's status (SPEC §4).
//!
//! Tear-down happens on every path: `up` or the wait fails, CMD fails, a signal arrives.
//! It is done by labels (the scope's), so it also catches what a cancelled `up` left.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::yaml::Value;
use ipnet::IpNet;

use super::compose::{self, Compose};
use super::info::{self, RunInfo};
use super::network::{assign_subnets, next_subnet};
use super::signals::{self, Interrupts, Received};
use super::sweep::{describe, Kind, Object};
use super::{owner, scope_filter, wait, Engine, EngineError};
use crate::error::Error;
use crate::plan::{NetworkPlan, Options, Plan, Role, FALLBACK_POOL};
use crate::subnet::Pool;
use crate::{labels, Project, Scope};

/// Lines of each failing service's log shown when a stack does not come up.
const LOG_LINES: &str = "40";

/// How often `up` is tried when it fails for a reason that passes (see [`transient`]).
const UP_ATTEMPTS: usize = 3;

/// Engine errors that a second `up` gets past. Docker 20.10 picks an ephemeral host port
/// and only then binds it; with many stacks starting at once the bind can lose a race
/// ("address already in use") and the container fails to start.
fn transient(compose_output: &str) -> bool {
    compose_output.contains("address already in use")
}

/// Everything the copies of one `run` share.
struct Shared {
    engine: Engine,
    compose: Compose,
    project: Project,
    opts: RunOptions,
    interrupts: Interrupts,
    owner: String,
    /// Subnets this process already gave a network: parallel copies avoid each other
    /// without waiting for the engine to refuse an overlap.
    claimed: Mutex<Vec<IpNet>>,
    progress: bool,
}

/// How one copy ended.
#[derive(Debug)]
struct Outcome {
    status: u8,
    /// What went wrong in netfence's part (not CMD's own failure).
    error: Option<String>,
    elapsed: Duration,
}

/// What a copy has put on the engine (or on disk), for tear-down.
#[derive(Default)]
struct Footprint {
    compose_file: Option<PathBuf>,
    info_dir: Option<PathBuf>,
    project_name: String,
}

/// What one `netfence run` does, decided before anything touches the engine.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// One run id per copy: the base id, or `<base>-<i>` for `parallel` copies.
    pub ids: Vec<String>,
    /// Leave the stack up afterwards.
    pub keep: bool,
    /// How long `up` plus the wait for running/healthy services may take.
    pub timeout: Duration,
    /// The command to run against the stack; none with `keep` only brings it up.
    pub cmd: Vec<String>,
    /// `-p`: the project name before scoping.
    pub project_name: Option<String>,
    /// The process environment, for the policy's templates.
    pub environ: BTreeMap<String, String>,
}

impl RunOptions {
    /// `parallel` copies of run `base`, each id checked now (a copy's id is longer).
    pub fn new(base: String, parallel: u16) -> Result<RunOptions, Error> {
        let ids: Vec<String> = if parallel <= 1 {
            vec![base]
        } else {
            (0..parallel).map(|i| format!("{base}-{i}")).collect()
        };
        for id in &ids {
            crate::scope::check_id(id).map_err(|m| Error::Usage(format!("run id: {m}")))?;
        }
        Ok(RunOptions {
            ids,
            keep: false,
            timeout: Duration::from_secs(180),
            cmd: Vec::new(),
            project_name: None,
            environ: BTreeMap::new(),
        })
    }
}

/// Brings up `opts.ids.len()` isolated copies of `project`, runs the command against
/// each, tears them down (unless `keep`), and returns the status `netfence run` exits
/// with: the first failing copy's, else 0.
pub fn run(project: Project, opts: RunOptions) -> Result<u8, Error> {
    // Bad input is reported before anything touches the engine.
    project.plan(&options(
        &opts,
        &Scope::Run(opts.ids[0].clone()),
        Vec::new(),
    ))?;
    let interrupts = signals::install().map_err(|e| EngineError(format!("signals: {e}")))?;
    let rt = super::runtime()?;
    rt.block_on(async move {
        let engine = Engine::connect().await?;
        let compose = Compose::detect().await?;
        use std::io::IsTerminal;
        let copies = opts.ids.len();
        let shared = Shared {
            engine,
            compose,
            project,
            interrupts,
            owner: owner::current(),
            claimed: Mutex::new(Vec::new()),
            progress: copies == 1 && std::io::stderr().is_terminal(),
            opts,
        };
        let ids = &shared.opts.ids;
        let outcomes: Vec<Outcome> =
            futures_util::future::join_all(ids.iter().enumerate().map(|(i, id)| {
                run_copy(&shared, Scope::Run(id.clone()), (copies > 1).then_some(i))
            }))
            .await;
        if copies > 1 {
            summarise(ids, &outcomes);
        }
        let failed = outcomes.iter().find(|o| o.status != 0);
        Ok(failed.map_or(0, |o| o.status))
    })
}

fn options(opts: &RunOptions, scope: &Scope, occupied: Vec<IpNet>) -> Options {
    Options {
        scope: Some(scope.clone()),
        project: opts.project_name.clone(),
        environ: opts.environ.clone(),
        occupied,
        managed_external: true,
        ..Options::default()
    }
}

fn summarise(ids: &[String], outcomes: &[Outcome]) {
    eprintln!("netfence: {} copies:", ids.len());
    for (i, (id, o)) in ids.iter().zip(outcomes).enumerate() {
        let verdict = if o.status == 0 { "ok" } else { "FAILED" };
        let why = o
            .error
            .as_deref()
            .map(|e| format!(": {}", e.lines().next().unwrap_or_default()))
            .unwrap_or_default();
        eprintln!(
            "  copy {i} (run:{id}): {verdict}, exit {} in {:.1}s{why}",
            o.status,
            o.elapsed.as_secs_f64()
        );
    }
}

async fn run_copy(sh: &Shared, scope: Scope, index: Option<usize>) -> Outcome {
    let started = Instant::now();
    let mut ints = sh.interrupts.clone();
    let mut fp = Footprint::default();
    let label = match index {
        Some(i) => format!("run {} (copy {i})", scope.id()),
        None => format!("run {}", scope.id()),
    };
    let (mut status, mut error) = up_and_cmd(sh, &scope, index, &mut fp, &mut ints, &label).await;
    if sh.opts.keep {
        if fp.compose_file.is_some() {
            eprintln!(
                "netfence: {label} left up (--keep): project {}; remove it with `netfence down --run-id {}`{}",
                fp.project_name,
                scope.id(),
                fp.info_dir
                    .as_ref()
                    .map(|d| format!(" (run info: {})", d.join("run-info.json").display()))
                    .unwrap_or_default()
            );
        }
    } else {
        match guarded_teardown(sh, &scope, &fp, &mut ints, &label).await {
            Ok(()) => {}
            Err(TeardownFailed::Abandoned(sig)) => status = sig.exit_status(),
            Err(TeardownFailed::Incomplete(e)) => {
                eprintln!("netfence: {label}: tear-down incomplete: {e}");
                if status == 0 {
                    status = 3;
                }
                error.get_or_insert(e);
            }
        }
    }
    Outcome {
        status,
        error,
        elapsed: started.elapsed(),
    }
}

/// Brings the copy up and runs CMD against it: the status so far, and what went wrong
/// in netfence's part. A signal while starting abandons the start for tear-down.
async fn up_and_cmd(
    sh: &Shared,
    scope: &Scope,
    index: Option<usize>,
    fp: &mut Footprint,
    ints: &mut Interrupts,
    label: &str,
) -> (u8, Option<String>) {
    let setup_result = tokio::select! {
        r = setup(sh, scope, index, fp) => Ok(r),
        sig = signals::next(ints) => Err(sig),
    };
    match setup_result {
        Ok(Ok(ready)) => {
            let (code, err) = match run_cmd(sh, &ready, ints).await {
                Ok(code) => (code, None),
                Err(e) => (127, Some(e)),
            };
            // A service that crashed right after it started can look running to the
            // engine for a moment (its state lags under load): look again now.
            match crashed(&sh.engine, &fp.project_name).await {
                Some(report) => {
                    eprintln!("netfence: {label}: {report}");
                    (if code == 0 { 3 } else { code }, err.or(Some(report)))
                }
                None => (code, err),
            }
        }
        Ok(Err(failure)) => {
            eprintln!("netfence: {label}: {failure}");
            (3, Some(failure))
        }
        Err(sig) => {
            eprintln!(
                "netfence: {label}: {} while starting the stack; tearing it down",
                sig.name()
            );
            (
                sig.exit_status(),
                Some(format!("interrupted by {}", sig.name())),
            )
        }
    }
}

enum TeardownFailed {
    /// A second signal stopped it half way.
    Abandoned(Received),
    Incomplete(String),
}

/// Tears the copy down. A first signal meanwhile is only acknowledged: the user may
/// not know a tear-down is under way. A second one abandons it.
async fn guarded_teardown(
    sh: &Shared,
    scope: &Scope,
    fp: &Footprint,
    ints: &mut Interrupts,
    label: &str,
) -> Result<(), TeardownFailed> {
    let td = teardown(sh, scope, fp);
    tokio::pin!(td);
    let mut warned = false;
    loop {
        tokio::select! {
            r = &mut td => return r.map_err(TeardownFailed::Incomplete),
            sig = signals::next(ints) => {
                if !warned {
                    warned = true;
                    eprintln!("netfence: {label}: still tearing down ({} again abandons the tear-down)", sig.name());
                } else {
                    eprintln!(
                        "netfence: {label}: tear-down ABANDONED on a second {}; remove what is left with `netfence down --run-id {}` (or `netfence gc`)",
                        sig.name(), scope.id()
                    );
                    return Err(TeardownFailed::Abandoned(sig));
                }
            }
        }
    }
}

/// A stack that is up and ready, and what CMD gets to know about it.
struct Ready {
    exports: Vec<(String, String)>,
}

async fn setup(
    sh: &Shared,
    scope: &Scope,
    index: Option<usize>,
    fp: &mut Footprint,
) -> Result<Ready, String> {
    let t0 = Instant::now();
    let deadline = t0 + sh.opts.timeout;
    let engine = &sh.engine;
    let (mut plan, occupied) = plan_copy(sh, scope).await?;
    fp.project_name = plan.project_name.clone();
    let subnets = create_networks(sh, &mut plan, &occupied).await?;
    let file = write_fenced(sh, &plan)?;
    fp.compose_file = Some(file.clone());
    tracing::debug!("networks ready after {:?}", t0.elapsed());
    compose_up(sh, &file, &plan.project_name, deadline).await?;
    tracing::debug!("compose up done after {:?}", t0.elapsed());
    let ready_at = wait::until_ready(engine, &plan.project_name, deadline, sh.progress)
        .await
        .map_err(|e| e.0)?;
    let ready_at = match ready_at {
        Ok(at) => at,
        Err(not_ready) => return Err(not_up(engine, not_ready).await),
    };
    tracing::debug!("ready after {:?}", t0.elapsed());
    let info = info::collect(engine, &plan, &subnets, index)
        .await
        .map_err(|e| e.0)?;
    let info_path = write_info(&info, fp)?;
    let mut exports = info::exports(&info);
    exports.push((
        "NETFENCE_RUN_INFO".into(),
        info_path.to_string_lossy().into_owned(),
    ));
    exports.push(("NETFENCE_INDEX".into(), index.unwrap_or(0).to_string()));
    exports.push((
        "NETFENCE_COMPOSE_FILE".into(),
        file.to_string_lossy().into_owned(),
    ));
    // The settle look overlaps with collecting the run info.
    if let Err(not_ready) = wait::confirm(engine, &plan.project_name, ready_at)
        .await
        .map_err(|e| e.0)?
    {
        return Err(not_up(engine, not_ready).await);
    }
    tracing::info!("{} is up: {}", plan.project_name, info_path.display());
    Ok(Ready { exports })
}

/// The copy's plan, every managed network given a subnet no network on the engine (nor
/// another copy of this process) has; and the subnets that were taken.
async fn plan_copy(sh: &Shared, scope: &Scope) -> Result<(Plan, Vec<IpNet>), String> {
    let mut occupied = sh.engine.occupied_subnets().await.map_err(|e| e.0)?;
    occupied.extend(sh.claimed.lock().map(|c| c.clone()).unwrap_or_default());
    let mut plan = sh
        .project
        .plan(&options(&sh.opts, scope, occupied.clone()))
        .map_err(|e| e.to_string())?;
    assign_subnets(&mut plan.networks, pool_of(&sh.project), &occupied).map_err(|e| e.0)?;
    Ok((plan, occupied))
}

/// Creates the plan's managed networks (and the persistent ones it names, when
/// missing). Returns the subnet each managed network got.
async fn create_networks(
    sh: &Shared,
    plan: &mut Plan,
    occupied: &[IpNet],
) -> Result<HashMap<String, Option<String>>, String> {
    let pool = pool_of(&sh.project);
    let extra = vec![
        (labels::OWNER.to_owned(), sh.owner.clone()),
        (labels::CREATED.to_owned(), super::now_rfc3339()),
    ];
    let mut subnets: HashMap<String, Option<String>> = HashMap::new();
    for np in plan.networks.iter_mut() {
        match np.role {
            Role::Managed => {
                claim_subnet(sh, np, occupied, pool)?;
                let used = sh
                    .engine
                    .create_managed(np, &extra, Some(pool))
                    .await
                    .map_err(|e| e.0)?;
                if let (Some(s), Ok(mut claimed)) = (used, sh.claimed.lock()) {
                    claimed.push(s);
                }
                np.subnet = used;
                subnets.insert(np.name.clone(), used.map(|s| s.to_string()));
            }
            r if r.is_persistent() => {
                sh.engine.ensure_persistent(np).await.map_err(|e| e.0)?;
            }
            _ => {}
        }
    }
    Ok(subnets)
}

/// Moves a network off a subnet another copy of this process took meanwhile, and
/// claims the one it has.
fn claim_subnet(
    sh: &Shared,
    np: &mut NetworkPlan,
    occupied: &[IpNet],
    pool: Pool,
) -> Result<(), String> {
    if let (Some(s), Ok(claimed)) = (np.subnet, sh.claimed.lock()) {
        if claimed.iter().any(|c| crate::subnet::overlaps(c, &s)) {
            let mut taken = occupied.to_vec();
            taken.extend(claimed.iter().copied());
            np.subnet = next_subnet(pool, &np.name, &taken).map_err(|e| e.0)?;
        }
    }
    if let (Some(s), Ok(mut claimed)) = (np.subnet, sh.claimed.lock()) {
        claimed.push(s);
    }
    Ok(())
}

/// The fenced file, with owner labels, where Compose will read it.
fn write_fenced(sh: &Shared, plan: &Plan) -> Result<PathBuf, String> {
    let mut doc = sh.project.rewrite(plan);
    add_owner_labels(&mut doc, &sh.owner);
    let text = crate::yaml::to_string(&doc);
    let beside = matches!(
        sh.project.input.first_source(),
        crate::Source::File(p) if p.as_os_str() != "-"
    );
    let dir = &sh.project.input.project_dir;
    compose::write_fenced(dir, beside, &plan.project_name, &text).map_err(String::from)
}

/// `compose up -d`, tried again when it failed for a reason that passes; a failure
/// comes with the logs of the services that did not start.
async fn compose_up(
    sh: &Shared,
    file: &std::path::Path,
    project: &str,
    deadline: Instant,
) -> Result<(), String> {
    let dir = &sh.project.input.project_dir;
    let mut attempt = 0;
    let out = loop {
        let mut up = sh.compose.command(Some(file), dir, project);
        up.args(["up", "-d", "--remove-orphans"]);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let out = match tokio::time::timeout(remaining, sh.compose.run(up, "up")).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(format!(
                    "`{} up` did not finish within --timeout {}",
                    sh.compose.display(),
                    humantime::format_duration(sh.opts.timeout)
                ))
            }
        };
        attempt += 1;
        if out.success || attempt >= UP_ATTEMPTS || !transient(&out.text) {
            break out;
        }
        // `up` is idempotent: a second one starts what the first could not.
        tracing::info!("{project}: retrying `up` after: {}", out.text.trim_end());
        tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
    };
    if out.success {
        return Ok(());
    }
    let logs = failing_logs(&sh.engine, project).await;
    Err(format!(
        "`{} up -d` failed:\n{}{logs}",
        sh.compose.display(),
        indent(out.text.trim_end())
    ))
}

fn pool_of(project: &Project) -> Pool {
    match &project.policy.policy.subnets {
        Some(s) => Pool {
            net: crate::policy::parse_cidr(&s.pool)
                .unwrap_or_else(|_| FALLBACK_POOL.parse().expect("constant CIDR")),
            prefix_len: s.prefix_length.unwrap_or(24),
        },
        None => Pool {
            net: FALLBACK_POOL.parse().expect("constant CIDR"),
            prefix_len: 24,
        },
    }
}

/// The run-info file, in a directory of its own that tear-down removes.
fn write_info(info: &RunInfo, fp: &mut Footprint) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join("netfence").join(&info.project);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    fp.info_dir = Some(dir.clone());
    let path = dir.join("run-info.json");
    let text = serde_json::to_string_pretty(info).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// Every service and volume of the fenced file also names its owning process, so `gc`
/// can tell a live run's containers and volumes from a dead one's.
fn add_owner_labels(doc: &mut Value, owner: &str) {
    let Some(top) = doc.as_mapping_mut() else {
        return;
    };
    for section in ["services", "volumes"] {
        let Some(Value::Mapping(items)) = top.get_mut(section).map(crate::yaml::untag_mut) else {
            continue;
        };
        for (_, item) in items.iter_mut() {
            if item.is_null() {
                *item = Value::Mapping(Default::default());
            }
            let Some(m) = crate::yaml::untag_mut(item).as_mapping_mut() else {
                continue;
            };
            let external = m.get("external").is_some_and(crate::yaml::is_truthy);
            if !external {
                labels::set(m, "labels", labels::OWNER, owner);
            }
        }
    }
}

/// Runs CMD with the exports; signals sent to netfence alone are forwarded to it.
async fn run_cmd(sh: &Shared, ready: &Ready, ints: &mut Interrupts) -> Result<u8, String> {
    let Some((program, rest)) = sh.opts.cmd.split_first() else {
        return Ok(0);
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest);
    for (k, v) in &ready.exports {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    let pid = child.id();
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| format!("waiting for `{program}`: {e}"))?;
                use std::os::unix::process::ExitStatusExt;
                return Ok(match (status.code(), status.signal()) {
                    (Some(c), _) => c as u8,
                    (None, Some(s)) => 128u8.saturating_add(s as u8),
                    _ => 1,
                });
            }
            sig = signals::next(ints) => forward(sig, pid, program),
        }
    }
}

fn forward(sig: Received, pid: Option<u32>, program: &str) {
    // A terminal's Ctrl-C went to the whole foreground group, CMD included.
    if !sig.from_terminal {
        if let Some(pid) = pid {
            signals::send(pid, sig.signal);
        }
    }
    eprintln!(
        "netfence: {} → `{program}`; waiting for it to exit, then tearing down",
        sig.name()
    );
}

async fn teardown(sh: &Shared, scope: &Scope, fp: &Footprint) -> Result<(), String> {
    if let Some(file) = &fp.compose_file {
        let mut down =
            sh.compose
                .command(Some(file), &sh.project.input.project_dir, &fp.project_name);
        down.args(["down", "-v", "--remove-orphans"]);
        match sh.compose.run(down, "down").await {
            Ok(o) if !o.success => tracing::warn!("compose down: {}", o.text.trim_end()),
            Err(e) => tracing::warn!("{e}"),
            _ => {}
        }
    }
    tracing::debug!("compose down done");
    // What Compose did not remove (our networks, what a cancelled `up` still created).
    let left = sh
        .engine
        .sweep_scope(&scope_filter(scope), |o| o.is_persistent())
        .await
        .map_err(|e| e.0)?;
    if let Some(f) = &fp.compose_file {
        let _ = std::fs::remove_file(f);
    }
    if let Some(d) = &fp.info_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    let real = not_phantoms(&sh.engine, left).await;
    if real.is_empty() {
        return Ok(());
    }
    Err(format!(
        "still on the engine: {}; retry with `netfence down --run-id {}`",
        describe(&real),
        scope.id()
    ))
}

/// What is really left of `left`. Docker 20.10 sometimes keeps a phantom endpoint on a
/// network whose containers are all gone, and refuses to remove it until dockerd
/// restarts. That is the engine's defect, not the run's: say so loudly, leave the
/// (labelled, empty) network for `gc`, and do not turn CMD's status into a failure.
async fn not_phantoms(engine: &Engine, left: Vec<Object>) -> Vec<Object> {
    let mut real = Vec::new();
    for o in left {
        let state = if o.kind == Kind::Network {
            network_state(engine, &o.id).await
        } else {
            NetworkState::Other
        };
        match state {
            NetworkState::Gone => {}
            NetworkState::Phantom => eprintln!(
                "netfence: warning: network {} has no containers, yet the engine refuses to remove it (\"active endpoints\": a Docker 20.10 defect that a dockerd restart clears); it is left, labelled, for `netfence gc`",
                o.name
            ),
            NetworkState::Other => real.push(o),
        }
    }
    real
}

#[derive(PartialEq, Eq)]
enum NetworkState {
    /// Removed by this last try, or already gone.
    Gone,
    /// Empty yet unremovable: the engine's phantom-endpoint defect.
    Phantom,
    Other,
}

async fn network_state(engine: &Engine, id: &str) -> NetworkState {
    let n = match engine.inspect_network(id).await {
        Ok(n) => n,
        Err(e) if e.is_not_found() => return NetworkState::Gone,
        Err(_) => return NetworkState::Other,
    };
    if !n.containers.is_empty() {
        return NetworkState::Other;
    }
    match engine.remove_network(id).await {
        Ok(()) => NetworkState::Gone,
        Err(e) if e.is_not_found() => NetworkState::Gone,
        Err(e) if e.message().contains("active endpoints") => NetworkState::Phantom,
        Err(_) => NetworkState::Other,
    }
}

/// The error for a stack that did not come up, with the failing services' logs.
async fn not_up(engine: &Engine, not_ready: wait::NotReady) -> String {
    let mut logs = String::new();
    for (svc, id) in &not_ready.failed {
        logs.push_str(&service_logs(engine, svc, id).await);
    }
    format!("the stack did not come up: {}{logs}", not_ready.message)
}

/// Services that exited non-zero (with their logs), if any.
async fn crashed(engine: &Engine, project: &str) -> Option<String> {
    // Errors are ignored: the run's own outcome is what counts.
    let list = engine
        .project_containers(project, true)
        .await
        .unwrap_or_default();
    let mut what = Vec::new();
    let mut logs = String::new();
    for c in list {
        if let wait::State::Exited(code) = wait::classify(&c.state, &c.status) {
            let svc = c.service().unwrap_or_default();
            what.push(format!("`{svc}` exited with status {code}"));
            logs.push_str(&service_logs(engine, svc, &c.id).await);
        }
    }
    (!what.is_empty()).then(|| format!("service {} during the run{logs}", what.join(", ")))
}

/// Logs of the project's containers that are not running (after a failed `up`).
async fn failing_logs(engine: &Engine, project: &str) -> String {
    let list = engine
        .project_containers(project, true)
        .await
        .unwrap_or_default();
    let mut out = String::new();
    for c in list.iter().filter(|c| c.state != "running") {
        let svc = c.service().unwrap_or_default();
        out.push_str(&service_logs(engine, svc, &c.id).await);
    }
    out
}

/// The last lines of one container's log, indented under a heading.
async fn service_logs(engine: &Engine, service: &str, id: &str) -> String {
    let text = engine.logs(id, LOG_LINES).await;
    let body = if text.trim().is_empty() {
        "    (no output)".to_owned()
    } else {
        indent(text.trim_end())
    };
    format!("\n  logs of service `{service}` (last {LOG_LINES} lines):\n{body}")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<EngineError> for String {
    fn from(e: EngineError) -> String {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_labels_go_on_services_and_own_volumes_only() {
        let mut doc: Value = crate::yaml::from_str(
            "services:\n  a: {image: x, labels: [k=v]}\n  b:\nvolumes:\n  data: {}\n  ext: {external: true}\n",
        )
        .unwrap();
        add_owner_labels(&mut doc, "host/1/2");
        let get = |path: &[&str]| {
            let mut v = &doc;
            for p in path {
                v = &v[*p];
            }
            labels::get(Some(v), labels::OWNER)
        };
        assert_eq!(
            get(&["services", "a", "labels"]).as_deref(),
            Some("host/1/2")
        );
        assert_eq!(
            get(&["services", "b", "labels"]).as_deref(),
            Some("host/1/2")
        );
        assert_eq!(
            get(&["volumes", "data", "labels"]).as_deref(),
            Some("host/1/2")
        );
        assert_eq!(get(&["volumes", "ext", "labels"]), None);
        assert_eq!(
            labels::get(doc["services"]["a"].get("labels"), "k").as_deref(),
            Some("v")
        );
    }

    #[test]
    fn only_the_port_race_is_retried() {
        assert!(transient(
            "Error response from daemon: driver failed programming external connectivity on endpoint x: Error starting userland proxy: listen tcp4 0.0.0.0:32803: bind: address already in use"
        ));
        assert!(!transient(
            "Error response from daemon: Conflict. The container name \"/x\" is already in use"
        ));
        assert!(!transient("pull access denied for nosuchimage"));
        assert!(!transient(
            "driver failed programming external connectivity on endpoint x: Bind for 0.0.0.0:8080 failed: port is already allocated"
        ));
    }
}
