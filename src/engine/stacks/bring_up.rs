//! Bringing a stack up on the engine, one way for every command: `netfence run` before
//! CMD (and the library's [`Stack`](crate::engine::stacks::stack::Stack)), `run --reuse`,
//! and `up` in a checkout. Plan → the managed networks by API (planned again when the
//! engine refuses a subnet) → their isolation settled → the fenced file → `compose up`
//! (tried again, or planned again, when a host port was lost) → ready → run info.
//!
//! What differs between the commands is data, a [`BringUp`] that `run.rs` and `dev.rs`
//! build; every label the stack's objects get is in it (and so in the plan) before the
//! file is written. Tear-down is [`tear_down`]'s (a run) or `down`'s (a checkout).
//!
//! [`tear_down`]: crate::engine::stacks::tear_down::tear_down

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
use crate::engine::stacks::session::{Session, Setup};
use crate::engine::stacks::stable_ports::{taken_port, PortBook};
use crate::engine::stacks::wait;
use crate::plan::{HostPorts, NetworkPlan, Options, Plan, Role};
use crate::{labels, Scope};

/// The fenced compose file (or the overlay) and the run info, in the run's private
/// directory.
const FENCED_FILE: &str = "compose.yml";
const OVERLAY_FILE: &str = "fence.yml";
pub(super) const INFO_FILE: &str = "run-info.json";

/// What differs between the ways a stack is brought up, decided by the command.
#[derive(Debug, Clone)]
pub struct BringUp {
    pub scope: Scope,
    /// The copy's number among parallel copies (`NETFENCE_INDEX`, the run info).
    pub index: Option<usize>,
    /// An earlier deployment of the scope is built on (`run --reuse`, a checkout's
    /// stack): its networks are kept as they are, since its containers are attached to
    /// them, and its private directory is replaced.
    pub keep_earlier: bool,
    /// How host ports are chosen, and what a port lost to someone else leads to.
    pub ports: Ports,
    /// Labels on every service, own volume and managed network beside the ownership
    /// labels (the plan's `bring_up_labels`): `run`'s owning process, `up`'s checkout.
    pub labels: Vec<(String, String)>,
    /// Labels only the networks netfence creates get (beside the plan's and their
    /// creation time): a run's owning process, a reused stack's too (its services
    /// cannot carry it, see `run.rs`).
    pub network_labels: Vec<(String, String)>,
}

/// How host ports are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// As the plan writes them (an ephemeral port is the engine's choice): a bind that
    /// lost a race is tried again as it is (see [`transient`]).
    Engine,
    /// Stable across `up`s (see `plan::dev_ports`): chosen by the planner among the
    /// ports neither the engine nor this host has taken; one taken meanwhile is planned
    /// again around.
    Stable,
}

impl BringUp {
    /// The plan options: netfence creates the managed networks itself, each on a subnet
    /// none of `occupied` has; `host_ports` is what stable ports avoid and keep.
    pub(super) fn options(
        &self,
        setup: &Setup,
        occupied: Vec<Avoid>,
        host_ports: HostPorts,
    ) -> Options {
        Options {
            bring_up_labels: self.labels.clone(),
            host_ports,
            ..setup.options(&self.scope, occupied)
        }
    }
}

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

/// Brings the stack up as `how` says: plan → networks → fenced file → `compose up -d` →
/// wait until ready → run info. What it creates is noted in `fp` as it goes, for
/// tear-down (due on every path of a run, this one's failure included). The error says
/// why, quoting the logs of the containers that failed.
pub async fn bring_up(session: &Session, how: &BringUp, fp: &mut Footprint) -> Result<Up, NotUp> {
    let t0 = Instant::now();
    let deadline = t0 + session.setup.timeout;
    let mut planner = Planner::new(session, how).await?;
    let mut plan = planner.plan().await?;
    if let Some(w) = crate::engine::stacks::caveats::caveat_on(&session.engine, &plan).await {
        tracing::warn!("{}: {w}", how.scope);
    }
    fp.project_name = plan.project_name.clone();
    fp.profiles = plan.profiles.active.clone();
    if how.keep_earlier {
        // The earlier deployment's directory: its files are this one's to replace.
        session.state.forget(&plan.project_name);
    }
    write_files(session, &plan, fp)?;
    tracing::debug!("networks ready after {:?}", t0.elapsed());
    compose_up(session, &mut planner, &mut plan, fp, deadline).await?;
    tracing::debug!("compose up done after {:?}", t0.elapsed());
    let info = ready(session, &plan, how.index, deadline).await?;
    tracing::debug!("ready after {:?}", t0.elapsed());
    let Some(dir) = &fp.dir else {
        return Err(EngineError::other("no run directory for the run info").into());
    };
    let info_path = write_info(&info, dir)?;
    fp.info_file = Some(info_path.clone());
    let exports = exports(&info, &info_path, how.index, &fp.compose_files);
    tracing::info!("{} is up: {}", plan.project_name, info_path.display());
    Ok(Up { info, exports })
}

