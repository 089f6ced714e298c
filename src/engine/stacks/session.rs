//! What the copies of one stack share while they are up: the engine, Compose, the
//! project, the owner label, the claim on their run ids. `netfence run` opens one for
//! its copies, and so does the library's [`Stack`](crate::engine::stacks::stack::Stack).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use ipnet::IpNet;

use crate::avoid::Avoid;
use crate::engine::client::compose_cli::Compose;
use crate::engine::host::claim::{self, Claim};
use crate::engine::host::state_dir::StateDir;
use crate::engine::stacks::wait::{Expect, WaitFor};
use crate::engine::{host::owner, Engine};
use crate::error::Error;
use crate::plan::{Options, Plan};
use crate::{Project, Scope};

/// How copies are planned and brought up: decided before anything touches the engine.
#[derive(Debug, Clone)]
pub struct Setup {
    /// `-p`: the project name before scoping.
    pub project_name: Option<String>,
    /// The environment the policy's templates see (and `COMPOSE_PROJECT_NAME`).
    pub environ: BTreeMap<String, String>,
    /// How long `up` plus the wait for running/healthy services may take.
    pub timeout: Duration,
    /// Show a progress bar while waiting (one copy, on a terminal).
    pub progress: bool,
    /// Bring copies up from the input files plus an overlay (`-f FILE… -f fence.yml`),
    /// not from a fenced copy of them.
    pub overlay: bool,
    /// When a copy counts as up (`--wait`).
    pub wait: WaitFor,
    /// `--profile` values (else `COMPOSE_PROFILES`): which services are started.
    pub profiles: Vec<String>,
}

impl Setup {
    /// The plan options of one copy: netfence creates its networks itself, each on a
    /// subnet none of `occupied` has. What the command adds is in its
    /// [`BringUp`](crate::engine::stacks::bring_up::BringUp).
    pub fn options(&self, scope: &Scope, occupied: Vec<Avoid>) -> Options {
        Options {
            scope: Some(scope.clone()),
            project: self.project_name.clone(),
            environ: self.environ.clone(),
            occupied,
            managed_external: true,
            profiles: self.profiles.clone(),
            ..Options::default()
        }
    }

    /// Plans the first copy without an engine: bad input is reported before anything is
    /// touched, an input no overlay can be written for included.
    pub fn check(&self, project: &Project, first_id: &str) -> Result<Plan, Error> {
        let plan = project.plan(&self.options(&Scope::Run(first_id.to_owned()), Vec::new()))?;
        if self.overlay {
            overlay_inputs(project)?;
            project.overlay(&plan)?;
        }
        Ok(plan)
    }
}

/// What the wait for a copy of `plan` expects: `--wait`, and only the services the
/// active profiles start.
pub fn expect(setup: &Setup, plan: &Plan) -> Expect {
    Expect {
        wait: setup.wait,
        ignored: plan.profiles.inactive_services.iter().cloned().collect(),
    }
}

/// The files Compose reads under an overlay: the input's own, as absolute paths (Compose
/// runs elsewhere than the user may think). Standard input cannot be read a second time.
pub fn overlay_inputs(project: &Project) -> Result<Vec<std::path::PathBuf>, Error> {
    project
        .input
        .sources
        .iter()
        .map(|s| match s {
            crate::Source::File(p) => std::path::absolute(p).map_err(|e| Error::Io {
                path: s.clone(),
                source: e,
            }),
            _ => Err(Error::Usage(
                "--overlay gives Compose the compose files themselves, and standard input cannot be read twice: name the file with -f, or leave out --overlay".into(),
            )),
        })
        .collect()
}

/// Everything the copies of one stack share.
pub struct Session {
    pub engine: Engine,
    pub compose: Compose,
    pub project: Project,
    pub setup: Setup,
    /// This process, as the `io.netfence.owner` label names it.
    pub owner: String,
    /// Where the copies' private directories are made.
    pub state: StateDir,
    /// Each copy's planned subnets, by run id: copies avoid each other without waiting
    /// for the engine to refuse an overlap.
    pub(crate) planned: Mutex<HashMap<String, Vec<IpNet>>>,
    /// The run ids, held until the session ends.
    _claim: Claim,
}

impl Session {
    /// Connects to the engine, finds Compose and claims `ids` (refused when a live run
    /// holds one): nothing is created yet.
    pub async fn open(project: Project, setup: Setup, ids: &[String]) -> Result<Session, Error> {
        let engine = Engine::connect().await?;
        let compose = Compose::detect().await?;
        let state = StateDir::open()?;
        let claim = claim::claim(&engine, &state, ids).await?;
        Ok(Session {
            engine,
            compose,
            project,
            setup,
            owner: owner::current(),
            state,
            planned: Mutex::new(HashMap::new()),
            _claim: claim,
        })
    }
}
