//! `netfence run`: plan → networks through the API → `docker compose up -d` → wait until
//! ready → export coordinates → CMD → tear down → CMD's status.
//!
//! Tear-down happens on every path: `up` or the wait fails, CMD fails, a signal arrives.
//! It is done by labels (the scope's), so it also catches what a cancelled `up` left.
//! Bringing a copy up and tearing it down are shared with the library's
//! [`Stack`](crate::engine::stacks::stack::Stack); what is `run`'s own is CMD and the signals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::engine::stacks::bring_up::{bring_up, BringUp, Footprint, Ports, Up};
use crate::engine::stacks::logs::crashed;
use crate::engine::stacks::session::{Session, Setup};
use crate::engine::stacks::signals::{self, Interrupts, Received};
use crate::engine::stacks::tear_down::tear_down;
use crate::engine::stacks::wait::WaitFor;
use crate::engine::EngineError;
use crate::error::Error;
use crate::{labels, Project, Scope};

/// Everything the copies of one `run` share.
struct Shared {
    session: Session,
    opts: RunOptions,
    interrupts: Interrupts,
}

/// How a copy of a run ended. The command layer gives each its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The stack came up and went, with no CMD to run.
    Up,
    /// CMD ran and exited: its status (the code, or the signal that ended it).
    Cmd(std::process::ExitStatus),
    /// CMD could not be started, or not waited for.
    CmdNotRun,
    /// netfence's own part failed: the stack did not come up, a service exited under a
    /// CMD that succeeded, or the tear-down left something behind.
    Failed,
    /// A signal (this number) stopped the start, or a second one the tear-down.
    Interrupted(i32),
}

impl RunEnd {
    pub fn is_success(self) -> bool {
        match self {
            RunEnd::Up => true,
            RunEnd::Cmd(status) => status.success(),
            RunEnd::CmdNotRun | RunEnd::Failed | RunEnd::Interrupted(_) => false,
        }
    }
}

/// How one copy of a run went.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The copy's run id.
    pub id: String,
    pub end: RunEnd,
    /// What went wrong in netfence's part (not CMD's own failure).
    pub error: Option<String>,
    pub elapsed: Duration,
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
    /// Give Compose the input files plus an overlay, not a fenced copy.
    pub overlay: bool,
    /// When a copy counts as up (`--wait`).
    pub wait: WaitFor,
    /// `--profile` values; none: `COMPOSE_PROFILES`, as Compose reads it.
    pub profiles: Vec<String>,
    /// `--logs DIR`: every container's log and final state are kept there.
    pub logs: Option<PathBuf>,
    /// `--reuse`: the stack stays up after CMD, for the next run of the same input, which
    /// brings up only what changed; the digest of the input it was made from.
    pub reuse: Option<String>,
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
            overlay: false,
            wait: WaitFor::default(),
            profiles: Vec::new(),
            logs: None,
            reuse: None,
        })
    }
}

/// The digest `run --reuse` keys a stack by: the input as loaded (every file merged,
/// includes and extends resolved), the policy, the project name, the profiles and how
/// Compose is given the files. The same input gets the same stack; any change, its own.
pub fn reuse_digest(project: &Project, opts: &RunOptions) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(crate::yaml::to_string(project.original()).as_bytes());
    h.update(b"\0");
    h.update(project.policy.policy.digest().as_bytes());
    h.update(b"\0");
    h.update(opts.project_name.as_deref().unwrap_or_default().as_bytes());
    h.update(b"\0");
    h.update(opts.profiles.join(",").as_bytes());
    h.update(if opts.overlay {
        &b"\0overlay"[..]
    } else {
        &b"\0copy"[..]
    });
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Brings up `opts.ids.len()` isolated copies of `project`, runs the command against
/// each, tears them down (unless `keep`), and says how each copy went, in the order of
/// `opts.ids`.
pub fn run(project: Project, opts: RunOptions) -> Result<Vec<Outcome>, Error> {
    use std::io::IsTerminal;
    let copies = opts.ids.len();
    let setup = Setup {
        project_name: opts.project_name.clone(),
        environ: opts.environ.clone(),
        timeout: opts.timeout,
        progress: copies == 1 && std::io::stderr().is_terminal(),
        overlay: opts.overlay,
        wait: opts.wait,
        profiles: opts.profiles.clone(),
    };
    // Bad input is reported before anything touches the engine.
    setup.check(&project, &opts.ids[0])?;
    if let Some(dir) = &opts.logs {
        crate::engine::stacks::log_dir::prepare(dir).map_err(|e| Error::Io {
            path: crate::Source::File(dir.clone()),
            source: e,
        })?;
    }
    let interrupts = signals::install().map_err(|e| EngineError::other(format!("signals: {e}")))?;
    let rt = crate::engine::runtime()?;
    rt.block_on(async move {
        // Holds the run ids until every copy is torn down (or left up with --keep).
        let session = Session::open(project, setup, &opts.ids).await?;
        let shared = Shared {
            session,
            opts,
            interrupts,
        };
        let ids = &shared.opts.ids;
        Ok(futures_util::future::join_all(
            ids.iter().enumerate().map(|(i, id)| {
                run_copy(&shared, Scope::Run(id.clone()), (copies > 1).then_some(i))
            }),
        )
        .await)
    })
}

