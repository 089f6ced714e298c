//! Raw arguments + the process environment → typed settings, once per command. The
//! commands take only these: every rule about where a value comes from lives here.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use netfence::audit::Occupied;
use netfence::checkout::Checkout;
use netfence::engine::stacks::wait::WaitFor;
use netfence::input::{ComposeFiles, InputSpec};
use netfence::plan::{Options, Target};
use netfence::scope::Chosen;
use netfence::{Error, Project, Result, Scope};

use crate::args::{
    AuditArgs, AuditFormat, CheckoutArgs, ColorChoice, DataFormat, DenyLevel, DownArgs, EnsureArgs,
    GcArgs, GraphArgs, GraphFormat, InputArgs, PlanArgs, PlanFormat, PluginArgs, PluginCommand,
    PortArgs, ProfileArgs, Protocol, ReconcileArgs, RewriteArgs, RunArgs, TargetArg, UpArgs,
    ValidateArgs, VerifyArgs, WaitArg,
};

/// What every command may read from the process: its environment, its directory, and
/// whether stdin is a terminal (then nothing is piped to it).
pub struct Process {
    pub environ: BTreeMap<String, String>,
    pub working_dir: PathBuf,
    pub stdin_is_terminal: bool,
}

impl Process {
    pub fn current() -> Process {
        Process {
            environ: std::env::vars().collect(),
            working_dir: std::env::current_dir().unwrap_or_default(),
            stdin_is_terminal: std::io::stdin().is_terminal(),
        }
    }
}

/// Compose input, policy, scope and project name: shared by every command that plans.
#[derive(Debug, Clone)]
pub struct InputSettings {
    pub spec: InputSpec,
    /// `--run-id`, `--env`, else `$NETFENCE_RUN_ID`; `None` leaves the choice to the
    /// input's record, else a fresh random run id (see [`InputSettings::scope_for`]).
    pub scope: Option<Scope>,
    pub project_name: Option<String>,
    pub environ: BTreeMap<String, String>,
    /// `--profile` values, where the command takes them (else `COMPOSE_PROFILES`).
    pub profiles: Vec<String>,
}

impl InputSettings {
    fn resolve(a: &InputArgs, p: &Process) -> Result<InputSettings> {
        Ok(InputSettings {
            spec: InputSpec {
                files: ComposeFiles::resolve(
                    &a.files,
                    &p.environ,
                    &p.working_dir,
                    p.stdin_is_terminal,
                ),
                policy: a.policy.clone(),
                working_dir: p.working_dir.clone(),
            },
            scope: explicit_scope(a.run_id.as_deref(), a.env.as_deref(), &p.environ)?,
            project_name: a.project_name.clone(),
            environ: p.environ.clone(),
            profiles: Vec::new(),
        })
    }

    /// [`InputSettings::resolve`] for a command that takes `--profile`.
    fn with_profiles(a: &InputArgs, profiles: &ProfileArgs, p: &Process) -> Result<Self> {
        Ok(InputSettings {
            profiles: profiles.profiles.clone(),
            ..InputSettings::resolve(a, p)?
        })
    }

    pub fn load(&self) -> Result<Project> {
        for w in self.spec.files.warnings() {
            eprintln!("netfence: warning: {w}");
        }
        let project = self.spec.load(self.scope.as_ref())?;
        warn_notes(&project);
        Ok(project)
    }

    /// The scope chosen once for this invocation: explicit, else the input's record,
    /// else a new run, whose id is announced on stderr.
    pub fn scope_for(&self, project: &Project) -> Scope {
        match project.choose_scope(self.scope.clone(), Scope::random_run) {
            Chosen::Fresh(scope) => announce(scope),
            chosen => chosen.into_scope(),
        }
    }

    pub fn options(&self, project: &Project, target: Target) -> Options {
        Options {
            scope: Some(self.scope_for(project)),
            project: self.project_name.clone(),
            target,
            environ: self.environ.clone(),
            profiles: self.profiles.clone(),
            ..Options::default()
        }
    }
}

