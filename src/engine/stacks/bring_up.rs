//! Bringing one fenced copy of a stack up on the engine: what `netfence run` does before
//! CMD, and what the library's [`Stack::up`](crate::engine::stacks::stack::Stack::up) does. Tear-down is
//! [`tear_down`](crate::engine::stacks::tear_down::tear_down)'s.
//!
//! `up` in a checkout (`stacks::dev`) takes the same steps after its own planning (its
//! networks are Compose's, its host ports stable): [`write_fenced`], [`compose_up_once`],
//! [`ready`] and [`write_info`] are the one way a stack goes from a plan to ready.

use crate::engine::{EngineError, EngineResult};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::avoid::Avoid;
use crate::engine::client::compose_cli::Output;
use crate::engine::client::docker::done_if_gone;
use crate::engine::client::network::NotCreated;
use crate::engine::host::state_dir::RunDir;
use crate::engine::stacks::logs::{failing_logs, indent, not_up, NotUp};
use crate::engine::stacks::run_info::{self, RunInfo};
use crate::engine::stacks::session::Session;
use crate::engine::stacks::wait;
use crate::plan::{Plan, Role};
use crate::{labels, Scope};

/// The fenced compose file (or the overlay) and the run info, in the run's private
/// directory.
const FENCED_FILE: &str = "compose.yml";
const OVERLAY_FILE: &str = "fence.yml";
pub(super) const INFO_FILE: &str = "run-info.json";

/// What a copy has put on the engine (or on disk), for tear-down.
#[derive(Debug, Default)]
pub struct Footprint {
    /// The run's private directory: the fenced file and the run info are in it.
    pub dir: Option<RunDir>,
    /// The files Compose is given, in order: the fenced file, or the input files and
    /// the overlay. Empty until they are written.
    pub compose_files: Vec<PathBuf>,
    pub info_file: Option<PathBuf>,
    pub project_name: String,
    /// The active profiles Compose was given: tear-down gives it the same.
    pub profiles: Vec<String>,
}

/// A copy that is up and ready.
#[derive(Debug, Clone)]
pub struct Up {
    pub info: RunInfo,
    /// What a command run against it gets to know: the `NETFENCE_*` variables.
    pub exports: Vec<(String, String)>,
}

/// How often `up` is tried when it fails for a reason that passes (see [`transient`]).
const UP_ATTEMPTS: usize = 3;

/// Engine errors that a second `up` gets past. Docker 20.10 picks an ephemeral host port
/// and only then binds it; with many stacks starting at once the bind can lose a race
/// ("address already in use") and the container fails to start.
fn transient(compose_output: &str) -> bool {
    compose_output.contains("address already in use")
}

