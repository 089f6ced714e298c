//! The raw command line (clap derive). Values are parsed to their types here (scope ids,
//! durations, CIDRs); combining them with the environment and defaults is `settings`'s.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use netfence::audit::Occupied;

#[derive(Debug, Parser)]
#[command(
    name = "netfence",
    version,
    about = "Gives every Docker Compose stack its own fenced-off networks",
    long_about = "netfence reads compose files plus a network policy and rewrites them so that many \
copies of a stack, or many environments, share one Docker host without colliding or seeing \
each other. Compose input comes from -f FILE (repeatable, merged like Compose; - is stdin), \
else $COMPOSE_FILE, else what Compose itself finds (compose.yaml, compose.yml, docker-compose.yml \
or docker-compose.yaml and its override, here or in the nearest parent directory), else a piped \
stdin."
)]
pub struct Cli {
    /// More log lines on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the fenced compose file, or with --overlay an override file that fences it.
    Rewrite(RewriteArgs),
    /// Print the plan: networks, attachments, aliases, and every change with its reason.
    Plan(PlanArgs),
    /// Check a policy against the schema and, when given, the compose file.
    Validate(ValidateArgs),
    /// Print the policy JSON Schema.
    Schema,
    /// Lint compose networking: findings with rule ids, lines and fixes (human, JSON, SARIF).
    Audit(AuditArgs),
    /// Draw the fenced topology: services, networks, proxy (Mermaid, DOT, SVG, PNG).
    Graph(GraphArgs),
    /// Bring up an isolated copy of the stack, run CMD against it, tear it down.
    Run(RunArgs),
    /// Bring up this checkout's stack, fenced (scope dev:<slug>), on host ports that stay
    /// the same across down/up; leave it up and print where each service is.
    Up(UpArgs),
    /// Tear a scope down by its labels, without the compose file; with no scope given,
    /// this checkout's stack (made by `up`).
    Down(DownArgs),
    /// Print the address of a published port of this checkout's stack (host:port).
    Port(PortArgs),
    /// Remove netfence-owned containers, networks and volumes of runs that are over.
    Gc(GcArgs),
    /// Create an environment's persistent networks (environment, proxy, shared); idempotent.
    Ensure(EnsureArgs),
    /// Make a running project's containers match the plan (network connect/disconnect).
    Reconcile(ReconcileArgs),
    /// Check a live scope against its plan: networks, attachments, who else is on them,
    /// live escapes, pairs, names; with --probe-image, real DNS and TCP/ICMP from inside
    /// each container.
    Verify(VerifyArgs),
    /// The host's inventory: live scopes (owner, age, projects, containers, networks,
    /// ports), managed and unmanaged networks, capacity (limits.max_networks, the subnet
    /// pool, the daemon's address pools, host routes) and the orphans gc would remove.
    Ls(LsArgs),
    /// Print a completion script for a shell (bash, zsh, fish).
    #[command(
        after_help = "bash: netfence completions bash > /etc/bash_completion.d/netfence\n\
zsh:  netfence completions zsh > \"${fpath[1]}/_netfence\"\n\
fish: netfence completions fish > ~/.config/fish/completions/netfence.fish"
    )]
    Completions(CompletionsArgs),
    /// Install or remove `docker netfence`, the Docker CLI plugin (this same binary).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Tenant mode: `tenant keys` prints how it classifies every Compose key.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Link docker-netfence into a directory docker looks in for plugins, so every
    /// command also runs as `docker netfence …`.
    Install(PluginArgs),
    /// Remove the link `plugin install` made (and nothing else).
    Uninstall(PluginArgs),
}

#[derive(Debug, Args)]
pub struct PluginArgs {
    /// For this user: the cli-plugins directory of the docker CLI's config
    /// ($DOCKER_CONFIG, else ~/.docker). The default.
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// For everyone: /usr/local/lib/docker/cli-plugins (needs root).
    #[arg(long)]
    pub system: bool,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Print every key of the Compose specification as tenant mode classifies it: free,
    /// judged by a named rule, or refused unless the policy grants it under
    /// `tenant.allow`. Any key not listed is refused.
    Keys(TenantKeysArgs),
}

#[derive(Debug, Args)]
pub struct TenantKeysArgs {
    /// `markdown` is docs/TENANT.md.
    #[arg(long, value_enum, default_value = "text")]
    pub format: KeysFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KeysFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Compose file; repeat to merge like Compose does; `-` is stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Policy file (YAML or JSON). Default: the compose file's x-netfence key, then
    /// ./netfence.yml, then the built-in policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Scope: one test run (ephemeral). Default: $NETFENCE_RUN_ID, the scope recorded in
    /// already fenced input, or a fresh random id.
    #[arg(long, value_name = "ID", conflicts_with = "env", value_parser = scope_id)]
    pub run_id: Option<String>,
    /// Scope: one deployment environment (persistent).
    #[arg(long, value_name = "NAME", value_parser = scope_id)]
    pub env: Option<String>,
    /// Compose project name (before scoping).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
}