/// How a copy of a run is brought up (the library's `Stack` is one too): host ports as
/// the plan writes them, its networks and services naming this process as their owner,
/// so `gc` can tell a live run's from a dead one's. `reuse`: the earlier run's networks
/// are kept, and the services name no owner: the stack outlives the run that made it,
/// and a label that changes every run would make Compose recreate every container (its
/// config hash).
pub(crate) fn bring_up_of(
    session: &Session,
    scope: Scope,
    index: Option<usize>,
    reuse: bool,
) -> BringUp {
    let owner = (labels::OWNER.to_owned(), session.owner.clone());
    BringUp {
        scope,
        index,
        keep_earlier: reuse,
        ports: Ports::Engine,
        labels: if reuse {
            Vec::new()
        } else {
            vec![owner.clone()]
        },
        network_labels: vec![owner],
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
    if let Some(digest) = &sh.opts.reuse {
        // In use from now on: `gc` measures a reused stack's age from its last use.
        if let Err(e) = sh.session.state.touch_reuse(scope.id(), digest) {
            eprintln!("netfence: {label}: {e}");
        }
    }
    let ended = up_and_cmd(sh, &scope, index, &mut fp, &mut ints, &label).await;
    if let Some(dir) = &sh.opts.logs {
        let dir = match index {
            Some(_) => dir.join(scope.id()),
            None => dir.clone(),
        };
        keep_logs(sh, &fp, &dir, &ended, &label).await;
    }
    let Ended {
        mut end,
        mut error,
        came_up,
        ..
    } = ended;
    // `--keep` keeps a stack that came up; one that did not is torn down as always.
    if let (Some(digest), true) = (&sh.opts.reuse, came_up) {
        if let Err(e) = sh.session.state.touch_reuse(scope.id(), digest) {
            eprintln!("netfence: {label}: {e}");
        }
        eprintln!(
            "netfence: {label} kept for reuse (input {digest}): the next `run --reuse` of the same input uses it; `netfence down --run-id {}` or `gc` removes it",
            scope.id()
        );
    } else if sh.opts.keep && came_up {
        if !fp.compose_files.is_empty() {
            eprintln!(
                "netfence: {label} left up (--keep): project {}; remove it with `netfence down --run-id {}`{}",
                fp.project_name,
                scope.id(),
                fp.info_file
                    .as_ref()
                    .map(|f| format!(" (run info: {})", f.display()))
                    .unwrap_or_default()
            );
        }
    } else {
        match guarded_teardown(sh, &scope, &fp, &mut ints, &label).await {
            Ok(()) => {}
            Err(TeardownFailed::Abandoned(sig)) => end = RunEnd::Interrupted(sig.signal),
            Err(TeardownFailed::Incomplete(e)) => {
                eprintln!("netfence: {label}: tear-down incomplete: {e}");
                if end.is_success() {
                    end = RunEnd::Failed;
                }
                error.get_or_insert(e.to_string());
            }
        }
    }
    Outcome {
        id: scope.id().to_owned(),
        end,
        error,
        elapsed: started.elapsed(),
    }
}

/// How a copy's start and CMD went, before tear-down.
struct Ended {
    end: RunEnd,
    /// What went wrong in netfence's part (not CMD's own failure).
    error: Option<String>,
    /// Did the stack come up at all?
    came_up: bool,
    /// Containers whose logs the messages so far have quoted.
    quoted: Vec<String>,
}

/// `--logs DIR`: every container's log and state into `dir`; after a failure, where
/// they are and the last lines of each container that exited or restarted. Keeping
/// them cannot fail the run: CMD's status is what counts.
async fn keep_logs(sh: &Shared, fp: &Footprint, dir: &Path, ended: &Ended, label: &str) {
    if fp.project_name.is_empty() {
        return; // Nothing was planned, so nothing ran.
    }
    match crate::engine::stacks::log_dir::keep(&sh.session.engine, &fp.project_name, dir).await {
        Ok(kept) if !ended.end.is_success() => eprintln!(
            "netfence: {label}: {}",
            crate::engine::stacks::log_dir::report(dir, &kept, &ended.quoted)
        ),
        Ok(kept) => tracing::info!(
            "{label}: the logs of {} container(s) are in {}",
            kept.len(),
            dir.display()
        ),
        Err(e) => eprintln!("netfence: {label}: warning: the logs were not kept: {e}"),
    }
}

/// Brings the copy up and runs CMD against it. A signal while starting abandons the
/// start for tear-down.
async fn up_and_cmd(
    sh: &Shared,
    scope: &Scope,
    index: Option<usize>,
    fp: &mut Footprint,
    ints: &mut Interrupts,
    label: &str,
) -> Ended {
    let how = bring_up_of(&sh.session, scope.clone(), index, sh.opts.reuse.is_some());
    let setup_result = tokio::select! {
        r = bring_up(&sh.session, &how, fp) => Ok(r),
        sig = signals::next(ints) => Err(sig),
    };
    let ended = |end, error, came_up, quoted| Ended {
        end,
        error,
        came_up,
        quoted,
    };
    match setup_result {
        Ok(Ok(ready)) => {
            let (end, err) = match run_cmd(sh, &ready, ints).await {
                Ok(end) => (end, None),
                Err(e) => (RunEnd::CmdNotRun, Some(e)),
            };
            // A service that crashed right after it started can look running to the
            // engine for a moment (its state lags under load): look again now.
            match crashed(&sh.session.engine, &fp.project_name).await {
                Some(report) => {
                    eprintln!("netfence: {label}: {report}");
                    let end = if end.is_success() {
                        RunEnd::Failed
                    } else {
                        end
                    };
                    ended(end, err.or(Some(report.text)), true, report.containers)
                }
                None => ended(end, err, true, Vec::new()),
            }
        }
        Ok(Err(failure)) => {
            eprintln!("netfence: {label}: {failure}");
            let why = Some(failure.error.to_string());
            ended(RunEnd::Failed, why, false, failure.containers)
        }
        Err(sig) => {
            eprintln!(
                "netfence: {label}: {} while starting the stack; tearing it down",
                sig.name()
            );
            let why = format!("interrupted by {}", sig.name());
            ended(
                RunEnd::Interrupted(sig.signal),
                Some(why),
                false,
                Vec::new(),
            )
        }
    }
}

enum TeardownFailed {
    /// A second signal stopped it half way.
    Abandoned(Received),
    Incomplete(EngineError),
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
    let td = tear_down(&sh.session, scope, fp);
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

/// Runs CMD with the exports; signals sent to netfence alone are forwarded to it. `Err`:
/// why it did not run.
async fn run_cmd(sh: &Shared, ready: &Up, ints: &mut Interrupts) -> Result<RunEnd, String> {
    let Some((program, rest)) = sh.opts.cmd.split_first() else {
        return Ok(RunEnd::Up);
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest);
    // CMD's own `docker` reaches the stack's engine even if `docker context use`
    // switches the default meanwhile.
    if let Some((k, v)) = sh.session.compose.context_env() {
        cmd.env(k, v);
    }
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
                return Ok(RunEnd::Cmd(status));
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