/// The `NETFENCE_*` variables of a stack that is up.
fn exports(
    info: &RunInfo,
    info_path: &std::path::Path,
    index: Option<usize>,
    files: &[PathBuf],
) -> Vec<(String, String)> {
    let mut exports = run_info::exports(info);
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
    exports
}

/// Writes `plan`'s files into a fresh private directory, noted in `fp`. A plan made
/// again replaces the directory of the one before (a directory's files are written
/// once).
fn write_files(session: &Session, plan: &Plan, fp: &mut Footprint) -> EngineResult<()> {
    if let Some(old) = fp.dir.take() {
        old.remove();
    }
    let dir = fp
        .dir
        .insert(session.state.new_run_dir(&plan.project_name)?);
    fp.compose_files = write_fenced(session, plan, dir)?;
    Ok(())
}

/// How often a copy is planned again because the engine refused a subnet as
/// overlapping: each refusal is a concurrent run that took that subnet meanwhile.
const MAX_PLANS: usize = 12;
/// How often stable ports are planned again because one was taken meanwhile.
const MAX_PORT_PLANS: usize = 8;

/// What a bring-up plans with, and what it has learnt from the engine's refusals.
struct Planner<'a> {
    session: &'a Session,
    how: &'a BringUp,
    /// Subnets the engine refused as overlapping: concurrent runs took them.
    refused: Vec<IpNet>,
    /// The stack's managed networks on the engine: created here, or kept from earlier.
    created: Vec<Created>,
    /// With stable ports, where the host ports stand.
    ports: Option<PortBook>,
}