/// Compose profiles, for the commands that plan a stack.
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// Activate a Compose profile (repeatable; `*` for all), as `docker compose
    /// --profile`; without it, $COMPOSE_PROFILES (else the project's .env). Every service
    /// is fenced whatever its profiles, so a later --profile needs no new rewrite; run
    /// and up start, and wait for, only the services of the active profiles.
    #[arg(long = "profile", value_name = "NAME", value_parser = profile_name)]
    pub profiles: Vec<String>,
}

/// `--wait`: when a stack counts as up.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum WaitArg {
    /// Healthy, and every published TCP port of every container accepts a connection
    /// from this host (at the address NETFENCE_<SERVICE>_<PORT> names).
    Ports,
    /// Every container running, and healthy where it has a healthcheck.
    Healthy,
    /// Every container running; health is neither waited for nor judged.
    Running,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DataFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TargetArg {
    Compose,
    Swarm,
}

#[derive(Debug, Args)]
pub struct RewriteArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Write to FILE atomically instead of stdout (may be the input file itself, except
    /// with --overlay).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print nothing; exit 1 if the input is not already fenced this way.
    #[arg(long, conflicts_with = "output")]
    pub check: bool,
    /// Print the fence as a Compose override file (`!reset`/`!override`) instead of the
    /// whole fenced file. Given after the compose files it was made from, Compose reads
    /// exactly what it reads from the full rewrite, and those files are never written:
    /// `netfence rewrite --overlay -o fence.yml && docker compose -f compose.yml -f
    /// fence.yml up -d`.
    #[arg(long, conflicts_with_all = ["check", "format"])]
    pub overlay: bool,
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: DataFormat,
    /// compose: for `docker compose`; swarm: for `docker stack deploy`.
    #[arg(long, value_enum, default_value = "compose")]
    pub target: TargetArg,
    /// Leave out the top-level `name:` (the scoped project name).
    #[arg(long)]
    pub no_project_name: bool,
    /// In tenant mode, skip the second opinion: `docker compose config` reading the
    /// output, judged again (for hosts without Compose).
    #[arg(long)]
    pub no_compose_check: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The plan shows which services the active profiles leave unstarted.
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
    #[arg(long, value_enum, default_value = "compose")]
    pub target: TargetArg,
    /// The plan `netfence run` applies with the same scope: netfence creates the managed
    /// networks itself, each on a subnet of the policy's pool (else 10.213.0.0/16) that
    /// no network on the engine has.
    #[arg(long, conflicts_with_all = ["env", "target"])]
    pub for_run: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exports to CMD: NETFENCE_RUN_ID, NETFENCE_PROJECT, NETFENCE_INDEX, \
NETFENCE_<SERVICE>_<PORT>=host:port per published port, and NETFENCE_RUN_INFO (path of a JSON \
file: networks, subnets, each container's IPs, aliases and published ports). Exits with CMD's \
status; 3 when the engine or Compose failed."
)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Leave the stack up afterwards (remove it later with `netfence down --run-id ID`).
    #[arg(long)]
    pub keep: bool,
    /// Keep the stack after CMD for the next `run --reuse` of the same input: its run id
    /// is `reuse-<digest>` of the input, policy, project name and profiles (with
    /// `--reuse=SLOT`, `reuse-<digest>-<SLOT>`: one stack per test worker), unless
    /// --run-id names one; the next run brings up only what changed. `gc` takes a reused
    /// stack a day after its last use (or after --older-than).
    #[arg(long, value_name = "SLOT", num_args = 0..=1, default_missing_value = "",
          conflicts_with_all = ["keep", "parallel"])]
    pub reuse: Option<String>,
    /// Run N isolated copies at once, each CMD with NETFENCE_INDEX=0..N-1 and run id
    /// `<id>-<index>`.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// How long `up` plus the wait (--wait) may take (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = duration)]
    pub timeout: Duration,
    /// When the stack counts as up and CMD starts.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "healthy")]
    pub wait: WaitArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Before tear-down, write every container's whole log (timestamped, stdout and
    /// stderr) to DIR/<service>-<index>.log and its final state (status, exit code,
    /// health, restarts) to DIR/<service>-<index>.json; each log keeps at most its last
    /// 10 MiB. With --parallel, copy i's go to DIR/<run-id>-<i>/. When CMD fails or the
    /// stack does not come up, DIR is named with the last lines of every container
    /// that exited or restarted.
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// Give Compose the compose files themselves plus an override file that fences them
    /// (`-f FILE… -f fence.yml`, the overlay in the run's private directory) instead of
    /// a fenced copy of them. Not with stdin as input.
    #[arg(long)]
    pub overlay: bool,
    /// The command to run against the stack (after `--`).
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub cmd: Vec<String>,
}

