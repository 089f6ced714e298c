//! A fenced copy of a stack for a Rust test suite: bring it up, read where everything is,
//! tear it down, without the CLI. It is built from the pieces `netfence run` is built
//! from (a [`Session`], [`bring_up`], [`tear_down`]), so it is fenced, claimed, labelled
//! and cleaned up exactly as a `run` is.
//!
//! ```no_run
//! use netfence::engine::stacks::stack::{Stack, StackOptions};
//!
//! let stack = Stack::up(StackOptions {
//!     files: vec!["compose.yml".into()],
//!     run_id: Some("it-1".into()),
//!     ..StackOptions::default()
//! })?;
//! let web = stack.address("web", 8080).expect("web publishes 8080"); // "127.0.0.1:32771"
//! // … talk to web …
//! stack.down()?; // or let it drop
//! # Ok::<(), netfence::Error>(())
//! ```
//!
//! **Blocking, by choice.** Test suites call it from plain `#[test]`s and from
//! `#[tokio::test]`s alike, so the API is synchronous and safe in both: the stack owns a
//! runtime of its own and drives it from a thread of its own, because blocking on a
//! runtime (or dropping one) from inside another runtime panics. In async code a call
//! blocks the calling worker thread while it works, like any blocking call; wrap it in
//! `spawn_blocking` where that matters.
//!
//! **Drop tears down** a stack whose [`Stack::down`] was not called, also while a test
//! panics; what it cannot remove is reported on stderr, as there is no caller to return
//! it to. A process that is killed leaves its stack behind, labelled with an owner that
//! is gone: `netfence gc` removes it. No signal handlers are installed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::engine::stacks::bring_up::{bring_up, Footprint, Up};
use crate::engine::stacks::run::bring_up_of;
use crate::engine::stacks::run_info::RunInfo;
use crate::engine::stacks::session::{Session, Setup};
use crate::engine::stacks::tear_down::tear_down;
use crate::engine::stacks::wait::WaitFor;
use crate::engine::EngineResult;
use crate::error::{Error, Result};
use crate::input::{ComposeFiles, InputSpec};
use crate::Scope;

/// What to bring up, and how.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Compose files, merged like Compose merges them; none: Compose's own discovery
    /// (`compose.yaml`, … in the working directory or a parent, with its override).
    pub files: Vec<PathBuf>,
    /// Policy file; none: the compose file's `x-netfence`, `./netfence.yml`, the
    /// built-in policy.
    pub policy: Option<PathBuf>,
    /// The run id (scope `run:<id>`); none: a fresh random one.
    pub run_id: Option<String>,
    /// The project name before scoping (`-p`).
    pub project_name: Option<String>,
    /// How long `up` plus the wait for running/healthy services may take.
    pub timeout: Duration,
    /// The environment the policy's templates see (and `COMPOSE_PROJECT_NAME`,
    /// `COMPOSE_PROFILES`); by default the process's, as for `netfence run`.
    pub environ: BTreeMap<String, String>,
    /// When the stack counts as up, as `netfence run --wait`: healthy by default.
    pub wait: WaitFor,
    /// Compose profiles to activate (`--profile`); none: `COMPOSE_PROFILES` of
    /// `environ`, else of the project's `.env`. Every service is fenced either way.
    pub profiles: Vec<String>,
}

impl Default for StackOptions {
    fn default() -> StackOptions {
        StackOptions {
            files: Vec::new(),
            policy: None,
            run_id: None,
            project_name: None,
            timeout: Duration::from_secs(180),
            environ: std::env::vars().collect(),
            wait: WaitFor::default(),
            profiles: Vec::new(),
        }
    }
}

/// A stack that is up: its coordinates, and a guard that tears it down.
#[must_use = "a Stack is torn down as soon as it is dropped"]
pub struct Stack {
    up: Up,
    /// What tear-down needs; `None` once torn down.
    live: Option<Live>,
}

struct Live {
    rt: Runtime,
    session: Session,
    scope: Scope,
    footprint: Footprint,
}