impl<'a> Planner<'a> {
    async fn new(session: &'a Session, how: &'a BringUp) -> EngineResult<Planner<'a>> {
        let created = match how.keep_earlier {
            true => earlier_networks(session, &how.scope).await?,
            false => Vec::new(),
        };
        let ports = match how.ports {
            Ports::Stable => Some(PortBook::read(&session.engine, &how.scope).await?),
            Ports::Engine => None,
        };
        Ok(Planner {
            session,
            how,
            refused: Vec::new(),
            created,
            ports,
        })
    }

    /// Plans the stack and creates its networks exactly as planned, their isolation
    /// settled. When the engine refuses a subnet (a concurrent run took it after the
    /// engine was read), or a stable port is bound on this host, the stack is planned
    /// again around it: the planner stays the only allocator, so the networks are what
    /// `plan --for-run` shows.
    async fn plan(&mut self) -> EngineResult<Plan> {
        let (mut subnet_plans, mut port_plans) = (0, 0);
        let scope = &self.how.scope;
        loop {
            let plan = self.plan_once().await?;
            if let Some(busy) = self.bound_elsewhere(&plan) {
                port_plans += 1;
                if port_plans >= MAX_PORT_PLANS {
                    return Err(EngineError::refused(format!(
                        "choosing host ports: {MAX_PORT_PLANS} plans in a row chose a port bound on this host"
                    )));
                }
                tracing::info!(
                    "{scope}: host ports {busy:?} are bound on this host; planning again"
                );
                continue;
            }
            let Some(taken) = self.create_networks(&plan).await? else {
                // The engine applies a bridge's isolation rules after the bridge is up:
                // no container starts before they are there.
                let names: Vec<String> = plan.networks.iter().map(|n| n.name.clone()).collect();
                self.session.engine.settle_isolation(&names).await?;
                return Ok(plan);
            };
            subnet_plans += 1;
            if subnet_plans >= MAX_PLANS {
                return Err(EngineError::refused(format!(
                    "creating the networks: {MAX_PLANS} plans in a row had a subnet another network took meanwhile"
                )));
            }
            tracing::info!("{scope}: subnet {taken} was taken meanwhile; planning again");
            self.refused.push(taken);
        }
    }

    /// The stack's plan: its managed networks on subnets that no network on the engine
    /// (but its own), no refused one and no other copy's plan has.
    async fn plan_once(&self) -> EngineResult<Plan> {
        let (session, scope) = (self.session, &self.how.scope);
        let mut occupied = session.engine.avoid().await?;
        occupied.extend(self.refused.iter().map(|&s| Avoid::refused(s)));
        if let Ok(planned) = session.planned.lock() {
            let others = planned.iter().filter(|(id, _)| *id != scope.id());
            occupied.extend(others.flat_map(|(id, s)| s.iter().map(move |&s| Avoid::copy(s, id))));
        }
        let host = self
            .ports
            .as_ref()
            .map(|b| b.host.clone())
            .unwrap_or_default();
        let opts = self.how.options(&session.setup, occupied, host);
        let plan = session
            .project
            .plan(&opts)
            .map_err(|e| EngineError::Plan(Box::new(e)))?;
        if let Ok(mut planned) = session.planned.lock() {
            planned.insert(scope.id().to_owned(), subnets_of(&plan));
        }
        Ok(plan)
    }

    /// With stable ports: those `plan` chose that something else binds on this host,
    /// taken from now on. `None` when there are none.
    fn bound_elsewhere(&mut self, plan: &Plan) -> Option<Vec<u16>> {
        let book = self.ports.as_mut()?;
        let busy = book.bound_elsewhere(plan);
        if busy.is_empty() {
            return None;
        }
        book.take(&busy);
        Some(busy)
    }

    /// What to do after `compose up` failed (its `attempt`th time) saying `text`.
    fn after_failed_up(&mut self, text: &str, attempt: usize) -> Retry {
        let Some(book) = self.ports.as_mut() else {
            return match attempt < UP_ATTEMPTS && transient(text) {
                true => Retry::Same,
                false => Retry::Not,
            };
        };
        match taken_port(text) {
            // The stack's own port is not someone else's: a real failure.
            Some(p) if attempt < MAX_PORT_PLANS && !book.own.contains(&p) => {
                book.take(&[p]);
                Retry::Replan(p)
            }
            _ => Retry::Not,
        }
    }

    /// Creates the plan's managed networks (and the persistent ones it names, when
    /// missing), keeping those of an earlier try that the plan still has as they are.
    /// `Some(subnet)` when the engine refused that subnet as overlapping.
    async fn create_networks(&mut self, plan: &Plan) -> EngineResult<Option<IpNet>> {
        let engine = &self.session.engine;
        let mut extra = self.how.network_labels.clone();
        extra.push((labels::CREATED.to_owned(), crate::engine::now_rfc3339()));
        for np in &plan.networks {
            if np.role.is_persistent() {
                engine.ensure_persistent(np).await?;
            }
            if np.role != Role::Managed {
                continue;
            }
            let subnets: Vec<IpNet> = np.subnet.into_iter().chain(np.subnet6).collect();
            if let Some(i) = self.created.iter().position(|c| c.name == np.name) {
                if let Some(was) = self.created[i].earlier {
                    kept_as_it_was(&self.how.scope, np, was);
                    continue;
                }
                if self.created[i].subnets == subnets {
                    continue;
                }
                // Planned elsewhere this time: it is new and empty, so it goes.
                let old = self.created.remove(i);
                done_if_gone(engine.remove_network(&old.id).await)
                    .map_err(|e| e.doing(format!("removing network {}", old.name)))?;
            }
            match engine.create_planned(np, &extra).await {
                Ok(id) => self.created.push(Created {
                    name: np.name.clone(),
                    id,
                    subnets,
                    earlier: None,
                }),
                Err(NotCreated::Overlap(s)) => return Ok(Some(s)),
                Err(NotCreated::Failed(e)) => return Err(e),
                Err(NotCreated::Exists) => return Err(exists(&np.name)),
            }
        }
        Ok(None)
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "internal: {}, attachable: {}",
            self.internal, self.attachable
        )
    }
}