/// Where a checkout's stack comes from: `up`, `down` and `port` find the checkout from
/// the compose files, as Compose finds them.
#[derive(Debug, Clone, Args)]
pub struct CheckoutArgs {
    /// Compose file; repeat to merge like Compose does. Default: $COMPOSE_FILE, else
    /// Compose's discovery (compose.yaml, … in this directory or the nearest parent).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The checkout is the nearest directory holding .git (a directory, or a worktree's file) at or above the first compose file's directory, else that directory. Its stack runs under scope dev:<slug>, the slug being the directory's name and a hash of its path, so two worktrees never collide. Each published port gets a host port from the policy's dev_ports.range (default 20000-29999), derived from scope, service and container port (the next free one when taken): it stays the same across down/up. `up` again changes only what changed. The stack stays until `netfence down` in the checkout; `gc` leaves it (see gc --dev)."
)]
pub struct UpArgs {
    #[command(flatten)]
    pub checkout: CheckoutArgs,
    /// Policy file (YAML or JSON). Default: the compose file's x-netfence key, then
    /// ./netfence.yml, then the built-in policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Compose project name (before scoping).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// How long `up` plus the wait (--wait) may take (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = duration)]
    pub timeout: Duration,
    /// When the stack counts as up.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "healthy")]
    pub wait: WaitArg,
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// table: service, port and address per published port; json: the whole picture.
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The run scope to tear down.
    #[arg(long, value_name = "ID", conflicts_with_all = ["env", "files"], value_parser = scope_id)]
    pub run_id: Option<String>,
    /// The environment scope to tear down (its containers and networks).
    #[arg(long, value_name = "NAME", conflicts_with = "files", value_parser = scope_id)]
    pub env: Option<String>,
    /// Without --run-id and --env: the checkout whose stack (from `netfence up`) to
    /// tear down is found from these compose files (default: Compose's discovery).
    #[command(flatten)]
    pub checkout: CheckoutArgs,
    /// With --env or a checkout's stack: also remove its volumes (a run's are always
    /// removed).
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The service, as named in the compose file.
    pub service: String,
    /// The container port it publishes.
    pub port: u16,
    #[arg(long, value_enum, default_value = "tcp")]
    pub protocol: Protocol,
    /// Which of a scaled service's containers (1 is the first).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub index: u16,
    #[command(flatten)]
    pub checkout: CheckoutArgs,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only runs whose newest object is at least this old, and reused stacks (`run
    /// --reuse`) last used at least this long ago (e.g. 0s, 30m, 1h). Default: 1h for
    /// runs, a day for reused stacks.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub older_than: Option<Duration>,
    /// Print what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove the stacks of `netfence up` whose checkout no longer exists on this
    /// machine (e.g. a removed worktree). Other dev stacks go with `netfence down` in
    /// their checkout.
    #[arg(long)]
    pub dev: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AuditFormat {
    Human,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DenyLevel {
    /// Exit 1 on any warning or error.
    Warn,
    /// Exit 1 on any error.
    Error,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, value_enum, default_value = "human")]
    pub format: AuditFormat,
    /// Exit 1 when a finding at this level or above exists (for CI).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub deny: Option<DenyLevel>,
    /// A subnet already in use on the engine (repeatable; CIDR or NAME=CIDR), checked by
    /// rule NF007 and avoided when judging what `rewrite` fixes.
    #[arg(long = "occupied-subnet", value_name = "CIDR", value_parser = occupied)]
    pub occupied_subnets: Vec<Occupied>,
    /// Do not ask the Docker engine (DOCKER_HOST, the default socket) for the subnets in
    /// use; by default audit does when one answers within 3 seconds.
    #[arg(long)]
    pub no_engine: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
    /// Rendered by Graphviz `dot` (must be installed).
    Svg,
    /// Rendered by Graphviz `dot` (must be installed).
    Png,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: GraphFormat,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Without -f (and without $COMPOSE_FILE) the networks come from the policy alone. \
Prints one line per network: created, exists, differs or recreated. Exits 1 when a network \
differs from the plan and --recreate was not given; 3 when the engine failed or the per-host \
limit (limits.max_networks) would be exceeded."
)]
pub struct EnsureArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Replace a netfence-owned network whose live settings differ from the plan,
    /// reconnecting its containers with their aliases.
    #[arg(long)]
    pub recreate: bool,
    /// compose: bridge networks; swarm: attachable overlay networks.
    #[arg(long, value_enum, default_value = "compose")]
    pub target: TargetArg,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Reads the running containers of project -p by Compose's labels, connects them to \
the networks the plan gives their service (with its aliases) and disconnects them from \
netfence networks it does not. Without -f (or $COMPOSE_FILE) the compose files are the ones \
the project was started from, as Compose recorded them on its containers \
(com.docker.compose.project.config_files); no such container or label is exit 2. Prints the \
steps (--format json: a JSON array, [] when there is nothing to do). Exits 3 when the engine \
failed.\n\n\
--watch follows the engine's events instead, until SIGINT or SIGTERM: the projects named with \
-p (repeatable) and every project with a container carrying the policy's watch.label are \
fenced as their containers are created (before they start) or started, each project planned \
from -f, else from the files Compose's labels name. One JSON line per step and per turn on \
stdout, whatever --format says; it reconnects and catches up when the engine goes away.",
    mut_arg("project_name", |a| a
        .action(clap::ArgAction::Append)
        .help("Compose project name (before scoping); with --watch, repeat it to follow several"))
)]
pub struct ReconcileArgs {
    /// Every `-p` given: `--watch` follows several projects.
    #[command(flatten)]
    pub projects: ProjectNames,
    #[command(flatten)]
    pub input: InputArgs,
    /// Print the steps; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also disconnect from the policy's `flat_networks` (e.g. coolify, dokploy-network).
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
    /// Follow the engine's events and fence each container of the selected projects as
    /// it is created or started, until SIGINT/SIGTERM.
    #[arg(long, conflicts_with = "dry_run")]
    pub watch: bool,
}