/// What loading found worth a warning (a tenant's embedded policy passed over).
pub fn warn_notes(project: &Project) {
    for note in &project.notes {
        eprintln!("netfence: warning: {note}");
    }
}

/// Says which random run id was chosen, so the user can find (and remove) it later.
pub fn announce(scope: Scope) -> Scope {
    eprintln!("netfence: scope {scope} (choose one with --run-id or NETFENCE_RUN_ID)");
    scope
}

/// `--run-id`, `--env` (both checked by the parser), else `$NETFENCE_RUN_ID`.
fn explicit_scope(
    run_id: Option<&str>,
    env: Option<&str>,
    environ: &BTreeMap<String, String>,
) -> Result<Option<Scope>> {
    if let Some(id) = run_id {
        return Ok(Some(Scope::Run(id.to_owned())));
    }
    if let Some(name) = env {
        return Ok(Some(Scope::Env(name.to_owned())));
    }
    match environ.get("NETFENCE_RUN_ID").filter(|v| !v.is_empty()) {
        Some(id) => netfence::scope::check_id(id)
            .map(|id| Some(Scope::Run(id)))
            .map_err(|m| Error::Usage(format!("NETFENCE_RUN_ID: {m}"))),
        None => Ok(None),
    }
}

/// `--wait`, as the engine reads it.
fn wait_for(w: WaitArg) -> WaitFor {
    match w {
        WaitArg::Ports => WaitFor::Ports,
        WaitArg::Healthy => WaitFor::Healthy,
        WaitArg::Running => WaitFor::Running,
    }
}

fn target(t: TargetArg) -> Target {
    match t {
        TargetArg::Compose => Target::Compose,
        TargetArg::Swarm => Target::Swarm,
    }
}

pub struct RewriteSettings {
    pub input: InputSettings,
    pub output: Option<PathBuf>,
    pub check: bool,
    pub format: DataFormat,
    pub target: Target,
    pub no_project_name: bool,
    /// The fence as an override file for the input files, not the whole file.
    pub overlay: bool,
    /// In tenant mode, Compose's reading of the output is judged too.
    pub compose_check: bool,
}

impl RewriteSettings {
    pub fn resolve(a: RewriteArgs, p: &Process) -> Result<Self> {
        if a.overlay && a.target == TargetArg::Swarm {
            return Err(Error::Usage(
                "--overlay writes a Compose override file, and `docker stack deploy` does not read `!reset`/`!override`: leave out --overlay for --target swarm".into(),
            ));
        }
        Ok(RewriteSettings {
            overlay: a.overlay,
            input: InputSettings::with_profiles(&a.input, &a.profile, p)?,
            output: a.output,
            check: a.check,
            format: a.format,
            target: target(a.target),
            no_project_name: a.no_project_name,
            compose_check: !a.no_compose_check,
        })
    }
}

pub struct PlanSettings {
    pub input: InputSettings,
    pub format: PlanFormat,
    pub target: Target,
    /// The plan `run` applies: netfence creates the managed networks.
    pub for_run: bool,
}

impl PlanSettings {
    pub fn resolve(a: PlanArgs, p: &Process) -> Result<Self> {
        Ok(PlanSettings {
            input: InputSettings::with_profiles(&a.input, &a.profile, p)?,
            format: a.format,
            target: target(a.target),
            for_run: a.for_run,
        })
    }
}

pub struct ValidateSettings {
    pub input: InputSettings,
    pub format: PlanFormat,
}

impl ValidateSettings {
    pub fn resolve(a: ValidateArgs, p: &Process) -> Result<Self> {
        Ok(ValidateSettings {
            input: InputSettings::resolve(&a.input, p)?,
            format: a.format,
        })
    }
}

pub struct AuditSettings {
    pub input: InputSettings,
    pub format: AuditFormat,
    pub deny: Option<DenyLevel>,
    pub occupied: Vec<Occupied>,
    /// Ask the engine for the subnets in use (not with `--no-engine`).
    pub ask_engine: bool,
    pub colour: bool,
}