impl Stack {
    /// Fences the stack and brings it up, ready (every container running, healthy where
    /// it has a healthcheck). Bad input is refused before anything is touched, and so is
    /// a run id that a live run holds ([`Error::RunIdHeld`]); when bringing it up fails,
    /// what was created is removed before the error returns.
    pub fn up(opts: StackOptions) -> Result<Stack> {
        let given = match opts.run_id {
            Some(id) => Some(Scope::Run(crate::scope::check_id(&id)?)),
            None => None,
        };
        // A test's stack never takes an input's record: each is a run of its own.
        let scope = crate::scope::choose(given, None, Scope::random_run).into_scope();
        let working_dir = std::env::current_dir().map_err(|e| Error::Io {
            path: crate::Source::File(".".into()),
            source: e,
        })?;
        let files = ComposeFiles::resolve(&opts.files, &opts.environ, &working_dir, true);
        let spec = InputSpec {
            files,
            policy: opts.policy,
            working_dir,
        };
        let project = spec.load(Some(&scope))?;
        let setup = Setup {
            project_name: opts.project_name,
            environ: opts.environ,
            timeout: opts.timeout,
            progress: false,
            overlay: false,
            wait: opts.wait,
            profiles: opts.profiles,
        };
        setup.check(&project, scope.id())?;
        off_thread(move || {
            let rt = crate::engine::runtime()?;
            let (session, footprint, up) = rt.block_on(start(project, setup, &scope))?;
            Ok(Stack {
                up,
                live: Some(Live {
                    rt,
                    session,
                    scope,
                    footprint,
                }),
            })
        })
    }

    /// Where everything is: networks with their subnets, each service's containers with
    /// their addresses, aliases and published ports.
    pub fn info(&self) -> &RunInfo {
        &self.up.info
    }

    pub fn run_id(&self) -> &str {
        &self.up.info.run_id
    }

    /// The scoped Compose project name (`docker compose -p`).
    pub fn project(&self) -> &str {
        &self.up.info.project
    }

    /// `host:port` to reach a service's published TCP `port` from this machine.
    pub fn address(&self, service: &str, port: u16) -> Option<&str> {
        self.up.info.address(service, port)
    }

    /// The variables `netfence run` gives its command: `NETFENCE_RUN_ID`,
    /// `NETFENCE_<SERVICE>_<PORT>`, `NETFENCE_RUN_INFO` (a JSON file), … For handing the
    /// stack to a child process.
    pub fn exports(&self) -> &[(String, String)] {
        &self.up.exports
    }

    /// Tears the stack down and says whether anything was left on the engine.
    pub fn down(mut self) -> Result<()> {
        match self.live.take() {
            Some(live) => live.tear_down().map_err(Error::from),
            None => Ok(()),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            if let Err(e) = live.tear_down() {
                eprintln!("netfence: run {}: tear-down incomplete: {e}", self.run_id());
            }
        }
    }
}

impl Live {
    fn tear_down(self) -> EngineResult<()> {
        off_thread(move || {
            let Live {
                rt,
                session,
                scope,
                footprint,
            } = self;
            let r = rt.block_on(tear_down(&session, &scope, &footprint));
            // The claim on the run id goes with the session, after the tear-down.
            drop(session);
            r
        })
    }
}

/// Claims the run id and brings the stack up; when that fails, removes what it created.
async fn start(
    project: crate::Project,
    setup: Setup,
    scope: &Scope,
) -> Result<(Session, Footprint, Up)> {
    let session = Session::open(project, setup, &[scope.id().to_owned()]).await?;
    let mut footprint = Footprint::default();
    let how = bring_up_of(&session, scope.clone(), None, false);
    match bring_up(&session, &how, &mut footprint).await {
        Ok(up) => Ok((session, footprint, up)),
        Err(e) => {
            let e = match tear_down(&session, scope, &footprint).await {
                Ok(()) => e.error,
                Err(left) => e.error.then(format!("tear-down incomplete: {left}")),
            };
            Err(e.into())
        }
    }
}

/// Runs `f` on a thread of its own, outside any runtime the caller may be in: there,
/// blocking on the stack's runtime, and dropping it, are allowed.
fn off_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