/// Brings one copy up: plan → networks → fenced file → `compose up -d` → wait until
/// ready → run info. What it creates is noted in `fp` as it goes, for [`tear_down`]
/// (which is due on every path, this one's failure included). `index`: the copy's
/// number among parallel copies. The error says why, quoting the logs of the
/// containers that failed.
///
/// [`tear_down`]: crate::engine::stacks::tear_down::tear_down
pub async fn bring_up(
    session: &Session,
    scope: &Scope,
    index: Option<usize>,
    fp: &mut Footprint,
) -> Result<Up, NotUp> {
    let t0 = Instant::now();
    let deadline = t0 + session.setup.timeout;
    let engine = &session.engine;
    let plan = plan_and_create(session, scope).await?;
    if let Some(w) = crate::engine::stacks::caveats::caveat_on(engine, &plan).await {
        tracing::warn!("{scope}: {w}");
    }
    fp.project_name = plan.project_name.clone();
    fp.profiles = plan.profiles.active.clone();
    if session.setup.reuse {
        // The earlier run's directory: its files are this one's to replace.
        session.state.forget(&plan.project_name);
    }
    let dir = session.state.new_run_dir(&plan.project_name)?;
    let files = write_fenced(session, &plan, fp.dir.insert(dir))?;
    fp.compose_files = files.clone();
    tracing::debug!("networks ready after {:?}", t0.elapsed());
    compose_up(session, fp, deadline).await?;
    tracing::debug!("compose up done after {:?}", t0.elapsed());
    let info = ready(session, &plan, index, deadline).await?;
    tracing::debug!("ready after {:?}", t0.elapsed());
    let Some(dir) = &fp.dir else {
        return Err(EngineError::other("no run directory for the run info").into());
    };
    let info_path = write_info(&info, dir)?;
    fp.info_file = Some(info_path.clone());
    let mut exports = run_info::exports(&info);
    exports.push((
        "NETFENCE_RUN_INFO".into(),
        info_path.to_string_lossy().into_owned(),
    ));
    exports.push(("NETFENCE_INDEX".into(), index.unwrap_or(0).to_string()));
    // The file netfence wrote, and every file Compose was given (a `COMPOSE_FILE` value).
    if let Some(written) = files.last() {
        exports.push((
            "NETFENCE_COMPOSE_FILE".into(),
            written.to_string_lossy().into_owned(),
        ));
    }
    let all: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    exports.push(("NETFENCE_COMPOSE_FILES".into(), all.join(":")));
    tracing::info!("{} is up: {}", plan.project_name, info_path.display());
    Ok(Up { info, exports })
}

/// How often a copy is planned again because the engine refused a subnet as
/// overlapping: each refusal is a concurrent run that took that subnet meanwhile.
const MAX_PLANS: usize = 12;

/// Plans the copy and creates its networks exactly as planned. When the engine refuses
/// a subnet (a concurrent run took it after the engine was read), the copy is planned
/// again with that subnet taken: the planner stays the only allocator, so the networks
/// are what `plan --for-run` shows.
async fn plan_and_create(session: &Session, scope: &Scope) -> EngineResult<Plan> {
    let mut refused: Vec<IpNet> = Vec::new();
    let mut created: Vec<Created> = if session.setup.reuse {
        earlier_networks(session, scope).await?
    } else {
        Vec::new()
    };
    for _ in 0..MAX_PLANS {
        let plan = plan_copy(session, scope, &refused).await?;
        match create_networks(session, &plan, &mut created).await? {
            None => {
                // The engine applies a bridge's isolation rules after the bridge is up:
                // no container starts before they are there.
                let names: Vec<String> = plan.networks.iter().map(|n| n.name.clone()).collect();
                session.engine.settle_isolation(&names).await?;
                return Ok(plan);
            }
            Some(taken) => {
                tracing::info!("{scope}: subnet {taken} was taken meanwhile; planning again");
                refused.push(taken);
            }
        }
    }
    Err(EngineError::refused(format!(
        "creating the networks: {MAX_PLANS} plans in a row had a subnet another network took meanwhile"
    )))
}

/// A network this copy created, with the subnets it has.
struct Created {
    name: String,
    id: String,
    subnets: Vec<IpNet>,
    /// Made by an earlier run of a reused stack: kept as it is, whatever the plan's
    /// subnet (its containers are attached to it).
    earlier: bool,
}

/// The networks a reused stack's earlier run made, by the scope's labels.
async fn earlier_networks(session: &Session, scope: &Scope) -> EngineResult<Vec<Created>> {
    let nets = session
        .engine
        .networks_labelled(&crate::engine::scope_filter(scope))
        .await?;
    Ok(nets
        .into_iter()
        .filter(|n| n.label(labels::ROLE).is_none())
        .map(|n| Created {
            subnets: n.subnets.iter().filter_map(|s| s.parse().ok()).collect(),
            name: n.name,
            id: n.id,
            earlier: true,
        })
        .collect())
}