impl AuditSettings {
    pub fn resolve(a: AuditArgs, p: &Process) -> Result<Self> {
        let colour = match a.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && p.environ.get("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Ok(AuditSettings {
            input: InputSettings::resolve(&a.input, p)?,
            format: a.format,
            deny: a.deny,
            occupied: a.occupied_subnets,
            ask_engine: !a.no_engine,
            colour,
        })
    }
}

pub struct GraphSettings {
    pub input: InputSettings,
    pub format: GraphFormat,
    pub output: Option<PathBuf>,
}

impl GraphSettings {
    pub fn resolve(a: GraphArgs, p: &Process) -> Result<Self> {
        if a.format == GraphFormat::Png && a.output.is_none() && std::io::stdout().is_terminal() {
            return Err(Error::Usage(
                "PNG is binary: give -o FILE or redirect stdout".into(),
            ));
        }
        Ok(GraphSettings {
            input: InputSettings::resolve(&a.input, p)?,
            format: a.format,
            output: a.output,
        })
    }
}

pub struct RunSettings {
    pub input: InputSettings,
    pub run: netfence::engine::stacks::run::RunOptions,
    /// `--reuse[=SLOT]`: the run id comes from the input's digest (and the slot) unless
    /// one was given.
    pub reuse: Option<String>,
}

/// The run id of a `run --reuse` before the input is read.
pub const REUSE_PENDING: &str = "reuse-pending";

impl RunSettings {
    pub fn resolve(a: RunArgs, p: &Process) -> Result<Self> {
        if a.input.env.is_some() {
            return Err(Error::Usage(
                "`run` brings up an ephemeral copy (a run scope); environments are for `rewrite`, `ensure` and `reconcile`: use --run-id or leave it out".into(),
            ));
        }
        if a.cmd.is_empty() && !a.keep && a.reuse.is_none() {
            return Err(Error::Usage(
                "give the command to run after `--`, e.g. `netfence run -f compose.yml -- pytest -x` (or --keep to only bring the stack up)".into(),
            ));
        }
        let input = InputSettings::with_profiles(&a.input, &a.profile, p)?;
        let stdin = match &input.spec.files {
            ComposeFiles::Stdin => true,
            files => files
                .paths()
                .is_ok_and(|p| p.iter().any(|f| f.as_os_str() == "-")),
        };
        if a.overlay && stdin {
            return Err(Error::Usage(
                "run --overlay gives Compose the compose files themselves, and standard input cannot be read twice: name the file with -f, or leave out --overlay".into(),
            ));
        }
        let base = match (&input.scope, a.reuse.is_some()) {
            // Made from the input's digest once it is loaded (see `commands::run`).
            (None, true) => REUSE_PENDING.to_owned(),
            // A run never takes an input's record: each run is a scope of its own.
            (given, _) => match netfence::scope::choose(given.clone(), None, Scope::random_run) {
                Chosen::Fresh(scope) => {
                    let id = scope.id().to_owned();
                    eprintln!(
                        "netfence: run id {id} (choose one with --run-id or NETFENCE_RUN_ID)"
                    );
                    id
                }
                chosen => chosen.scope().id().to_owned(),
            },
        };
        let run = netfence::engine::stacks::run::RunOptions::new(base, a.parallel)?;
        Ok(RunSettings {
            run: netfence::engine::stacks::run::RunOptions {
                keep: a.keep,
                timeout: a.timeout,
                cmd: a.cmd,
                overlay: a.overlay,
                project_name: input.project_name.clone(),
                environ: input.environ.clone(),
                wait: wait_for(a.wait),
                profiles: input.profiles.clone(),
                logs: a.logs.map(|d| p.working_dir.join(d)),
                ..run
            },
            reuse: a.reuse,
            input,
        })
    }
}

/// The checkout `up`, `down` and `port` work on: found from the compose files as Compose
/// finds them (`-f`, `$COMPOSE_FILE`, discovery), else from the working directory.
fn checkout(a: &CheckoutArgs, p: &Process) -> Checkout {
    let files = ComposeFiles::resolve(&a.files, &p.environ, &p.working_dir, true);
    Checkout::locate(&files, &p.working_dir)
}

