//! The `netfence` binary: parse the command line, resolve it into settings once, run one
//! command, map the outcome to an exit code (0 success, 1 a check found something,
//! 2 bad input, 3 engine or compose).

mod args;
mod commands;
mod docker_plugin;
mod exit;
mod settings;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};
use exit::ExitStatus;
use settings::*;

fn main() -> ExitCode {
    let cli = match docker_plugin::invocation(std::env::args_os().collect()) {
        Ok(docker_plugin::Invocation::Metadata) => {
            println!("{}", docker_plugin::metadata());
            return ExitCode::SUCCESS;
        }
        Ok(docker_plugin::Invocation::Cli {
            args,
            bin_name,
            env,
        }) => {
            apply_env(env);
            if bin_name != docker_plugin::NAME {
                docker_plugin::watch_docker_cli();
            }
            parse(args, bin_name)
        }
        Err(e) => {
            eprintln!("netfence: error: {e}");
            return ExitStatus::Invalid.code();
        }
    };
    init_logging(cli.verbose);
    match dispatch(cli.command, &Process::current()) {
        Ok(status) => status.code(),
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netfence: error: {e:#}");
            exit::error_code(&e)
        }
    }
}

/// docker's global options as the variables they stand for. Set while the process has
/// one thread, before anything reads the environment.
fn apply_env(env: Vec<(&'static str, Option<std::ffi::OsString>)>) {
    for (key, value) in env {
        match value {
            Some(v) => std::env::set_var(key, v),
            None => std::env::remove_var(key),
        }
    }
}

/// Parses like `Cli::parse`, with help and errors naming the program as it was called.
fn parse(args: Vec<std::ffi::OsString>, bin_name: &'static str) -> Cli {
    let matches = Cli::command().bin_name(bin_name).get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn dispatch(command: Command, p: &Process) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Rewrite(a) => commands::rewrite::run(RewriteSettings::resolve(a, p)?),
        Command::Plan(a) => commands::plan::run(PlanSettings::resolve(a, p)?),
        Command::Validate(a) => commands::validate::run(ValidateSettings::resolve(a, p)?),
        Command::Schema => commands::schema::run(),
        Command::Audit(a) => commands::audit::run(AuditSettings::resolve(a, p)?),
        Command::Graph(a) => commands::graph::run(GraphSettings::resolve(a, p)?),
        Command::Run(a) => commands::run::run(RunSettings::resolve(a, p)?),
        Command::Up(a) => commands::up::run(UpSettings::resolve(a, p)?),
        Command::Down(a) => commands::down::run(DownSettings::resolve(a, p)?),
        Command::Port(a) => commands::port::run(PortSettings::resolve(a, p)),
        Command::Gc(a) => commands::gc::run(GcSettings::resolve(a)),
        Command::Ensure(a) => commands::ensure::run(EnsureSettings::resolve(a, p)?),
        Command::Reconcile(a) if a.watch || a.projects.0.len() > 1 => {
            commands::watch::run(WatchSettings::resolve(a, p)?)
        }
        Command::Reconcile(a) => commands::reconcile::run(ReconcileSettings::resolve(a, p)?),
        Command::Verify(a) => commands::verify::run(VerifySettings::resolve(a, p)?),
        Command::Ls(a) => commands::ls::run(LsSettings::resolve(a, p)),
        Command::Completions(a) => commands::completions::run(a.shell),
        Command::Plugin(c) => commands::plugin::run(PluginSettings::resolve(c)),
        Command::Tenant(c) => commands::tenant::run(c),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NETFENCE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("netfence={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