/// The copy's plan: its managed networks on subnets that no network on the engine (but
/// its own, from an earlier try), no `refused` one and no other copy's plan has.
async fn plan_copy(session: &Session, scope: &Scope, refused: &[IpNet]) -> EngineResult<Plan> {
    let mut occupied = session.engine.avoid().await?;
    occupied.extend(refused.iter().map(|&s| Avoid::refused(s)));
    if let Ok(planned) = session.planned.lock() {
        let others = planned.iter().filter(|(id, _)| *id != scope.id());
        occupied.extend(others.flat_map(|(id, s)| s.iter().map(move |&s| Avoid::copy(s, id))));
    }
    let mut opts = session.setup.options(scope, occupied);
    // Every service and own volume also names its owning process, so `gc` can tell a
    // live run's from a dead one's. Not a reused stack's: it outlives the run that made
    // it, and a label that changes every run would make Compose recreate every
    // container (its config hash).
    if !session.setup.reuse {
        opts.bring_up_labels
            .push((labels::OWNER.to_owned(), session.owner.clone()));
    }
    let plan = session
        .project
        .plan(&opts)
        .map_err(|e| EngineError::Plan(Box::new(e)))?;
    if let Ok(mut planned) = session.planned.lock() {
        planned.insert(scope.id().to_owned(), subnets_of(&plan));
    }
    Ok(plan)
}

fn subnets_of(plan: &Plan) -> Vec<IpNet> {
    let managed = plan.networks.iter().filter(|n| n.role == Role::Managed);
    managed
        .flat_map(|n| n.subnet.into_iter().chain(n.subnet6))
        .collect()
}

/// Creates the plan's managed networks (and the persistent ones it names, when
/// missing), keeping those of an earlier try that the plan still has as they are.
/// `Some(subnet)` when the engine refused that subnet as overlapping.
async fn create_networks(
    session: &Session,
    plan: &Plan,
    created: &mut Vec<Created>,
) -> EngineResult<Option<IpNet>> {
    let extra = vec![
        (labels::OWNER.to_owned(), session.owner.clone()),
        (labels::CREATED.to_owned(), crate::engine::now_rfc3339()),
    ];
    for np in &plan.networks {
        if np.role.is_persistent() {
            session.engine.ensure_persistent(np).await?;
        }
        if np.role != Role::Managed {
            continue;
        }
        let subnets: Vec<IpNet> = np.subnet.into_iter().chain(np.subnet6).collect();
        if let Some(i) = created.iter().position(|c| c.name == np.name) {
            if created[i].subnets == subnets || created[i].earlier {
                continue;
            }
            // Planned elsewhere this time: it is new and empty, so it goes.
            let old = created.remove(i);
            done_if_gone(session.engine.remove_network(&old.id).await)
                .map_err(|e| e.doing(format!("removing network {}", old.name)))?;
        }
        match session.engine.create_planned(np, &extra).await {
            Ok(id) => created.push(Created {
                name: np.name.clone(),
                id,
                subnets,
                earlier: false,
            }),
            Err(NotCreated::Overlap(s)) => return Ok(Some(s)),
            Err(NotCreated::Failed(e)) => return Err(e),
            Err(NotCreated::Exists) => {
                return Err(EngineError::Conflict {
                    network: np.name.clone(),
                    message: format!(
                        "creating network {}: the engine already holds a network of that name (another run with this id?)",
                        np.name
                    ),
                })
            }
        }
    }
    Ok(None)
}

/// The fenced file in the run's private directory: the files
/// Compose is to read, in order. Its relative paths still resolve as in the input:
/// Compose takes them from the project directory, which it is given (see
/// [`Compose::command`]). With an overlay, the input files come first, untouched.
///
/// [`Compose::command`]: crate::engine::client::compose_cli::Compose::command
pub(super) fn write_fenced(
    session: &Session,
    plan: &Plan,
    dir: &RunDir,
) -> EngineResult<Vec<PathBuf>> {
    let doc = session.project.rewrite(plan);
    if !session.setup.overlay {
        let text = crate::yaml::to_string(&doc);
        return Ok(vec![dir.write(FENCED_FILE, &text)?]);
    }
    let overlay = session
        .project
        .overlay_of(&doc)
        .map_err(|e| EngineError::Plan(Box::new(e)))?;
    let mut files = crate::engine::stacks::session::overlay_inputs(&session.project)
        .map_err(|e| EngineError::Plan(Box::new(e)))?;
    files.push(dir.write(OVERLAY_FILE, &crate::yaml::to_string(&overlay))?);
    Ok(files)
}