pub struct UpSettings {
    /// Scope `dev:<slug>` of the checkout, whatever `$NETFENCE_RUN_ID` says.
    pub input: InputSettings,
    pub checkout: Checkout,
    pub timeout: Duration,
    pub wait: WaitFor,
    pub format: PlanFormat,
}

impl UpSettings {
    pub fn resolve(a: UpArgs, p: &Process) -> Result<Self> {
        let checkout = checkout(&a.checkout, p);
        let raw = InputArgs {
            files: a.checkout.files,
            policy: a.policy,
            run_id: None,
            env: None,
            project_name: a.project_name,
        };
        let mut input = InputSettings::with_profiles(&raw, &a.profile, p)?;
        // Standard input is not a checkout's stack: `up` reads files.
        if !input.spec.files.is_named() {
            return Err(Error::Usage(format!(
                "no compose file found in {} or a parent directory: `up` runs a checkout's stack; give -f FILE",
                p.working_dir.display()
            )));
        }
        input.scope = Some(checkout.scope());
        Ok(UpSettings {
            input,
            checkout,
            timeout: a.timeout,
            wait: wait_for(a.wait),
            format: a.format,
        })
    }
}

pub enum DownSettings {
    /// `--run-id` / `--env`.
    Scope {
        scope: Scope,
        /// Also the volumes of an environment (a run's always go).
        volumes: bool,
    },
    /// Neither: the checkout's stack.
    Checkout { checkout: Checkout, volumes: bool },
}

impl DownSettings {
    pub fn resolve(a: DownArgs, p: &Process) -> Result<Self> {
        let scope = match (a.run_id, a.env) {
            (Some(id), _) => Scope::Run(id),
            (None, Some(name)) => Scope::Env(name),
            (None, None) => {
                return Ok(DownSettings::Checkout {
                    checkout: checkout(&a.checkout, p),
                    volumes: a.volumes,
                })
            }
        };
        Ok(DownSettings::Scope {
            scope,
            volumes: a.volumes,
        })
    }
}

pub struct PortSettings {
    pub checkout: Checkout,
    pub service: String,
    pub port: u16,
    pub protocol: &'static str,
    pub index: usize,
}

impl PortSettings {
    pub fn resolve(a: PortArgs, p: &Process) -> Self {
        PortSettings {
            checkout: checkout(&a.checkout, p),
            service: a.service,
            port: a.port,
            protocol: match a.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            },
            index: usize::from(a.index),
        }
    }
}

pub struct GcSettings {
    /// `--older-than`, when given (else each kind's default: see `gc::Thresholds`).
    pub older_than: Option<Duration>,
    pub dry_run: bool,
    /// Also dev stacks whose checkout is gone.
    pub dev: bool,
}

impl GcSettings {
    pub fn resolve(a: GcArgs) -> Self {
        GcSettings {
            older_than: a.older_than,
            dry_run: a.dry_run,
            dev: a.dev,
        }
    }
}

pub struct PluginSettings {
    pub install: bool,
    /// Where the `docker-netfence` link goes.
    pub dir: PathBuf,
}

/// Where docker looks for a system-wide plugin first (docker/cli `manager_unix.go`).
pub const SYSTEM_PLUGIN_DIR: &str = "/usr/local/lib/docker/cli-plugins";

impl PluginSettings {
    pub fn resolve(c: PluginCommand) -> Self {
        let (install, a): (bool, PluginArgs) = match c {
            PluginCommand::Install(a) => (true, a),
            PluginCommand::Uninstall(a) => (false, a),
        };
        let dir = if a.system && !a.user {
            PathBuf::from(SYSTEM_PLUGIN_DIR)
        } else {
            // The docker CLI's own config directory, exactly: --user is the default.
            netfence::engine::client::context::DockerEnv::from_process()
                .config_dir()
                .join("cli-plugins")
        };
        PluginSettings { install, dir }
    }
}

pub struct EnsureSettings {
    pub input: InputSettings,
    pub recreate: bool,
    pub target: Target,
}