/// Every value of `-p/--project-name`, read before [`InputArgs`] takes the first: the
/// flag is shared with every planning command, and only `reconcile --watch` takes it
/// more than once (the command makes it repeatable).
#[derive(Debug, Clone, Default)]
pub struct ProjectNames(pub Vec<String>);

impl clap::FromArgMatches for ProjectNames {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let names = m
            .get_many::<String>("project_name")
            .map(|v| v.cloned().collect())
            .unwrap_or_default();
        Ok(ProjectNames(names))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for ProjectNames {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "With -f (or $COMPOSE_FILE) the expectations are the plan recomputed for the scope \
(networks with their internal flag, each service's attachments and aliases); without, the \
engine's labels alone (the scope's networks and containers; internal flags and aliases are \
shown, not judged). The platform's policy (--policy, netfence.yml) says whether the scope is \
in tenant mode, what it grants, and which services each shared network takes. Exits 1 when \
anything differs (each difference is named on stderr), 2 on bad input, 3 when the engine \
failed."
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also probe for real: from inside each container's network namespace (a probe
    /// container of IMG, which needs busybox's nslookup, nc and ping), DNS of
    /// every name and TCP (exposed port: a refused connection is an answer, silence is
    /// asked again with ping) or ICMP to every address.
    #[arg(long, value_name = "IMG")]
    pub probe_image: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
}

fn scope_id(s: &str) -> Result<String, netfence::scope::InvalidId> {
    netfence::scope::check_id(s)
}

/// A profile name as Compose accepts one (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), or `*`.
fn profile_name(s: &str) -> Result<String, String> {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if s == "*" || (first_ok && rest_ok) {
        Ok(s.to_owned())
    } else {
        Err("a profile name is letters, digits, `_`, `.` and `-`, starting with a letter or digit (or `*` for every profile)".into())
    }
}

/// `0s`, `30m`, `1h`, `90s`, `1h30m`: humantime durations.
fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like 0s, 30m, 1h ({e})"))
}

/// `CIDR` or `NAME=CIDR`.
fn occupied(s: &str) -> Result<Occupied, String> {
    let (name, cidr) = match s.split_once('=') {
        Some((n, c)) => (n.to_owned(), c),
        None => (String::new(), s),
    };
    let subnet: ipnet::IpNet = cidr
        .trim()
        .parse()
        .map_err(|_| "expected a CIDR such as 172.18.0.0/16, optionally as NAME=CIDR".to_owned())?;
    Ok(Occupied {
        subnet: subnet.trunc(),
        network: name,
    })
}

#[derive(Debug, Args)]
#[command(
    after_help = "An engine with nothing of netfence's on it is listed as such (exit 0); an \
engine that cannot be reached is exit 3, never an empty listing. --format json is for \
platforms: its field names are stable (see the README, \"Operating a host\")."
)]
pub struct LsArgs {
    /// Policy file whose limits.max_networks and subnets.pool are measured against.
    /// Default: ./netfence.yml, then the built-in policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: PlanFormat,
}