/// `compose up -d` of the files and profiles in `fp`, tried again when it failed for a
/// reason that passes; a failure comes with the logs of the services that did not start.
async fn compose_up(session: &Session, fp: &Footprint, deadline: Instant) -> Result<(), NotUp> {
    let project = fp.project_name.as_str();
    let mut attempt = 0;
    let out = loop {
        attempt += 1;
        let said =
            compose_up_once(session, &fp.compose_files, project, &fp.profiles, deadline).await?;
        match said {
            None => return Ok(()),
            Some(out) if attempt < UP_ATTEMPTS && transient(&out.text) => {
                // `up` is idempotent: a second one starts what the first could not.
                tracing::info!("{project}: retrying `up` after: {}", out.text.trim_end());
                tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
            }
            Some(out) => break out,
        }
    };
    Err(up_failed(session, project, &out).await)
}

/// One `compose up -d --remove-orphans` of `files` under `profiles`, within `deadline`:
/// `None` when it worked, else how it ended.
pub(super) async fn compose_up_once(
    session: &Session,
    files: &[PathBuf],
    project: &str,
    profiles: &[String],
    deadline: Instant,
) -> EngineResult<Option<Output>> {
    let dir = &session.project.input.project_dir;
    let mut up = session.compose.command(files, dir, project, profiles);
    up.args(["up", "-d", "--remove-orphans"]);
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, session.compose.run(up, "up")).await {
        Ok(Ok(out)) if out.success => Ok(None),
        Ok(Ok(out)) => Ok(Some(out)),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            let message = format!(
                "`{} up` did not finish within --timeout {}",
                session.compose.display(),
                humantime::format_duration(session.setup.timeout)
            );
            Err(session.compose.failed("up", None, message))
        }
    }
}

/// A failed `up`: what Compose said, and the logs of the services that did not start.
pub(super) async fn up_failed(session: &Session, project: &str, out: &Output) -> NotUp {
    let logs = failing_logs(&session.engine, project).await;
    let message = format!(
        "`{} up -d` failed:\n{}{}",
        session.compose.display(),
        indent(out.text.trim_end()),
        logs.text
    );
    NotUp {
        error: session.compose.failed("up -d", out.status, message),
        containers: logs.containers,
    }
}

/// Waits until the stack of `plan` is ready (`--wait`), reads where everything is, and
/// confirms it stayed up meanwhile: its run info. `index`: the copy's number among
/// parallel copies.
pub(super) async fn ready(
    session: &Session,
    plan: &Plan,
    index: Option<usize>,
    deadline: Instant,
) -> Result<RunInfo, NotUp> {
    let engine = &session.engine;
    let expect = crate::engine::stacks::session::expect(&session.setup, plan);
    let progress = session.setup.progress;
    let ready_at =
        wait::until_ready(engine, &plan.project_name, deadline, progress, &expect).await?;
    let ready_at = match ready_at {
        Ok(at) => at,
        Err(not_ready) => return Err(not_up(engine, not_ready).await),
    };
    let info = run_info::collect(engine, plan, index).await?;
    // The settle look comes after collecting the run info, which took part of it.
    if let Err(not_ready) = wait::confirm(engine, &plan.project_name, ready_at, &expect).await? {
        return Err(not_up(engine, not_ready).await);
    }
    Ok(info)
}

/// The run-info file, beside the fenced file in the run's private directory.
pub(super) fn write_info(info: &RunInfo, dir: &RunDir) -> EngineResult<PathBuf> {
    let text = serde_json::to_string_pretty(info).map_err(|e| EngineError::other(e.to_string()))?;
    dir.write(INFO_FILE, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

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