impl EnsureSettings {
    pub fn resolve(a: EnsureArgs, p: &Process) -> Result<Self> {
        if a.input.env.is_none() {
            return Err(Error::Usage(
                "`ensure` creates the persistent networks of an environment: give --env NAME"
                    .into(),
            ));
        }
        Ok(EnsureSettings {
            input: InputSettings::resolve(&a.input, p)?,
            recreate: a.recreate,
            target: target(a.target),
        })
    }
}

pub struct ReconcileSettings {
    pub input: InputSettings,
    pub project_name: String,
    /// No `-f` and no `COMPOSE_FILE`: the files come from the running project's labels
    /// (what it was started from), not from discovery or stdin.
    pub files_from_labels: bool,
    pub dry_run: bool,
    pub strict: bool,
    pub format: PlanFormat,
}

impl ReconcileSettings {
    pub fn resolve(a: ReconcileArgs, p: &Process) -> Result<Self> {
        let Some(project_name) = a.input.project_name.clone() else {
            return Err(Error::Usage(
                "`reconcile` needs the Compose project whose containers to fence: give -p PROJECT"
                    .into(),
            ));
        };
        let input = InputSettings::resolve(&a.input, p)?;
        Ok(ReconcileSettings {
            files_from_labels: !matches!(input.spec.files, ComposeFiles::Given(_)),
            input,
            project_name,
            dry_run: a.dry_run,
            strict: a.strict,
            format: a.format,
        })
    }
}

pub struct VerifySettings {
    pub input: InputSettings,
    pub scope: Scope,
    pub probe_image: Option<String>,
    pub format: PlanFormat,
}

impl VerifySettings {
    pub fn resolve(a: VerifyArgs, p: &Process) -> Result<Self> {
        let input = InputSettings::resolve(&a.input, p)?;
        let Some(scope) = input.scope.clone() else {
            return Err(Error::Usage(
                "verify needs a scope: give --run-id ID or --env NAME".into(),
            ));
        };
        Ok(VerifySettings {
            input,
            scope,
            probe_image: a.probe_image,
            format: a.format,
        })
    }
}

pub struct LsSettings {
    /// `--policy`; else ./netfence.yml in `working_dir`, else the built-in policy.
    pub policy: Option<PathBuf>,
    pub working_dir: PathBuf,
    pub format: PlanFormat,
}

impl LsSettings {
    pub fn resolve(a: crate::args::LsArgs, p: &Process) -> Self {
        LsSettings {
            policy: a.policy,
            working_dir: p.working_dir.clone(),
            format: a.format,
        }
    }
}

/// `reconcile --watch` (or `reconcile` given several `-p`, which only `--watch` takes).
pub struct WatchSettings {
    /// The projects named with `-p`.
    pub projects: Vec<String>,
    /// `-f` or `$COMPOSE_FILE`; `None`: each project's files as Compose's labels name
    /// them.
    pub files: Option<Vec<PathBuf>>,
    /// `--policy`; else ./netfence.yml in `working_dir`, else built in.
    pub policy: Option<PathBuf>,
    pub working_dir: PathBuf,
    pub scope: Option<Scope>,
    pub environ: BTreeMap<String, String>,
    pub strict: bool,
}

impl WatchSettings {
    pub fn resolve(a: ReconcileArgs, p: &Process) -> Result<Self> {
        if !a.watch {
            return Err(Error::Usage(
                "several -p are for `reconcile --watch`; reconcile one project at a time".into(),
            ));
        }
        let files = match ComposeFiles::resolve(&a.input.files, &p.environ, &p.working_dir, true) {
            ComposeFiles::Given(files) => Some(files),
            // Not discovered in the working directory: each project is where Compose says.
            _ => None,
        };
        if files.iter().flatten().any(|f| f.as_os_str() == "-") {
            return Err(Error::Usage(
                "--watch reads the compose files again for every project it meets: give paths, not stdin".into(),
            ));
        }
        Ok(WatchSettings {
            projects: a.projects.0,
            files,
            policy: a.input.policy,
            working_dir: p.working_dir.clone(),
            scope: explicit_scope(
                a.input.run_id.as_deref(),
                a.input.env.as_deref(),
                &p.environ,
            )?,
            environ: p.environ.clone(),
            strict: a.strict,
        })
    }
}