/// Says so when a kept network is not what the plan now makes of it: Compose would
/// recreate it, which needs its containers gone first.
fn kept_as_it_was(scope: &Scope, np: &NetworkPlan, was: Shape) {
    if was != Shape::of(np) {
        tracing::warn!(
            "{scope}: network {} is kept as an earlier bring-up made it ({was}), not as planned now ({}); `netfence down` first applies the change",
            np.name,
            Shape::of(np)
        );
    }
}

/// What a failed `compose up` leads to.
enum Retry {
    /// The same `up` again: what failed passes.
    Same,
    /// A plan around this host port, which someone took meanwhile.
    Replan(u16),
    Not,
}

fn exists(network: &str) -> EngineError {
    EngineError::Conflict {
        network: network.to_owned(),
        message: format!(
            "creating network {network}: the engine already holds a network of that name (another run with this id?)"
        ),
    }
}

/// A network this stack created, with the subnets it has.
struct Created {
    name: String,
    id: String,
    subnets: Vec<IpNet>,
    /// Made by an earlier deployment of the scope: kept as it is, whatever the plan says
    /// (its containers are attached to it); what it is, to say where the plan differs.
    earlier: Option<Shape>,
}

/// What a network is, of what a plan sets and a kept network cannot take on. Not IPv6:
/// a daemon can turn it on for networks that do not ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    internal: bool,
    attachable: bool,
}

impl Shape {
    fn of(np: &NetworkPlan) -> Shape {
        Shape {
            internal: np.internal,
            attachable: np.attachable,
        }
    }
}

/// The networks an earlier deployment of the scope made, by the scope's labels.
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
            earlier: Some(Shape {
                internal: n.internal,
                attachable: n.attachable,
            }),
            name: n.name,
            id: n.id,
        })
        .collect())
}

fn subnets_of(plan: &Plan) -> Vec<IpNet> {
    let managed = plan.networks.iter().filter(|n| n.role == Role::Managed);
    managed
        .flat_map(|n| n.subnet.into_iter().chain(n.subnet6))
        .collect()
}

/// The fenced file in the run's private directory: the files
/// Compose is to read, in order. Its relative paths still resolve as in the input:
/// Compose takes them from the project directory, which it is given (see
/// [`Compose::command`]). With an overlay, the input files come first, untouched.
///
/// [`Compose::command`]: crate::engine::client::compose_cli::Compose::command
fn write_fenced(session: &Session, plan: &Plan, dir: &RunDir) -> EngineResult<Vec<PathBuf>> {
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
/// reason that passes, planned and written again when a stable port was taken
/// meanwhile; a failure comes with the logs of the services that did not start.
async fn compose_up(
    session: &Session,
    planner: &mut Planner<'_>,
    plan: &mut Plan,
    fp: &mut Footprint,
    deadline: Instant,
) -> Result<(), NotUp> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (files, project) = (&fp.compose_files, fp.project_name.as_str());
        let Some(out) = compose_up_once(session, files, project, &fp.profiles, deadline).await?
        else {
            return Ok(());
        };
        match planner.after_failed_up(&out.text, attempt) {
            Retry::Same => {
                // `up` is idempotent: a second one starts what the first could not.
                tracing::info!("{project}: retrying `up` after: {}", out.text.trim_end());
                tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
            }
            Retry::Replan(p) => {
                let scope = &planner.how.scope;
                tracing::info!("{scope}: host port {p} was taken meanwhile; planning again");
                *plan = planner.plan().await?;
                write_files(session, plan, fp)?;
            }
            Retry::Not => return Err(up_failed(session, project, &out).await),
        }
    }
}

/// One `compose up -d --remove-orphans` of `files` under `profiles`, within `deadline`:
/// `None` when it worked, else how it ended.
async fn compose_up_once(
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
async fn up_failed(session: &Session, project: &str, out: &Output) -> NotUp {
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
async fn ready(
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
fn write_info(info: &RunInfo, dir: &RunDir) -> EngineResult<PathBuf> {
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
